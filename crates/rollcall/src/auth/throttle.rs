//! Failed-login throttling: counters per account and per client IP in a fixed window.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::AuthError;
use crate::config::LoginThrottleSettings;
use crate::kv::KeyValue;

/// Counts failed logins and refuses further attempts once a limit is reached.
#[derive(Clone)]
pub struct LoginThrottle {
    kv: Arc<dyn KeyValue>,
    settings: LoginThrottleSettings,
}

fn account_key(email: &str) -> String {
    format!("login-failures:account:{email}")
}

fn ip_key(ip: IpAddr) -> String {
    format!("login-failures:ip:{ip}")
}

impl LoginThrottle {
    /// A throttle keeping its counters in `kv`.
    pub fn new(kv: Arc<dyn KeyValue>, settings: LoginThrottleSettings) -> Self {
        Self { kv, settings }
    }

    /// Reserves one login attempt for the account and the client before any password is
    /// checked: both counters are incremented atomically first, so that a burst of
    /// simultaneous guesses cannot all pass a check made before any of them is counted.
    /// Fails with [`AuthError::Throttled`] once either counter is over its limit.
    pub async fn reserve(&self, email: &str, ip: IpAddr) -> Result<(), AuthError> {
        let checks = [
            (account_key(email), self.settings.max_failures_per_account),
            (ip_key(ip), self.settings.max_failures_per_ip),
        ];
        for (key, limit) in checks {
            let count = self.kv.incr(&key, self.settings.window).await?;
            if count > i64::from(limit) {
                let retry_after = self
                    .kv
                    .ttl(&key)
                    .await?
                    .unwrap_or(Duration::from_secs(1))
                    .max(Duration::from_secs(1));
                return Err(AuthError::Throttled { retry_after });
            }
        }
        Ok(())
    }

    /// After a successful login: clears the account's count and gives the client back the
    /// attempt reserved for it (only failures count against a client).
    pub async fn record_success(&self, email: &str, ip: IpAddr) -> Result<(), AuthError> {
        self.kv.delete(&account_key(email)).await?;
        self.kv.decr(&ip_key(ip)).await?;
        Ok(())
    }

    /// Clears the account's count (after a password reset).
    pub async fn reset_account(&self, email: &str) -> Result<(), AuthError> {
        self.kv.delete(&account_key(email)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_kv::MapKv;

    fn throttle(per_account: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle::new(
            Arc::new(MapKv::default()),
            LoginThrottleSettings {
                max_failures_per_account: per_account,
                max_failures_per_ip: per_ip,
                window: Duration::from_secs(60),
            },
        )
    }

    #[tokio::test]
    async fn limits_per_account_and_ip() {
        let throttle = throttle(2, 3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        throttle.reserve("a@x.org", ip).await.unwrap();
        throttle.reserve("a@x.org", ip).await.unwrap();
        let err = throttle.reserve("a@x.org", ip).await.unwrap_err();
        assert!(matches!(err, AuthError::Throttled { retry_after } if retry_after.as_secs() <= 60));
        // The IP has used 2 attempts (the one refused for the account did not reach it).
        throttle.reserve("b@x.org", ip).await.unwrap();
        assert!(throttle.reserve("c@x.org", ip).await.is_err());
        assert!(
            throttle
                .reserve("c@x.org", [10, 0, 0, 2].into())
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_success_gives_the_client_its_attempt_back() {
        let throttle = throttle(5, 2);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..10 {
            throttle.reserve("a@x.org", ip).await.unwrap();
            throttle.record_success("a@x.org", ip).await.unwrap();
        }
        throttle.reserve("b@x.org", ip).await.unwrap();
        throttle.reserve("c@x.org", ip).await.unwrap();
        assert!(throttle.reserve("d@x.org", ip).await.is_err());
    }

    #[tokio::test]
    async fn a_burst_gets_exactly_the_limit() {
        let throttle = throttle(5, 1000);
        let ip: IpAddr = [10, 0, 0, 1].into();
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let throttle = throttle.clone();
            tasks.push(tokio::spawn(async move {
                throttle.reserve("a@x.org", ip).await
            }));
        }
        let mut admitted = 0;
        for task in tasks {
            admitted += usize::from(task.await.unwrap().is_ok());
        }
        assert_eq!(admitted, 5);
    }
}
