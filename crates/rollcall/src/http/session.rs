//! Browser sessions for the web app: `POST /session` signs in and sets the session cookie
//! (the access token, `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` over HTTPS),
//! `GET /session` says who is signed in, `DELETE /session` signs out (the token is revoked
//! and the cookie cleared).
//!
//! The token never reaches the page's scripts: the answers carry the account and the
//! session's CSRF token, which cookie-authenticated writes send back in `X-CSRF-Token` (see
//! [`super::bearer`]). `POST /session` takes JSON only, so a form on another site cannot
//! sign a browser into an account of the attacker's choosing. Bearer clients are unaffected.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cookie::{Cookie, SameSite};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::accounts::{Credentials, LoginRequest, sign_in};
use super::bearer::{AuthTeacher, SESSION_COOKIE, csrf_token};
use super::client_ip::ClientIp;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use crate::auth::revocation;
use crate::config::Settings;
use crate::domain::Email;

/// Name of the cookie security scheme in the OpenAPI document.
pub const COOKIE: &str = "cookie";

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_session, get_session, delete_session))
}

/// The signed-in account of a browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// Public user name.
    #[schema(example = "ms-rivera")]
    pub user_id: String,
    /// Address.
    #[schema(example = "teacher@example.org")]
    pub email: String,
    /// Send it as `X-CSRF-Token` with every cookie-authenticated request that changes
    /// something (any method but GET, HEAD and OPTIONS).
    #[schema(example = "3f1c9a0e5b7d4c2a8e6f1b3d5c7a9e0f2b4d6c8a0e2f4b6d8c0a2e4f6b8d0c2a")]
    pub csrf_token: String,
    /// When the session ends (sign in again then).
    pub expires_at: DateTime<Utc>,
}

/// A sign-out.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedOut {
    /// What was done.
    #[schema(example = "Signed out")]
    pub msg: &'static str,
}

/// Whether the request reached us over HTTPS: always with `ROLLCALL_COOKIE_SECURE`, else
/// when a trusted proxy says so in `X-Forwarded-Proto`.
#[derive(Debug, Clone, Copy)]
pub struct Https(pub bool);

impl FromRequestParts<AppState> for Https {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        Ok(Self(is_https(&state.settings, peer, &parts.headers)))
    }
}

fn is_https(settings: &Settings, peer: Option<std::net::IpAddr>, headers: &HeaderMap) -> bool {
    if settings.cookie_secure {
        return true;
    }
    let trusted = peer.is_some_and(|ip| settings.trusted_proxies.iter().any(|n| n.contains(ip)));
    trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value of a new session.
fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    let value = Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .secure(secure)
        .max_age(cookie::time::Duration::ZERO)
        .expires(cookie::time::OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string();
    // Built from constants: always a valid header value.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn with_cookie(mut response: Response, cookie: HeaderValue) -> Response {
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

/// Sign in the browser: checks the address and password like `POST /login` (same
/// throttle, same answers) and sets the session cookie. JSON only.
#[utoipa::path(post, path = "/session", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: the cookie `rollcall_session` is set \
                                      (HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS)",
            body = SessionOut,
            headers(("Set-Cookie" = String, description = "rollcall_session=<token>; HttpOnly; SameSite=Strict; Path=/; Max-Age=<token lifetime>"))),
        (status = 403, description = "Wrong email or password", body = ErrorBody,
            example = json!({"detail": "Invalid Credentials"})),
        (status = 415, description = "Not a JSON request", body = ErrorBody),
        (status = 422, description = "Invalid body", body = ErrorBody),
        (status = 429, description = "Too many failed logins for this account or client", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "A backend is unavailable, or too many sign-ins at once (with Retry-After)", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait, when busy"))),
    ))]
async fn create_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Https(https): Https,
    Json(body): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    let credentials = Credentials {
        email: Email::normalize(&body.email),
        password: body.password,
    };
    let (issued, teacher) = sign_in(&state, ip, credentials).await?;
    let max_age = i64::try_from(state.tokens.ttl().as_secs()).unwrap_or(i64::MAX);
    let cookie = HeaderValue::from_str(&session_cookie(&issued.token, max_age, https))
        .map_err(|e| ApiError::Internal(format!("session cookie: {e}")))?;
    let body = SessionOut {
        user_id: teacher.user_id,
        email: teacher.email,
        csrf_token: csrf_token(&issued.token),
        expires_at: issued.claims.expires_at().unwrap_or_else(Utc::now),
    };
    Ok(with_cookie(Json(body).into_response(), cookie))
}

/// Who is signed in (with the session cookie or a bearer token), and the CSRF token of
/// that session.
#[utoipa::path(get, path = "/session", tag = "accounts",
    security(("cookie" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The signed-in account", body = SessionOut),
        (status = 401, description = "Not signed in, or the session ended", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn get_session(auth: AuthTeacher) -> Json<SessionOut> {
    Json(SessionOut {
        user_id: auth.teacher.user_id,
        email: auth.teacher.email,
        csrf_token: auth.csrf_token,
        expires_at: auth.expires_at,
    })
}

/// Sign out the browser: the session's token is revoked and the cookie cleared. Without a
/// valid session it only clears the cookie. With a valid session cookie it needs
/// `X-CSRF-Token` like any other change.
#[utoipa::path(delete, path = "/session", tag = "accounts",
    security(("cookie" = []), ("bearer" = [])),
    params(("X-CSRF-Token" = Option<String>, Header,
        description = "The session's `csrf_token`, when signed in with the cookie")),
    responses(
        (status = 200, description = "Signed out; the cookie is cleared", body = SignedOut,
            headers(("Set-Cookie" = String, description = "rollcall_session=; Max-Age=0"))),
        (status = 403, description = "Signed in with the cookie, without the right \
                                      X-CSRF-Token", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn delete_session(
    State(state): State<AppState>,
    Https(https): Https,
    auth: Result<AuthTeacher, ApiError>,
) -> Result<Response, ApiError> {
    match auth {
        Ok(auth) => revocation::revoke(state.store.as_ref(), &auth.claims).await?,
        // Nothing to revoke: an expired, revoked or missing session.
        Err(ApiError::Unauthorized) => {}
        Err(other) => return Err(other),
    }
    let body = Json(SignedOut { msg: "Signed out" }).into_response();
    Ok(with_cookie(body, clear_cookie(https)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_carry_their_attributes() {
        let c = session_cookie("abc.def", 3600, false);
        assert!(c.starts_with("rollcall_session=abc.def"), "{c}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
            assert!(c.contains(attribute), "{attribute} missing: {c}");
        }
        assert!(!c.contains("Secure"), "{c}");
        assert!(session_cookie("t", 1, true).contains("Secure"));
        let clear = clear_cookie(false);
        let clear = clear.to_str().unwrap();
        assert!(clear.starts_with("rollcall_session=;"), "{clear}");
        assert!(clear.contains("Max-Age=0"), "{clear}");
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let mut settings = Settings::with_data_dir("/tmp/x");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let proxy: std::net::IpAddr = "10.0.0.1".parse().unwrap();
        assert!(!is_https(&settings, Some(proxy), &headers));
        settings.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(is_https(&settings, Some(proxy), &headers));
        assert!(!is_https(
            &settings,
            Some("192.0.2.1".parse().unwrap()),
            &headers
        ));
        assert!(!is_https(&settings, Some(proxy), &HeaderMap::new()));
        settings.cookie_secure = true;
        assert!(is_https(&settings, None, &HeaderMap::new()));
    }
}
