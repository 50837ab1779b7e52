//! The `KeyValue` contract, written once and run against the in-process store and Redis
//! (`testkit::redis`, a unique key prefix per test).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rollcall::kv::{self, KeyValue, KvError, MemoryKv, RedisKv};
use testkit::proxy::TcpProxy;
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(2);

async fn memory() -> Arc<dyn KeyValue> {
    Arc::new(MemoryKv::new())
}

async fn redis() -> Arc<dyn KeyValue> {
    let url = testkit::redis::redis_url();
    Arc::new(
        RedisKv::connect(&url, TIMEOUT)
            .await
            .unwrap()
            .with_prefix(testkit::redis::unique_prefix()),
    )
}

/// Generates one `#[tokio::test]` per implementation for each suite function.
macro_rules! kv_suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::memory().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::redis().await).await;
                }
            )*
        }
    };
}

kv_suite!(
    set_get_and_expiry,
    set_nx_only_when_absent,
    take_is_single_use,
    concurrent_takes_one_winner,
    incr_creates_with_ttl_and_keeps_it,
    decr_refunds_without_creating,
    delete_reports_existence,
    ping_answers,
);

async fn set_get_and_expiry(kv: Arc<dyn KeyValue>) {
    assert_eq!(kv.get("otp:a").await.unwrap(), None);
    assert_eq!(kv.ttl("otp:a").await.unwrap(), None);
    kv.set("otp:a", "123456", Duration::from_millis(400))
        .await
        .unwrap();
    assert_eq!(kv.get("otp:a").await.unwrap().as_deref(), Some("123456"));
    let ttl = kv.ttl("otp:a").await.unwrap().unwrap();
    assert!(
        ttl > Duration::ZERO && ttl <= Duration::from_millis(400),
        "{ttl:?}"
    );

    // Overwrite: new value, new TTL.
    kv.set("otp:a", "654321", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(kv.get("otp:a").await.unwrap().as_deref(), Some("654321"));
    assert!(kv.ttl("otp:a").await.unwrap().unwrap() > Duration::from_secs(50));

    kv.set("otp:b", "x", Duration::from_millis(200))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(kv.get("otp:b").await.unwrap(), None);
    assert_eq!(kv.ttl("otp:b").await.unwrap(), None);
    assert_eq!(kv.get("otp:a").await.unwrap().as_deref(), Some("654321"));
    // Non-ASCII values round-trip.
    kv.set("name", "Zoë 先生", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(kv.get("name").await.unwrap().as_deref(), Some("Zoë 先生"));
}

async fn set_nx_only_when_absent(kv: Arc<dyn KeyValue>) {
    assert!(
        kv.set_nx("cooldown", "1", Duration::from_millis(300))
            .await
            .unwrap()
    );
    assert!(
        !kv.set_nx("cooldown", "2", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(kv.get("cooldown").await.unwrap().as_deref(), Some("1"));
    assert!(kv.ttl("cooldown").await.unwrap().unwrap() <= Duration::from_millis(300));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        kv.set_nx("cooldown", "3", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(kv.get("cooldown").await.unwrap().as_deref(), Some("3"));
}

async fn take_is_single_use(kv: Arc<dyn KeyValue>) {
    assert_eq!(kv.take("code").await.unwrap(), None);
    kv.set("code", "42", Duration::from_secs(60)).await.unwrap();
    assert_eq!(kv.take("code").await.unwrap().as_deref(), Some("42"));
    assert_eq!(kv.take("code").await.unwrap(), None);
    assert_eq!(kv.get("code").await.unwrap(), None);
    // An expired value cannot be taken.
    kv.set("code", "43", Duration::from_millis(100))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(kv.take("code").await.unwrap(), None);
}

async fn concurrent_takes_one_winner(kv: Arc<dyn KeyValue>) {
    for round in 0..5 {
        kv.set("token", &format!("v{round}"), Duration::from_secs(60))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let kv = Arc::clone(&kv);
            tasks.push(tokio::spawn(async move { kv.take("token").await }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            if let Some(v) = task.await.unwrap().unwrap() {
                winners.push(v);
            }
        }
        assert_eq!(winners, vec![format!("v{round}")], "exactly one take wins");
    }
}

async fn incr_creates_with_ttl_and_keeps_it(kv: Arc<dyn KeyValue>) {
    let ttl = Duration::from_millis(600);
    assert_eq!(kv.incr("attempts", ttl).await.unwrap(), 1);
    assert_eq!(
        kv.incr("attempts", Duration::from_secs(60)).await.unwrap(),
        2
    );
    assert_eq!(
        kv.incr("attempts", Duration::from_secs(60)).await.unwrap(),
        3
    );
    assert_eq!(kv.get("attempts").await.unwrap().as_deref(), Some("3"));
    // Later increments do not extend the TTL.
    let left = kv.ttl("attempts").await.unwrap().unwrap();
    assert!(left <= ttl, "{left:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(kv.get("attempts").await.unwrap(), None);
    assert_eq!(kv.incr("attempts", ttl).await.unwrap(), 1);

    // Concurrent increments are all counted.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let kv = Arc::clone(&kv);
        tasks.push(tokio::spawn(async move {
            kv.incr("burst", Duration::from_secs(60)).await
        }));
    }
    let mut values = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap().unwrap());
    }
    values.sort_unstable();
    assert_eq!(values, (1..=20).collect::<Vec<i64>>());

    // A value that is not a number is an error, not a panic.
    kv.set("text", "abc", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(matches!(
        kv.incr("text", Duration::from_secs(60)).await,
        Err(KvError::Internal(_))
    ));
}

async fn decr_refunds_without_creating(kv: Arc<dyn KeyValue>) {
    assert_eq!(kv.decr("refund").await.unwrap(), 0);
    assert_eq!(kv.get("refund").await.unwrap(), None, "decr created a key");
    let ttl = Duration::from_secs(30);
    kv.incr("refund", ttl).await.unwrap();
    kv.incr("refund", ttl).await.unwrap();
    assert_eq!(kv.decr("refund").await.unwrap(), 1);
    assert_eq!(kv.decr("refund").await.unwrap(), 0);
    assert_eq!(kv.decr("refund").await.unwrap(), 0, "never below 0");
    let left = kv.ttl("refund").await.unwrap().unwrap();
    assert!(
        left > Duration::from_secs(25) && left <= ttl,
        "TTL kept: {left:?}"
    );
    assert_eq!(kv.incr("refund", ttl).await.unwrap(), 1);
}

async fn delete_reports_existence(kv: Arc<dyn KeyValue>) {
    assert!(!kv.delete("jti").await.unwrap());
    kv.set("jti", "revoked", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(kv.delete("jti").await.unwrap());
    assert!(!kv.delete("jti").await.unwrap());
    assert_eq!(kv.get("jti").await.unwrap(), None);
}

async fn ping_answers(kv: Arc<dyn KeyValue>) {
    kv.ping().await.unwrap();
}

// --- implementation-specific ---

#[tokio::test]
async fn connect_chooses_by_url() {
    let memory = kv::connect(None, TIMEOUT).await.unwrap();
    memory.set("k", "v", Duration::from_secs(5)).await.unwrap();
    assert_eq!(memory.get("k").await.unwrap().as_deref(), Some("v"));

    let url = testkit::redis::redis_url();
    let prefix = testkit::redis::unique_prefix();
    let redis = kv::connect_with_prefix(Some(&url), TIMEOUT, &prefix)
        .await
        .unwrap();
    redis.set("k", "v", Duration::from_secs(5)).await.unwrap();
    // The prefix really is applied: an unprefixed client sees the full key.
    let plain = RedisKv::connect(&url, TIMEOUT).await.unwrap();
    assert_eq!(
        plain.get(&format!("{prefix}k")).await.unwrap().as_deref(),
        Some("v")
    );
    assert!(plain.delete(&format!("{prefix}k")).await.unwrap());

    let bad = kv::connect(Some("memcached://127.0.0.1:11211"), TIMEOUT).await;
    assert!(matches!(bad, Err(KvError::Internal(_))));
}

#[tokio::test]
async fn memory_does_not_grow_without_bound() {
    let kv = MemoryKv::new();
    for i in 0..5000 {
        kv.set(&format!("k{i}"), "v", Duration::from_millis(1))
            .await
            .unwrap();
        if i % 1000 == 999 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Expired keys are swept out every 1024 writes.
    assert!(
        kv.len_including_expired() < 2100,
        "{}",
        kv.len_including_expired()
    );
}

#[tokio::test]
async fn redis_down_is_unavailable_quickly() {
    // Nothing listens on port 1.
    let started = Instant::now();
    let result = RedisKv::connect("redis://127.0.0.1:1", Duration::from_millis(500)).await;
    assert!(matches!(result, Err(KvError::Unavailable(_))), "{result:?}");
    let result = kv::connect(Some("redis://127.0.0.1:1"), Duration::from_millis(500)).await;
    assert!(matches!(result, Err(KvError::Unavailable(_))));

    let lazy = RedisKv::connect_lazy("redis://127.0.0.1:1", Duration::from_millis(500)).unwrap();
    assert!(matches!(lazy.get("k").await, Err(KvError::Unavailable(_))));
    assert!(matches!(
        lazy.set("k", "v", Duration::from_secs(1)).await,
        Err(KvError::Unavailable(_))
    ));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn redis_silent_server_times_out() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let result = RedisKv::connect(&format!("redis://{addr}"), Duration::from_millis(500)).await;
    assert!(matches!(result, Err(KvError::Unavailable(_))), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_fast_and_recovers() {
    let redis_url = testkit::redis::redis_url();
    let target = redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap();
    let proxy = TcpProxy::start(target).await;
    let kv = RedisKv::connect(
        &format!("redis://{}", proxy.addr()),
        Duration::from_millis(500),
    )
    .await
    .unwrap()
    .with_prefix(testkit::redis::unique_prefix());
    kv.set("k", "before", Duration::from_secs(60))
        .await
        .unwrap();

    proxy.set_up(false);
    for _ in 0..3 {
        let started = Instant::now();
        let result = kv.get("k").await;
        assert!(matches!(result, Err(KvError::Unavailable(_))), "{result:?}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }

    proxy.set_up(true);
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(value) = kv.get("k").await {
            recovered = Some(value);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recovered.flatten().as_deref(), Some("before"));
    kv.set("k", "after", Duration::from_secs(60)).await.unwrap();
    assert_eq!(kv.take("k").await.unwrap().as_deref(), Some("after"));
}
