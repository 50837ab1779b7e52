//! One-time codes sent by mail: 6 digits from a CSPRNG, kept in the key-value store for
//! a short time, compared in constant time, single use, void after too many wrong
//! guesses, with a send cooldown per address.
//!
//! Guessing is bounded three ways (issue 10): each code allows `max_attempts` guesses,
//! reserved by an atomic increment *before* the comparison (a burst of simultaneous guesses
//! cannot get more); one address gets at most `max_sends_per_day` codes and
//! `max_guesses_per_day` guesses per 24 hours whatever the number of codes; one client gets
//! `max_guesses_per_client_per_day` guesses over all addresses.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use subtle::ConstantTimeEq;

use super::AuthError;
use crate::config::{OtpLimits, OtpSettings};
use crate::kv::KeyValue;
use crate::mail::{Mail, Mailer};

/// The window of the daily caps.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// What a code proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Ownership of an address before an account is created.
    VerifyEmail,
    /// Ownership of an account's address, to set a new password.
    ResetPassword,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify-email",
            Self::ResetPassword => "reset-password",
        }
    }
}

fn code_key(purpose: Purpose, email: &str) -> String {
    format!("otp:{}:{email}", purpose.as_str())
}

fn attempts_key(purpose: Purpose, email: &str) -> String {
    format!("otp-attempts:{}:{email}", purpose.as_str())
}

fn cooldown_key(purpose: Purpose, email: &str) -> String {
    format!("otp-cooldown:{}:{email}", purpose.as_str())
}

fn daily_sends_key(email: &str) -> String {
    format!("otp-sends-day:{email}")
}

fn daily_guesses_key(email: &str) -> String {
    format!("otp-guesses-day:{email}")
}

fn client_guesses_key(client: IpAddr) -> String {
    format!("otp-guesses-day-client:{client}")
}

/// A fresh 6-digit code from the thread-local CSPRNG (ChaCha, seeded by the OS).
pub fn generate_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// Issues, sends and checks one-time codes.
#[derive(Clone)]
pub struct OtpService {
    kv: Arc<dyn KeyValue>,
    settings: OtpSettings,
    limits: OtpLimits,
}

impl OtpService {
    /// A service storing codes in `kv` under the rules of `settings` and the daily caps of
    /// `limits`.
    pub fn new(kv: Arc<dyn KeyValue>, settings: OtpSettings, limits: OtpLimits) -> Self {
        Self {
            kv,
            settings,
            limits,
        }
    }

    /// How long codes stay valid.
    pub fn ttl(&self) -> Duration {
        self.settings.ttl
    }

    /// The time left on `key`, at least one second.
    async fn retry_after(&self, key: &str) -> Result<Duration, AuthError> {
        Ok(self
            .kv
            .ttl(key)
            .await?
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_secs(1)))
    }

    /// Starts the send cooldown for `email`, or fails with [`AuthError::Cooldown`] if one
    /// is running.
    pub async fn start_cooldown(&self, purpose: Purpose, email: &str) -> Result<(), AuthError> {
        let key = cooldown_key(purpose, email);
        if self.kv.set_nx(&key, "1", self.settings.cooldown).await? {
            return Ok(());
        }
        Err(AuthError::Cooldown {
            retry_after: self.retry_after(&key).await?,
        })
    }

    /// Admits one mail to `email`: the cooldown, then the daily cap
    /// ([`AuthError::TooManySends`]).
    async fn admit_send(&self, purpose: Purpose, email: &str) -> Result<(), AuthError> {
        self.start_cooldown(purpose, email).await?;
        let key = daily_sends_key(email);
        if self.kv.incr(&key, DAY).await? > i64::from(self.limits.max_sends_per_day) {
            return Err(AuthError::TooManySends {
                retry_after: self.retry_after(&key).await?,
            });
        }
        Ok(())
    }

    /// Admits a send (cooldown, daily cap), then generates and stores a new code for
    /// `email` (replacing any previous one, with a fresh try count) and returns it, for the
    /// caller to mail.
    pub async fn issue(&self, purpose: Purpose, email: &str) -> Result<String, AuthError> {
        self.admit_send(purpose, email).await?;
        let code = generate_code();
        self.kv
            .set(&code_key(purpose, email), &code, self.settings.ttl)
            .await?;
        self.kv.delete(&attempts_key(purpose, email)).await?;
        Ok(code)
    }

    /// Issues a code and sends the mail made by `compose(code)`; on a send failure the code
    /// is deleted and the cooldown released again.
    pub async fn send(
        &self,
        purpose: Purpose,
        email: &str,
        mailer: &dyn Mailer,
        compose: impl FnOnce(&str) -> Mail,
    ) -> Result<(), AuthError> {
        let code = self.issue(purpose, email).await?;
        if let Err(e) = mailer.send(&compose(&code)).await {
            // Best effort: the code must not stay usable, the client may retry at once.
            if let Err(cleanup) = self.kv.delete(&code_key(purpose, email)).await {
                tracing::warn!(error = %cleanup, "could not delete an unsent one-time code");
            }
            self.release_cooldown(purpose, email).await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Sends `notice` (a mail without a code) under the same cooldown and daily cap as a
    /// code, so that the answer does not tell which of the two was sent.
    pub async fn send_notice(
        &self,
        purpose: Purpose,
        email: &str,
        mailer: &dyn Mailer,
        notice: &Mail,
    ) -> Result<(), AuthError> {
        self.admit_send(purpose, email).await?;
        if let Err(e) = mailer.send(notice).await {
            self.release_cooldown(purpose, email).await;
            return Err(e.into());
        }
        Ok(())
    }

    async fn release_cooldown(&self, purpose: Purpose, email: &str) {
        if let Err(cleanup) = self.kv.delete(&cooldown_key(purpose, email)).await {
            tracing::warn!(error = %cleanup, "could not release a send cooldown");
        }
    }

    /// Reserves one guess against the daily caps of the address and of the client
    /// ([`AuthError::TooManyGuesses`] past either).
    async fn reserve_guess(&self, email: &str, client: IpAddr) -> Result<(), AuthError> {
        let caps = [
            (daily_guesses_key(email), self.limits.max_guesses_per_day),
            (
                client_guesses_key(client),
                self.limits.max_guesses_per_client_per_day,
            ),
        ];
        for (key, limit) in caps {
            if self.kv.incr(&key, DAY).await? > i64::from(limit) {
                return Err(AuthError::TooManyGuesses {
                    retry_after: self.retry_after(&key).await?,
                });
            }
        }
        Ok(())
    }

    /// Checks `code` for `email`, from `client`. Every call counts against the daily caps;
    /// the code's own try counter is incremented before the comparison, so at most
    /// `max_attempts` guesses are ever compared with one code. On success the code is
    /// consumed; the last allowed wrong guess deletes it.
    pub async fn verify(
        &self,
        purpose: Purpose,
        email: &str,
        code: &str,
        client: IpAddr,
    ) -> Result<(), AuthError> {
        self.reserve_guess(email, client).await?;
        let key = code_key(purpose, email);
        let attempts = self
            .kv
            .incr(&attempts_key(purpose, email), self.settings.ttl)
            .await?;
        let max = i64::from(self.settings.max_attempts);
        if attempts > max {
            self.kv.delete(&key).await?;
            return Err(AuthError::InvalidCode);
        }
        let Some(stored) = self.kv.get(&key).await? else {
            return Err(AuthError::InvalidCode);
        };
        if !codes_equal(&stored, code) {
            if attempts >= max {
                self.kv.delete(&key).await?;
            }
            return Err(AuthError::InvalidCode);
        }
        // Single use: only the request that removes the code succeeds.
        match self.kv.take(&key).await? {
            Some(taken) if codes_equal(&taken, code) => {
                self.kv.delete(&attempts_key(purpose, email)).await?;
                // Only failures count against a client (a school behind one address).
                self.kv.decr(&client_guesses_key(client)).await?;
                Ok(())
            }
            _ => Err(AuthError::InvalidCode),
        }
    }
}

fn codes_equal(stored: &str, given: &str) -> bool {
    bool::from(stored.trim().as_bytes().ct_eq(given.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::test_kv::MapKv;

    use crate::mail::MailError;
    use async_trait::async_trait;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Outbox {
        fail: bool,
        sent: Mutex<Vec<Mail>>,
    }

    #[async_trait]
    impl Mailer for Outbox {
        async fn send(&self, mail: &Mail) -> Result<(), MailError> {
            if self.fail {
                return Err(MailError::Unavailable("down".into()));
            }
            self.sent.lock().unwrap().push(mail.clone());
            Ok(())
        }
    }

    fn service() -> OtpService {
        OtpService::new(
            Arc::new(MapKv::default()),
            OtpSettings {
                ttl: Duration::from_secs(300),
                cooldown: Duration::from_secs(60),
                max_attempts: 5,
            },
            OtpLimits {
                max_sends_per_day: 10,
                max_guesses_per_day: 20,
                max_guesses_per_client_per_day: 50,
            },
        )
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    fn mail(code: &str) -> Mail {
        Mail {
            to: "a@b.org".into(),
            subject: "code".into(),
            body: format!("your code is {code}"),
        }
    }

    fn sent_code(outbox: &Outbox) -> String {
        let sent = outbox.sent.lock().unwrap();
        sent.last()
            .unwrap()
            .body
            .rsplit(' ')
            .next()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn codes_have_six_digits() {
        for _ in 0..100 {
            let c = generate_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[tokio::test]
    async fn single_use_and_cooldown() {
        let otp = service();
        let outbox = Outbox::default();
        otp.send(Purpose::VerifyEmail, "a@b.org", &outbox, mail)
            .await
            .unwrap();
        let again = otp
            .send(Purpose::VerifyEmail, "a@b.org", &outbox, mail)
            .await;
        assert!(matches!(again, Err(AuthError::Cooldown { .. })));
        let code = sent_code(&outbox);
        assert!(
            otp.verify(Purpose::ResetPassword, "a@b.org", &code, CLIENT)
                .await
                .is_err()
        );
        otp.verify(Purpose::VerifyEmail, "a@b.org", &code, CLIENT)
            .await
            .unwrap();
        assert!(
            otp.verify(Purpose::VerifyEmail, "a@b.org", &code, CLIENT)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn void_after_max_attempts() {
        let otp = service();
        let outbox = Outbox::default();
        otp.send(Purpose::VerifyEmail, "a@b.org", &outbox, mail)
            .await
            .unwrap();
        let code = sent_code(&outbox);
        let wrong = if code == "000000" { "000001" } else { "000000" };
        for _ in 0..5 {
            assert!(
                otp.verify(Purpose::VerifyEmail, "a@b.org", wrong, CLIENT)
                    .await
                    .is_err()
            );
        }
        assert!(
            otp.verify(Purpose::VerifyEmail, "a@b.org", &code, CLIENT)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn failed_send_leaves_nothing_behind() {
        let otp = service();
        let broken = Outbox {
            fail: true,
            ..Default::default()
        };
        let err = otp
            .send(Purpose::VerifyEmail, "a@b.org", &broken, mail)
            .await;
        assert!(matches!(err, Err(AuthError::Mail(_))));
        let outbox = Outbox::default();
        otp.send(Purpose::VerifyEmail, "a@b.org", &outbox, mail)
            .await
            .unwrap();
    }

    /// A key-value store that yields inside every call (so that concurrent calls
    /// interleave as they do over a network) and counts reads of stored codes.
    struct Interleaving {
        inner: MapKv,
        code_reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl KeyValue for Interleaving {
        async fn ping(&self) -> Result<(), crate::kv::KvError> {
            Ok(())
        }
        async fn set(&self, k: &str, v: &str, t: Duration) -> Result<(), crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.set(k, v, t).await
        }
        async fn set_nx(&self, k: &str, v: &str, t: Duration) -> Result<bool, crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.set_nx(k, v, t).await
        }
        async fn get(&self, k: &str) -> Result<Option<String>, crate::kv::KvError> {
            tokio::task::yield_now().await;
            if k.starts_with("otp:") {
                self.code_reads
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            self.inner.get(k).await
        }
        async fn take(&self, k: &str) -> Result<Option<String>, crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.take(k).await
        }
        async fn delete(&self, k: &str) -> Result<bool, crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.delete(k).await
        }
        async fn incr(&self, k: &str, t: Duration) -> Result<i64, crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.incr(k, t).await
        }
        async fn decr(&self, k: &str) -> Result<i64, crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.decr(k).await
        }
        async fn ttl(&self, k: &str) -> Result<Option<Duration>, crate::kv::KvError> {
            tokio::task::yield_now().await;
            self.inner.ttl(k).await
        }
    }

    /// 40 simultaneous wrong guesses: at most 5 are compared with the code (the try
    /// counter is taken before the comparison), and the code is void afterwards.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_of_guesses_gets_max_attempts_comparisons() {
        let kv = Arc::new(Interleaving {
            inner: MapKv::default(),
            code_reads: Default::default(),
        });
        let otp = OtpService::new(
            kv.clone(),
            OtpSettings {
                ttl: Duration::from_secs(300),
                cooldown: Duration::from_secs(60),
                max_attempts: 5,
            },
            OtpLimits {
                max_sends_per_day: 10,
                max_guesses_per_day: 1000,
                max_guesses_per_client_per_day: 1000,
            },
        );
        let code = otp.issue(Purpose::VerifyEmail, "a@b.org").await.unwrap();
        let wrong = if code == "000000" { "000001" } else { "000000" };
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let otp = otp.clone();
            tasks.push(tokio::spawn(async move {
                otp.verify(Purpose::VerifyEmail, "a@b.org", wrong, CLIENT)
                    .await
            }));
        }
        for task in tasks {
            assert!(matches!(task.await.unwrap(), Err(AuthError::InvalidCode)));
        }
        let reads = kv.code_reads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(reads <= 5, "{reads} guesses were compared with one code");
        assert!(
            otp.verify(Purpose::VerifyEmail, "a@b.org", &code, CLIENT)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn daily_caps_bound_sends_and_guesses() {
        let otp = OtpService::new(
            Arc::new(MapKv::default()),
            OtpSettings {
                ttl: Duration::from_secs(300),
                cooldown: Duration::from_millis(1),
                max_attempts: 5,
            },
            OtpLimits {
                max_sends_per_day: 3,
                max_guesses_per_day: 7,
                max_guesses_per_client_per_day: 9,
            },
        );
        let mut guesses_checked = 0;
        let mut sends = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let Ok(code) = otp.issue(Purpose::ResetPassword, "a@b.org").await else {
                continue;
            };
            sends += 1;
            let wrong = if code == "000000" { "000001" } else { "000000" };
            for _ in 0..5 {
                match otp
                    .verify(Purpose::ResetPassword, "a@b.org", wrong, CLIENT)
                    .await
                {
                    Err(AuthError::InvalidCode) => guesses_checked += 1,
                    Err(AuthError::TooManyGuesses { retry_after }) => {
                        assert!(retry_after <= DAY);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(sends, 3);
        assert_eq!(guesses_checked, 7);
        // The client's budget is spent on other addresses too (9 in all).
        let code = otp.issue(Purpose::VerifyEmail, "c@d.org").await.unwrap();
        for _ in 0..2 {
            let wrong = otp
                .verify(Purpose::VerifyEmail, "c@d.org", "x", CLIENT)
                .await;
            assert!(matches!(wrong, Err(AuthError::InvalidCode)));
        }
        assert!(matches!(
            otp.verify(Purpose::VerifyEmail, "c@d.org", &code, CLIENT)
                .await,
            Err(AuthError::TooManyGuesses { .. })
        ));
    }
}
