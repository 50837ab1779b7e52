//! The web side of the service (issues 9 and 10): security headers on every answer,
//! `Cache-Control: no-store` on account answers, CORS preflights that ask for extra headers,
//! the API documentation served from the binary, browser sessions (cookie + CSRF token),
//! and the web app's files. The real server on 127.0.0.1:0.

use crate::common;

use common::{Backend, TestApp, expect, spawn, unique_email};
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = "Corr3ct horse battery";

/// The directives of a Content-Security-Policy, by name.
fn csp_directive(headers: &HeaderMap, name: &str) -> Option<String> {
    let csp = headers.get("content-security-policy")?.to_str().ok()?;
    csp.split(';')
        .map(str::trim)
        .find(|d| d.split_whitespace().next() == Some(name))
        .map(str::to_owned)
}

/// Asserts the security headers every answer must carry.
fn assert_security_headers(what: &str, headers: &HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header in {headers:?}"))
            .to_owned()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(
        csp_directive(headers, "frame-ancestors").as_deref(),
        Some("frame-ancestors 'none'"),
        "{what}"
    );
    // Scripts from this origin only: no inline script, no eval, no CDN.
    assert_eq!(
        csp_directive(headers, "script-src").as_deref(),
        Some("script-src 'self'"),
        "{what}"
    );
    assert_eq!(
        csp_directive(headers, "object-src").as_deref(),
        Some("object-src 'none'"),
        "{what}"
    );
}

fn cache_control(r: &Response) -> String {
    r.headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The session cookie's value in a `Set-Cookie` header.
fn session_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.trim().strip_prefix("rollcall_session="))
        .unwrap_or_else(|| panic!("not the session cookie: {set_cookie}"))
        .to_owned()
}

impl TestApp {
    /// A request with the session cookie (and the CSRF header, if given).
    async fn with_cookie(
        &self,
        method: Method,
        path: &str,
        session: &str,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("cookie", format!("theme=dark; rollcall_session={session}"));
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// `POST /session`: the response, the cookie's value and the body.
    async fn browser_sign_in(&self, email: &str) -> (Vec<String>, String, Value) {
        let r = self
            .post("/session", json!({ "email": email, "password": PASSWORD }))
            .await;
        assert_eq!(cache_control(&r), "no-store");
        let cookies = set_cookies(&r);
        let body = expect(r, StatusCode::OK).await;
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        let session = session_value(&cookies[0]);
        (cookies, session, body)
    }
}

/// A new account's address (signed up, not signed in).
async fn account(app: &TestApp) -> String {
    let email = unique_email();
    app.create_account(&email, &format!("web-{}", &email[2..12]), PASSWORD)
        .await;
    email
}

// --- security headers (issue 10, item 12) ---

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let cases: [(&str, Method, &str); 6] = [
        ("health", Method::GET, "/healthz"),
        ("unknown path", Method::GET, "/no/such/path"),
        ("unauthenticated API call", Method::GET, "/get_all_students"),
        ("method not allowed", Method::PATCH, "/login"),
        ("OpenAPI document", Method::GET, "/openapi.json"),
        ("documentation page", Method::GET, "/docs/"),
    ];
    for (what, method, path) in cases {
        let r = app
            .client
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_security_headers(what, r.headers());
    }
    // A JSON error too.
    let r = app.post("/login", json!({"email": 1})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_security_headers("422", r.headers());
}

#[tokio::test]
async fn account_answers_are_never_stored() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let email = account(&app).await;
    let r = app
        .post("/login", json!({ "email": email, "password": PASSWORD }))
        .await;
    assert_eq!(cache_control(&r), "no-store");
    let token = expect(r, StatusCode::OK).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            "/login",
            json!({ "email": email, "password": "Wrong-passw0rd" }),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(cache_control(&r), "no-store");
    let r = app.with_token(Method::GET, "/me", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(cache_control(&r), "no-store");
    let r = app
        .post(
            "/forgot-password-send-otp",
            json!({ "email": unique_email() }),
        )
        .await;
    assert_eq!(cache_control(&r), "no-store");
    // The cooldown the app counts down ("send again in 60 s") comes with the answer.
    assert_eq!(expect(r, StatusCode::OK).await["cooldown_seconds"], 60);
    let r = app
        .post(
            "/send-email-verification-otp",
            json!({ "email": unique_email() }),
        )
        .await;
    assert_eq!(cache_control(&r), "no-store");
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(body["msg"], "otp sent successfully to your email");
    assert_eq!(body["cooldown_seconds"], 60);
    let r = app
        .with_token(Method::DELETE, "/delete_account", &token)
        .await;
    assert_eq!(cache_control(&r), "no-store");
    // Bearer clients get no cookie.
    assert!(set_cookies(&r).is_empty());
    expect(r, StatusCode::OK).await;
}

// --- CORS (issue 9: the original frontend's extra request header) ---

async fn preflight(app: &TestApp, origin: &str, headers: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url("/get_all_students"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", headers)
        .send()
        .await
        .unwrap()
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
}

#[tokio::test]
async fn cors_preflights_may_ask_for_extra_headers() {
    let origin = "http://localhost:5173";
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.cors_origins = vec![origin.to_owned()];
    })
    .await;
    let r = preflight(&app, origin, "authorization,ngrok-skip-browser-warning").await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let allowed = header(&r, "access-control-allow-headers").unwrap_or_default();
    for asked in ["authorization", "ngrok-skip-browser-warning"] {
        assert!(allowed.contains(asked), "{asked} not allowed: {allowed}");
    }
    let methods = header(&r, "access-control-allow-methods").unwrap_or_default();
    assert!(
        methods.contains("get") && methods.contains("delete"),
        "{methods}"
    );

    // The request itself then works from that origin.
    let email = account(&app).await;
    let token = app.login(&email, PASSWORD).await;
    let r = app
        .client
        .get(app.url("/get_all_students"))
        .header("origin", origin)
        .header("ngrok-skip-browser-warning", "true")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some(origin)
    );
    expect(r, StatusCode::OK).await;

    // Another origin is not allowed, whatever it asks for.
    let r = preflight(&app, "https://evil.example", "ngrok-skip-browser-warning").await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);

    // `*`: any origin, any header.
    let any = spawn(Backend::SqliteInProcess, |s| {
        s.cors_origins = vec!["*".to_owned()];
    })
    .await;
    let r = preflight(&any, "https://anywhere.example", "x-custom-thing").await;
    assert_eq!(
        header(&r, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    assert!(
        header(&r, "access-control-allow-headers")
            .unwrap_or_default()
            .contains("x-custom-thing")
    );
}

// --- /docs from the binary (issue 10, item 12) ---

/// The values of every `src="..."` and `href="..."` attribute of an HTML page.
fn linked_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(i) = rest.find(attribute) {
            rest = &rest[i + attribute.len()..];
            if let Some(end) = rest.find('"') {
                urls.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    urls
}

#[tokio::test]
async fn the_documentation_page_loads_nothing_from_elsewhere() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let r = app.get("/docs").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.url().path(), "/docs/");
    let html = r.text().await.unwrap();
    assert!(html.to_lowercase().contains("<html"), "{html}");
    assert!(!html.contains("cdn"), "{html}");
    let urls = linked_urls(&html);
    let scripts: Vec<&String> = urls.iter().filter(|u| u.ends_with(".js")).collect();
    assert!(scripts.len() >= 2, "scripts: {urls:?}");
    for url in &urls {
        assert!(
            !url.contains("://") && !url.starts_with("//"),
            "the docs page links outside the binary: {url}"
        );
        let path = format!("/docs/{}", url.trim_start_matches("./"));
        let r = app.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let content_type = header(&r, "content-type").unwrap_or_default();
        let body = r.bytes().await.unwrap();
        assert!(!body.is_empty(), "{path}");
        if url.ends_with(".js") {
            assert!(
                content_type.contains("javascript"),
                "{path}: {content_type}"
            );
        }
        if url.ends_with(".css") {
            assert!(content_type.contains("text/css"), "{path}: {content_type}");
        }
    }
    let init = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    assert!(!init.contains("validator.swagger.io"), "{init}");
}

// --- browser sessions (issue 9) ---

#[tokio::test]
async fn a_browser_session_is_an_httponly_cookie_with_a_csrf_token() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    let email = account(&app).await;
    let (cookies, session, body) = app.browser_sign_in(&email).await;
    let cookie = &cookies[0];
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert_eq!(body["email"], email.as_str());
    assert!(body["user_id"].as_str().unwrap().starts_with("web-"));
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64, "{csrf}");
    assert!(body["expires_at"].is_string(), "{body}");
    // The token itself never reaches the page's scripts.
    assert!(!body.to_string().contains(&session), "{body}");

    // Who am I, with the cookie alone.
    let r = app
        .with_cookie(Method::GET, "/session", &session, None, None)
        .await;
    assert_eq!(cache_control(&r), "no-store");
    let me = expect(r, StatusCode::OK).await;
    assert_eq!(me["csrf_token"], csrf.as_str());
    assert_eq!(me["email"], email.as_str());

    // Reads need no CSRF token.
    let r = app
        .with_cookie(Method::GET, "/get_all_students", &session, None, None)
        .await;
    expect(r, StatusCode::OK).await;

    // Writes do: none, a wrong one, then the right one.
    let class = json!({"name": "7B"});
    let r = app
        .with_cookie(
            Method::POST,
            "/classes",
            &session,
            None,
            Some(class.clone()),
        )
        .await;
    let body = expect(r, StatusCode::FORBIDDEN).await;
    assert!(
        body["detail"].as_str().unwrap().contains("X-CSRF-Token"),
        "{body}"
    );
    let wrong = "0".repeat(64);
    let r = app
        .with_cookie(
            Method::POST,
            "/classes",
            &session,
            Some(&wrong),
            Some(class.clone()),
        )
        .await;
    expect(r, StatusCode::FORBIDDEN).await;
    let r = app
        .with_cookie(
            Method::PUT,
            "/attendance/12/2024-09-02",
            &session,
            None,
            None,
        )
        .await;
    expect(r, StatusCode::FORBIDDEN).await;
    let r = app
        .with_cookie(Method::POST, "/classes", &session, Some(&csrf), Some(class))
        .await;
    let created = expect(r, StatusCode::CREATED).await;
    assert_eq!(created["name"], "7B");
    let classes = app
        .with_cookie(Method::GET, "/classes", &session, None, None)
        .await;
    assert_eq!(
        expect(classes, StatusCode::OK).await["classes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Bearer clients are unchanged: no CSRF token, and the bearer wins over a cookie.
    let token = app.login(&email, PASSWORD).await;
    let r = app
        .client
        .post(app.url("/classes"))
        .bearer_auth(&token)
        .header("cookie", "rollcall_session=not-a-token")
        .json(&json!({"name": "8C"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::CREATED).await;

    // Sign-in is JSON only: a form on another site cannot sign the browser in.
    let r = app
        .client
        .post(app.url("/session"))
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&r).is_empty());
    expect(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    // A wrong password sets nothing.
    let r = app
        .post(
            "/session",
            json!({ "email": email, "password": "Wrong-passw0rd" }),
        )
        .await;
    assert!(set_cookies(&r).is_empty());
    let body = expect(r, StatusCode::FORBIDDEN).await;
    assert_eq!(body["detail"], "Invalid Credentials");

    // Behind a trusted proxy that says HTTPS, the cookie is Secure.
    let r = app
        .client
        .post(app.url("/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let secure = set_cookies(&r);
    expect(r, StatusCode::OK).await;
    assert!(secure[0].contains("; Secure"), "{secure:?}");

    // Sign-out needs the CSRF token too, then revokes the token and clears the cookie.
    let r = app
        .with_cookie(Method::DELETE, "/session", &session, None, None)
        .await;
    expect(r, StatusCode::FORBIDDEN).await;
    let r = app
        .with_cookie(Method::DELETE, "/session", &session, Some(&csrf), None)
        .await;
    assert_eq!(cache_control(&r), "no-store");
    let cleared = set_cookies(&r);
    assert_eq!(expect(r, StatusCode::OK).await["msg"], "Signed out");
    assert_eq!(cleared.len(), 1, "{cleared:?}");
    assert!(
        cleared[0].starts_with("rollcall_session=;") && cleared[0].contains("Max-Age=0"),
        "{cleared:?}"
    );
    let r = app
        .with_cookie(Method::GET, "/session", &session, None, None)
        .await;
    common::expect_unauthorized(r).await;
    // The cookie's token is revoked, not just forgotten by the browser.
    let r = app.with_token(Method::GET, "/me", &session).await;
    common::expect_unauthorized(r).await;
    // Signing out again (or without a session) only clears the cookie.
    let r = app.client.delete(app.url("/session")).send().await.unwrap();
    assert_eq!(set_cookies(&r).len(), 1);
    expect(r, StatusCode::OK).await;
}

#[tokio::test]
async fn deleting_the_account_from_the_browser_clears_the_cookie() {
    let app = spawn(Backend::SqliteInProcess, |s| s.cookie_secure = true).await;
    let email = account(&app).await;
    let (cookies, session, body) = app.browser_sign_in(&email).await;
    assert!(cookies[0].contains("; Secure"), "{cookies:?}");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let r = app
        .with_cookie(Method::DELETE, "/delete_account", &session, None, None)
        .await;
    expect(r, StatusCode::FORBIDDEN).await;
    let r = app
        .with_cookie(
            Method::DELETE,
            "/delete_account",
            &session,
            Some(&csrf),
            None,
        )
        .await;
    let cleared = set_cookies(&r);
    expect(r, StatusCode::OK).await;
    assert!(cleared[0].contains("Max-Age=0"), "{cleared:?}");
    let r = app
        .with_cookie(Method::GET, "/session", &session, None, None)
        .await;
    common::expect_unauthorized(r).await;
    // Signed out with the old cookie: only cleared.
    let r = app
        .with_cookie(Method::DELETE, "/session", &session, None, None)
        .await;
    expect(r, StatusCode::OK).await;
}

#[tokio::test]
async fn sessions_are_in_the_openapi_document() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let doc = expect(app.get("/openapi.json").await, StatusCode::OK).await;
    for method in ["get", "post", "delete"] {
        assert!(
            doc["paths"]["/session"][method].is_object(),
            "{method} /session missing"
        );
    }
    let cookie = &doc["components"]["securitySchemes"]["cookie"];
    assert_eq!(cookie["type"], "apiKey");
    assert_eq!(cookie["in"], "cookie");
    assert_eq!(cookie["name"], "rollcall_session");
    let security = doc["paths"]["/get_all_students"]["get"]["security"].to_string();
    assert!(
        security.contains("\"bearer\"") && security.contains("\"cookie\""),
        "{security}"
    );
    // Unauthenticated operations stay so.
    assert!(doc["paths"]["/login"]["post"]["security"].is_null());
    let sent = &doc["components"]["schemas"]["CodeSent"]["properties"];
    assert!(sent["cooldown_seconds"].is_object(), "{sent}");
}

// --- the web app (issue 9) ---

/// The relative modules a JavaScript module imports (`from './x.js'`), as absolute paths.
fn imports(path: &str, source: &str) -> Vec<String> {
    let dir = &path[..path.rfind('/').unwrap_or(0)];
    source
        .split("from '")
        .skip(1)
        .filter_map(|rest| rest.split('\'').next())
        .map(|spec| {
            let mut parts: Vec<&str> = dir.split('/').collect();
            for segment in spec.split('/') {
                match segment {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    other => parts.push(other),
                }
            }
            parts.join("/")
        })
        .collect()
}

#[tokio::test]
async fn the_web_app_is_served_from_the_binary() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    // The page, at / and at every route of the app.
    let mut page = String::new();
    for path in [
        "/",
        "/app",
        "/app/",
        "/app/students",
        "/app/student/12",
        "/app/reports",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header(&r, "content-type").as_deref(),
            Some("text/html; charset=utf-8"),
            "{path}"
        );
        assert_eq!(cache_control(&r), "no-cache", "{path}");
        assert!(
            header(&r, "etag").is_some_and(|e| e.starts_with("w/\"")),
            "{path}"
        );
        assert_security_headers(path, r.headers());
        page = r.text().await.unwrap();
    }
    assert!(
        page.contains(r#"<script type="module" src="/static/js/app.js"></script>"#),
        "{page}"
    );
    // No inline script or style, no handler attributes: the CSP forbids them.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(
        !page.contains("style=") && !page.contains(" onclick"),
        "{page}"
    );

    // Everything the page and its modules load is served from here.
    let mut queue: Vec<String> = linked_urls(&page);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(url) = queue.pop() {
        if !seen.insert(url.clone()) || url.starts_with('#') {
            continue;
        }
        assert!(
            url.starts_with("/static/") || url.starts_with("/app"),
            "{url}"
        );
        if url.starts_with("/app") {
            continue;
        }
        let r = app.get(&url).await;
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        let content_type = header(&r, "content-type").unwrap_or_default();
        let body = r.text().await.unwrap();
        if url.ends_with(".js") {
            assert!(
                content_type.contains("javascript") && content_type.contains("charset=utf-8"),
                "{url}: {content_type}"
            );
            assert!(!body.contains("eval("), "{url}");
            queue.extend(imports(&url, &body));
        } else if url.ends_with(".css") {
            assert_eq!(content_type, "text/css; charset=utf-8", "{url}");
        }
    }
    for module in [
        "/static/js/pages/attendance.js",
        "/static/js/pages/reports.js",
    ] {
        assert!(seen.contains(module), "{module} not reached: {seen:?}");
    }

    // Revalidation: 304 for the ETag the client has.
    let r = app.get("/static/app.css").await;
    let etag = r.headers()["etag"].clone();
    let css = r.bytes().await.unwrap();
    let r = app
        .client
        .get(app.url("/static/app.css"))
        .header("if-none-match", etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()["etag"], etag);
    // Compressed for clients that accept it.
    let r = app
        .client
        .get(app.url("/static/app.css"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&r, "content-encoding").as_deref(), Some("gzip"));
    let gzipped = r.bytes().await.unwrap();
    assert!(
        gzipped.len() * 2 < css.len(),
        "{} vs {}",
        gzipped.len(),
        css.len()
    );

    // Unknown files and escapes are JSON 404s.
    for path in [
        "/static/nope.js",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let body = r.text().await.unwrap();
        assert!(body.contains("detail"), "{path}: {body}");
    }

    // The app shadows no API path: they answer as before.
    common::expect_unauthorized(app.get("/get_all_students").await).await;
    common::expect_unauthorized(app.get("/attendance/report").await).await;
    common::expect_unauthorized(app.get("/classes").await).await;
    let body = expect(app.get("/students").await, StatusCode::NOT_FOUND).await;
    assert_eq!(body["detail"], "Not Found");
    let doc = expect(app.get("/openapi.json").await, StatusCode::OK).await;
    for path in doc["paths"].as_object().unwrap().keys() {
        assert!(
            path != "/" && !path.starts_with("/app") && !path.starts_with("/static"),
            "{path} is under the web app's prefixes"
        );
    }
}
