//! The [`AuthTeacher`] extractor: the teacher signed in with a valid bearer token.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::auth::token::Claims;
use crate::auth::{AuthError, revocation};
use crate::store::{Teacher, TeacherId};

/// The teacher behind the request's `Authorization: Bearer <token>`.
///
/// Rejects with 401 (and `WWW-Authenticate: Bearer`) when the token is missing,
/// malformed, tampered with, expired, revoked, issued before the last password change, or
/// belongs to a deleted account; with 503 when the store or key-value store cannot answer
/// (fail closed).
#[derive(Debug, Clone)]
pub struct AuthTeacher {
    /// The teacher's id.
    pub teacher_id: TeacherId,
    /// The token's id.
    pub jti: Uuid,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
    /// All claims of the token (for revocation).
    pub claims: Claims,
    /// The account, as loaded while checking the token.
    pub teacher: Teacher,
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for AuthTeacher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthorized)?;
        let claims = state.tokens.decode(token)?;
        let teacher_id = claims.teacher_id()?;
        let (Some(issued_at), Some(expires_at)) = (claims.issued_at(), claims.expires_at()) else {
            return Err(AuthError::InvalidToken("bad timestamps").into());
        };
        if revocation::is_revoked(state.store.as_ref(), &claims.jti).await? {
            return Err(AuthError::InvalidToken("revoked").into());
        }
        let teacher = state
            .store
            .teacher_by_id(teacher_id)
            .await?
            .ok_or(AuthError::InvalidToken("account does not exist"))?;
        if issued_at < teacher.password_changed_at {
            return Err(AuthError::InvalidToken("issued before the last password change").into());
        }
        parts
            .extensions
            .insert(super::upload::Authenticated(teacher_id));
        Ok(Self {
            teacher_id,
            jti: claims.jti,
            expires_at,
            claims,
            teacher,
        })
    }
}
