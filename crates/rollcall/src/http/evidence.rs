//! Confirmations can teach (issue 13): a face suggested to the teacher by a class photo is
//! remembered for [`EVIDENCE_TTL`] in the key-value store (its embedding, the quality
//! gate's findings and its aligned crop, sealed with the data key; never the photo) under
//! an `evidence_id` given in the marking response. A confirmation
//! (`PUT /attendance/{roll_no}/{date}?evidence_id=...&teach=true`) may then add that face
//! to the student's templates: refused when the face fails the quality gate (422 with
//! `reasons`), when it is another student's face or clearly not this student (409); at the
//! limit the student's weakest template is replaced.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::photos::add_admitted_template;
use super::upload::PhotoError;
use crate::crypto::crop_aad;
use crate::domain::attendance::Unknown;
use crate::domain::templates;
use crate::store::{
    NewTemplate, TeacherId, TemplateAdded, TemplateDetails, TemplateSource, WhenFull,
};
use crate::vision::{FaceEvidence, RecognisedFace};
use rollcall_face::QualityIssue;

/// How long a suggested face can be taught from after the photo was marked.
pub const EVIDENCE_TTL: Duration = Duration::from_secs(60 * 60);

/// What the key-value store keeps of one suggested face.
#[derive(Debug, Serialize, Deserialize)]
struct StoredEvidence {
    model: String,
    embedding: Vec<f32>,
    issues: Vec<QualityIssue>,
    face_width: f32,
    sharpness: f32,
    brightness: f32,
    detection_score: f32,
    yaw: f32,
    /// The sealed crop, hex; None when crops are not kept.
    crop: Option<String>,
}

fn key(teacher: TeacherId, id: &str) -> String {
    format!("evidence:{teacher}:{id}")
}

/// Remembers the evidence of every unknown face that has some; returns the evidence id of
/// each, by face index.
pub async fn remember(
    state: &AppState,
    teacher: TeacherId,
    faces: &[RecognisedFace],
    unknown: &[Unknown],
) -> Result<HashMap<usize, String>, ApiError> {
    let mut ids = HashMap::new();
    for u in unknown {
        let Some(evidence) = faces.get(u.face).and_then(|f| f.evidence.as_ref()) else {
            continue;
        };
        let stored = stored(state, teacher, evidence)?;
        let text = serde_json::to_string(&stored)
            .map_err(|e| ApiError::Internal(format!("evidence: {e}")))?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        state
            .kv
            .set(&key(teacher, &id), &text, EVIDENCE_TTL)
            .await?;
        ids.insert(u.face, id);
    }
    Ok(ids)
}

fn stored(
    state: &AppState,
    teacher: TeacherId,
    evidence: &FaceEvidence,
) -> Result<StoredEvidence, ApiError> {
    let crop = if state.settings.templates.keep_crops {
        let sealed = state
            .data_key
            .seal(&evidence.crop_jpeg, &crop_aad(teacher))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        Some(hex::encode(sealed))
    } else {
        None
    };
    let m = &evidence.quality.metrics;
    Ok(StoredEvidence {
        model: state.vision.recognizer_id().to_owned(),
        embedding: evidence.embedding.clone(),
        issues: evidence.quality.issues.clone(),
        face_width: m.face_width,
        sharpness: m.sharpness,
        brightness: m.brightness,
        detection_score: m.score,
        yaw: m.landmark_yaw,
        crop,
    })
}

/// Adds the face remembered as `evidence_id` to the student's templates (see the module
/// documentation). The evidence is used once.
pub async fn teach(
    state: &AppState,
    teacher: TeacherId,
    roll_no: &str,
    evidence_id: &str,
) -> Result<TemplateAdded, PhotoError> {
    let text = state
        .kv
        .get(&key(teacher, evidence_id))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::NotFound(
                "No such face to learn from: an evidence_id is valid for one hour after the \
                 photo was marked"
                    .to_owned(),
            )
        })?;
    let stored: StoredEvidence = serde_json::from_str(&text)
        .map_err(|e| ApiError::Internal(format!("stored evidence: {e}")))?;
    let model_id = state.vision.recognizer_id();
    if stored.model != model_id {
        return Err(ApiError::Conflict(
            "This face was recognised with another recognizer model; it cannot be learned"
                .to_owned(),
        )
        .into());
    }
    if !stored.issues.is_empty() {
        return Err(PhotoError::Rejected(stored.issues));
    }
    let student = state
        .store
        .student_by_roll_no(teacher, roll_no)
        .await?
        .ok_or_else(super::students::student_not_found)?;
    let sealed = stored
        .crop
        .as_deref()
        .map(hex::decode)
        .transpose()
        .map_err(|e| ApiError::Internal(format!("stored evidence crop: {e}")))?;
    let figures = crate::store::QualityFigures {
        face_width: stored.face_width,
        sharpness: stored.sharpness,
        brightness: stored.brightness,
        detection_score: stored.detection_score,
        yaw: stored.yaw,
    };
    let details = TemplateDetails {
        source: TemplateSource::Confirmation,
        quality: templates::quality_score(&figures),
        figures: Some(figures),
        sealed_crop: sealed.as_deref(),
    };
    let new = NewTemplate {
        model_id,
        embedding: stored.embedding.as_slice(),
        details,
    };
    let added =
        add_admitted_template(state, teacher, &student, new, WhenFull::ReplaceWeakest).await?;
    // Used once.
    state
        .kv
        .delete(&key(teacher, evidence_id))
        .await
        .map_err(ApiError::from)?;
    tracing::info!(
        template = added.template.id,
        replaced = ?added.replaced,
        "learned a face from a confirmation"
    );
    Ok(added)
}
