//! Revoked token ids, kept in the database until the token would expire anyway: a logout
//! holds across restarts and across instances whatever the key-value store (an in-process
//! store forgets everything on restart).

use uuid::Uuid;

use super::token::Claims;
use crate::store::{Store, StoreError};

/// Seconds kept past `exp`, to cover the decoder's leeway.
const LEEWAY_SECS: i64 = 10;

/// Revokes the token with these claims for the rest of its life.
pub async fn revoke(store: &dyn Store, claims: &Claims) -> Result<(), StoreError> {
    store
        .revoke_token(claims.jti, claims.exp.saturating_add(LEEWAY_SECS))
        .await
}

/// True if the token id was revoked.
pub async fn is_revoked(store: &dyn Store, jti: &Uuid) -> Result<bool, StoreError> {
    store.is_token_revoked(*jti).await
}
