//! Two `rollcall serve` processes on one PostgreSQL database and one Redis (issue 10,
//! "two instances"): a code sent by one is accepted by the other, a logout on one is
//! honoured by the other, the login throttle counts across both, and concurrent marks
//! through both give one attendance row per student.

use crate::support::process;

use std::collections::BTreeSet;
use std::time::Duration;

use process::Process;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use testkit::postgres::TestDatabase;
use testkit::smtp::SmtpServer;

const SECRET: &str = "instances-test-secret-instances-test-0123";
const PASSWORD: &str = "Corr3ct horse battery";

struct Pair {
    a: Process,
    b: Process,
    smtp: SmtpServer,
    client: Client,
    db: TestDatabase,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// Starts A (which runs the migrations), then B, on the same database, Redis prefix,
/// secret and SMTP server.
async fn start_pair() -> Pair {
    let db = TestDatabase::create().await;
    let smtp = SmtpServer::start().await;
    let env = vec![
        ("ROLLCALL_DATABASE_URL", db.url().to_owned()),
        ("ROLLCALL_REDIS_URL", testkit::redis::redis_url()),
        ("ROLLCALL_KV_PREFIX", testkit::redis::unique_prefix()),
        ("ROLLCALL_SMTP_URL", smtp.url()),
        (
            "ROLLCALL_MAIL_FROM",
            "Rollcall <rollcall@test.example>".to_owned(),
        ),
        ("ROLLCALL_JWT_SECRET", SECRET.to_owned()),
        ("ROLLCALL_INFERENCE_THREADS", "1".to_owned()),
    ];
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Process::start(&["serve"], dirs.0.path(), &env);
    a.wait_listening(Duration::from_secs(180))
        .unwrap_or_else(|log| panic!("instance A: {log}"));
    let mut b = Process::start(&["serve"], dirs.1.path(), &env);
    b.wait_listening(Duration::from_secs(180))
        .unwrap_or_else(|log| panic!("instance B: {log}"));
    Pair {
        a,
        b,
        smtp,
        client: Client::builder()
            .timeout(Duration::from_secs(600))
            .build()
            .unwrap(),
        db,
        _dirs: dirs,
    }
}

fn unique_email() -> String {
    format!("t-{}@school.example.org", uuid::Uuid::new_v4().simple())
}

impl Pair {
    async fn post(&self, on: &Process, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(on.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, on: &Process, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(on.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The code in the `n`th mail (1-based) to `to`.
    async fn code(&self, to: &str, n: usize) -> String {
        for _ in 0..200 {
            let mails: Vec<String> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| m.rcpt_to.iter().any(|r| r.contains(to)))
                .map(|m| m.body)
                .collect();
            if let Some(body) = mails.get(n - 1) {
                return body
                    .split(|c: char| !c.is_ascii_digit())
                    .find(|w| w.len() == 6)
                    .unwrap_or_else(|| panic!("no code in {body}"))
                    .to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mail {n} to {to} never arrived");
    }

    /// An account made through both instances: code sent by `send`, confirmed on `verify`.
    async fn account(&self, send: &Process, verify: &Process) -> String {
        let email = unique_email();
        let r = self
            .post(
                send,
                "/send-email-verification-otp",
                json!({ "email": email }),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let code = self.code(&email, 1).await;
        let r = self
            .post(
                verify,
                "/verify-email-confirm-otp",
                json!({ "email": email, "otp": code }),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "a code sent by one instance is accepted by the other: {}",
            r.text().await.unwrap()
        );
        let user_id = format!("t-{}", &email[2..14]);
        let r = self
            .post(
                verify,
                "/create_user",
                json!({ "user_id": user_id, "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::CREATED,
            "{}",
            r.text().await.unwrap()
        );
        email
    }

    async fn login(&self, on: &Process, email: &str, password: &str) -> reqwest::Response {
        self.post(
            on,
            "/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    async fn token(&self, on: &Process, email: &str) -> String {
        let r = self.login(on, email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn add_student(&self, token: &str, person: &str) {
        let dir = testkit::paths::faces_dir().join("identities").join(person);
        let mut photos: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        photos.sort();
        // The photos the attendance tests enrol these people with first.
        let preferred = match person {
            "courteney_cox" => Some("2.jpg"),
            "jennifer_aniston" => Some("19.jpg"),
            _ => None,
        };
        if let Some(file) = preferred {
            let path = dir.join(file);
            photos.retain(|p| *p != path);
            photos.insert(0, path);
        }
        for path in photos {
            let form = Form::new()
                .text(
                    "data",
                    json!({ "name": person, "roll_no": person }).to_string(),
                )
                .part(
                    "image",
                    Part::bytes(std::fs::read(&path).unwrap()).file_name("p.jpg"),
                );
            let r = self
                .client
                .post(self.a.url("/addStudent"))
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            if r.status() == StatusCode::OK {
                return;
            }
        }
        panic!("no photo of {person} was accepted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_codes_revocations_throttles_and_attendance() {
    let pair = start_pair().await;
    let (a, b) = (&pair.a, &pair.b);

    // A code sent by A is confirmed on B (inside `account`), and the reverse.
    let email = pair.account(a, b).await;
    let other = pair.account(b, a).await;

    // A logout on A is honoured by B.
    let token = pair.token(a, &email).await;
    let r = pair.get(b, "/get_all_students", &token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = pair
        .client
        .post(a.url("/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    for on in [b, a] {
        let r = pair.get(on, "/get_all_students", &token).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a revoked token");
    }

    // The login throttle counts failures on both: 5 per account (the default), alternating.
    for i in 0..5 {
        let on = if i % 2 == 0 { a } else { b };
        let r = pair.login(on, &other, "Wr0ng password").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "failure {}", i + 1);
    }
    for on in [a, b] {
        let r = pair.login(on, &other, PASSWORD).await;
        assert_eq!(
            r.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "after 5 failures spread over both instances, even the right password waits"
        );
        assert!(r.headers().contains_key("retry-after"));
    }

    // Concurrent marks through both instances: one row per student.
    let token = pair.token(b, &email).await;
    let people = [
        "courteney_cox",
        "jennifer_aniston",
        "matt_leblanc",
        "matthew_perry",
    ];
    for person in people {
        pair.add_student(&token, person).await;
    }
    let photo = std::fs::read(testkit::paths::faces_dir().join("groups/friends_four.jpg"))
        .expect("groups/friends_four.jpg");
    let mut posts = tokio::task::JoinSet::new();
    for on in [a, b, a, b] {
        let (client, url, token, photo) = (
            pair.client.clone(),
            on.url("/mark_attendance"),
            token.clone(),
            photo.clone(),
        );
        posts.spawn(async move {
            let form = Form::new().part("file", Part::bytes(photo).file_name("class.jpg"));
            let r = client
                .post(url)
                .bearer_auth(token)
                .multipart(form)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        });
    }
    let bodies = posts.join_all().await;
    let roll_nos = |list: &Value| -> BTreeSet<String> {
        list.as_array()
            .unwrap_or_else(|| panic!("not a list: {list}"))
            .iter()
            .filter_map(|s| s["roll_no"].as_str().map(str::to_owned))
            .collect()
    };
    let mut newly_marked = Vec::new();
    let mut recognised = BTreeSet::new();
    for body in &bodies {
        newly_marked.extend(roll_nos(&body["marked"]));
        recognised.extend(roll_nos(&body["marked"]));
        recognised.extend(roll_nos(&body["already_present"]));
    }
    assert!(recognised.len() >= 3, "{recognised:?}");
    newly_marked.sort();
    let unique: Vec<String> = recognised.iter().cloned().collect();
    assert_eq!(
        newly_marked, unique,
        "each recognised student newly marked by exactly one of the four requests"
    );
    let mut db = PgConnection::connect(pair.db.url()).await.unwrap();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.roll_no, count(*) FROM attendance a JOIN students s ON s.id = a.student_id \
         GROUP BY s.roll_no ORDER BY s.roll_no",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let expected: Vec<(String, i64)> = unique.iter().map(|r| (r.clone(), 1)).collect();
    assert_eq!(rows, expected, "one attendance row per recognised student");
    let _ = db.close().await;
    for person in &unique {
        let body: Value = pair
            .get(a, &format!("/get-attendance/{person}"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["data"].as_array().map(Vec::len), Some(1), "{body}");
    }
}
