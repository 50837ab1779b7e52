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

    /// Fails with [`AuthError::Throttled`] if the account or the IP reached its limit.
    pub async fn check(&self, email: &str, ip: IpAddr) -> Result<(), AuthError> {
        let checks = [
            (account_key(email), self.settings.max_failures_per_account),
            (ip_key(ip), self.settings.max_failures_per_ip),
        ];
        for (key, limit) in checks {
            let count = self
                .kv
                .get(&key)
                .await?
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            if count >= i64::from(limit) {
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

    /// Counts one failed login.
    pub async fn record_failure(&self, email: &str, ip: IpAddr) -> Result<(), AuthError> {
        self.kv
            .incr(&account_key(email), self.settings.window)
            .await?;
        self.kv.incr(&ip_key(ip), self.settings.window).await?;
        Ok(())
    }

    /// Clears the account's failure count after a successful login.
    pub async fn record_success(&self, email: &str) -> Result<(), AuthError> {
        self.kv.delete(&account_key(email)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_kv::MapKv;

    #[tokio::test]
    async fn limits_per_account_and_ip() {
        let throttle = LoginThrottle::new(
            Arc::new(MapKv::default()),
            LoginThrottleSettings {
                max_failures_per_account: 2,
                max_failures_per_ip: 3,
                window: Duration::from_secs(60),
            },
        );
        let ip: IpAddr = [10, 0, 0, 1].into();
        throttle.check("a@x.org", ip).await.unwrap();
        throttle.record_failure("a@x.org", ip).await.unwrap();
        throttle.record_failure("a@x.org", ip).await.unwrap();
        let err = throttle.check("a@x.org", ip).await.unwrap_err();
        assert!(matches!(err, AuthError::Throttled { retry_after } if retry_after.as_secs() <= 60));
        throttle.check("b@x.org", ip).await.unwrap();
        throttle.record_failure("b@x.org", ip).await.unwrap();
        assert!(throttle.check("c@x.org", ip).await.is_err());
        assert!(
            throttle
                .check("c@x.org", [10, 0, 0, 2].into())
                .await
                .is_ok()
        );
    }
}
