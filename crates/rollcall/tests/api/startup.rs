//! Start-up checks of the real `rollcall serve` binary (issue 10, item 13): without SMTP,
//! one-time codes would go to the log, which a deployment (PostgreSQL or Redis configured)
//! must not do by accident.

use crate::support::process;

use std::time::Duration;

use process::Process;
use testkit::postgres::TestDatabase;

const SECRET: &str = "startup-test-secret-startup-test-secret-0";

fn env(pairs: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut all = vec![("ROLLCALL_JWT_SECRET", SECRET.to_owned())];
    all.extend_from_slice(pairs);
    all
}

/// PostgreSQL or Redis configured, no SMTP: the server refuses to start and says how to
/// allow it.
#[tokio::test]
async fn a_deployment_without_smtp_refuses_to_start() {
    let db = TestDatabase::create().await;
    let redis = testkit::redis::redis_url();
    let cases = [
        (
            "PostgreSQL",
            vec![("ROLLCALL_DATABASE_URL", db.url().to_owned())],
        ),
        ("Redis", vec![("ROLLCALL_REDIS_URL", redis.clone())]),
        (
            "PostgreSQL + Redis, ROLLCALL_MAIL_TO_LOG=false",
            vec![
                ("ROLLCALL_DATABASE_URL", db.url().to_owned()),
                ("ROLLCALL_REDIS_URL", redis.clone()),
                ("ROLLCALL_MAIL_TO_LOG", "false".to_owned()),
            ],
        ),
    ];
    for (what, pairs) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Process::start(&["serve"], dir.path(), &env(&pairs));
        let status = server
            .wait_exit(Duration::from_secs(60))
            .unwrap_or_else(|| {
                panic!(
                    "{what} without SMTP: still running after 60 s:\n{}",
                    server.log()
                )
            });
        let log = server.log();
        assert!(!status.success(), "{what}: exited with {status}:\n{log}");
        assert!(
            log.contains("ROLLCALL_SMTP_URL") && log.contains("ROLLCALL_MAIL_TO_LOG=true"),
            "{what}: the error must name both settings:\n{log}"
        );
        assert!(!log.contains("listening"), "{what}:\n{log}");
    }
}

/// With ROLLCALL_MAIL_TO_LOG=true a deployment without SMTP starts, warns, and the code
/// is in the log; the embedded defaults start with the warning and no extra setting.
#[tokio::test]
async fn mail_to_the_log_only_when_allowed_or_embedded() {
    let db = TestDatabase::create().await;
    let redis = testkit::redis::redis_url();
    let dir = tempfile::tempdir().unwrap();
    let mut allowed = Process::start(
        &["serve"],
        dir.path(),
        &env(&[
            ("ROLLCALL_DATABASE_URL", db.url().to_owned()),
            ("ROLLCALL_REDIS_URL", redis),
            ("ROLLCALL_KV_PREFIX", testkit::redis::unique_prefix()),
            ("ROLLCALL_MAIL_TO_LOG", "true".to_owned()),
        ]),
    );
    allowed
        .wait_listening(Duration::from_secs(120))
        .unwrap_or_else(|log| panic!("ROLLCALL_MAIL_TO_LOG=true: {log}"));
    assert!(
        allowed.log().contains("no ROLLCALL_SMTP_URL"),
        "no warning:\n{}",
        allowed.log()
    );
    let client = reqwest::Client::new();
    let email = format!("t-{}@school.example.org", uuid::Uuid::new_v4().simple());
    let r = client
        .post(allowed.url("/send-email-verification-otp"))
        .json(&serde_json::json!({ "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let mut logged = false;
    for _ in 0..100 {
        if allowed
            .log()
            .lines()
            .any(|l| l.contains(&email) && l.contains("logged instead"))
        {
            logged = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(logged, "the mail is not in the log:\n{}", allowed.log());
    drop(allowed);

    let dir = tempfile::tempdir().unwrap();
    let mut embedded = Process::start(&["serve"], dir.path(), &env(&[]));
    embedded
        .wait_listening(Duration::from_secs(120))
        .unwrap_or_else(|log| panic!("embedded defaults: {log}"));
    assert!(
        embedded.log().contains("no ROLLCALL_SMTP_URL"),
        "no warning:\n{}",
        embedded.log()
    );
}
