//! Attendance: marking from a class photo (`POST /mark_attendance`), one student's dates,
//! and manual corrections. Every operation is scoped to the signed-in teacher.
//!
//! "Today" is the date in `ROLLCALL_TIMEZONE` (or the fixed date of the settings, for
//! tests). Marking is idempotent per student and day: the store inserts the day's rows in
//! one transaction and keeps a student's first record.

use std::collections::{HashMap, HashSet};

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use chrono::{NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::bearer::AuthTeacher;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use super::students::{path_rejection, student_not_found};
use super::upload::{PhotoError, PhotoUpload};
use crate::app::AppState;
use crate::config::Settings;
use crate::store::{AutoMark, StudentId};
use crate::vision::Verdict;

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
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
        ApiError::Unprocessable(format!(
            "{what} must be a date like 2024-09-30, got {value:?}"
        ))
    })
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
    /// Faces that matched nobody.
    pub unknown_faces: Vec<UnknownFace>,
    /// Students not recognised in this photo (by roll number).
    pub absent: Vec<StudentRef>,
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
}

/// Marks today's attendance from a class photo.
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
        (status = 404, description = "The teacher has no students", body = ErrorBody),
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
    let roster = state
        .store
        .roster(teacher, state.vision.recognizer_id())
        .await?;
    if roster.is_empty() {
        return Err(ApiError::NotFound(
            "No students found for this teacher; add students first".to_owned(),
        )
        .into());
    }
    // Distinct students in roster order, for names and the absent list.
    let mut students: Vec<(StudentId, StudentRef)> = Vec::new();
    let mut seen = HashSet::new();
    for entry in &roster {
        if seen.insert(entry.student_id) {
            students.push((
                entry.student_id,
                StudentRef {
                    roll_no: entry.roll_no.clone(),
                    name: entry.name.clone(),
                },
            ));
        }
    }
    let recognition = state
        .vision
        .recognise(upload.ticket, Vec::from(photo), roster)
        .await?;
    if recognition.faces.is_empty() {
        return Err(ApiError::BadRequest("No faces detected in the image".to_owned()).into());
    }

    let date = today(&state.settings);
    let marks: Vec<AutoMark> = recognition
        .faces
        .iter()
        .filter_map(|f| match f.verdict {
            Verdict::Student {
                student_id,
                similarity,
            } => Some(AutoMark {
                student_id,
                similarity,
            }),
            Verdict::Unknown { .. } => None,
        })
        .collect();
    let newly: HashSet<StudentId> = state
        .store
        .mark_present(teacher, date, &marks)
        .await?
        .into_iter()
        .collect();

    let by_id: HashMap<StudentId, &StudentRef> = students.iter().map(|(id, s)| (*id, s)).collect();
    let mut response = MarkAttendanceResponse {
        msg: String::new(),
        date,
        faces_detected: recognition.faces.len(),
        marked: Vec::new(),
        already_present: Vec::new(),
        unknown_faces: Vec::new(),
        absent: Vec::new(),
    };
    for face in &recognition.faces {
        match face.verdict {
            Verdict::Student {
                student_id,
                similarity,
            } => {
                let Some(student) = by_id.get(&student_id) else {
                    continue;
                };
                let recognised = RecognisedStudent {
                    roll_no: student.roll_no.clone(),
                    name: student.name.clone(),
                    similarity,
                    bbox: face.bbox.into(),
                };
                if newly.contains(&student_id) {
                    response.marked.push(recognised);
                } else {
                    response.already_present.push(recognised);
                }
            }
            Verdict::Unknown {
                best_similarity,
                suggestion,
            } => response.unknown_faces.push(UnknownFace {
                bbox: face.bbox.into(),
                best_similarity,
                suggestion: suggestion.and_then(|(id, similarity)| {
                    by_id.get(&id).map(|s| Suggestion {
                        roll_no: s.roll_no.clone(),
                        name: s.name.clone(),
                        similarity,
                    })
                }),
            }),
        }
    }
    let matched: HashSet<StudentId> = marks.iter().map(|m| m.student_id).collect();
    response.absent = students
        .into_iter()
        .filter(|(id, _)| !matched.contains(id))
        .map(|(_, s)| s)
        .collect();
    response.msg = if response.marked.is_empty() && !response.already_present.is_empty() {
        "Attendance already marked for all students today".to_owned()
    } else {
        format!(
            "attendance marked succesfully for {} faces out of total {} detected faces",
            response.marked.len(),
            response.faces_detected
        )
    };
    tracing::info!(
        faces = response.faces_detected,
        marked = response.marked.len(),
        already_present = response.already_present.len(),
        unknown = response.unknown_faces.len(),
        %date,
        "attendance marked"
    );
    Ok(Json(response))
}

/// The dates a student was present.
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
    roll_no: Result<Path<String>, PathRejection>,
) -> Result<Json<AttendanceDates>, ApiError> {
    let Path(roll_no) = roll_no.map_err(path_rejection)?;
    let dates = state
        .store
        .attendance_dates(auth.teacher_id, roll_no.trim())
        .await?
        .ok_or_else(student_not_found)?;
    Ok(Json(AttendanceDates { data: dates }))
}

/// Manual correction: marks a student present on a day (recorded as manual).
#[utoipa::path(put, path = "/attendance/{roll_no}/{date}", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("date" = String, Path, description = "The day, `YYYY-MM-DD`"),
    ),
    responses(
        (status = 200, description = "Present that day", body = CorrectionResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 422, description = "Not a valid date", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn set_present(
    State(state): State<AppState>,
    auth: AuthTeacher,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<CorrectionResponse>, ApiError> {
    let Path((roll_no, date)) = path.map_err(path_rejection)?;
    let date = parse_date("date", &date)?;
    let roll_no = roll_no.trim().to_owned();
    state
        .store
        .set_present(auth.teacher_id, &roll_no, date)
        .await?
        .ok_or_else(student_not_found)?;
    Ok(Json(CorrectionResponse {
        msg: "Marked present",
        roll_no,
        date,
        present: true,
    }))
}

/// Manual correction: marks a student absent on a day (removes the record, if any).
#[utoipa::path(delete, path = "/attendance/{roll_no}/{date}", tag = "attendance",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("date" = String, Path, description = "The day, `YYYY-MM-DD`"),
    ),
    responses(
        (status = 200, description = "Absent that day", body = CorrectionResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "No such student", body = ErrorBody),
        (status = 422, description = "Not a valid date", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn clear_present(
    State(state): State<AppState>,
    auth: AuthTeacher,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<CorrectionResponse>, ApiError> {
    let Path((roll_no, date)) = path.map_err(path_rejection)?;
    let date = parse_date("date", &date)?;
    let roll_no = roll_no.trim().to_owned();
    let removed = state
        .store
        .clear_present(auth.teacher_id, &roll_no, date)
        .await?
        .ok_or_else(student_not_found)?;
    Ok(Json(CorrectionResponse {
        msg: if removed {
            "Marked absent"
        } else {
            "Was not marked present"
        },
        roll_no,
        date,
        present: false,
    }))
}
