//! Classes: a teacher's several classes, each with its own members, attendance and report.
//!
//! A student belongs to the teacher (enrolled once, face embedded once) and is a member of
//! any of the teacher's classes. The default class, created with the account, is where the
//! original endpoints work; it is listed here like any other class and can be renamed, but
//! not deleted.
//!
//! Everything is scoped to the signed-in teacher: a class id that is not one of theirs is a
//! 404, exactly like one that does not exist (a path segment that is not a class id, too).

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use http_body_util::Limited;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::attendance::{CorrectionResponse, MarkAttendanceForm, MarkAttendanceResponse};
use super::attendance::{correct, mark_from_photo, parse_date};
use super::bearer::AuthTeacher;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Path};
use super::reports::{Report, ReportQuery, class_report, query_rejection};
use super::students::{
    AddStudentForm, AddStudentResponse, StudentList, StudentOut, clean_field, enrol,
};
use super::upload::{PhotoError, PhotoUpload, RejectionBody};
use crate::domain::{ClassName, ClassNote, RollNo, roll_no};
use crate::store::{Class, ClassChange, ClassId, NewClass, StoreError};

/// Most roll numbers one `POST /classes/{class_id}/students` may add.
pub const MAX_ROLL_NOS: usize = 1000;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(class_students, add_class_students))
        .routes(routes!(mark_class_attendance, class_attendance))
        // The photo uploads enforce ROLLCALL_MAX_UPLOAD_BYTES themselves, and the JSON body
        // of `POST /classes/{class_id}/students` the JSON limit (see `add_class_students`).
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(list_classes, create_class))
        .routes(routes!(get_class, update_class, delete_class))
        .routes(routes!(remove_class_student))
        .routes(routes!(set_class_present, clear_class_present))
}

/// A class, as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassOut {
    /// The class id (use it in the `/classes/{class_id}/...` paths).
    #[schema(example = 12)]
    pub id: ClassId,
    /// Unique per teacher, ignoring case.
    #[schema(example = "7B Maths")]
    pub name: String,
    /// The teacher's note, if any.
    pub note: Option<String>,
    /// Whether this is the default class (where the original endpoints work).
    pub default: bool,
    /// Number of members.
    pub students: i64,
}

impl From<Class> for ClassOut {
    fn from(c: Class) -> Self {
        Self {
            id: c.id,
            name: c.name,
            note: c.note,
            default: c.is_default,
            students: c.students,
        }
    }
}

/// The teacher's classes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassList {
    /// The default class first, then by name.
    pub classes: Vec<ClassOut>,
}

/// The body of `POST /classes`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewClassBody {
    /// 1 to 100 characters (trimmed), no control characters; unique per teacher, ignoring
    /// case.
    #[schema(value_type = String, example = "7B Maths")]
    pub name: ClassName,
    /// Up to 1000 characters; empty or absent for none.
    #[serde(default)]
    pub note: Option<String>,
}

/// The body of `PATCH /classes/{class_id}`: at least one field.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ClassPatch {
    /// The new name.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "7B Mathematics")]
    pub name: Option<ClassName>,
    /// The new note; `null` or `""` removes it, absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
}

/// Tells a field that is `null` (`Some(None)`) from one that is absent (`None`, by
/// `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// The JSON body of `POST /classes/{class_id}/students`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMembersBody {
    /// Roll numbers of the teacher's existing students (1 to 1000, each 1 to 32
    /// characters).
    #[schema(example = json!(["12", "15"]), min_items = 1, max_items = 1000)]
    pub roll_nos: Vec<String>,
}

/// What adding existing students did.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembersAddedOut {
    /// A sentence.
    #[schema(example = "2 students added to the class")]
    pub msg: String,
    /// Students who joined the class, by roll number.
    pub added: Vec<StudentOut>,
    /// Students who were members already.
    pub already_members: Vec<StudentOut>,
}

/// The answer of `POST /classes/{class_id}/students`: existing students added (JSON body),
/// or a new student enrolled into the class (multipart body).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum AddToClassResponse {
    /// Existing students added.
    Added(MembersAddedOut),
    /// A new student enrolled into the class.
    Enrolled(AddStudentResponse),
}

/// A success message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassMsg {
    /// What was done.
    pub msg: &'static str,
}

/// The class id of a path, or 404: ids are opaque, so anything that is not one of the
/// teacher's classes is "not found".
fn class_id(raw: &str) -> Result<ClassId, ApiError> {
    raw.trim()
        .parse::<ClassId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::NotFound("Class not found".to_owned()))
}

fn name_taken(name: &ClassName) -> ApiError {
    ApiError::Conflict(format!("A class named {name:?} already exists"))
}

fn parse_note(raw: Option<&str>) -> Result<Option<ClassNote>, ApiError> {
    match raw {
        None => Ok(None),
        Some(raw) => ClassNote::parse(raw).map_err(ApiError::Unprocessable),
    }
}

/// Lists the teacher's classes with their number of members.
#[utoipa::path(get, path = "/classes", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The classes, the default one first", body = ClassList,
            example = json!({"classes": [
                {"id": 1, "name": "Default class", "note": null, "default": true, "students": 30},
                {"id": 7, "name": "7B Maths", "note": "Room 12", "default": false, "students": 28}
            ]})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn list_classes(
    State(state): State<AppState>,
    auth: AuthTeacher,
) -> Result<Json<ClassList>, ApiError> {
    let classes = state.store.list_classes(auth.teacher_id).await?;
    Ok(Json(ClassList {
        classes: classes.into_iter().map(ClassOut::from).collect(),
    }))
}

/// Creates a class (without members).
#[utoipa::path(post, path = "/classes", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    request_body = NewClassBody,
    responses(
        (status = 201, description = "Created", body = ClassOut,
            example = json!({"id": 7, "name": "7B Maths", "note": null, "default": false,
                             "students": 0})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 409, description = "The teacher has a class of that name (ignoring case)",
            body = ErrorBody),
        (status = 415, description = "Not a JSON request", body = ErrorBody),
        (status = 422, description = "Missing, empty, too long or otherwise invalid name or \
                                      note", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn create_class(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Json(body): Json<NewClassBody>,
) -> Result<(StatusCode, Json<ClassOut>), ApiError> {
    let note = parse_note(body.note.as_deref())?;
    let class = state
        .store
        .create_class(
            auth.teacher_id,
            NewClass {
                name: body.name.as_str(),
                note: note.as_ref().map(ClassNote::as_str),
            },
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => name_taken(&body.name),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(class.into())))
}

/// One class with its number of members.
#[utoipa::path(get, path = "/classes/{class_id}", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id")),
    responses(
        (status = 200, description = "The class", body = ClassOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes", body = ErrorBody,
            example = json!({"detail": "Class not found"})),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn get_class(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
) -> Result<Json<ClassOut>, ApiError> {
    let class = state.store.class(auth.teacher_id, class_id(&raw)?).await?;
    Ok(Json(class.into()))
}

/// Renames a class and/or changes its note.
#[utoipa::path(patch, path = "/classes/{class_id}", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id")),
    request_body = ClassPatch,
    responses(
        (status = 200, description = "The class as it is now", body = ClassOut),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes", body = ErrorBody),
        (status = 409, description = "The teacher has another class of that name",
            body = ErrorBody),
        (status = 415, description = "Not a JSON request", body = ErrorBody),
        (status = 422, description = "Nothing to change, or an invalid name or note",
            body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn update_class(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
    Json(body): Json<ClassPatch>,
) -> Result<Json<ClassOut>, ApiError> {
    let class = class_id(&raw)?;
    if body.name.is_none() && body.note.is_none() {
        return Err(ApiError::Unprocessable(
            "Nothing to change: give `name` and/or `note`".to_owned(),
        ));
    }
    let note = match &body.note {
        None => None,
        Some(note) => Some(parse_note(note.as_deref())?),
    };
    let change = ClassChange {
        name: body.name.as_ref().map(ClassName::as_str),
        note: note.as_ref().map(|n| n.as_ref().map(ClassNote::as_str)),
    };
    let class = state
        .store
        .update_class(auth.teacher_id, class, change)
        .await
        .map_err(|e| match (e, &body.name) {
            (StoreError::Conflict(_), Some(name)) => name_taken(name),
            (other, _) => other.into(),
        })?;
    Ok(Json(class.into()))
}

/// Deletes a class with its memberships and attendance; the students stay (in their other
/// classes, and in `GET /get_all_students`).
#[utoipa::path(delete, path = "/classes/{class_id}", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id")),
    responses(
        (status = 200, description = "Deleted", body = ClassMsg,
            example = json!({"msg": "Class deleted successfully"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes", body = ErrorBody),
        (status = 409, description = "The default class cannot be deleted", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn delete_class(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
) -> Result<Json<ClassMsg>, ApiError> {
    state
        .store
        .delete_class(auth.teacher_id, class_id(&raw)?)
        .await?;
    Ok(Json(ClassMsg {
        msg: "Class deleted successfully",
    }))
}

/// The class's members, in the shape of `GET /get_all_students`.
#[utoipa::path(get, path = "/classes/{class_id}/students", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id")),
    responses(
        (status = 200, description = "The members, by roll number", body = StudentList,
            example = json!({"msg": [{"name": "Ada Lovelace", "roll_no": "12"}]})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn class_students(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
) -> Result<Json<StudentList>, ApiError> {
    let students = state
        .store
        .class_students(auth.teacher_id, class_id(&raw)?)
        .await?;
    Ok(Json(StudentList {
        msg: students.into_iter().map(StudentOut::from).collect(),
    }))
}

/// Adds the teacher's existing students to the class (JSON `{"roll_nos": [...]}`: all or
/// none), or enrols a new student straight into it (the `/addStudent` multipart body:
/// `data` + `image`).
#[utoipa::path(post, path = "/classes/{class_id}/students", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id")),
    request_body(content(
        (AddMembersBody = "application/json"),
        (AddStudentForm = "multipart/form-data"),
    ), description = "Existing students by roll number, or a new student with their photo"),
    responses(
        (status = 200, description = "Added (JSON body: `msg`, `added`, `already_members`), \
                                      or enrolled (multipart body: `msg`, `student`)",
            body = AddToClassResponse),
        (status = 400, description = "The photo is not a readable image, or the body is \
                                      malformed", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes, or roll numbers the \
                                      teacher has no student with (then nobody is added)",
            body = ErrorBody,
            example = json!({"detail": "No student with roll number 12, 15"})),
        (status = 409, description = "Enrolment: the roll number exists, or this face is \
                                      already enrolled", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "Neither JSON nor multipart/form-data", body = ErrorBody),
        (status = 422, description = "An empty or too long `roll_nos`, invalid `data`, a \
                                      missing part, or a photo refused by the quality gate \
                                      (then with `reasons`)", body = RejectionBody),
        (status = 503, description = "Face engine busy or a backend unavailable",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn add_class_students(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Json<AddToClassResponse>, PhotoError> {
    let teacher = auth.teacher_id;
    let class = class_id(&raw)?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        // Checked before the photo is read.
        state.store.class(teacher, class).await?;
        let upload = PhotoUpload::from_request(request, &state).await?;
        let enrolled = enrol(&state, teacher, class, upload).await?;
        return Ok(Json(AddToClassResponse::Enrolled(enrolled)));
    }
    if !content_type.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(
            "Expected `application/json` (`{\"roll_nos\": [...]}`) or `multipart/form-data` \
             (`data` and `image`, as for /addStudent)"
                .to_owned(),
        )
        .into());
    }
    // The route has no default body limit (for the photo): the JSON one applies here.
    let limit = state.settings.json_body_limit;
    let request = request.map(|body| Body::new(Limited::new(body, limit)));
    let Json(body) = Json::<AddMembersBody>::from_request(request, &state).await?;
    if body.roll_nos.is_empty() || body.roll_nos.len() > MAX_ROLL_NOS {
        return Err(ApiError::Unprocessable(format!(
            "`roll_nos` must list 1 to {MAX_ROLL_NOS} roll numbers"
        ))
        .into());
    }
    let roll_nos = body
        .roll_nos
        .iter()
        .map(|r| clean_field("roll_no", &roll_no::lookup_key(r), roll_no::MAX_LEN))
        .collect::<Result<Vec<String>, ApiError>>()?;
    let outcome = state.store.add_members(teacher, class, &roll_nos).await?;
    if !outcome.unknown.is_empty() {
        return Err(ApiError::NotFound(format!(
            "No student with roll number {}",
            outcome.unknown.join(", ")
        ))
        .into());
    }
    let added = outcome.added.len();
    Ok(Json(AddToClassResponse::Added(MembersAddedOut {
        msg: format!(
            "{added} student{} added to the class",
            if added == 1 { "" } else { "s" }
        ),
        added: outcome.added.into_iter().map(StudentOut::from).collect(),
        already_members: outcome
            .already_members
            .into_iter()
            .map(StudentOut::from)
            .collect(),
    })))
}

/// Removes a student from the class, with their attendance in it; the student stays.
#[utoipa::path(delete, path = "/classes/{class_id}/students/{roll_no}", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("class_id" = i64, Path, description = "The class id"),
        ("roll_no" = String, Path, description = "The student's roll number"),
    ),
    responses(
        (status = 200, description = "Removed", body = ClassMsg,
            example = json!({"msg": "Student removed from the class"})),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes, or no such member",
            body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn remove_class_student(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((raw, roll_no)): Path<(String, RollNo)>,
) -> Result<Json<ClassMsg>, ApiError> {
    state
        .store
        .remove_member(auth.teacher_id, class_id(&raw)?, roll_no.as_str())
        .await?;
    Ok(Json(ClassMsg {
        msg: "Student removed from the class",
    }))
}

/// Marks today's attendance of the class from a photo: the photo is matched against the
/// class's members only; faces of the teacher's other students come back in
/// `not_in_class`, never marked.
#[utoipa::path(post, path = "/classes/{class_id}/attendance", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id")),
    request_body(content = MarkAttendanceForm, content_type = "multipart/form-data",
        description = "`file`: the class photo"),
    responses(
        (status = 200, description = "Marked (or already marked), with the evidence",
            body = MarkAttendanceResponse),
        (status = 400, description = "No face in the photo, not a readable image, or a \
                                      malformed body", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes", body = ErrorBody),
        (status = 409, description = "The class has no students", body = ErrorBody),
        (status = 413, description = "The upload is larger than ROLLCALL_MAX_UPLOAD_BYTES",
            body = ErrorBody),
        (status = 415, description = "Not a multipart/form-data request", body = ErrorBody),
        (status = 422, description = "The `file` part is missing", body = ErrorBody),
        (status = 503, description = "Face engine busy or a backend unavailable",
            body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ))]
async fn mark_class_attendance(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
    request: Request,
) -> Result<Json<MarkAttendanceResponse>, PhotoError> {
    let teacher = auth.teacher_id;
    let class = class_id(&raw)?;
    // Checked before the photo is read.
    state.store.class(teacher, class).await?;
    let mut upload = PhotoUpload::from_request(request, &state).await?;
    let photo = upload.required("file")?;
    let response = mark_from_photo(
        &state,
        teacher,
        class,
        upload.ticket,
        Vec::from(photo),
        // 409, not 404: the class exists (the 404 told clients it did not).
        ApiError::Conflict("This class has no students; add students first".to_owned()),
    )
    .await?;
    Ok(Json(response))
}

/// The class's students x dates matrix with each member's attendance percentage (the
/// columns are the days on which any member was present in this class).
#[utoipa::path(get, path = "/classes/{class_id}/attendance", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(("class_id" = i64, Path, description = "The class id"), ReportQuery),
    responses(
        (status = 200, description = "The report (JSON), or with `format=csv` a CSV \
                                      `Name,Roll_no,<date>...,Days_present,Percentage` \
                                      with P/A cells", content(
            (Report = "application/json"),
            (String = "text/csv"),
        )),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes", body = ErrorBody),
        (status = 422, description = "A bad date or format, or start after end",
            body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn class_attendance(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path(raw): Path<String>,
    query: Result<Query<ReportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let class = class_id(&raw)?;
    let Query(query) = query.map_err(query_rejection)?;
    class_report(&state, auth.teacher_id, class, &query).await
}

/// Manual correction in the class: marks a member present on a day (recorded as manual).
#[utoipa::path(put, path = "/classes/{class_id}/attendance/{roll_no}/{date}", tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("class_id" = i64, Path, description = "The class id"),
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("date" = String, Path, format = Date, description = "The day, `YYYY-MM-DD`"),
    ),
    responses(
        (status = 200, description = "Present in the class that day", body = CorrectionResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes, or no such member",
            body = ErrorBody),
        (status = 422, description = "Not a valid date", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn set_class_present(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((raw, roll_no, date)): Path<(String, RollNo, String)>,
) -> Result<Json<CorrectionResponse>, ApiError> {
    let class = class_id(&raw)?;
    let date = parse_date("date", &date)?;
    Ok(Json(
        correct(&state, auth.teacher_id, class, &roll_no, date, true).await?,
    ))
}

/// Manual correction in the class: marks a member absent on a day (removes the record, if
/// any).
#[utoipa::path(delete, path = "/classes/{class_id}/attendance/{roll_no}/{date}",
    tag = "classes",
    security(("bearer" = []), ("oauth2" = [])),
    params(
        ("class_id" = i64, Path, description = "The class id"),
        ("roll_no" = String, Path, description = "The student's roll number"),
        ("date" = String, Path, format = Date, description = "The day, `YYYY-MM-DD`"),
    ),
    responses(
        (status = 200, description = "Absent in the class that day", body = CorrectionResponse),
        (status = 401, description = "Missing or invalid token", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "Bearer"))),
        (status = 404, description = "Not one of the teacher's classes, or no such member",
            body = ErrorBody),
        (status = 422, description = "Not a valid date", body = ErrorBody),
        (status = 503, description = "A backend is unavailable", body = ErrorBody),
    ))]
async fn clear_class_present(
    State(state): State<AppState>,
    auth: AuthTeacher,
    Path((raw, roll_no, date)): Path<(String, RollNo, String)>,
) -> Result<Json<CorrectionResponse>, ApiError> {
    let class = class_id(&raw)?;
    let date = parse_date("date", &date)?;
    Ok(Json(
        correct(&state, auth.teacher_id, class, &roll_no, date, false).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_ids_that_are_not_ids_are_not_found() {
        assert_eq!(class_id(" 42 ").unwrap(), 42);
        for bad in ["", "0", "-3", "abc", "1.5", "99999999999999999999"] {
            let err = class_id(bad).unwrap_err();
            assert_eq!(err.status(), StatusCode::NOT_FOUND, "{bad}");
            assert_eq!(err.to_string(), "Class not found");
        }
    }

    #[test]
    fn a_patch_tells_null_from_absent() {
        let absent: ClassPatch = serde_json::from_str(r#"{"name": "7B"}"#).unwrap();
        assert_eq!(absent.note, None);
        let null: ClassPatch = serde_json::from_str(r#"{"note": null}"#).unwrap();
        assert_eq!(null.note, Some(None));
        let set: ClassPatch = serde_json::from_str(r#"{"note": "Room 4"}"#).unwrap();
        assert_eq!(set.note, Some(Some("Room 4".to_owned())));
        assert!(serde_json::from_str::<ClassPatch>(r#"{"name": " "}"#).is_err());
    }
}
