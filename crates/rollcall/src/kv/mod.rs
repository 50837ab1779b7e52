//! Short-lived key-value state with TTLs: one-time codes, send cooldowns, attempt
//! counters and revoked token ids. Redis (several instances) or in-process (one instance).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod memory;
pub mod redis;

pub use memory::MemoryKv;
pub use redis::RedisKv;

/// Opens the key-value store: `None` -> in-process ([`MemoryKv`]), `Some("redis://...")` ->
/// [`RedisKv`]. Connecting to Redis is bounded by `timeout`
/// ([`KvError::Unavailable`] if it is down); the caller decides whether that is fatal
/// (see also [`RedisKv::connect_lazy`]).
pub async fn connect(url: Option<&str>, timeout: Duration) -> Result<Arc<dyn KeyValue>, KvError> {
    connect_with_prefix(url, timeout, "").await
}

/// [`connect`], with `prefix` prepended to every Redis key (ignored in process).
pub async fn connect_with_prefix(
    url: Option<&str>,
    timeout: Duration,
    prefix: &str,
) -> Result<Arc<dyn KeyValue>, KvError> {
    let Some(url) = url else {
        return Ok(Arc::new(MemoryKv::new()));
    };
    // Only the scheme goes into errors: the rest of the URL may hold a password.
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme {
        "redis" => Ok(Arc::new(
            RedisKv::connect(url, timeout).await?.with_prefix(prefix),
        )),
        other => Err(KvError::Internal(format!(
            "unsupported key-value URL scheme {other:?} (expected redis://; TLS is not built in)"
        ))),
    }
}

/// Errors of the key-value layer.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The store cannot be reached or did not answer within its timeout.
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a bug, a value of the wrong type). Logged, never shown to clients.
    #[error("key-value store error: {0}")]
    Internal(String),
}

/// Short-lived strings with a time to live. Every key written through this trait expires.
#[async_trait]
pub trait KeyValue: Send + Sync + 'static {
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), KvError>;
    /// Set `key` to `value`, expiring after `ttl` (overwrites).
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError>;
    /// Set only if absent; true if it was set. For cooldowns and locks.
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError>;
    /// The value, if the key exists and has not expired.
    async fn get(&self, key: &str) -> Result<Option<String>, KvError>;
    /// Atomically read and delete (single use).
    async fn take(&self, key: &str) -> Result<Option<String>, KvError>;
    /// True if the key existed.
    async fn delete(&self, key: &str) -> Result<bool, KvError>;
    /// Increment a counter, creating it at 1 with `ttl` if absent (the TTL is not
    /// extended by later increments). Returns the new value.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError>;
    /// Decrement a counter that exists and is above 0, keeping its TTL (a refund of an
    /// [`KeyValue::incr`]); an absent key stays absent. Returns the new value (0 if absent).
    async fn decr(&self, key: &str) -> Result<i64, KvError>;
    /// Remaining time to live; None if the key does not exist.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError>;
}
