//! Attendance of the teacher's default class (the original endpoints): marking from a
//! class photo (`POST /mark_attendance`), one student's dates, and manual corrections.
//! Every operation is scoped to the signed-in teacher; the same operations on any class are
//! in [`super::classes`], and both call [`mark_from_photo`].
//!
//! "Today" is the date in `ROLLCALL_TIMEZONE` (or the fixed date of the settings, for
//! tests). Marking is idempotent per class, student and day: the store inserts the day's
//! rows in one transaction and keeps a student's first record.

use std::collections::{HashMap, HashSet};

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::bearer::AuthTeacher;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::upload::{PhotoError, PhotoUpload, RejectionBody};
use crate::config::Settings;
use crate::domain::attendance::{self, Evidence, Named, Sighting};
use crate::domain::roll_no::RollNo;
use crate::store::{ClassId, StudentId, TeacherId, TemplateId};
use crate::vision::Ticket;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mark_attendance))
        // The upload extractor enforces ROLLCALL_MAX_UPLOAD_BYTES itself.
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(get_attendance))
        .routes(routes!(set_present, clear_present))
}

/// Today's date for attendance: the fixed date of the settings, else the current date in
/// the configured time zone.
pub fn today(settings: &Settings) -> NaiveDate {
    settings
        .attendance_date
        .unwrap_or_else(|| Utc::now().with_timezone(&settings.timezone).date_naive())
}

/// Parses a `YYYY-MM-DD` date (422 otherwise).
pub fn parse_date(what: &str, value: &str) -> Result<NaiveDate, ApiError> {
    Ok(rollcall_input::parse_date(what, value)?)
}

/// The multipart body of `POST /mark_attendance`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documentation only: the handler reads the part itself
pub struct MarkAttendanceForm {
    /// The class photo (JPEG, PNG, WebP, BMP, GIF or TIFF).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A face box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct FaceBox {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub w: f32,
    /// Height.
    pub h: f32,
}

impl From<rollcall_face::BBox> for FaceBox {
    fn from(b: rollcall_face::BBox) -> Self {
        Self {
            x: b.x,
            y: b.y,
            w: b.w,
            h: b.h,
        }
    }
}

/// A recognised student.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecognisedStudent {
    /// Roll number.
    pub roll_no: String,
    /// Name.
    pub name: String,
    /// Cosine similarity to the enrolled face.
    pub similarity: f32,
    /// Where the face is in the photo.
    #[serde(rename = "box")]
    pub bbox: FaceBox,
}

/// A face that matched nobody for certain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UnknownFace {
    /// Where the face is in the photo.
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    /// Best similarity to any student (below the threshold, or too close to call).
    pub best_similarity: f32,
    /// The student this face most likely is, when its similarity lies between the review and
    /// the match threshold. Not marked: the teacher confirms with
    /// `PUT /attendance/{roll_no}/{date}`. Absent (null) otherwise.
    pub suggestion: Option<Suggestion>,
    /// For a suggested face: its evidence, for an hour. Confirming with
    /// `PUT /attendance/{roll_no}/{date}?evidence_id=<this>&teach=true` adds the face to the
    /// student's photos. Absent for other faces.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub evidence_id: Option<String>,
}

/// A student a face probably is, for the teacher to confirm.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Suggestion {
    /// Roll number.
    pub roll_no: String,
    /// Name.
    pub name: String,
    /// Cosine similarity to the enrolled face (below the match threshold).
    pub similarity: f32,
}

/// A student, by roll number and name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StudentRef {
    /// Roll number.
    pub roll_no: String,
    /// Name.
    pub name: String,
}

impl From<Named> for StudentRef {
    fn from(s: Named) -> Self {
        Self {
            roll_no: s.roll_no,
            name: s.name,
        }
    }
}

impl From<Sighting> for RecognisedStudent {
    fn from(s: Sighting) -> Self {
        Self {
            roll_no: s.student.roll_no,
            name: s.student.name,
            similarity: s.similarity,
            bbox: s.bbox.into(),
        }
    }
}

/// What `POST /mark_attendance` did, with the evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct MarkAttendanceResponse {
    /// The original service's sentence.
    #[schema(example = "attendance marked succesfully for 2 faces out of total 3 detected faces")]
    pub msg: String,
    /// The day marked.
    pub date: NaiveDate,
    /// Faces found in the photo.
    pub faces_detected: usize,
    /// Students marked present by this photo.
    pub marked: Vec<RecognisedStudent>,
    /// Students recognised who were already present today.
    pub already_present: Vec<RecognisedStudent>,
    /// Faces that matched nobody of the class.
    pub unknown_faces: Vec<UnknownFace>,
    /// Faces of the teacher's students who are not members of this class ("in this photo
    /// but not in this class"): reported, never marked.
    pub not_in_class: Vec<RecognisedStudent>,
    /// Members of the class not recognised in this photo, by roll number.
    pub absent: Vec<StudentRef>,
}

impl MarkAttendanceResponse {
    /// The response for the evidence of a photo marked on `date`; `evidence_ids` are those
    /// of the suggested faces, by face index.
    pub fn new(date: NaiveDate, evidence: Evidence, evidence_ids: &HashMap<usize, String>) -> Self {
        Self {
            msg: evidence.message(),
            date,
            faces_detected: evidence.faces_detected,
            marked: evidence.marked.into_iter().map(Into::into).collect(),
            already_present: evidence
                .already_present
                .into_iter()
                .map(Into::into)
                .collect(),
            unknown_faces: evidence
                .unknown
                .into_iter()
                .map(|u| UnknownFace {
                    evidence_id: evidence_ids.get(&u.face).cloned(),
                    bbox: u.bbox.into(),
                    best_similarity: u.best_similarity,
                    suggestion: u.suggestion.map(|(s, similarity)| Suggestion {
                        roll_no: s.roll_no,
                        name: s.name,
                        similarity,
                    }),
                })
                .collect(),
            not_in_class: evidence.not_in_class.into_iter().map(Into::into).collect(),
            absent: evidence.absent.into_iter().map(Into::into).collect(),
        }
    }
}

/// A student's present dates.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttendanceDates {
    /// Dates (`YYYY-MM-DD`), ascending.
    #[schema(value_type = Vec<String>, example = json!(["2024-09-02", "2024-09-03"]))]
    pub data: Vec<NaiveDate>,
}

/// Result of a manual correction.
#[derive(Debug, Serialize, ToSchema)]
pub struct CorrectionResponse {
    /// What was done.
    pub msg: &'static str,
    /// The student.
    pub roll_no: String,
    /// The day.
    pub date: NaiveDate,
    /// Whether the student is now present that day.
    pub present: bool,
    /// The face photo a teaching confirmation added (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    pub learned: Option<Learned>,
}

/// What a confirmation with `teach=true` added to the student's photos.
#[derive(Debug, Serialize, ToSchema)]
pub struct Learned {
    /// The new photo (template) id.
    pub photo_id: TemplateId,
    /// The student's weakest photo it replaced, when they were at the limit.
    pub replaced_photo_id: Option<TemplateId>,
}

/// Optional query of `PUT /attendance/{roll_no}/{date}`: confirm a suggested face and learn
/// from it.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TeachQuery {
    /// The `evidence_id` of the face in the marking response.
    pub evidence_id: Option<String>,
    /// `true`: add that face to the student's photos (refused with 422 and `reasons` when it
    /// fails the quality gate; at the limit the weakest photo is replaced).
    pub teach: Option<bool>,
}

/// Marks today's attendance of the default class from a class photo.
#[utoipa::path(post, path = "/mark_attendance", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    request_body(content = MarkAttendanceForm, content_type = "multipart/form-data",
        description = "`file`: the class photo"),
    responses(
        (status = 200, description = "Marked (or already marked)", body = MarkAttendanceResponse),
        (status = 400, description = "No face in the photo, not a readable image, or a \
                                      malformed body", body = ErrorBody,
            example = json!({"detail": "No faces detected in the image"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "The default class has no students", body = ErrorBody),
        (status = 408, description = "The body did not arrive within \
                                      ROLLCALL_UPLOAD_READ_TIMEOUT_SECONDS", body = ErrorBody),
        (status = 413, description = "The upload is larger than ROLLCALL_MAX_UPLOAD_BYTES",
            body = ErrorBody),
        (status = 429, description = "This account already has ROLLCALL_UPLOADS_PER_TEACHER \
                                      uploads in progress", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 415, description = "Not a multipart/form-data request", body = ErrorBody),
        (status = 422, description = "The `file` part is missing, or the photo has more pixels \
                                      than the limit (40 MP)", body = ErrorBody),
        (status = 503, description = "Face engine busy or a backend unavailable",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn mark_attendance(
    State(state): State<AppState>,
    auth: AuthTeacher,
    mut upload: PhotoUpload,
) -> Result<Json<MarkAttendanceResponse>, PhotoError> {
    let photo = upload.required("file")?;
    let teacher = auth.teacher_id;
    let class = state.store.default_class(teacher).await?;
    let response = mark_from_photo(
        &state,
        teacher,
        class,
        upload.ticket,
        Vec::from(photo),
        // The original contract's 404.
        ApiError::NotFound("No students found for this teacher; add students first".to_owned()),
    )
    .await?;
    Ok(Json(response))
}

/// Marks today's attendance of one of the teacher's classes from a photo: the photo is
/// matched against the class's members, the faces that are nobody of the class against the
/// teacher's other students; [`attendance::decide`] sorts the faces, the store records the
/// marks (idempotent per class, student and day), and the evidence is the answer.
/// `no_students` is the error when the class has no members.
pub(super) async fn mark_from_photo(
    state: &AppState,
    teacher: TeacherId,
    class: ClassId,
    ticket: Ticket,
    photo: Vec<u8>,
    no_students: ApiError,
) -> Result<MarkAttendanceResponse, PhotoError> {
    let roster = state
        .store
        .class_roster(teacher, class, state.vision.recognizer_id())
        .await?;
    if roster.members.is_empty() {
        return Err(no_students.into());
    }
    let recognition = state
        .vision
        .recognise(ticket, photo, roster.clone())
        .await?;
    if recognition.faces.is_empty() {
        return Err(ApiError::BadRequest("No faces detected in the image".to_owned()).into());
    }
    let decision = attendance::decide(&recognition.faces, &roster);
    let date = today(&state.settings);
    let newly: HashSet<StudentId> = state
        .store
        .mark_present(teacher, class, date, &decision.marks())
        .await?
        .into_iter()
        .collect();
    let evidence = decision.settle(&newly);
    let evidence_ids =
        super::evidence::remember(state, teacher, &recognition.faces, &evidence.unknown).await?;
    tracing::info!(
        class,
        faces = evidence.faces_detected,
        marked = evidence.marked.len(),
        already_present = evidence.already_present.len(),
        unknown = evidence.unknown.len(),
        not_in_class = evidence.not_in_class.len(),
        %date,
        "attendance marked"
    );
    Ok(MarkAttendanceResponse::new(date, evidence, &evidence_ids))
}

/// The dates a student was present in the default class (none for a student who is not a
/// member of it).
#[utoipa::path(get, path = "/get-attendance/{roll_no}", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(("roll_no" = String, Path, description = "The student's roll number")),
    responses(
        (status = 200, description = "Present dates, ascending", body = AttendanceDates),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn get_attendance(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(roll_no): Path<RollNo>,
) -> Result<Json<AttendanceDates>, ApiError> {
    let teacher = auth.teacher_id;
    let class = state.store.default_class(teacher).await?;
    let dates = state
        .store
        .attendance_dates(teacher, class, roll_no.as_str())
        .await?;
    Ok(Json(AttendanceDates { data: dates }))
}

/// Manual correction in the default class: marks a student present on a day (recorded as
/// manual). With `evidence_id` and `teach=true` (a suggestion confirmed), the suggested face
/// is also added to the student's photos first; if that is refused nothing changes.
#[utoipa::path(put, path = "/attendance/{roll_no}/{date}", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("date" = String, Path, format = Date, description = "The day, `YYYY-MM-DD`"),
        TeachQuery,
    ),
    responses(
        (status = 200, description = "Present that day", body = CorrectionResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student in the default class, or (teaching) no \
                                      such evidence (it expires after an hour)",
            body = ErrorBody),
        (status = 409, description = "Teaching: the face is enrolled as another student or is \
                                      clearly not this student", body = ErrorBody),
        (status = 422, description = "Not a valid date or query; teaching: the face fails the \
                                      quality gate (with `reasons`)", body = RejectionBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn set_present(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((roll_no, date)): Path<(RollNo, String)>,
    query: Result<Query<TeachQuery>, QueryRejection>,
) -> Result<Json<CorrectionResponse>, PhotoError> {
    let Query(query) = query.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let date = parse_date("date", &date)?;
    let teacher = auth.teacher_id;
    let class = state.store.default_class(teacher).await?;
    let learned = match (query.teach.unwrap_or(false), query.evidence_id) {
        (false, _) => None,
        (true, None) => {
            return Err(ApiError::Unprocessable(
                "teach=true needs the face's evidence_id from the marking response".to_owned(),
            )
            .into());
        }
        (true, Some(id)) => {
            let added = super::evidence::teach(&state, teacher, roll_no.as_str(), &id).await?;
            Some(Learned {
                photo_id: added.template.id,
                replaced_photo_id: added.replaced,
            })
        }
    };
    let mut response = correct(&state, teacher, class, &roll_no, date, true).await?;
    response.learned = learned;
    Ok(Json(response))
}

/// Manual correction in the default class: marks a student absent on a day (removes the
/// record, if any).
#[utoipa::path(delete, path = "/attendance/{roll_no}/{date}", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("date" = String, Path, format = Date, description = "The day, `YYYY-MM-DD`"),
    ),
    responses(
        (status = 200, description = "Absent that day", body = CorrectionResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student in the default class", body = ErrorBody),
        (status = 422, description = "Not a valid date", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn clear_present(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((roll_no, date)): Path<(RollNo, String)>,
) -> Result<Json<CorrectionResponse>, ApiError> {
    let date = parse_date("date", &date)?;
    let teacher = auth.teacher_id;
    let class = state.store.default_class(teacher).await?;
    Ok(Json(
        correct(&state, teacher, class, &roll_no, date, false).await?,
    ))
}

/// Manual correction in one of the teacher's classes: `present` marks the student present
/// that day (recorded as manual), otherwise absent (removes the record, if any). 404 when
/// the student is not a member of the class.
pub(super) async fn correct(
    state: &AppState,
    teacher: TeacherId,
    class: ClassId,
    roll_no: &RollNo,
    date: NaiveDate,
    present: bool,
) -> Result<CorrectionResponse, ApiError> {
    let msg = if present {
        state
            .store
            .set_present(teacher, class, roll_no.as_str(), date)
            .await?;
        "Marked present"
    } else if state
        .store
        .clear_present(teacher, class, roll_no.as_str(), date)
        .await?
    {
        "Marked absent"
    } else {
        "Was not marked present"
    };
    Ok(CorrectionResponse {
        msg,
        roll_no: roll_no.clone().into_string(),
        date,
        present,
        learned: None,
    })
}
