//! Password policy and argon2id hashing.
//!
//! Hashing and verifying are CPU-heavy (about 20 MiB and tens of milliseconds each), so
//! both run on tokio's blocking pool. Verifying for an unknown account runs the same
//! computation against a fixed dummy hash, so that response times do not reveal which
//! emails have accounts.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Argon2, Block, Params};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::AuthError;

/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 8;
/// Longest accepted password, in characters (bounds the hashing work).
pub const MAX_LEN: usize = 128;

/// An argon2id hash (default parameters) of a random password nobody knows; verified
/// against when the account does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZS1maXhlZC1zYWx0$UvDvD4t7yWQhXJxEn2O0m/Vt0T1yTJ3eV0oPDGMVX+M";

/// Checks the password policy: 8 to 128 characters, not all from one character class
/// (lower case, upper case, digits, others).
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let len = password.chars().count();
    if len < MIN_LEN {
        return Err(AuthError::WeakPassword(
            "password must be at least 8 characters long",
        ));
    }
    if len > MAX_LEN {
        return Err(AuthError::WeakPassword(
            "password must be at most 128 characters long",
        ));
    }
    let class = |c: char| {
        if c.is_lowercase() {
            0u8
        } else if c.is_uppercase() {
            1
        } else if c.is_numeric() {
            2
        } else {
            3
        }
    };
    let mut classes = password.chars().map(class);
    let first = classes.next();
    if classes.all(|c| Some(c) == first) {
        return Err(AuthError::WeakPassword(
            "password must mix at least two kinds of characters (lower case, upper case, \
             digits, symbols)",
        ));
    }
    Ok(())
}

/// Argon2id hashing and verification on the blocking pool, bounded: at most
/// `concurrency` hashes run at once, each in one of `concurrency` reused memory buffers
/// (19 MiB with the default parameters), so a burst of logins neither grows the heap nor
/// leaves freed memory behind. A caller that cannot get a slot within `wait` gets
/// [`AuthError::Busy`] (503 with `Retry-After`).
#[derive(Clone)]
pub struct PasswordHasher {
    slots: Arc<Semaphore>,
    buffers: Arc<Mutex<Vec<Vec<Block>>>>,
    wait: Duration,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("available", &self.slots.available_permits())
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What a client is told to wait when every hashing slot is busy.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);

impl PasswordHasher {
    /// At most `concurrency` (at least 1) hashes at once; callers wait at most `wait`.
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            buffers: Arc::new(Mutex::new(Vec::new())),
            wait,
        }
    }

    /// Runs `job` with a memory buffer on the blocking pool, once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> Result<T, AuthError> + Send + 'static,
    ) -> Result<T, AuthError> {
        let permit = tokio::time::timeout(self.wait, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| AuthError::Busy {
                retry_after: BUSY_RETRY_AFTER,
            })?
            .map_err(|e| AuthError::Hashing(e.to_string()))?;
        let buffers = self.buffers.clone();
        // The request's span follows the work onto the blocking thread.
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let mut buffer = buffers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()
                .unwrap_or_default();
            let result = job(&mut buffer);
            // At most one buffer per slot: the pool never holds more than `concurrency`.
            buffers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(buffer);
            drop(permit);
            result
        })
        .await
        .map_err(|e| AuthError::Hashing(e.to_string()))?
    }

    /// Hashes `password` with argon2id (default parameters, random salt) into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        self.run(move |buffer| {
            let mut salt = [0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(hashing)?;
            let params = Params::default();
            let output = compute(&params, password.as_bytes(), salt.as_salt(), buffer)?;
            let phc = PasswordHash {
                algorithm: argon2::Algorithm::Argon2id.ident(),
                version: Some(argon2::Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(hashing)?,
                salt: Some(salt.as_salt()),
                hash: Some(Output::new(&output).map_err(hashing)?),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Verifies `password` against the PHC string `hash`. With `hash = None` (unknown
    /// account) the same work is done against a dummy hash and the answer is `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        self.run(move |buffer| {
            let known = hash.is_some();
            let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
            let parsed = PasswordHash::new(&hash).map_err(hashing)?;
            if parsed.algorithm != argon2::Algorithm::Argon2id.ident() {
                return Err(AuthError::Hashing(format!(
                    "unsupported algorithm {}",
                    parsed.algorithm
                )));
            }
            let params = Params::try_from(&parsed).map_err(hashing)?;
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return Err(AuthError::Hashing("hash without salt or output".into()));
            };
            let params = argon2::ParamsBuilder::new()
                .m_cost(params.m_cost())
                .t_cost(params.t_cost())
                .p_cost(params.p_cost())
                .output_len(expected.len())
                .build()
                .map_err(hashing)?;
            let output = compute(&params, password.as_bytes(), salt, buffer)?;
            let equal: bool = output.as_slice().ct_eq(expected.as_bytes()).into();
            Ok(equal && known)
        })
        .await
    }
}

fn hashing(e: impl std::fmt::Display) -> AuthError {
    AuthError::Hashing(e.to_string())
}

/// Raw argon2id (v19) output for `params`, in `buffer` (grown to the parameters' block
/// count if needed, never shrunk).
fn compute(
    params: &Params,
    password: &[u8],
    salt: Salt<'_>,
    buffer: &mut Vec<Block>,
) -> Result<Vec<u8>, AuthError> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(hashing)?;
    let blocks = params.block_count();
    if buffer.len() < blocks {
        buffer.resize(blocks, Block::default());
    }
    let argon = Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    );
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    let memory = buffer.get_mut(..blocks).ok_or_else(|| hashing("buffer"))?;
    argon
        .hash_password_into_with_memory(password, salt, &mut out, memory)
        .map_err(hashing)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(check_policy("short1A").is_err());
        assert!(check_policy("alllowercaseletters").is_err());
        assert!(check_policy("12345678901").is_err());
        assert!(check_policy(&"aB".repeat(65)).is_err());
        assert!(check_policy("correct horse").is_ok());
        assert!(check_policy("Tr0ub4dor&3").is_ok());
        assert!(check_policy("ééééééé1").is_ok());
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let hasher = PasswordHasher::new(2, Duration::from_secs(5));
        let h = hasher.hash("Tr0ub4dor&3".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            hasher
                .verify("Tr0ub4dor&3".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("tr0ub4dor&3".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
        // The reference implementation accepts our hashes, and we accept its.
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"Tr0ub4dor&3", &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"S0me other pass", &salt)
            .unwrap()
            .to_string();
        assert!(
            hasher
                .verify("S0me other pass".into(), Some(theirs.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("S0me other pas".into(), Some(theirs))
                .await
                .unwrap()
        );
        // One buffer per slot, reused.
        assert!(hasher.buffers.lock().unwrap().len() <= 2);
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_after_the_wait() {
        let hasher = PasswordHasher::new(1, Duration::from_millis(50));
        let held = hasher.slots.clone().acquire_owned().await.unwrap();
        let started = std::time::Instant::now();
        let err = hasher.verify("x".into(), None).await.unwrap_err();
        assert!(matches!(err, AuthError::Busy { .. }), "{err:?}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(!hasher.verify("x".into(), None).await.unwrap());
    }

    #[test]
    fn dummy_hash_uses_the_default_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        let default = Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(parsed.algorithm, argon2::Algorithm::Argon2id.ident());
    }
}
