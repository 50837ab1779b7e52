//! Authentication: password hashing and policy, access tokens (JWT with a `jti`),
//! token revocation, one-time codes sent by mail, and failed-login throttling.
//!
//! Everything here is independent of HTTP; `crate::http` maps [`AuthError`] to responses.

use std::time::Duration;

use crate::kv::KvError;
use crate::mail::MailError;

pub mod otp;
pub mod password;
pub mod revocation;
pub mod throttle;
pub mod token;

/// Everything that can go wrong in the auth layer.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password does not satisfy the policy; the message says why.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Hashing or verifying failed for a reason other than a wrong password.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The access token is missing, malformed, tampered, expired or revoked.
    #[error("invalid token: {0}")]
    InvalidToken(&'static str),
    /// Creating a token failed.
    #[error("token encoding failed: {0}")]
    TokenEncoding(String),
    /// The one-time code is wrong, expired, used or void.
    #[error("invalid or expired code")]
    InvalidCode,
    /// A code was sent to this address too recently.
    #[error("a code was sent recently; retry later")]
    Cooldown {
        /// When the next code may be requested.
        retry_after: Duration,
    },
    /// Too many failed logins.
    #[error("too many failed logins; retry later")]
    Throttled {
        /// When the next attempt is accepted.
        retry_after: Duration,
    },
    /// Every password-hashing slot stayed busy for the whole wait.
    #[error("too many sign-ins at once; retry in a few seconds")]
    Busy {
        /// When to retry.
        retry_after: Duration,
    },
    /// Too many code guesses for this address or from this client today.
    #[error("too many code attempts; retry later")]
    TooManyGuesses {
        /// When the next guess is accepted.
        retry_after: Duration,
    },
    /// Too many codes sent to this address today.
    #[error("too many codes sent to this address today; retry later")]
    TooManySends {
        /// When the next code may be sent.
        retry_after: Duration,
    },
    /// The key-value store failed.
    #[error(transparent)]
    Kv(#[from] KvError),
    /// The mail could not be sent.
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// A minimal in-memory [`crate::kv::KeyValue`] for this module's unit tests.
#[cfg(test)]
pub(crate) mod test_kv {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use async_trait::async_trait;

    use crate::kv::{KeyValue, KvError};

    #[derive(Default)]
    pub struct MapKv(Mutex<HashMap<String, (String, Instant)>>);

    impl MapKv {
        fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
            let mut map = self.0.lock().unwrap();
            let now = Instant::now();
            map.retain(|_, (_, until)| *until > now);
            map
        }
    }

    #[async_trait]
    impl KeyValue for MapKv {
        async fn ping(&self) -> Result<(), KvError> {
            Ok(())
        }
        async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
            self.live()
                .insert(key.into(), (value.into(), Instant::now() + ttl));
            Ok(())
        }
        async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
            let mut map = self.live();
            if map.contains_key(key) {
                return Ok(false);
            }
            map.insert(key.into(), (value.into(), Instant::now() + ttl));
            Ok(true)
        }
        async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
            Ok(self.live().get(key).map(|(v, _)| v.clone()))
        }
        async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
            Ok(self.live().remove(key).map(|(v, _)| v))
        }
        async fn delete(&self, key: &str) -> Result<bool, KvError> {
            Ok(self.live().remove(key).is_some())
        }
        async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
            let mut map = self.live();
            let entry = map
                .entry(key.into())
                .or_insert_with(|| ("0".into(), Instant::now() + ttl));
            let n = entry.0.parse::<i64>().unwrap() + 1;
            entry.0 = n.to_string();
            Ok(n)
        }
        async fn decr(&self, key: &str) -> Result<i64, KvError> {
            let mut map = self.live();
            let Some(entry) = map.get_mut(key) else {
                return Ok(0);
            };
            let n = (entry.0.parse::<i64>().unwrap() - 1).max(0);
            entry.0 = n.to_string();
            Ok(n)
        }
        async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
            Ok(self
                .live()
                .get(key)
                .map(|(_, until)| until.saturating_duration_since(Instant::now())))
        }
    }
}
