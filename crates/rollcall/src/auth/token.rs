//! Access tokens: HS256 JWTs with `sub` (teacher id), `jti` (random id, for revocation),
//! `iat`, `exp`, and `iat_us` (issue time in microseconds, compared with the account's
//! `password_changed_at`).
//!
//! Decoding accepts HS256 only: `alg: none`, other algorithms, another key, a changed
//! payload or an expired token are all rejected.

use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AuthError;
use crate::store::TeacherId;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The teacher id, as a decimal string.
    pub sub: String,
    /// Random token id; revoking stores it until `exp`.
    pub jti: Uuid,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// Issued at, microseconds since the epoch.
    pub iat_us: i64,
}

impl Claims {
    /// The teacher the token was issued to.
    pub fn teacher_id(&self) -> Result<TeacherId, AuthError> {
        self.sub
            .parse()
            .map_err(|_| AuthError::InvalidToken("subject is not a teacher id"))
    }

    /// When the token was issued (microsecond precision).
    pub fn issued_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self.iat_us)
    }

    /// When the token expires.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }

    /// Time left until expiry (zero if already expired).
    pub fn remaining(&self, now: DateTime<Utc>) -> Duration {
        u64::try_from(self.exp.saturating_sub(now.timestamp()))
            .map(Duration::from_secs)
            .unwrap_or(Duration::ZERO)
    }
}

/// An issued token and its claims.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The encoded JWT.
    pub token: String,
    /// What it contains.
    pub claims: Claims,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys for the HS256 `secret`; tokens live for `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    /// Token lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issues a token for `teacher`, valid from now for the configured lifetime.
    pub fn issue(&self, teacher: TeacherId) -> Result<IssuedToken, AuthError> {
        let now = Utc::now();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: teacher.to_string(),
            jti: Uuid::new_v4(),
            iat: now.timestamp(),
            exp: now.timestamp().saturating_add(ttl),
            iat_us: now.timestamp_micros(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::TokenEncoding(e.to_string()))?;
        Ok(IssuedToken { token, claims })
    }

    /// Checks the signature, algorithm and expiry of `token` and returns its claims.
    pub fn decode(&self, token: &str) -> Result<Claims, AuthError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                AuthError::InvalidToken(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidAlgorithm => "algorithm not allowed",
                    _ => "malformed",
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> TokenKeys {
        TokenKeys::new(SECRET, Duration::from_secs(600))
    }

    #[test]
    fn round_trip() {
        let issued = keys().issue(42).unwrap();
        let claims = keys().decode(&issued.token).unwrap();
        assert_eq!(claims, issued.claims);
        assert_eq!(claims.teacher_id().unwrap(), 42);
        assert!(claims.remaining(Utc::now()) > Duration::from_secs(590));
    }

    #[test]
    fn rejects_forgeries() {
        let issued = keys().issue(42).unwrap();
        // Another key.
        let other = TokenKeys::new(
            b"another-secret-another-secret-xx",
            Duration::from_secs(600),
        );
        assert!(other.decode(&issued.token).is_err());
        // alg: none.
        let mut parts = issued.token.split('.');
        let (_, payload) = (parts.next().unwrap(), parts.next().unwrap());
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(keys().decode(&format!("{none_header}.{payload}.")).is_err());
        // HS512 with the right key.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &issued.claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap();
        assert!(keys().decode(&hs512).is_err());
        // Expired.
        let mut old = issued.claims.clone();
        old.exp = Utc::now().timestamp() - 3600;
        let expired =
            jsonwebtoken::encode(&Header::default(), &old, &EncodingKey::from_secret(SECRET))
                .unwrap();
        assert!(keys().decode(&expired).is_err());
        // Garbage.
        assert!(keys().decode("not.a.token").is_err());
    }
}
