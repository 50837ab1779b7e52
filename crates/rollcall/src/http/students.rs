//! Students: enrolment from a photo (`POST /addStudent`, into the default class), listing,
//! deletion. Every operation is scoped to the signed-in teacher. Paths and messages follow
//! the original service's contract. A student belongs to the teacher (enrolled and embedded
//! once) and is a member of any of the teacher's classes (see [`super::classes`]).

use axum::extract::{DefaultBodyLimit, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::bearer::AuthTeacher;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::upload::{PhotoError, PhotoUpload, RejectionBody};
use crate::crypto::crop_aad;
use crate::domain::{RollNo, StudentName, roll_no, student_name, templates};
use crate::store::{
    ClassId, NewStudent, RosterEntry, StoreError, Student, TeacherId, TemplateDetails,
    TemplateSource,
};
use crate::vision::Enrolled;

/// Longest accepted student name, in characters.
pub const MAX_NAME_LEN: usize = student_name::MAX_LEN;
/// Longest accepted roll number, in characters.
pub const MAX_ROLL_NO_LEN: usize = roll_no::MAX_LEN;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(add_student))
        // The upload extractor enforces ROLLCALL_MAX_UPLOAD_BYTES itself.
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(get_all_students))
        .routes(routes!(delete_student))
}

/// A student, as clients see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StudentOut {
    /// Full name.
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// Roll number, unique per teacher.
    #[schema(example = "12")]
    pub roll_no: String,
}

impl From<Student> for StudentOut {
    fn from(s: Student) -> Self {
        Self {
            name: s.name,
            roll_no: s.roll_no,
        }
    }
}

/// The `data` part of `POST /addStudent`: a JSON object (checked in `rollcall-input`).
pub use rollcall_input::StudentData;

/// The multipart body of `POST /addStudent`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the handler reads the parts itself
pub struct AddStudentForm {
    /// The student, as a JSON part (`{"name": "...", "roll_no": "..."}`): an object-valued
    /// multipart property is sent as `application/json`.
    #[schema(value_type = StudentData)]
    data: String,
    /// The photo: one face looking at the camera (JPEG, PNG, WebP, BMP, GIF or TIFF).
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
}

/// Answer of a successful enrolment.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddStudentResponse {
    /// `The Student is registered successfully`.
    #[schema(example = "The Student is registered successfully")]
    pub msg: &'static str,
    /// The stored student.
    pub student: StudentOut,
}

/// The teacher's students.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentList {
    /// Sorted by roll number (numeric-aware).
    pub msg: Vec<StudentOut>,
}

/// A success message.
#[derive(Debug, Serialize, ToSchema)]
pub struct StudentMsg {
    /// What was done.
    pub msg: &'static str,
}

/// Trims and checks a text field: non-empty, at most `max` characters, no control
/// characters (422 otherwise).
pub fn clean_field(what: &str, value: &str, max: usize) -> Result<String, ApiError> {
    Ok(rollcall_input::clean_field(what, value, max)?)
}

/// The `data` part of an enrolment: a JSON object with `name` and `roll_no`, both checked
/// (422 saying what is wrong; `rollcall_input::parse_student_data`).
pub fn parse_student_data(data: &[u8]) -> Result<(StudentName, RollNo), ApiError> {
    Ok(rollcall_input::parse_student_data(data)?)
}

/// 404 for a roll number the signed-in teacher does not have.
pub fn student_not_found() -> ApiError {
    ApiError::NotFound("Student not found".to_owned())
}

fn roll_no_taken(roll_no: &str) -> ApiError {
    ApiError::Conflict(format!(
        "A student with roll number {roll_no} already exists"
    ))
}

/// Enrols a student from a photo, into the teacher's default class.
#[utoipa::path(post, path = "/addStudent", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    request_body(content = AddStudentForm, content_type = "multipart/form-data",
        description = "`data`: JSON string with `name` and `roll_no`; `image`: the photo \
                       (format detected from its content, not its name or content type)"),
    responses(
        (status = 200, description = "Enrolled", body = AddStudentResponse,
            example = json!({"msg": "The Student is registered successfully",
                             "student": {"name": "Ada Lovelace", "roll_no": "12"}})),
        (status = 400, description = "The file is not a readable image, or the body is \
                                      malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 409, description = "The roll number exists, or this face is already \
                                      enrolled under another roll number", body = ErrorBody),
        (status = 408, description = "The body did not arrive within \
                                      ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS", body = ErrorBody),
        (status = 413, description = "The upload is larger than ROLLCALL_MAX_UPLOAD_BYTES",
            body = ErrorBody),
        (status = 429, description = "This account already has ROLLCALL_UPLOADS_PER_TEACHER \
                                      uploads in progress", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 415, description = "Not a multipart/form-data request", body = ErrorBody),
        (status = 422, description = "Invalid `data`, a missing part, a photo over the pixel \
                                      limit (40 MP), or a photo refused by the quality gate \
                                      (then with `reasons`)",
            body = RejectionBody,
            example = json!({"detail": "The photo cannot be used for enrolment: the head is \
                                        turned to the side. Take a sharp, well-lit photo of \
                                        one face looking at the camera",
                             "reasons": [{"code": "HEAD_TURNED", "value": 48.2, "limit": 35.0}]})),
        (status = 503, description = "Face engine busy or a backend unavailable",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn add_student(
    State(state): State<AppState>,
    auth: AuthTeacher,
    upload: PhotoUpload,
) -> Result<Json<AddStudentResponse>, PhotoError> {
    let class = state.store.default_class(auth.teacher_id).await?;
    Ok(Json(enrol(&state, auth.teacher_id, class, upload).await?))
}

/// Enrols the student of an `/addStudent` multipart body (`data` + `image`) into one of the
/// teacher's classes: the face is embedded once, checked against every student of the
/// teacher (all classes) for duplicates, and the student joins `class`.
pub(super) async fn enrol(
    state: &AppState,
    teacher: TeacherId,
    class: ClassId,
    mut upload: PhotoUpload,
) -> Result<AddStudentResponse, PhotoError> {
    let data = upload.required("data")?;
    let (name, roll_no) = parse_student_data(&data)?;
    let image = upload.required("image")?;
    if state
        .store
        .student_by_roll_no(teacher, roll_no.as_str())
        .await?
        .is_some()
    {
        return Err(roll_no_taken(roll_no.as_str()).into());
    }

    // The photo moves into the engine and is dropped there: it is never stored (only the
    // aligned face crop, encrypted, unless ROLLCALL_KEEP_FACE_CROPS=false).
    let enrolled = state.vision.enrol(upload.ticket, Vec::from(image)).await?;
    let sealed = sealed_crop(state, teacher, &enrolled)?;
    let details = template_details(TemplateSource::Enrolment, &enrolled, sealed.as_deref());

    let model_id = state.vision.recognizer_id();
    // Checked against the roster inside the insert's transaction, under a lock on the
    // teacher: two uploads of one face at the same moment cannot both get in.
    let vision = &state.vision;
    let embedding = enrolled.embedding.as_slice();
    let admit = |roster: &[RosterEntry]| match vision.closest(embedding, roster) {
        Some((twin, similarity)) => {
            tracing::info!(similarity, "refused a face already enrolled");
            Err(templates::already_enrolled(&twin.roll_no, &twin.name))
        }
        None => Ok(()),
    };
    let student = state
        .store
        .create_student_with(
            teacher,
            class,
            NewStudent {
                name: name.as_str(),
                roll_no: roll_no.as_str(),
                model_id,
                embedding,
            },
            details,
            &admit,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => roll_no_taken(roll_no.as_str()),
            other => other.into(),
        })?;
    Ok(AddStudentResponse {
        msg: "The Student is registered successfully",
        student: StudentOut {
            name: student.name,
            roll_no: student.roll_no,
        },
    })
}

/// The enrolled face's crop sealed for `teacher`, or None when crops are not kept.
pub(super) fn sealed_crop(
    state: &AppState,
    teacher: TeacherId,
    enrolled: &Enrolled,
) -> Result<Option<Vec<u8>>, ApiError> {
    if !state.settings.templates.keep_crops {
        return Ok(None);
    }
    state
        .data_key
        .seal(&enrolled.crop_jpeg, &crop_aad(teacher))
        .map(Some)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// How a template from an accepted photo is described.
pub(super) fn template_details<'a>(
    source: TemplateSource,
    enrolled: &Enrolled,
    sealed_crop: Option<&'a [u8]>,
) -> TemplateDetails<'a> {
    let figures = templates::figures(&enrolled.quality.metrics);
    TemplateDetails {
        source,
        quality: templates::quality_score(&figures),
        figures: Some(figures),
        sealed_crop,
    }
}

/// Lists the teacher's students (of every class).
#[utoipa::path(get, path = "/get_all_students", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The students, by roll number", body = StudentList,
            example = json!({"msg": [{"name": "Ada Lovelace", "roll_no": "12"}]})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn get_all_students(
    State(state): State<AppState>,
    auth: AuthTeacher,
) -> Result<Json<StudentList>, ApiError> {
    let students = state.store.list_students(auth.teacher_id).await?;
    Ok(Json(StudentList {
        msg: students.into_iter().map(StudentOut::from).collect(),
    }))
}

/// Deletes a student with their face data, memberships (every class) and attendance.
#[utoipa::path(delete, path = "/delete_student/{roll_no}", tag = "students",
    security(("bearer" = []), ("oauth2" = [])),
    params(("roll_no" = String, Path, description = "The student's roll number")),
    responses(
        (status = 200, description = "Deleted", body = StudentMsg,
            example = json!({"msg": "Student deleted successfully"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn delete_student(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(roll_no): Path<RollNo>,
) -> Result<Json<StudentMsg>, ApiError> {
    if state
        .store
        .delete_student(auth.teacher_id, roll_no.as_str())
        .await?
    {
        Ok(Json(StudentMsg {
            msg: "Student deleted successfully",
        }))
    } else {
        Err(student_not_found())
    }
}
