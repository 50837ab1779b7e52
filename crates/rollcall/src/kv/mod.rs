//! Short-lived key-value state with TTLs: one-time codes, send cooldowns, attempt
//! counters and revoked token ids. Redis (several instances) or in-process (one instance).

use std::time::Duration;

use async_trait::async_trait;

pub mod memory;
pub mod redis;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// The store cannot be reached or did not answer within its timeout.
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    #[error("key-value store error: {0}")]
    Internal(String),
}

#[async_trait]
pub trait KeyValue: Send + Sync + 'static {
    async fn ping(&self) -> Result<(), KvError>;
    /// Set `key` to `value`, expiring after `ttl` (overwrites).
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError>;
    /// Set only if absent; true if it was set. For cooldowns and locks.
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError>;
    async fn get(&self, key: &str) -> Result<Option<String>, KvError>;
    /// Atomically read and delete (single use).
    async fn take(&self, key: &str) -> Result<Option<String>, KvError>;
    /// True if the key existed.
    async fn delete(&self, key: &str) -> Result<bool, KvError>;
    /// Increment a counter, creating it at 1 with `ttl` if absent (the TTL is not
    /// extended by later increments). Returns the new value.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError>;
    /// Remaining time to live; None if the key does not exist.
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError>;
}
