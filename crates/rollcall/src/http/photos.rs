//! A student's face photos ("templates", issue 13): add one from a photo (the enrolment
//! quality gate, the duplicate check against the teacher's other students, and a check that
//! it is the same person), list them, delete one (never the last), and serve a template's
//! face thumbnail (the aligned crop, stored encrypted) to the owning teacher only.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::bearer::AuthTeacher;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::students::{sealed_crop, student_not_found, template_details};
use super::upload::{PhotoError, PhotoUpload, RejectionBody};
use crate::crypto::crop_aad;
use crate::domain::{RollNo, templates};
use crate::store::{
    FaceTemplate, NewTemplate, RosterEntry, StoreError, Student, TeacherId, TemplateAdded,
    TemplateId, TemplateSource, WhenFull,
};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_photo, list_photos))
        // The upload extractor enforces ROLLCALL_MAX_UPLOAD_BYTES itself.
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(delete_photo))
        .routes(routes!(thumbnail))
}

/// The multipart body of `POST /students/{roll_no}/photos`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the handler reads the part itself
pub struct AddPhotoForm {
    /// The photo: one face looking at the camera (JPEG, PNG, WebP, BMP, GIF or TIFF).
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
}

/// One face template of a student.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PhotoOut {
    /// The template's id.
    pub id: TemplateId,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// The recognizer whose embedding of it is used for matching (the configured one when
    /// it has one, else the first it has).
    #[schema(example = "faceplugin_fr_feature_512")]
    pub model: String,
    /// Every recognizer it has an embedding of.
    pub models: Vec<String>,
    /// `enrolment`, `photo`, `confirmation` or `migrated` (from before templates).
    #[schema(example = "photo")]
    pub source: &'static str,
    /// 0..1, higher is better: the weakest template is replaced first when a confirmation
    /// teaches a student who is at the limit.
    pub quality: f32,
    /// Face width in the photo, in pixels (absent for migrated templates).
    pub face_width: Option<f32>,
    /// Sharpness (variance of the Laplacian of the aligned face).
    pub sharpness: Option<f32>,
    /// Mean grey level of the aligned face (0..255).
    pub brightness: Option<f32>,
    /// Detector confidence.
    pub detection_score: Option<f32>,
    /// Yaw from the keypoints, in degrees.
    pub yaw: Option<f32>,
    /// Whether `GET .../photos/{id}/thumbnail` has a picture for it.
    pub thumbnail: bool,
}

impl PhotoOut {
    fn new(template: FaceTemplate, configured: &str, crops_kept: bool) -> Self {
        let model = if template.models.iter().any(|m| m == configured) {
            configured.to_owned()
        } else {
            template.models.first().cloned().unwrap_or_default()
        };
        let f = template.figures;
        Self {
            id: template.id,
            created_at: template.created_at,
            model,
            models: template.models,
            source: template.source.as_str(),
            quality: template.quality,
            face_width: f.map(|f| f.face_width),
            sharpness: f.map(|f| f.sharpness),
            brightness: f.map(|f| f.brightness),
            detection_score: f.map(|f| f.detection_score),
            yaw: f.map(|f| f.yaw),
            thumbnail: crops_kept && template.has_crop,
        }
    }
}

/// A student's face templates.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoList {
    /// Oldest first.
    pub photos: Vec<PhotoOut>,
}

/// A success message.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhotoMsg {
    /// What was done.
    pub msg: &'static str,
}

/// The similarity below which a photo is refused as another person than the student.
fn same_person_threshold(state: &AppState) -> f32 {
    state
        .settings
        .templates
        .same_person_threshold
        .unwrap_or(state.vision.review_threshold() - templates::SAME_PERSON_SLACK)
}

/// Adds a face to `student`'s templates if the domain admits it (not another student's face,
/// not clearly someone else than the student), checked against the roster inside the
/// store's transaction; `when_full` decides at the limit.
pub(super) async fn add_admitted_template(
    state: &AppState,
    teacher: TeacherId,
    student: &Student,
    new: NewTemplate<'_>,
    when_full: WhenFull,
) -> Result<TemplateAdded, StoreError> {
    let duplicate = state.vision.duplicate_threshold();
    let same_person = same_person_threshold(state);
    let embedding = new.embedding;
    let admit = |roster: &[RosterEntry]| {
        templates::admit_photo(
            student.id,
            &student.name,
            embedding,
            roster,
            duplicate,
            same_person,
        )
    };
    let limit = state.settings.templates.per_student;
    state
        .store
        .add_template(teacher, &student.roll_no, new, limit, when_full, &admit)
        .await
}

/// Adds a face photo to a student.
#[utoipa::path(post, path = "/students/{roll_no}/photos", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    params(("roll_no" = String, Path, description = "The student's roll number")),
    request_body(content = AddPhotoForm, content_type = "multipart/form-data",
        description = "`image`: the photo (format detected from its content)"),
    responses(
        (status = 201, description = "Added", body = PhotoOut),
        (status = 400, description = "The file is not a readable image, or the body is \
                                      malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 408, description = "The body did not arrive within \
                                      ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS", body = ErrorBody),
        (status = 409, description = "The face is enrolled as another student, the photo is \
                                      clearly not the same person as the student's photos, \
                                      or the student has ROLLCALL_FACE_TEMPLATES_PER_STUDENT \
                                      photos already", body = ErrorBody,
            example = json!({"detail": "This photo does not look like Ada Lovelace: its face \
                                        is 0.08 similar to their other photos, at least 0.27 \
                                        is expected. Check that it is a photo of this \
                                        student"})),
        (status = 413, description = "The upload is larger than ROLLCALL_MAX_UPLOAD_BYTES",
            body = ErrorBody),
        (status = 415, description = "Not a multipart/form-data request", body = ErrorBody),
        (status = 422, description = "A missing part, a photo over the pixel limit (40 MP), \
                                      or a photo refused by the quality gate (then with \
                                      `reasons`, as `/addStudent`)", body = RejectionBody),
        (status = 429, description = "This account already has ROLLCALL_UPLOADS_PER_TEACHER \
                                      uploads in progress", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Face engine busy or a backend unavailable",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn add_photo(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(roll_no): Path<RollNo>,
    mut upload: PhotoUpload,
) -> Result<(StatusCode, Json<PhotoOut>), PhotoError> {
    let roll_no = roll_no.as_str();
    let teacher = auth.teacher_id;
    let image = upload.required("image")?;
    let student = state
        .store
        .student_by_roll_no(teacher, roll_no)
        .await?
        .ok_or_else(student_not_found)?;

    // The photo moves into the engine and is dropped there; only the crop is kept.
    let enrolled = state.vision.enrol(upload.ticket, Vec::from(image)).await?;
    let sealed = sealed_crop(&state, teacher, &enrolled)?;
    let details = template_details(TemplateSource::Photo, &enrolled, sealed.as_deref());
    let model_id = state.vision.recognizer_id();
    let new = NewTemplate {
        model_id,
        embedding: enrolled.embedding.as_slice(),
        details,
    };
    let added = add_admitted_template(&state, teacher, &student, new, WhenFull::Refuse).await?;
    tracing::info!(template = added.template.id, "face photo added");
    let crops_kept = state.settings.templates.keep_crops;
    Ok((
        StatusCode::CREATED,
        Json(PhotoOut::new(added.template, model_id, crops_kept)),
    ))
}

/// Lists a student's face photos.
#[utoipa::path(get, path = "/students/{roll_no}/photos", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    params(("roll_no" = String, Path, description = "The student's roll number")),
    responses(
        (status = 200, description = "The student's templates, oldest first", body = PhotoList),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn list_photos(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(roll_no): Path<RollNo>,
) -> Result<Json<PhotoList>, ApiError> {
    let list = state
        .store
        .list_templates(auth.teacher_id, roll_no.as_str())
        .await
        .map_err(not_found)?;
    let configured = state.vision.recognizer_id();
    let crops_kept = state.settings.templates.keep_crops;
    Ok(Json(PhotoList {
        photos: list
            .into_iter()
            .map(|t| PhotoOut::new(t, configured, crops_kept))
            .collect(),
    }))
}

/// Deletes one of a student's face photos (never the last).
#[utoipa::path(delete, path = "/students/{roll_no}/photos/{id}", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("id" = i64, Path, description = "The photo's id"),
    ),
    responses(
        (status = 200, description = "Deleted, with its thumbnail", body = PhotoMsg,
            example = json!({"msg": "Photo deleted"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student or photo", body = ErrorBody),
        (status = 409, description = "It is the student's only photo", body = ErrorBody),
        (status = 422, description = "The id is not a number", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn delete_photo(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((roll_no, id)): Path<(RollNo, TemplateId)>,
) -> Result<Json<PhotoMsg>, ApiError> {
    state
        .store
        .delete_template(auth.teacher_id, roll_no.as_str(), id)
        .await
        .map_err(not_found)?;
    Ok(Json(PhotoMsg {
        msg: "Photo deleted",
    }))
}

/// The face thumbnail of one of a student's photos: the aligned face crop (112x112 JPEG),
/// to the owning teacher only.
#[utoipa::path(get, path = "/students/{roll_no}/photos/{id}/thumbnail", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("id" = i64, Path, description = "The photo's id"),
    ),
    responses(
        (status = 200, description = "The face crop, with `Cache-Control: private`",
            content_type = "image/jpeg", body = Vec<u8>,
            headers(("Cache-Control" = String, description = "private"))),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student or photo (another teacher's included), \
                                      a photo without a stored crop, or crops are not kept \
                                      (ROLLCALL_KEEP_FACE_CROPS=false)", body = ErrorBody),
        (status = 422, description = "The id is not a number", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn thumbnail(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((roll_no, id)): Path<(RollNo, TemplateId)>,
) -> Result<Response, ApiError> {
    let teacher = auth.teacher_id;
    let sealed = state
        .store
        .template_crop(teacher, roll_no.as_str(), id)
        .await
        .map_err(not_found)?;
    if !state.settings.templates.keep_crops {
        return Err(ApiError::NotFound(
            "Face thumbnails are not kept on this server".to_owned(),
        ));
    }
    let sealed =
        sealed.ok_or_else(|| ApiError::NotFound("This photo has no thumbnail".to_owned()))?;
    let jpeg = state
        .data_key
        .open(&sealed, &crop_aad(teacher))
        .map_err(|e| ApiError::Internal(format!("photo {id}: {e}")))?;
    let mut response = (StatusCode::OK, jpeg).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    Ok(response)
}

/// "Student not found" / "Photo not found" for the store's `NotFound`, the rest as usual.
fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound("student") => student_not_found(),
        other => other.into(),
    }
}
