//! Revoked token ids, kept in the key-value store until the token would expire anyway.

use chrono::Utc;
use uuid::Uuid;

use super::AuthError;
use super::token::Claims;
use crate::kv::KeyValue;

fn key(jti: &Uuid) -> String {
    format!("revoked:{jti}")
}

/// Revokes the token with these claims for the rest of its life.
pub async fn revoke(kv: &dyn KeyValue, claims: &Claims) -> Result<(), AuthError> {
    let remaining = claims.remaining(Utc::now());
    // Keep at least a few seconds to cover the decoder's leeway.
    let ttl = remaining + std::time::Duration::from_secs(10);
    kv.set(&key(&claims.jti), "1", ttl).await?;
    Ok(())
}

/// True if the token id was revoked.
pub async fn is_revoked(kv: &dyn KeyValue, jti: &Uuid) -> Result<bool, AuthError> {
    Ok(kv.get(&key(jti)).await?.is_some())
}
