//! The one error type of the HTTP layer and its mapping to responses: a status code and a
//! `{"detail": "..."}` body, plus `WWW-Authenticate` on 401 and `Retry-After` on 429.
//! Internal errors are logged with their cause and answered with a generic detail.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use rollcall_input::InputError;

use crate::auth::AuthError;
use crate::kv::KvError;
use crate::mail::MailError;
use crate::store::StoreError;

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "Invalid Credentials")]
    pub detail: String,
}

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is understood but cannot be honoured.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or invalid access token (adds `WWW-Authenticate: Bearer`).
    #[error("Could not validate credentials")]
    Unauthorized,
    /// 403: authenticated (or not) but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    /// 408: the request body did not arrive in time (adds `Connection: close`).
    #[error("The request body took too long to arrive")]
    RequestTimeout,
    /// 409: conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the limit.
    #[error("Request body is too large")]
    PayloadTooLarge,
    /// 415: the body has the wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the body is malformed or a value is invalid; the detail says which.
    #[error("{0}")]
    Unprocessable(String),
    /// 429: retry later (adds `Retry-After`).
    #[error("{detail}")]
    TooManyRequests {
        /// What is throttled.
        detail: String,
        /// When to retry.
        retry_after: Duration,
    },
    /// 502: the mail server refused the message.
    #[error("{0}")]
    BadGateway(String),
    /// 503 with `Retry-After`: the service is saturated (e.g. every password-hashing slot is
    /// busy); retry soon.
    #[error("{detail}")]
    Busy {
        /// What is saturated.
        detail: &'static str,
        /// When to retry.
        retry_after: Duration,
    },
    /// 503: a backend (database, key-value store, mail server) is unavailable.
    #[error("{0}")]
    Unavailable(&'static str),
    /// 500: a bug or corrupted data; the cause is logged, not shown.
    #[error("Internal Server Error")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let status = self.status();
        let body = axum::Json(ErrorBody {
            detail: self.to_string(),
        });
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::TooManyRequests { retry_after, .. } | Self::Busy { retry_after, .. } => {
                // Whole seconds, rounded up, at least 1.
                let secs =
                    (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            // The rest of an oversized body is never read: close the
            // connection, so that a client does not send its next request on
            // a connection the server is about to drop.
            Self::PayloadTooLarge | Self::RequestTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::UnsupportedMediaType(detail) => Self::UnsupportedMediaType(detail),
            InputError::TooLarge => Self::PayloadTooLarge,
            InputError::Malformed(detail) => Self::BadRequest(detail),
            InputError::Invalid(detail) => Self::Unprocessable(detail),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(format!("{what} is already taken")),
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                Self::Unavailable("database unavailable")
            }
            StoreError::Internal(cause) => Self::Internal(format!("database: {cause}")),
            StoreError::Refused(reason) => Self::Conflict(reason),
            StoreError::NotFound(what) => Self::NotFound(not_found_detail(what)),
        }
    }
}

/// "Class not found", "Student not found": the detail of a store's `NotFound(what)`.
fn not_found_detail(what: &str) -> String {
    let mut chars = what.chars();
    match chars.next() {
        Some(first) => format!("{}{} not found", first.to_uppercase(), chars.as_str()),
        None => "Not Found".to_owned(),
    }
}

impl From<KvError> for ApiError {
    fn from(e: KvError) -> Self {
        match e {
            KvError::Unavailable(cause) => {
                tracing::warn!(%cause, "key-value store unavailable");
                Self::Unavailable("key-value store unavailable")
            }
            KvError::Internal(cause) => Self::Internal(format!("key-value store: {cause}")),
        }
    }
}

impl From<MailError> for ApiError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Unavailable(cause) => {
                tracing::warn!(%cause, "mail server unavailable");
                Self::Unavailable("mail server unavailable; try again later")
            }
            MailError::Rejected(cause) => {
                tracing::warn!(%cause, "mail rejected");
                Self::BadGateway("the mail could not be delivered".to_owned())
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::WeakPassword(reason) => Self::Unprocessable(reason.to_owned()),
            AuthError::Hashing(cause) => Self::Internal(format!("password hashing: {cause}")),
            AuthError::TokenEncoding(cause) => Self::Internal(format!("token encoding: {cause}")),
            AuthError::InvalidToken(reason) => {
                tracing::debug!(reason, "rejected access token");
                Self::Unauthorized
            }
            AuthError::InvalidCode => Self::BadRequest("Invalid or expired OTP".to_owned()),
            AuthError::Cooldown { retry_after } => Self::TooManyRequests {
                detail: format!(
                    "An OTP was sent to this address recently; try again in {} seconds",
                    retry_after.as_secs().max(1)
                ),
                retry_after,
            },
            AuthError::Throttled { retry_after } => Self::TooManyRequests {
                detail: "Too many failed login attempts; try again later".to_owned(),
                retry_after,
            },
            AuthError::Busy { retry_after } => Self::Busy {
                detail: "Too many sign-ins at once; try again in a few seconds",
                retry_after,
            },
            AuthError::TooManyGuesses { retry_after } => Self::TooManyRequests {
                detail: "Too many OTP attempts; try again later".to_owned(),
                retry_after,
            },
            AuthError::TooManySends { retry_after } => Self::TooManyRequests {
                detail: "Too many OTPs were sent to this address today; try again later".to_owned(),
                retry_after,
            },
            AuthError::Kv(e) => e.into(),
            AuthError::Mail(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_where_due() {
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let r = ApiError::from(AuthError::Cooldown {
            retry_after: Duration::from_millis(41_500),
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        let r = ApiError::from(AuthError::Busy {
            retry_after: Duration::from_secs(2),
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = ApiError::PayloadTooLarge.into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = ApiError::from(StoreError::NotFound("class"));
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.to_string(), "Class not found");
    }

    /// A 500 says "Internal Server Error" and nothing of its cause (which goes to the log).
    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let r = ApiError::from(StoreError::Internal("secret detail".into())).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert_eq!(body, r#"{"detail":"Internal Server Error"}"#);
        assert!(
            !body.contains("secret") && !body.contains("database"),
            "{body}"
        );
    }
}
