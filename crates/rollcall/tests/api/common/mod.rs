//! Shared harness of the account tests: a real server on 127.0.0.1:0 with a real SMTP
//! server, on SQLite + in-process kv or PostgreSQL + Redis.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use rollcall::app::{AppState, Application};
use rollcall::config::{Secret, Settings};
use rollcall::mail::Mailer;
use serde_json::{Value, json};
use tempfile::TempDir;
use testkit::postgres::TestDatabase;
use testkit::smtp::SmtpServer;

/// The token secret of test servers (tests forge tokens with it).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// Which backends a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file in a temp dir + in-process key-value store.
    SqliteInProcess,
    /// A fresh PostgreSQL database + the test Redis (unique key prefix).
    PostgresRedis,
}

/// A running server and its mail box.
pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub smtp: SmtpServer,
    pub settings: Settings,
    _data_dir: TempDir,
    _db: Option<TestDatabase>,
}

/// Settings for a test server of `backend` (SMTP, database and kv filled in).
pub async fn settings(
    backend: Backend,
    smtp: &SmtpServer,
) -> (Settings, TempDir, Option<TestDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::with_data_dir(dir.path());
    s.bind = "127.0.0.1:0".parse().unwrap();
    s.jwt_secret = Some(Secret::new(JWT_SECRET));
    s.smtp_url = Some(smtp.url());
    s.mail_from = "Rollcall <rollcall@test.example>".into();
    s.mail_timeout = Duration::from_secs(5);
    s.kv_prefix = testkit::redis::unique_prefix();
    s.log_filter = "warn".into();
    s.vision.model_dir = testkit::paths::model_dir();
    let db = match backend {
        Backend::SqliteInProcess => None,
        Backend::PostgresRedis => {
            let db = TestDatabase::create().await;
            s.database_url = db.url().to_owned();
            s.redis_url = Some(testkit::redis::redis_url());
            Some(db)
        }
    };
    (s, dir, db)
}

/// Starts a server; `tweak` adjusts the settings first.
pub async fn spawn(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp = SmtpServer::start().await;
    let (mut settings, dir, db) = settings(backend, &smtp).await;
    tweak(&mut settings);
    let app = Application::build_lazy(settings.clone()).await.unwrap();
    serve(app, smtp, settings, dir, db)
}

/// Starts a server with a given mailer (the SMTP server is then unused).
pub async fn spawn_with_mailer(mailer: Arc<dyn Mailer>) -> TestApp {
    let smtp = SmtpServer::start().await;
    let (settings, dir, db) = settings(Backend::SqliteInProcess, &smtp).await;
    let store = rollcall::app::connect_store(&settings).await.unwrap();
    let kv = rollcall::kv::connect(None, settings.backend_timeout)
        .await
        .unwrap();
    let vision = Arc::new(rollcall::vision::Vision::lazy(&settings).unwrap());
    let state = AppState::new(settings.clone(), store, kv, mailer, vision).unwrap();
    let app = Application::bind(state).await.unwrap();
    serve(app, smtp, settings, dir, db)
}

fn serve(
    app: Application,
    smtp: SmtpServer,
    settings: Settings,
    dir: TempDir,
    db: Option<TestDatabase>,
) -> TestApp {
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base,
        client: Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        smtp,
        settings,
        _data_dir: dir,
        _db: db,
    }
}

/// A fresh address.
pub fn unique_email() -> String {
    format!("t-{}@school.example.org", uuid::Uuid::new_v4().simple())
}

/// The first run of exactly six digits in `text`.
pub fn six_digits(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.client
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn with_token(&self, method: reqwest::Method, path: &str, token: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Bodies of every mail received for `to`, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        self.smtp
            .messages()
            .into_iter()
            .filter(|m| m.rcpt_to.iter().any(|r| r.contains(to)))
            .map(|m| m.body)
            .collect()
    }

    /// Waits for mail number `n` (1-based) to `to` and returns the code in it.
    pub async fn code_in_mail(&self, to: &str, n: usize) -> String {
        for _ in 0..200 {
            let mails = self.mails_to(to);
            if let Some(body) = mails.get(n - 1) {
                return six_digits(body).unwrap_or_else(|| panic!("no code in mail: {body}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mail {n} to {to} never arrived");
    }

    /// Sends a verification code, confirms it and creates the account.
    pub async fn create_account(&self, email: &str, user_id: &str, password: &str) {
        let before = self.mails_to(email).len();
        let r = self
            .post("/send-email-verification-otp", json!({ "email": email }))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let code = self.code_in_mail(email, before + 1).await;
        let r = self
            .post(
                "/verify-email-confirm-otp",
                json!({ "email": email, "otp": code }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let r = self
            .post(
                "/create_user",
                json!({ "user_id": user_id, "email": email, "password": password }),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
    }

    /// Logs in with JSON and returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let r = self
            .post("/login", json!({ "email": email, "password": password }))
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["token_type"], "bearer");
        body["access_token"].as_str().unwrap().to_owned()
    }
}

/// Asserts the status and returns the JSON body.
pub async fn expect(r: Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts a 401 with `WWW-Authenticate: Bearer` and a detail.
pub async fn expect_unauthorized(r: Response) {
    assert_eq!(
        r.headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap()),
        Some("Bearer")
    );
    let body = expect(r, StatusCode::UNAUTHORIZED).await;
    assert!(body["detail"].is_string());
}
