//! Redis [`KeyValue`]: shared by every instance of the service.
//!
//! One multiplexed connection behind a [`ConnectionManager`] (which reconnects by
//! itself); every operation is bounded by the configured timeout and fails with
//! [`KvError::Unavailable`] while Redis is unreachable.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue, RedisError};

use super::{KeyValue, KvError};

/// `INCR`, and set the TTL when the key is new (or somehow has none), atomically.
const INCR_WITH_TTL: &str = r"
local value = redis.call('INCR', KEYS[1])
if value == 1 or redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value
";

/// Decrement an existing counter above 0, keeping its TTL; absent stays absent.
const DECR_IF_POSITIVE: &str = r"
local value = redis.call('GET', KEYS[1])
if not value then
    return 0
end
local n = tonumber(value)
if not n then
    return redis.error_reply('value is not an integer')
end
if n <= 0 then
    return 0
end
return redis.call('DECR', KEYS[1])
";

/// [`KeyValue`] on Redis, with an optional prefix prepended to every key.
#[derive(Clone)]
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL (and its password) is deliberately not kept or shown.
        f.debug_struct("RedisKv")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Connects to `url` (`redis://[user:password@]host:port[/db]`),
    /// giving up with [`KvError::Unavailable`] after `timeout`. Later operations are each
    /// bounded by `timeout` too.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, KvError> {
        let (client, config) = client_and_config(url, timeout)?;
        let conn =
            tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config))
                .await
                .map_err(|_| {
                    KvError::Unavailable(format!("connecting timed out after {timeout:?}"))
                })?
                .map_err(classify)?;
        Ok(Self::from_manager(conn, timeout))
    }

    /// Like [`RedisKv::connect`] but without connecting now: the first operation connects.
    /// For starting up while Redis is down.
    pub fn connect_lazy(url: &str, timeout: Duration) -> Result<Self, KvError> {
        let (client, config) = client_and_config(url, timeout)?;
        let conn = ConnectionManager::new_lazy_with_config(client, config).map_err(classify)?;
        Ok(Self::from_manager(conn, timeout))
    }

    fn from_manager(conn: ConnectionManager, timeout: Duration) -> Self {
        Self {
            conn,
            prefix: String::new(),
            timeout,
        }
    }

    /// Prepends `prefix` to every key (e.g. to isolate tests or deployments).
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// Runs one command, bounded by the timeout.
    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, KvError> {
        let mut conn = self.conn.clone();
        self.bounded(async move { cmd.query_async(&mut conn).await })
            .await
    }

    async fn bounded<T>(
        &self,
        op: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, KvError> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result.map_err(classify),
            Err(_) => Err(KvError::Unavailable(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

fn client_and_config(
    url: &str,
    timeout: Duration,
) -> Result<(redis::Client, ConnectionManagerConfig), KvError> {
    // The error does not echo the URL, which may hold a password.
    let client = redis::Client::open(url)
        .map_err(|e| KvError::Internal(format!("invalid Redis URL ({:?})", e.kind())))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        // Reconnect attempts are short: the caller's timeout bounds each operation anyway,
        // and the next operation after a failed reconnect tries again.
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(timeout);
    Ok((client, config))
}

/// Network, I/O and timeout failures are `Unavailable`; the rest is `Internal`.
fn classify(err: RedisError) -> KvError {
    if err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_unrecoverable_error()
    {
        KvError::Unavailable(err.to_string())
    } else {
        KvError::Internal(err.to_string())
    }
}

/// A TTL in whole milliseconds, at least 1 (Redis refuses 0).
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis())
        .unwrap_or(u64::MAX / 2)
        .max(1)
}

#[async_trait]
impl KeyValue for RedisKv {
    async fn ping(&self) -> Result<(), KvError> {
        let _: String = self.query(redis::cmd("PING")).await?;
        Ok(())
    }

    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value).arg("PX").arg(millis(ttl));
        let _: String = self.query(cmd).await?;
        Ok(())
    }

    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(millis(ttl))
            .arg("NX");
        let reply: Option<String> = self.query(cmd).await?;
        Ok(reply.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        self.query(cmd).await
    }

    async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.query(cmd).await
    }

    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        let removed: i64 = self.query(cmd).await?;
        Ok(removed > 0)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(INCR_WITH_TTL)
            .arg(1)
            .arg(self.key(key))
            .arg(millis(ttl));
        self.query(cmd).await
    }

    async fn decr(&self, key: &str) -> Result<i64, KvError> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(DECR_IF_POSITIVE).arg(1).arg(self.key(key));
        self.query(cmd).await
    }

    async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
        let mut cmd = redis::cmd("PTTL");
        cmd.arg(self.key(key));
        let pttl: i64 = self.query(cmd).await?;
        Ok(match pttl {
            // -2: no such key.
            ..=-2 => None,
            // -1: a key without expiry (not written by this type).
            -1 => Some(Duration::MAX),
            ms => Some(Duration::from_millis(ms.unsigned_abs())),
        })
    }
}
