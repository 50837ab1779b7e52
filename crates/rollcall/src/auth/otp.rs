//! One-time codes sent by mail: 6 digits from a CSPRNG, kept in the key-value store for
//! a short time, compared in constant time, single use, void after too many wrong
//! guesses, with a send cooldown per address.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::Rng;
use subtle::ConstantTimeEq;

use super::AuthError;
use crate::config::OtpSettings;
use crate::kv::KeyValue;
use crate::mail::{Mail, Mailer};

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

/// A fresh 6-digit code from the thread-local CSPRNG (ChaCha, seeded by the OS).
pub fn generate_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// How long sending a code takes (a moving average of the sends that succeeded), so that
/// answering for an address that gets no mail can take as long: the response time must not
/// tell whether an address has an account.
#[derive(Debug, Default)]
pub struct DeliveryTime {
    /// Moving average in microseconds; 0 until the first send.
    average_us: AtomicU64,
}

impl DeliveryTime {
    /// Weight of the newest sample: 1/8.
    const SHIFT: u32 = 3;

    /// Adds one successful send's duration to the average.
    pub fn record(&self, took: Duration) {
        let sample = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // A lost race between two updates only drops one sample: fine for an average.
        let old = self.average_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - (old >> Self::SHIFT) + (sample >> Self::SHIFT)
        };
        self.average_us.store(new, Ordering::Relaxed);
    }

    /// The current average.
    pub fn average(&self) -> Duration {
        Duration::from_micros(self.average_us.load(Ordering::Relaxed))
    }

    /// The average, spread by +-20 % at random as real sends are.
    pub fn imitation(&self) -> Duration {
        self.average().mul_f64(rand::rng().random_range(0.8..1.2))
    }
}

/// Issues, sends and checks one-time codes.
#[derive(Clone)]
pub struct OtpService {
    kv: Arc<dyn KeyValue>,
    settings: OtpSettings,
    delivery: Arc<DeliveryTime>,
}

impl OtpService {
    /// A service storing codes in `kv` under the rules of `settings`.
    pub fn new(kv: Arc<dyn KeyValue>, settings: OtpSettings) -> Self {
        Self {
            kv,
            settings,
            delivery: Arc::default(),
        }
    }

    /// For an address that gets no code: starts the same cooldown [`OtpService::send`]
    /// would, then takes about as long as a real send, so that neither the answer nor its
    /// timing tells whether the address has an account.
    pub async fn send_nothing(&self, purpose: Purpose, email: &str) -> Result<(), AuthError> {
        let started = Instant::now();
        self.start_cooldown(purpose, email).await?;
        let wait = self.delivery.imitation().saturating_sub(started.elapsed());
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// How long codes stay valid.
    pub fn ttl(&self) -> Duration {
        self.settings.ttl
    }

    /// Starts the send cooldown for `email`, or fails with [`AuthError::Cooldown`] if one
    /// is running.
    pub async fn start_cooldown(&self, purpose: Purpose, email: &str) -> Result<(), AuthError> {
        let key = cooldown_key(purpose, email);
        if self.kv.set_nx(&key, "1", self.settings.cooldown).await? {
            return Ok(());
        }
        let retry_after = self
            .kv
            .ttl(&key)
            .await?
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        Err(AuthError::Cooldown { retry_after })
    }

    /// Generates and stores a new code for `email` (replacing any previous one), sends
    /// the mail made by `compose(code)`, and on a send failure deletes the code and
    /// releases the cooldown again.
    pub async fn send(
        &self,
        purpose: Purpose,
        email: &str,
        mailer: &dyn Mailer,
        compose: impl FnOnce(&str) -> Mail,
    ) -> Result<(), AuthError> {
        let started = Instant::now();
        self.start_cooldown(purpose, email).await?;
        let code = generate_code();
        let stored = async {
            self.kv
                .set(&code_key(purpose, email), &code, self.settings.ttl)
                .await?;
            self.kv.delete(&attempts_key(purpose, email)).await?;
            Ok::<_, AuthError>(())
        }
        .await;
        let result = match stored {
            Ok(()) => mailer.send(&compose(&code)).await.map_err(AuthError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // Best effort: the code must not stay usable, the client may retry at once.
            if let Err(cleanup) = self.kv.delete(&code_key(purpose, email)).await {
                tracing::warn!(error = %cleanup, "could not delete an unsent one-time code");
            }
            if let Err(cleanup) = self.kv.delete(&cooldown_key(purpose, email)).await {
                tracing::warn!(error = %cleanup, "could not release a send cooldown");
            }
            return Err(e);
        }
        self.delivery.record(started.elapsed());
        Ok(())
    }

    /// Checks `code` for `email`. On success the code is consumed; a wrong guess counts
    /// towards the attempt limit, after which the code is deleted.
    pub async fn verify(&self, purpose: Purpose, email: &str, code: &str) -> Result<(), AuthError> {
        let key = code_key(purpose, email);
        let Some(stored) = self.kv.get(&key).await? else {
            return Err(AuthError::InvalidCode);
        };
        if !codes_equal(&stored, code) {
            let attempts = self
                .kv
                .incr(&attempts_key(purpose, email), self.settings.ttl)
                .await?;
            if attempts >= i64::from(self.settings.max_attempts) {
                self.kv.delete(&key).await?;
                self.kv.delete(&attempts_key(purpose, email)).await?;
            }
            return Err(AuthError::InvalidCode);
        }
        // Single use: only the request that removes the code succeeds.
        match self.kv.take(&key).await? {
            Some(taken) if codes_equal(&taken, code) => {
                self.kv.delete(&attempts_key(purpose, email)).await?;
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

    #[test]
    fn delivery_time_is_a_moving_average() {
        let time = DeliveryTime::default();
        assert_eq!(time.average(), Duration::ZERO);
        assert_eq!(time.imitation(), Duration::ZERO);
        time.record(Duration::from_millis(800));
        assert_eq!(time.average(), Duration::from_millis(800));
        for _ in 0..64 {
            time.record(Duration::from_millis(400));
        }
        let average = time.average().as_millis();
        assert!((399..=402).contains(&average), "{average}");
        for _ in 0..100 {
            let imitation = time.imitation().as_millis();
            assert!((319..=481).contains(&imitation), "{imitation}");
        }
    }
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
        )
    }

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
            otp.verify(Purpose::ResetPassword, "a@b.org", &code)
                .await
                .is_err()
        );
        otp.verify(Purpose::VerifyEmail, "a@b.org", &code)
            .await
            .unwrap();
        assert!(
            otp.verify(Purpose::VerifyEmail, "a@b.org", &code)
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
                otp.verify(Purpose::VerifyEmail, "a@b.org", wrong)
                    .await
                    .is_err()
            );
        }
        assert!(
            otp.verify(Purpose::VerifyEmail, "a@b.org", &code)
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
}
