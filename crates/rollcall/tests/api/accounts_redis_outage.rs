//! Redis goes away while the server runs: requests that need it get 503 quickly, and
//! everything works again once Redis is back, without restarting the server. The outage is
//! a proxy in front of the test Redis switched off (every connection cut, new ones closed at
//! once) and on again: its port is bound once, for the whole test.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, expect, spawn, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn redis_outage_gives_503_and_recovers() {
    let redis_url = testkit::redis::redis_url();
    let target = url::Url::parse(&redis_url).unwrap();
    let redis = testkit::proxy::TcpProxy::start(&format!(
        "{}:{}",
        target.host_str().unwrap_or("127.0.0.1"),
        target.port().unwrap_or(6379)
    ))
    .await;
    let mut via_proxy = target.clone();
    via_proxy.set_port(Some(redis.addr().port())).unwrap();
    let app = spawn(Backend::SqliteInProcess, |s| {
        s.redis_url = Some(via_proxy.to_string());
        s.backend_timeout = Duration::from_secs(2);
    })
    .await;
    let email = unique_email();
    app.create_account(&email, "outage-user", "Corr3ct horse")
        .await;
    let token = app.login(&email, "Corr3ct horse").await;
    expect(
        app.with_token(Method::GET, "/me", &token).await,
        StatusCode::OK,
    )
    .await;

    redis.set_up(false);

    let started = Instant::now();
    // Revoked tokens live in the database (issue 10, item 9): a signed-in request no longer
    // needs Redis (this was a 503 when revocations were in the key-value store). A login
    // does: its attempt is counted there first.
    expect(
        app.with_token(Method::GET, "/me", &token).await,
        StatusCode::OK,
    )
    .await;
    let body = expect(
        app.post(
            "/login",
            json!({ "email": email, "password": "Corr3ct horse" }),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert_eq!(body["detail"], "key-value store unavailable");
    let body = expect(
        app.post(
            "/send-email-verification-otp",
            json!({ "email": unique_email() }),
        )
        .await,
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    assert!(body["detail"].is_string());
    let body = expect(app.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["detail"], "key-value store unavailable");
    // "Quickly": bounded by the backend timeout, not hanging.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );

    redis.set_up(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.get("/readyz").await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not recover after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Tokens and accounts are in the database.
    expect(
        app.with_token(Method::GET, "/me", &token).await,
        StatusCode::OK,
    )
    .await;
    let fresh = app.login(&email, "Corr3ct horse").await;
    expect(
        app.with_token(Method::POST, "/logout", &fresh).await,
        StatusCode::OK,
    )
    .await;
}

/// PostgreSQL goes away (a proxy in front of it switched off): `/readyz` answers 503
/// "database unavailable" within its timeout, and 200 again once the database is back.
#[tokio::test]
async fn database_outage_makes_readyz_503_and_recovers() {
    let server = url::Url::parse(&testkit::postgres::admin_url()).unwrap();
    let database = testkit::proxy::TcpProxy::start(&format!(
        "{}:{}",
        server.host_str().unwrap_or("127.0.0.1"),
        server.port().unwrap_or(5432)
    ))
    .await;
    let port = database.addr().port();
    let app = spawn(Backend::PostgresRedis, |s| {
        let mut via_proxy = url::Url::parse(&s.database_url).unwrap();
        via_proxy.set_host(Some("127.0.0.1")).unwrap();
        via_proxy.set_port(Some(port)).unwrap();
        s.database_url = via_proxy.to_string();
        s.backend_timeout = Duration::from_secs(2);
    })
    .await;
    let body = expect(app.get("/readyz").await, StatusCode::OK).await;
    assert_eq!(body["status"], "ok");

    database.set_up(false);
    let body = expect(app.get("/readyz").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["detail"], "database unavailable");
    // Liveness does not depend on the database.
    expect(app.get("/healthz").await, StatusCode::OK).await;

    database.set_up(true);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = app.get("/readyz").await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {} 20 s after the database came back",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
