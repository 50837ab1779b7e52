//! Photo uploads: the [`PhotoUpload`] extractor of the face endpoints and [`PhotoError`],
//! the errors those endpoints answer.
//!
//! [`PhotoUpload`] first takes one of the teacher's upload slots (429 when they already
//! have `ROLLCALL_UPLOADS_PER_TEACHER` uploads in progress), then reads the whole multipart
//! body under `ROLLCALL_MAX_UPLOAD_BYTES` (413 beyond it) and a deadline
//! (`ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS`, 408 after it), and only then takes an inference
//! [`Ticket`] (503 with `Retry-After` when the face engine is saturated). A slow client
//! therefore never holds a place in the face engine's queue, and one account cannot fill
//! it. Routes using it disable axum's default body limit (`DefaultBodyLimit::disable()`),
//! since this extractor enforces its own. Photo contents are never checked by file name or
//! content type: the engine decodes them.
//!
//! [`PhotoError`] is [`ApiError`] plus the two answers it cannot express: a quality-gate
//! rejection (422 with `reasons`) and a saturated engine (503 with `Retry-After`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_face::{FaceError, QualityIssue, ReasonCode};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::{ApiError, ErrorBody};
use crate::store::{StoreError, TeacherId};
use crate::vision::{Ticket, VisionError};

/// Room for the multipart framing and the small text fields beside the photo.
const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// What a teacher over their upload cap is told to wait.
const UPLOAD_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The teacher a request was authenticated as, put in the request's extensions by
/// [`super::bearer::AuthTeacher`] for the extractors that run after it.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated(pub TeacherId);

/// Photo uploads in progress, per teacher, capped. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UploadSlots {
    per_teacher: usize,
    in_progress: Arc<Mutex<HashMap<TeacherId, usize>>>,
}

/// One upload in progress; freed on drop.
#[derive(Debug)]
pub struct UploadSlot {
    teacher: TeacherId,
    in_progress: Arc<Mutex<HashMap<TeacherId, usize>>>,
}

impl UploadSlots {
    /// At most `per_teacher` (at least 1) uploads per teacher at once.
    pub fn new(per_teacher: usize) -> Self {
        Self {
            per_teacher: per_teacher.max(1),
            in_progress: Arc::default(),
        }
    }

    /// A slot for `teacher`, or None when they are at their cap.
    pub fn try_acquire(&self, teacher: TeacherId) -> Option<UploadSlot> {
        let mut map = self
            .in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(teacher).or_insert(0);
        if *count >= self.per_teacher {
            return None;
        }
        *count += 1;
        Some(UploadSlot {
            teacher,
            in_progress: self.in_progress.clone(),
        })
    }
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut map = self
            .in_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.teacher) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.teacher);
            }
        }
    }
}

/// A multipart upload, read in full, admitted to the face engine.
#[derive(Debug)]
pub struct PhotoUpload {
    /// The inference ticket, taken once the body was read.
    pub ticket: Ticket,
    parts: Vec<(String, Bytes)>,
    /// The teacher's upload slot, held until the request is done.
    _slot: UploadSlot,
}

impl PhotoUpload {
    /// Removes and returns the first part named `name`.
    pub fn take(&mut self, name: &str) -> Option<Bytes> {
        let index = self.parts.iter().position(|(n, _)| n == name)?;
        Some(self.parts.swap_remove(index).1)
    }

    /// The part `name`, required (422 when missing).
    pub fn required(&mut self, name: &str) -> Result<Bytes, ApiError> {
        self.take(name).ok_or_else(|| {
            ApiError::Unprocessable(format!("The multipart field `{name}` is missing"))
        })
    }
}

impl FromRequest<AppState> for PhotoUpload {
    type Rejection = PhotoError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PhotoError> {
        let Some(&Authenticated(teacher)) = req.extensions().get::<Authenticated>() else {
            // The handler must authenticate before taking the body.
            return Err(ApiError::Unauthorized.into());
        };
        let slot = state
            .uploads
            .try_acquire(teacher)
            .ok_or_else(|| ApiError::TooManyRequests {
                detail: "Too many photo uploads in progress for this account; wait for one \
                         to finish"
                    .to_owned(),
                retry_after: UPLOAD_RETRY_AFTER,
            })?;
        let limit = state
            .settings
            .max_upload_bytes
            .saturating_add(MULTIPART_OVERHEAD);
        let read = read_parts(req, limit);
        let parts = tokio::time::timeout(state.settings.hardening.upload_read_timeout, read)
            .await
            .map_err(|_| ApiError::RequestTimeout)??;
        // Only a fully read photo waits for the face engine.
        let ticket = state.vision.admit()?;
        Ok(Self {
            ticket,
            parts,
            _slot: slot,
        })
    }
}

/// Reads every part of a `multipart/form-data` request (name and bytes), the body limited
/// to `limit` bytes: 415 when it is not multipart, 413 beyond the limit, 400 when the body
/// is malformed (`rollcall_input::read_parts`, which the fuzz target `request` drives).
pub async fn read_parts(req: Request, limit: usize) -> Result<Vec<(String, Bytes)>, ApiError> {
    Ok(rollcall_input::read_parts(req, limit).await?)
}

/// One failed enrolment check, as answered to clients.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectionReason {
    /// Machine-readable code, e.g. `HEAD_TURNED`, `NO_FACE`, `MULTIPLE_FACES`.
    #[schema(example = "HEAD_TURNED")]
    pub code: &'static str,
    /// The measured value.
    #[schema(example = 38.5)]
    pub value: f32,
    /// The limit it crossed.
    #[schema(example = 35.0)]
    pub limit: f32,
}

/// The body of a 422 of a photo endpoint: `detail` always; `reasons` when the quality gate
/// refused the photo (other 422s, e.g. a missing part or invalid `data`, have `detail` only).
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectionBody {
    /// A sentence for people.
    pub detail: String,
    /// Every failed check of the quality gate (absent for other 422s).
    #[schema(required = false)]
    pub reasons: Vec<RejectionReason>,
}

/// An error of a face endpoint.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Any ordinary API error.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// 422: the photo fails the enrolment quality gate.
    #[error("{}", rejection_sentence(.0))]
    Rejected(Vec<QualityIssue>),
    /// 503 with `Retry-After`: the face engine is saturated.
    #[error("The face engine is busy; try again in a few seconds")]
    Busy {
        /// Suggested wait.
        retry_after: Duration,
    },
}

impl From<StoreError> for PhotoError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}

impl From<VisionError> for PhotoError {
    fn from(e: VisionError) -> Self {
        match e {
            VisionError::Busy { retry_after } => Self::Busy { retry_after },
            VisionError::Face(FaceError::Rejected(issues)) => Self::Rejected(issues),
            VisionError::Face(FaceError::InvalidImage { reason }) => Self::Api(
                ApiError::BadRequest(format!("The file is not a readable image: {reason}")),
            ),
            VisionError::Face(FaceError::TooLarge { .. }) => Self::Api(ApiError::PayloadTooLarge),
            // "photo is 30000x30000, the limit is 40 megapixels": however small the file.
            VisionError::Face(e @ FaceError::TooManyPixels { .. }) => {
                Self::Api(ApiError::Unprocessable(e.to_string()))
            }
            VisionError::Face(other) => Self::Api(ApiError::Internal(other.to_string())),
            VisionError::Worker(cause) => Self::Api(ApiError::Internal(cause)),
        }
    }
}

impl IntoResponse for PhotoError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Rejected(issues) => {
                let body = RejectionBody {
                    detail: rejection_sentence(&issues),
                    reasons: issues
                        .iter()
                        .map(|i| RejectionReason {
                            code: i.code.as_str(),
                            value: i.value,
                            limit: i.limit,
                        })
                        .collect(),
                };
                (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
            }
            Self::Busy { retry_after } => {
                let body = ErrorBody {
                    detail: self.to_string(),
                };
                let mut response =
                    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
                let secs = retry_after.as_secs().max(1);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                response
            }
        }
    }
}

/// "The photo cannot be used for enrolment: the head is turned to the side; ..."
fn rejection_sentence(issues: &[QualityIssue]) -> String {
    let reasons: Vec<&str> = issues.iter().map(|i| reason_phrase(i.code)).collect();
    if reasons.is_empty() {
        "The photo cannot be used for enrolment".to_owned()
    } else {
        format!(
            "The photo cannot be used for enrolment: {}. Take a sharp, well-lit photo of \
             one face looking at the camera",
            reasons.join("; ")
        )
    }
}

fn reason_phrase(code: ReasonCode) -> &'static str {
    match code {
        ReasonCode::NoFace => "no face was found",
        ReasonCode::MultipleFaces => "more than one face is visible",
        ReasonCode::FaceTooSmall => "the face is too small",
        ReasonCode::FaceCutOff => "the face is cut off by the image border",
        ReasonCode::HeadTurned => "the head is turned to the side",
        ReasonCode::HeadTilted => "the head is tilted",
        ReasonCode::HeadUpDown => "the head is looking up or down",
        ReasonCode::TooBlurry => "the photo is blurry",
        ReasonCode::TooDark => "the face is too dark",
        ReasonCode::TooBright => "the face is overexposed",
        ReasonCode::LowDetectionScore => "the face is not clearly visible",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn busy_is_503_with_retry_after() {
        let r = PhotoError::from(VisionError::Busy {
            retry_after: Duration::from_secs(5),
        })
        .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        assert!(body(r).await["detail"].is_string());
    }

    #[tokio::test]
    async fn rejection_is_422_with_reasons() {
        let issues = vec![
            QualityIssue {
                code: ReasonCode::HeadTurned,
                value: 48.5,
                limit: 35.0,
            },
            QualityIssue {
                code: ReasonCode::TooDark,
                value: 20.0,
                limit: 50.0,
            },
        ];
        let r = PhotoError::from(VisionError::Face(FaceError::Rejected(issues))).into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body(r).await;
        assert_eq!(
            body["reasons"],
            serde_json::json!([
                {"code": "HEAD_TURNED", "value": 48.5, "limit": 35.0},
                {"code": "TOO_DARK", "value": 20.0, "limit": 50.0},
            ])
        );
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("turned") && detail.contains("dark"),
            "{detail}"
        );
    }

    #[tokio::test]
    async fn engine_errors_map_to_client_or_server_errors() {
        let invalid = FaceError::InvalidImage {
            reason: "truncated".into(),
        };
        let r = PhotoError::from(VisionError::Face(invalid)).into_response();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let too_large = FaceError::TooLarge {
            kind: rollcall_face::SizeKind::Bytes,
            value: 10,
            limit: 1,
        };
        let r = PhotoError::from(VisionError::Face(too_large)).into_response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let too_many = FaceError::TooManyPixels {
            width: 30_000,
            height: 30_000,
            limit: 40_000_000,
        };
        let r = PhotoError::from(VisionError::Face(too_many)).into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            body(r).await["detail"],
            "photo is 30000x30000, the limit is 40 megapixels"
        );
        let r =
            PhotoError::from(VisionError::Face(FaceError::Runtime("onnx".into()))).into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body(r).await["detail"], "Internal Server Error");
    }
}
