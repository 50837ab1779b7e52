//! [`AppState`]: everything a request handler needs (realworld's `ApiContext`). It lives in
//! `http`, so that `app` (the wiring) depends on `http` and never the other way round.

use std::sync::Arc;

use crate::auth::otp::OtpService;
use crate::auth::password::PasswordHasher;
use crate::auth::throttle::LoginThrottle;
use crate::auth::token::TokenKeys;
use crate::config::{ConfigError, Settings};
use crate::crypto::DataKey;
use crate::http::upload::UploadSlots;
use crate::kv::KeyValue;
use crate::mail::Mailer;
use crate::store::Store;
use crate::vision::Vision;

/// Everything a request handler needs; cheap to clone. New features add fields here.
#[derive(Clone)]
pub struct AppState {
    /// Persistent storage (bounded by the pool's acquire and statement timeouts).
    pub store: Arc<dyn Store>,
    /// Key-value store (Redis bounds every command by the backend timeout).
    pub kv: Arc<dyn KeyValue>,
    /// Outgoing mail.
    pub mailer: Arc<dyn Mailer>,
    /// Signs and checks access tokens.
    pub tokens: Arc<TokenKeys>,
    /// One-time codes.
    pub otp: OtpService,
    /// Failed-login throttling.
    pub login_throttle: LoginThrottle,
    /// Bounded argon2id hashing (issue 10).
    pub passwords: PasswordHasher,
    /// Photo uploads in progress per teacher (issue 10).
    pub uploads: UploadSlots,
    /// The settings the application was built with.
    pub settings: Arc<Settings>,
    /// The face engine behind its worker pool.
    pub vision: Arc<Vision>,
    /// Encrypts the stored face crops.
    pub data_key: DataKey,
}

impl AppState {
    /// Builds the state from already connected backends.
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        kv: Arc<dyn KeyValue>,
        mailer: Arc<dyn Mailer>,
        vision: Arc<Vision>,
    ) -> Result<Self, ConfigError> {
        let secret = settings.resolve_jwt_secret()?;
        let data_key = DataKey::from_bytes(&settings.resolve_data_key()?);
        Ok(Self {
            data_key,
            tokens: Arc::new(TokenKeys::new(&secret, settings.token_ttl)),
            otp: OtpService::new(
                kv.clone(),
                settings.otp.clone(),
                settings.hardening.otp.clone(),
            ),
            login_throttle: LoginThrottle::new(kv.clone(), settings.login_throttle.clone()),
            passwords: PasswordHasher::new(
                settings.hardening.password_hash_concurrency,
                settings.hardening.password_hash_wait,
            ),
            uploads: UploadSlots::new(settings.hardening.uploads_per_teacher),
            store,
            kv,
            mailer,
            settings: Arc::new(settings),
            vision,
        })
    }
}
