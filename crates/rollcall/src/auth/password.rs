//! Password policy and argon2id hashing.
//!
//! Hashing and verifying are CPU-heavy (about 20 MiB and tens of milliseconds each), so
//! both run on tokio's blocking pool. Verifying for an unknown account runs the same
//! computation against a fixed dummy hash, so that response times do not reveal which
//! emails have accounts.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

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

/// Hashes `password` with argon2id (default parameters, random salt) on the blocking pool.
pub async fn hash(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hashing(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Hashing(e.to_string()))
    })
    .await
    .map_err(|e| AuthError::Hashing(e.to_string()))?
}

/// Verifies `password` against `hash` on the blocking pool. With `hash = None` (unknown
/// account) the same work is done against a dummy hash and the answer is `false`.
pub async fn verify(password: String, hash: Option<String>) -> Result<bool, AuthError> {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&hash).map_err(|e| AuthError::Hashing(e.to_string()))?;
        match Argon2::default().verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(known),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(AuthError::Hashing(e.to_string())),
        }
    })
    .await
    .map_err(|e| AuthError::Hashing(e.to_string()))?
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
        let h = hash("Tr0ub4dor&3".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("Tr0ub4dor&3".into(), Some(h.clone())).await.unwrap());
        assert!(!verify("tr0ub4dor&3".into(), Some(h)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn dummy_hash_uses_the_default_parameters() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = argon2::Params::try_from(&parsed).unwrap();
        let default = argon2::Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(parsed.algorithm, argon2::Algorithm::Argon2id.ident());
    }
}
