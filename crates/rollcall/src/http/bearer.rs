//! The [`AuthTeacher`] extractor: the teacher signed in with a valid bearer token, or with
//! the web app's session cookie (see [`super::session`]).
//!
//! A request authenticated by the cookie that may change something (any method but `GET`,
//! `HEAD` and `OPTIONS`) must also carry `X-CSRF-Token`: a digest of the session token that
//! only the app's own pages can read (from `POST`/`GET /session`), never a page of another
//! site. `Authorization: Bearer` wins over the cookie and needs no such header: browsers
//! never add it by themselves.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use crate::auth::token::Claims;
use crate::auth::{AuthError, revocation};
use crate::store::{Teacher, TeacherId};

/// Name of the web app's session cookie (the access token, `HttpOnly`, `SameSite=Strict`).
pub const SESSION_COOKIE: &str = "rollcall_session";

/// Header carrying the CSRF token of a cookie-authenticated write.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The session cookie.
    Cookie,
}

/// The CSRF token of a session token: the hex SHA-256 of a fixed label and the token.
/// Only someone who can read the token (or the answer of `/session`) can compute it.
pub fn csrf_token(token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"rollcall csrf v1\0");
    digest.update(token.as_bytes());
    hex::encode(digest.finalize())
}

/// The teacher behind the request's `Authorization: Bearer <token>` or session cookie.
///
/// Rejects with 403 a cookie-authenticated write without the right `X-CSRF-Token`; with 401 (and `WWW-Authenticate: Bearer`) when the token is missing,
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
    /// Bearer token or session cookie.
    pub via: Via,
    /// The CSRF token of the token used (what a cookie-authenticated write must send).
    pub csrf_token: String,
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The session cookie's token, if the request has one.
fn cookie_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// True for methods that change nothing.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The CSRF check of a cookie-authenticated write.
fn check_csrf(parts: &Parts, expected: &str) -> Result<(), ApiError> {
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if bool::from(sent.ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "Missing or wrong X-CSRF-Token header: a change made with the session cookie \
             needs the csrf_token of GET /session"
                .to_owned(),
        ))
    }
}

impl FromRequestParts<AppState> for AuthTeacher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (token, via) = match bearer_token(parts) {
            Some(token) => (token.to_owned(), Via::Bearer),
            None => (
                cookie_token(parts).ok_or(ApiError::Unauthorized)?,
                Via::Cookie,
            ),
        };
        let claims = state.tokens.decode(&token)?;
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
        let csrf_token = csrf_token(&token);
        if via == Via::Cookie && !is_safe(&parts.method) {
            check_csrf(parts, &csrf_token)?;
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
            via,
            csrf_token,
        })
    }
}
