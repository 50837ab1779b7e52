//! Hostile-load tests (issue 10): bounded password hashing, an atomic login throttle,
//! bounded code guessing, no account enumeration, revocations that survive a restart, slow
//! uploads, half-sent requests and a bounded shutdown. The real server on 127.0.0.1:0.

use crate::common;
use crate::support::classroom;

use std::time::{Duration, Instant};

use common::{Backend, TestApp, expect, expect_unauthorized, spawn, unique_email};
use reqwest::StatusCode;
use rollcall::app::Application;
use serde_json::{Value, json};
use testkit::smtp::SmtpServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const PASSWORD: &str = "Corr3ct horse battery";

fn wrong_code(code: &str) -> &'static str {
    if code == "000000" { "000001" } else { "000000" }
}

// --- item 6: the login throttle holds under a concurrent burst ---

/// 40 simultaneous logins to one account, the right password at a random position: the
/// counter is taken before hashing, so exactly the limit (5) are checked and the rest get
/// 429; the right password gets in only if it was among those 5.
async fn login_burst(backend: Backend) {
    let app = spawn(backend, |s| {
        s.login_throttle.max_failures_per_ip = 1000;
        s.hardening.password_hash_wait = Duration::from_secs(60);
    })
    .await;
    let email = unique_email();
    app.create_account(&email, &format!("burst-{}", &email[2..10]), PASSWORD)
        .await;
    let right = rand::random_range(0..40usize);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (client, url, email) = (app.client.clone(), app.url("/login"), email.clone());
        let password = if i == right {
            PASSWORD
        } else {
            "Wrong-passw0rd"
        };
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await
                .unwrap();
            r.status()
        }));
    }
    let mut checked = 0;
    let mut throttled = 0;
    let mut signed_in = false;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => {
                checked += 1;
                signed_in = true;
            }
            StatusCode::FORBIDDEN => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        checked, 5,
        "{checked} passwords were checked against a limit of 5 ({throttled} throttled)"
    );
    if signed_in {
        // The right password was among the 5: a success clears the account's count.
        return;
    }
    // The window is spent: the right password is refused now.
    expect(
        app.post("/login", json!({ "email": email, "password": PASSWORD }))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_burst_is_limited_on_sqlite_and_in_process_kv() {
    login_burst(Backend::SqliteInProcess).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_burst_is_limited_on_postgres_and_redis() {
    login_burst(Backend::PostgresRedis).await;
}

/// Successful logins do not use up the client's allowance (a school behind one address).
#[tokio::test]
async fn successful_logins_do_not_count_against_the_client() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.login_throttle.max_failures_per_ip = 3;
    })
    .await;
    let email = unique_email();
    app.create_account(&email, "nat-user", PASSWORD).await;
    for _ in 0..6 {
        app.login(&email, PASSWORD).await;
    }
    for i in 0..3 {
        expect(
            app.post(
                "/login",
                json!({ "email": format!("n{i}@x.org"), "password": "x" }),
            )
            .await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    expect(
        app.post("/login", json!({ "email": email, "password": PASSWORD }))
            .await,
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
}

// --- item 1: bounded hashing ---

/// With one hashing slot and a 50 ms wait, a burst of logins gets 503 with `Retry-After`
/// for those that cannot be hashed in time, and `/healthz` answers throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_beyond_the_hashing_slots_get_503_and_health_answers() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.login_throttle.max_failures_per_ip = 1000;
        s.hardening.password_hash_concurrency = 1;
        s.hardening.password_hash_wait = Duration::from_millis(50);
    })
    .await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (client, url) = (app.client.clone(), app.url("/login"));
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .json(&json!({ "email": format!("nobody{i}@x.org"), "password": "Wr0ng-password" }))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let retry = r.headers().get("retry-after").cloned();
            let body: Value = r.json().await.unwrap();
            (status, retry, body)
        }));
    }
    let started = Instant::now();
    let health = expect(app.get("/healthz").await, StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
    assert!(started.elapsed() < Duration::from_secs(2));
    let (mut busy, mut denied) = (0, 0);
    for task in tasks {
        let (status, retry, body) = task.await.unwrap();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                let retry: u64 = retry.unwrap().to_str().unwrap().parse().unwrap();
                assert!(retry >= 1);
                assert!(body["detail"].as_str().unwrap().contains("sign-ins"));
            }
            StatusCode::FORBIDDEN => denied += 1,
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy > 0, "no login was turned away ({denied} hashed)");
    assert!(denied > 0, "no login was hashed");
}

// --- item 7: one-time code guessing is bounded per day ---

/// However many codes are requested, one address gets at most `max_guesses_per_day`
/// guesses checked in 24 hours; after that even the right code is refused with 429.
#[tokio::test]
async fn the_daily_guess_budget_is_bounded() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.otp.cooldown = Duration::from_millis(50);
        s.hardening.otp.max_guesses_per_day = 8;
        s.hardening.otp.max_sends_per_day = 5;
    })
    .await;
    let email = unique_email();
    let mut checked = 0;
    let mut refused = 0;
    let mut sent = 0;
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(80)).await;
        let r = app
            .post("/send-email-verification-otp", json!({ "email": email }))
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let body = expect(r, StatusCode::TOO_MANY_REQUESTS).await;
            assert!(body["detail"].as_str().unwrap().contains("today"), "{body}");
            continue;
        }
        expect(r, StatusCode::OK).await;
        sent += 1;
        let code = app.code_in_mail(&email, sent).await;
        for _ in 0..3 {
            let r = app
                .post(
                    "/verify-email-confirm-otp",
                    json!({ "email": email, "otp": wrong_code(&code) }),
                )
                .await;
            match r.status() {
                StatusCode::BAD_REQUEST => checked += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    assert!(r.headers().contains_key("retry-after"));
                    refused += 1;
                }
                other => panic!("round {round}: unexpected {other}"),
            }
        }
        if round == 4 {
            // The budget is spent: the right code is refused too.
            let body = expect(
                app.post(
                    "/verify-email-confirm-otp",
                    json!({ "email": email, "otp": code }),
                )
                .await,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await;
            assert!(body["detail"].as_str().unwrap().contains("attempts"));
        }
    }
    assert_eq!(sent, 5, "the daily send cap");
    assert_eq!(checked, 8, "guesses checked in a day");
    assert_eq!(refused, 7);
}

// --- item 8: no account enumeration ---

async fn timed_post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value, Duration) {
    let started = Instant::now();
    let r = app.post(path, body).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    (status, body, started.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Every unauthenticated endpoint that takes an address answers a registered and an
/// unregistered one the same way: status, body, and (statistically) time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn registered_and_unknown_addresses_get_the_same_answers() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.otp.cooldown = Duration::from_millis(10);
        s.hardening.otp.max_sends_per_day = 1000;
    })
    .await;
    let registered = unique_email();
    app.create_account(&registered, "enum-user", PASSWORD).await;

    // Sign-up code: 200 either way; the holder's mail says they have an account.
    let nobody = unique_email();
    let (s1, b1, _) = timed_post(
        &app,
        "/send-email-verification-otp",
        json!({ "email": registered }),
    )
    .await;
    let (s2, b2, _) = timed_post(
        &app,
        "/send-email-verification-otp",
        json!({ "email": nobody }),
    )
    .await;
    assert_eq!((s1, &b1), (StatusCode::OK, &b2));
    assert_eq!(s2, StatusCode::OK);
    app.code_in_mail(&nobody, 1).await;
    let notice = loop {
        if let Some(m) = app.mails_to(&registered).get(2) {
            break m.clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(notice.contains("already has an account"), "{notice}");
    assert!(common::six_digits(&notice).is_none(), "a code in: {notice}");

    // Sign-up without a verified code: the same 403 either way.
    let other = unique_email();
    let mut answers = Vec::new();
    for email in [&registered, &other] {
        let r = app
            .post(
                "/create_user",
                json!({ "user_id": "someone-new", "email": email, "password": PASSWORD }),
            )
            .await;
        answers.push(expect(r, StatusCode::FORBIDDEN).await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0]["detail"], "First verify your mail id");

    // Reset codes with a slow mail server (300 ms per reply): the same answer, in about the
    // same time, neither waiting for the mail.
    app.smtp.set_reply_delay(Duration::from_millis(300));
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for round in 0..12 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let stranger = unique_email();
        let (s, b, t) = timed_post(
            &app,
            "/forgot-password-send-otp",
            json!({ "email": registered }),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "round {round}: {b}");
        known.push(t);
        let (s2, b2, t2) = timed_post(
            &app,
            "/forgot-password-send-otp",
            json!({ "email": stranger }),
        )
        .await;
        assert_eq!((s2, b2), (s, b));
        unknown.push(t2);
    }
    let (mk, mu) = (median(known.clone()), median(unknown.clone()));
    // A synchronous send would take over 1 s (several 300 ms replies).
    assert!(
        mk < Duration::from_millis(250) && mu < Duration::from_millis(250),
        "medians: registered {mk:?}, unknown {mu:?}"
    );
    let gap = mk.abs_diff(mu);
    assert!(
        gap < Duration::from_millis(20).max(mk.max(mu) / 2),
        "medians differ: registered {mk:?} {known:?}, unknown {mu:?} {unknown:?}"
    );
}

/// A mail outage does not tell who has an account: 200 for both.
#[tokio::test]
async fn forgot_password_answers_200_when_mail_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let registered = unique_email();
    app.create_account(&registered, "outage-user", PASSWORD)
        .await;
    drop(closed);
    let down = spawn(Backend::SqliteInProcess, |s| {
        s.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
        s.mail_timeout = Duration::from_secs(2);
        // The same database as `app`, so the account exists here too.
        s.database_url = app.settings.database_url.clone();
        s.data_dir = app.settings.data_dir.clone();
    })
    .await;
    let mut bodies = Vec::new();
    for email in [registered.clone(), unique_email()] {
        let r = down
            .post("/forgot-password-send-otp", json!({ "email": email }))
            .await;
        bodies.push(expect(r, StatusCode::OK).await);
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[0]["msg"], "Otp sent successfully to your email");
}

// --- item 9: logout survives a restart on the embedded default ---

/// Starts `settings` and returns its base URL and a sender that stops it.
async fn start(
    settings: rollcall::config::Settings,
) -> (
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let app = Application::build_lazy(settings).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (base, stop, task)
}

#[tokio::test]
async fn a_revoked_token_stays_revoked_after_a_restart() {
    let smtp = SmtpServer::start().await;
    let (settings, _dir, _db) = common::settings(Backend::SqliteInProcess, &smtp).await;
    let client = reqwest::Client::new();
    let (base, stop, task) = start(settings.clone()).await;
    // Sign up through the first instance.
    let app = TestAppView {
        base: &base,
        client: &client,
        smtp: &smtp,
    };
    let email = unique_email();
    let token = app.sign_up_and_login(&email).await;
    let kept = app.login(&email).await;
    let r = client
        .post(format!("{base}/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    stop.send(()).unwrap();
    task.await.unwrap();

    // A new process on the same SQLite file, with a fresh in-process key-value store.
    let (base, stop, task) = start(settings).await;
    let me = |t: String| client.get(format!("{base}/me")).bearer_auth(t).send();
    expect_unauthorized(me(token.clone()).await.unwrap()).await;
    expect(me(kept).await.unwrap(), StatusCode::OK).await;
    stop.send(()).unwrap();
    task.await.unwrap();
}

/// The bits of [`TestApp`] the restart test needs, over a bare base URL.
struct TestAppView<'a> {
    base: &'a str,
    client: &'a reqwest::Client,
    smtp: &'a SmtpServer,
}

impl TestAppView<'_> {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn sign_up_and_login(&self, email: &str) -> String {
        expect(
            self.post("/send-email-verification-otp", json!({ "email": email }))
                .await,
            StatusCode::OK,
        )
        .await;
        let code = loop {
            let mails: Vec<String> = self
                .smtp
                .messages()
                .into_iter()
                .filter(|m| m.rcpt_to.iter().any(|r| r.contains(email)))
                .map(|m| m.body)
                .collect();
            if let Some(code) = mails.first().and_then(|m| common::six_digits(m)) {
                break code;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        expect(
            self.post(
                "/verify-email-confirm-otp",
                json!({ "email": email, "otp": code }),
            )
            .await,
            StatusCode::OK,
        )
        .await;
        expect(
            self.post(
                "/create_user",
                json!({ "user_id": "restart-user", "email": email, "password": PASSWORD }),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        self.login(email).await
    }

    async fn login(&self, email: &str) -> String {
        let body = expect(
            self.post("/login", json!({ "email": email, "password": PASSWORD }))
                .await,
            StatusCode::OK,
        )
        .await;
        body["access_token"].as_str().unwrap().to_owned()
    }
}

// --- item 2: slow uploads ---

/// Opens a multipart upload to `path` and sends its start, then trickles a byte every
/// 200 ms in the background until the server answers; returns the status it answered.
async fn trickling_upload(
    base: &str,
    path: &str,
    token: &str,
) -> tokio::task::JoinHandle<(u16, Duration)> {
    let addr = base.trim_start_matches("http://").to_owned();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000\r\n\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    );
    tokio::spawn(async move {
        let started = Instant::now();
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            tokio::select! {
                read = stream.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        answer.extend_from_slice(&buf[..n]);
                        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                },
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if stream.write_all(b"x").await.is_err() {
                        // The server closed; read what it said.
                    }
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                break;
            }
        }
        let text = String::from_utf8_lossy(&answer);
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, started.elapsed())
    })
}

/// Nine uploads trickling from one account: two are read (and cut with 408 at the read
/// deadline), the other seven get 429 at once, and another teacher's photo is analysed
/// meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_uploads_from_one_account_do_not_starve_another() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.hardening.upload_read_timeout = Duration::from_secs(8);
    })
    .await;
    let slow = app.signed_in_teacher().await;
    let other = app.signed_in_teacher().await;
    let person = std::fs::read_dir(classroom::faces_dir().join("identities"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .min()
        .unwrap();
    let enrolled = app.enrol_person(&other, &person, "1").await;
    let photo = std::fs::read(&enrolled).unwrap();
    let mut trickles = Vec::new();
    for _ in 0..9 {
        trickles.push(trickling_upload(&app.base, "/mark_attendance", &slow).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let r = app.mark(&other, photo).await;
    let took = started.elapsed();
    let body = expect(r, StatusCode::OK).await;
    assert_eq!(
        classroom::roll_nos(&body["marked"]),
        ["1".to_owned()].into(),
        "{body}"
    );
    let mut statuses = Vec::new();
    for t in trickles {
        let (status, lasted) = t.await.unwrap();
        statuses.push(status);
        if status == 408 {
            assert!(
                lasted >= Duration::from_secs(7) && lasted < Duration::from_secs(20),
                "cut after {lasted:?}"
            );
            // The other teacher was served while this one was still trickling.
            assert!(
                took < lasted,
                "served in {took:?}, trickle lasted {lasted:?}"
            );
        }
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [408, 408, 429, 429, 429, 429, 429, 429, 429]);
}

// --- item 5: the pixel limit has its own answer ---

/// A PNG header claiming `w` x `h` 8-bit RGB pixels, with an empty image stream.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let mut crc = 0xFFFF_FFFFu32;
        for &b in &crc_input {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        out.extend_from_slice(&(!crc).to_be_bytes());
    }
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &[0x78, 0x9C, 0x03, 0x00]);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A 69-byte file claiming 30000x30000 pixels gets 422 with the size and the limit, not 413
/// "Request body is too large".
#[tokio::test]
async fn a_photo_over_the_pixel_limit_gets_its_own_422() {
    let app = spawn(Backend::SqliteInProcess, |_| {}).await;
    let token = app.signed_in_teacher().await;
    let bomb = png_header_only(30_000, 30_000);
    assert!(bomb.len() < 100);
    let r = app
        .add_student_part(
            &token,
            "Big",
            "1",
            classroom::part(bomb, "a.png", "image/png"),
        )
        .await;
    let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        body["detail"],
        "photo is 30000x30000, the limit is 40 megapixels"
    );
}

// --- item 3: half-sent requests ---

/// 120 connections that never finish their headers: the server closes each after the
/// header-read timeout, never serves more than `max_connections` at once, and `/healthz`
/// keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn half_sent_requests_are_cut_and_health_answers() {
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.hardening.header_read_timeout = Duration::from_secs(1);
        s.hardening.max_connections = 32;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for i in 0..120 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        // Half a request, or nothing at all.
        if i % 2 == 0 {
            let _ = stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await;
        }
        held.push(stream);
    }
    let started = Instant::now();
    let health = expect(app.get("/healthz").await, StatusCode::OK).await;
    assert_eq!(health["status"], "ok");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "healthz took {:?}",
        started.elapsed()
    );
    // Every held connection is closed by the server within a few timeouts.
    let deadline = Instant::now() + Duration::from_secs(15);
    for (i, stream) in held.iter_mut().enumerate() {
        let mut buf = [0u8; 512];
        let left = deadline.saturating_duration_since(Instant::now());
        let closed = loop {
            match tokio::time::timeout(left, stream.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break true,
                // A 408 or similar before closing is fine: keep reading.
                Ok(Ok(_)) => continue,
                Err(_) => break false,
            }
        };
        assert!(closed, "connection {i} is still open after 15 s");
    }
}

// --- item 4: bounded graceful shutdown ---

/// A client that trickles a request body cannot hold shutdown past the grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_is_bounded_by_the_grace_period() {
    let smtp = SmtpServer::start().await;
    let (mut settings, _dir, _db) = common::settings(Backend::SqliteInProcess, &smtp).await;
    settings.hardening.shutdown_grace = Duration::from_secs(1);
    let (base, stop, task) = start(settings).await;
    let addr = base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"email\": \"",
        )
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..600 {
            if stream.write_all(b"a").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("shutdown waited for the slow client")
        .unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "shutdown took {took:?}"
    );
    // The listener is gone.
    assert!(TcpStream::connect(&addr).await.is_err());
    trickle.abort();
    // An idle server stops at once.
    let (mut settings, _dir2, _db2) = common::settings(Backend::SqliteInProcess, &smtp).await;
    settings.hardening.shutdown_grace = Duration::from_secs(30);
    let (_base, stop, task) = start(settings).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
}
