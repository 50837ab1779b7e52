//! Encryption at rest of face crops (issue 13): XChaCha20-Poly1305 (RustCrypto), an
//! authenticated cipher, with a 32-byte key from `ROLLCALL_DATA_KEY` or generated into the
//! data directory (see [`crate::config::Settings::resolve_data_key`]).
//!
//! A sealed value is `version (1 byte) || nonce (24 random bytes) || ciphertext + tag`.
//! The associated data binds it to what it belongs to (e.g. the student), so a crop copied
//! onto another row does not open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::RngCore;

pub use crate::config::DATA_KEY_BYTES;

const VERSION: u8 = 1;
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;

/// Why a sealed value could not be opened (or sealed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: another key sealed it, or it was altered.
    #[error(
        "the stored face crop cannot be decrypted: ROLLCALL_DATA_KEY is not the key it was \
         encrypted with (or the data was altered)"
    )]
    WrongKey,
    /// Not a sealed value of a known format.
    #[error("the stored face crop is not in a known encrypted format: {0}")]
    Malformed(&'static str),
    /// The cipher refused to encrypt (only for absurdly long input).
    #[error("encrypting a face crop failed")]
    Seal,
}

/// The data key, ready to seal and open. `Debug` never shows the key.
#[derive(Clone)]
pub struct DataKey {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(***)")
    }
}

impl DataKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; DATA_KEY_BYTES]) -> Self {
        let key = Key::from(*bytes);
        Self {
            cipher: XChaCha20Poly1305::new(&key),
        }
    }

    /// A key from 64 hexadecimal digits (`openssl rand -hex 32`).
    pub fn from_hex(text: &str) -> Result<Self, String> {
        crate::config::parse_data_key(text).map(|bytes| Self::from_bytes(&bytes))
    }

    /// A new random key (tests).
    pub fn random() -> Self {
        let mut bytes = [0u8; DATA_KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// Encrypts `plaintext`, authenticated together with `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts what [`DataKey::seal`] made with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&version, rest) = sealed
            .split_first()
            .ok_or(CryptoError::Malformed("empty"))?;
        if version != VERSION {
            return Err(CryptoError::Malformed("unknown version"));
        }
        if rest.len() < NONCE_BYTES + TAG_BYTES {
            return Err(CryptoError::Malformed("too short"));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce
            .try_into()
            .map_err(|_| CryptoError::Malformed("too short"))?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::WrongKey)
    }
}

/// The associated data of a face crop of one teacher's student: it opens only as that
/// teacher's.
pub fn crop_aad(teacher: crate::store::TeacherId) -> Vec<u8> {
    let mut aad = b"rollcall face crop v1 teacher ".to_vec();
    aad.extend_from_slice(&teacher.to_le_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_failures_name_the_cause() {
        let key = DataKey::random();
        let sealed = key.seal(b"jpeg bytes", b"student 1").unwrap();
        assert_eq!(sealed.len(), 1 + NONCE_BYTES + 10 + TAG_BYTES);
        assert_eq!(key.open(&sealed, b"student 1").unwrap(), b"jpeg bytes");
        // Another student's row, another key, a flipped bit: refused, saying why.
        assert_eq!(key.open(&sealed, b"student 2"), Err(CryptoError::WrongKey));
        let other = DataKey::random();
        let err = other.open(&sealed, b"student 1").unwrap_err();
        assert_eq!(err, CryptoError::WrongKey);
        assert!(err.to_string().contains("ROLLCALL_DATA_KEY"), "{err}");
        let mut altered = sealed.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(key.open(&altered, b"student 1"), Err(CryptoError::WrongKey));
        assert!(matches!(
            key.open(&sealed[..10], b"student 1"),
            Err(CryptoError::Malformed(_))
        ));
        // Two seals of one value differ (random nonces).
        assert_ne!(key.seal(b"x", b"").unwrap(), key.seal(b"x", b"").unwrap());
    }

    #[test]
    fn hex_keys_are_checked() {
        assert!(DataKey::from_hex(&"ab".repeat(32)).is_ok());
        assert!(DataKey::from_hex("abc").is_err());
        let short = DataKey::from_hex(&"ab".repeat(16)).unwrap_err();
        assert!(short.contains("16 bytes"), "{short}");
        assert_eq!(format!("{:?}", DataKey::random()), "DataKey(***)");
    }
}
