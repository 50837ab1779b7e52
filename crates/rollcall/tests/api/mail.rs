//! `SmtpMailer` against the test kit's real SMTP server on 127.0.0.1.

use std::time::{Duration, Instant};

use rollcall::mail::{self, LogMailer, Mail, MailError, Mailer, SmtpMailer};
use testkit::smtp::{SmtpServer, TlsMode};

const WAIT: Duration = Duration::from_secs(5);

fn mail(to: &str, subject: &str, body: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: subject.to_owned(),
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn delivers_ascii_mail() {
    let server = SmtpServer::start().await;
    let mailer =
        SmtpMailer::from_url(&server.url(), "Rollcall <noreply@rollcall.test>", WAIT).unwrap();
    mailer
        .send(&mail(
            "teacher@school.test",
            "Your verification code",
            "Your code is 123456.\nIt expires in 10 minutes.",
        ))
        .await
        .unwrap();

    let got = server.wait_for("teacher@school.test", WAIT).await.unwrap();
    assert_eq!(got.mail_from, "noreply@rollcall.test");
    assert_eq!(got.rcpt_to, ["teacher@school.test"]);
    assert_eq!(got.subject.as_deref(), Some("Your verification code"));
    assert_eq!(got.header("From"), Some("Rollcall <noreply@rollcall.test>"));
    assert_eq!(got.header("To"), Some("teacher@school.test"));
    assert_eq!(
        got.body.trim_end(),
        "Your code is 123456.\nIt expires in 10 minutes."
    );
    assert_eq!(got.credentials, None);
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn delivers_non_ascii_mail() {
    let server = SmtpServer::start().await;
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
    let body =
        "Bonjour Zoë,\nvotre code : 987654 — 有效期十分钟。\n.\n..a line that starts with dots";
    mailer
        .send(&mail("zoe.prof@school.test", "Code d'accès ✓", body))
        .await
        .unwrap();
    let got = server.wait_for("zoe.prof@school.test", WAIT).await.unwrap();
    assert_eq!(got.subject.as_deref(), Some("Code d'accès ✓"));
    assert!(
        matches!(
            got.header("Content-Transfer-Encoding"),
            Some("quoted-printable" | "base64")
        ),
        "{:?}",
        got.header("Content-Transfer-Encoding")
    );
    assert!(got.raw.is_ascii(), "the body travels encoded");
    assert_eq!(got.body.trim_end(), body);
}

#[tokio::test]
async fn long_body_survives_encoding() {
    let server = SmtpServer::start().await;
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
    let body: String = (0..200)
        .map(|i| format!("ligne {i}: élève présent ✓ {}\n", "x".repeat(i % 97)))
        .collect();
    mailer
        .send(&mail("a@school.test", "Rapport", &body))
        .await
        .unwrap();
    let got = server.wait_for("a@school.test", WAIT).await.unwrap();
    assert_eq!(got.body.trim_end(), body.trim_end());
}

#[tokio::test]
async fn mostly_non_latin_body_travels_as_base64() {
    let server = SmtpServer::start().await;
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
    let body = "您的验证码是 246810，十分钟内有效。请勿将验证码告诉任何人。".repeat(3);
    mailer
        .send(&mail("li@school.test", "验证码", &body))
        .await
        .unwrap();
    let got = server.wait_for("li@school.test", WAIT).await.unwrap();
    assert_eq!(got.header("Content-Transfer-Encoding"), Some("base64"));
    assert_eq!(got.subject.as_deref(), Some("验证码"));
    assert_eq!(got.body.trim_end(), body);
}

#[tokio::test]
async fn credentials_come_from_the_url() {
    let server = SmtpServer::start().await;
    let url = format!("smtp://mailer%40school:p%40ss%3Aw%2Frd@{}", server.addr());
    let mailer = SmtpMailer::from_url(&url, "noreply@rollcall.test", WAIT).unwrap();
    // Debug output never shows the password.
    assert!(!format!("{mailer:?}").contains("p@ss"));
    mailer
        .send(&mail("a@school.test", "Hi", "Hello"))
        .await
        .unwrap();
    let got = server.wait_for("a@school.test", WAIT).await.unwrap();
    let credentials = got.credentials.unwrap();
    assert_eq!(credentials.user, "mailer@school");
    assert_eq!(credentials.password, "p@ss:w/rd");
}

#[tokio::test]
async fn several_mails_in_a_row() {
    let server = SmtpServer::start().await;
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
    for i in 0..3 {
        mailer
            .send(&mail(
                &format!("t{i}@school.test"),
                "Code",
                &format!("code {i}"),
            ))
            .await
            .unwrap();
    }
    for i in 0..3 {
        let got = server
            .wait_for(&format!("t{i}@school.test"), WAIT)
            .await
            .unwrap();
        assert_eq!(got.body.trim_end(), format!("code {i}"));
    }
    assert_eq!(server.messages().len(), 3);
}

#[tokio::test]
async fn rejected_recipient_is_rejected() {
    let server = SmtpServer::start().await;
    server.set_reject_all(true);
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
    let result = mailer.send(&mail("a@school.test", "Hi", "Hello")).await;
    assert!(matches!(result, Err(MailError::Rejected(_))), "{result:?}");
    assert!(server.messages().is_empty());

    // And the mailer works again once the server accepts.
    server.set_reject_all(false);
    mailer
        .send(&mail("a@school.test", "Hi", "Hello"))
        .await
        .unwrap();
    assert!(server.wait_for("a@school.test", WAIT).await.is_some());
}

#[tokio::test]
async fn stalled_server_is_unavailable_within_the_timeout() {
    let server = SmtpServer::start().await;
    server.set_stall(true);
    let timeout = Duration::from_millis(800);
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", timeout).unwrap();
    let started = Instant::now();
    let result = mailer.send(&mail("a@school.test", "Hi", "Hello")).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(MailError::Unavailable(_))),
        "{result:?}"
    );
    // Cut by the timeout, not left hanging: no tight upper bound (a busy machine may be
    // slow to schedule), only "well before a hang" and "not before the timeout".
    assert!(
        elapsed >= timeout * 9 / 10,
        "gave up after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "a stalled server held the send for {elapsed:?} with a {timeout:?} timeout"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    // A port held bound but not listening: refused at once, and nobody else can take it.
    let closed = testkit::ports::ClosedPort::bind();
    let mailer = SmtpMailer::from_url(
        &format!("smtp://127.0.0.1:{}", closed.port()),
        "noreply@rollcall.test",
        Duration::from_secs(2),
    )
    .unwrap();
    let result = mailer.send(&mail("a@school.test", "Hi", "Hello")).await;
    assert!(
        matches!(result, Err(MailError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn bad_configuration_and_addresses() {
    for url in ["http://127.0.0.1:25", "smtp://", "not a url"] {
        assert!(
            SmtpMailer::from_url(url, "noreply@rollcall.test", WAIT).is_err(),
            "{url}"
        );
    }
    assert!(SmtpMailer::from_url("smtp://127.0.0.1:25", "not an address", WAIT).is_err());
    assert!(SmtpMailer::from_url("smtps://u:p@smtp.example.org", "a@b.test", WAIT).is_ok());
    assert!(SmtpMailer::from_url("smtp+starttls://smtp.example.org:587", "a@b.test", WAIT).is_ok());

    let server = SmtpServer::start().await;
    let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
    let result = mailer.send(&mail("not an address", "Hi", "Hello")).await;
    assert!(matches!(result, Err(MailError::Rejected(_))), "{result:?}");
}

#[tokio::test]
async fn from_config_picks_smtp_or_log() {
    let server = SmtpServer::start().await;
    let smtp = mail::from_config(Some(&server.url()), None, "noreply@rollcall.test", WAIT).unwrap();
    smtp.send(&mail("a@school.test", "Hi", "via smtp"))
        .await
        .unwrap();
    assert!(server.wait_for("a@school.test", WAIT).await.is_some());

    // Without an SMTP URL the mail, with its code, reaches the log (the README's promise
    // for local runs), and nothing goes to any server.
    let log = mail::from_config(None, None, "noreply@rollcall.test", WAIT).unwrap();
    let logged = capture_log(|| async {
        log.send(&mail("a@school.test", "Your code", "Your code is 482913."))
            .await
            .unwrap();
        LogMailer::new()
            .send(&mail("b@school.test", "Hi", "via log"))
            .await
            .unwrap();
    })
    .await;
    assert!(
        logged.contains("a@school.test")
            && logged.contains("Your code")
            && logged.contains("482913"),
        "{logged}"
    );
    assert!(logged.contains("b@school.test"), "{logged}");
    assert_eq!(server.messages().len(), 1);
}

/// A `Write` into a shared buffer, for a log subscriber.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a log subscriber on this thread and returns what was logged.
async fn capture_log<F, Fut>(f: F) -> String
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let buffer = Captured::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    // The test runtime is single-threaded: the future runs on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);
    f().await;
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A mailer for `url` that trusts `server`'s self-signed certificate, the way the service
/// does with `ROLLCALL_SMTP_CA_FILE` (through a real file).
fn trusting(server: &SmtpServer, url: &str) -> (std::sync::Arc<dyn Mailer>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("smtp-ca.pem");
    std::fs::write(&ca, server.certificate_pem().unwrap()).unwrap();
    let mailer = mail::from_config(Some(url), Some(&ca), "noreply@rollcall.test", WAIT).unwrap();
    (mailer, dir)
}

#[tokio::test]
async fn starttls_delivery_is_encrypted() {
    let server = SmtpServer::start_tls(TlsMode::StartTls).await;
    let url = format!("smtp+starttls://teacher:s3cret@{}", server.addr());
    let (mailer, _ca) = trusting(&server, &url);
    mailer
        .send(&mail("a@school.test", "Code", "Your code is 123456."))
        .await
        .unwrap();
    let got = server.wait_for("a@school.test", WAIT).await.unwrap();
    assert!(got.tls, "the message came in plain text");
    assert!(got.body.contains("123456"), "{}", got.body);
    // The credentials went over the encrypted connection (after STARTTLS).
    let credentials = got.credentials.unwrap();
    assert_eq!(
        (credentials.user.as_str(), credentials.password.as_str()),
        ("teacher", "s3cret")
    );

    // `smtp://` upgrades by itself when the server offers STARTTLS.
    let (opportunistic, _ca) = trusting(&server, &format!("smtp://{}", server.addr()));
    opportunistic
        .send(&mail("b@school.test", "Hi", "upgraded"))
        .await
        .unwrap();
    assert!(server.wait_for("b@school.test", WAIT).await.unwrap().tls);
}

#[tokio::test]
async fn implicit_tls_delivery_is_encrypted() {
    let server = SmtpServer::start_tls(TlsMode::Implicit).await;
    assert!(server.url().starts_with("smtps://"));
    let (mailer, _ca) = trusting(&server, &server.url());
    mailer
        .send(&mail("a@school.test", "Code", "Your code is 654321."))
        .await
        .unwrap();
    let got = server.wait_for("a@school.test", WAIT).await.unwrap();
    assert!(got.tls);
    assert!(got.body.contains("654321"), "{}", got.body);
}

#[tokio::test]
async fn an_untrusted_certificate_or_a_missing_starttls_is_refused() {
    // Without the CA the self-signed certificate is refused: nothing is delivered.
    for mode in [TlsMode::StartTls, TlsMode::Implicit] {
        let server = SmtpServer::start_tls(mode).await;
        let mailer = SmtpMailer::from_url(&server.url(), "noreply@rollcall.test", WAIT).unwrap();
        let result = mailer.send(&mail("a@school.test", "Hi", "secret")).await;
        assert!(
            matches!(result, Err(MailError::Unavailable(_))),
            "{mode:?}: {result:?}"
        );
        assert!(server.messages().is_empty(), "{mode:?}");
    }
    // `smtp+starttls://` requires STARTTLS: a server without it gets nothing.
    let plain = SmtpServer::start().await;
    let url = format!("smtp+starttls://{}", plain.addr());
    let mailer = SmtpMailer::from_url(&url, "noreply@rollcall.test", WAIT).unwrap();
    let result = mailer.send(&mail("a@school.test", "Hi", "secret")).await;
    assert!(result.is_err(), "{result:?}");
    assert!(plain.messages().is_empty());

    // A CA file that is not PEM fails at start-up, with a message that names it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    for file in [&bad, &missing] {
        let result = mail::from_config(Some("smtps://127.0.0.1"), Some(file), "a@b.test", WAIT);
        assert!(matches!(result, Err(MailError::Rejected(_))), "{file:?}");
    }
}
