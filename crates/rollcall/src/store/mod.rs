//! Persistent storage: one [`Store`] trait, a PostgreSQL and a SQLite implementation
//! (each with its own migrations), chosen at runtime by the database URL.
//!
//! Every method that touches students, classes or attendance takes the signed-in teacher's
//! id: there is no way to read or change another teacher's data through this trait.
//!
//! The model: a teacher has classes (one of them the default class, created with the
//! account); a student belongs to the teacher (one roll number, embedded once) and is a
//! member of any of the teacher's classes; attendance is one record per class, student and
//! day, and exists only for members (leaving a class, or deleting it, deletes it).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

mod db_error;
pub mod embedding_bytes;
pub mod natural_order;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Connection pool settings shared by both backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// How long an operation waits for a connection before failing with
    /// [`StoreError::Unavailable`]; on PostgreSQL also the `statement_timeout` of every
    /// statement but the migrations'.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens the store named by `url`: `sqlite:...` or `postgres://` / `postgresql://`.
/// Does not run migrations (see [`Store::migrate`]). A database that cannot be reached
/// gives [`StoreError::Unavailable`] within about `opts.acquire_timeout`.
pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    // Only the scheme goes into errors: the rest of the URL may hold a password.
    let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
    match scheme {
        "sqlite" => Ok(Arc::new(SqliteStore::connect(url, opts).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PostgresStore::connect(url, opts).await?)),
        other => Err(StoreError::Internal(format!(
            "unsupported database URL scheme {other:?} (expected sqlite:, postgres: or postgresql:)"
        ))),
    }
}

/// Identifies a teacher (account).
pub type TeacherId = i64;
/// Identifies a student (unique across teachers).
pub type StudentId = i64;
/// Identifies a class (unique across teachers).
pub type ClassId = i64;
/// Identifies a face template (unique across teachers).
pub type TemplateId = i64;

/// The name of the class every account is created with (and into which the migration to
/// classes put every existing student and their attendance). It can be renamed.
pub const DEFAULT_CLASS_NAME: &str = "Default class";

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated; the payload names what was taken
    /// (`"user_id"`, `"email"`, `"roll_no"`, `"name"` of a class).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The database cannot be reached (connection refused, pool timeout, ...).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupted data. Logged, never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
    /// The caller's admission check refused the change, or the change is not allowed
    /// (deleting the default class); the payload says why, for the client.
    #[error("{0}")]
    Refused(String),
    /// The signed-in teacher has no such thing: `"class"` (no class with that id among the
    /// teacher's), `"student"` (no student with that roll number, or not a member of the
    /// class where membership is required), `"photo"` (no such face template of the student).
    #[error("{0} not found")]
    NotFound(&'static str),
}

/// Decides from a teacher's roster whether a new student may join it: `Err(reason)` refuses.
pub type Admission<'a> = &'a (dyn Fn(&[RosterEntry]) -> Result<(), String> + Send + Sync);

/// A teacher account.
#[derive(Debug, Clone, PartialEq)]
pub struct Teacher {
    pub id: TeacherId,
    pub user_id: String,
    pub email: String,
    pub password_hash: String,
    /// Tokens issued before this instant are no longer valid.
    pub password_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// What [`Store::create_teacher`] needs.
#[derive(Debug, Clone)]
pub struct NewTeacher<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
}

/// A student of one teacher; `roll_no` is unique per teacher.
#[derive(Debug, Clone, PartialEq)]
pub struct Student {
    pub id: StudentId,
    pub name: String,
    pub roll_no: String,
    pub created_at: DateTime<Utc>,
}

/// What [`Store::create_student`] needs: the student and their first embedding.
#[derive(Debug, Clone)]
pub struct NewStudent<'a> {
    pub name: &'a str,
    pub roll_no: &'a str,
    /// Id of the recognizer model that produced `embedding` (embeddings of different
    /// models are not comparable).
    pub model_id: &'a str,
    pub embedding: &'a [f32],
}

/// One enrolled embedding of one student, for matching.
#[derive(Debug, Clone, PartialEq)]
pub struct RosterEntry {
    pub student_id: StudentId,
    pub roll_no: String,
    pub name: String,
    pub embedding: Vec<f32>,
}

/// Where a face template came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateSource {
    /// The photo the student was enrolled with.
    Enrolment,
    /// A photo added later (`POST /students/{roll_no}/photos`).
    Photo,
    /// A face of a class photo, confirmed by the teacher.
    Confirmation,
    /// An embedding of the schema before templates (no crop, no quality figures).
    Migrated,
}

impl TemplateSource {
    /// The stored (and answered) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrolment => "enrolment",
            Self::Photo => "photo",
            Self::Confirmation => "confirmation",
            Self::Migrated => "migrated",
        }
    }

    /// The source named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Enrolment,
            Self::Photo,
            Self::Confirmation,
            Self::Migrated,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// What the quality gate measured on a template's face.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QualityFigures {
    /// Face box width in the photo, in pixels.
    pub face_width: f32,
    /// Variance of the Laplacian of the aligned grey face.
    pub sharpness: f32,
    /// Mean grey level of the aligned face (0..255).
    pub brightness: f32,
    /// Detector confidence.
    pub detection_score: f32,
    /// Yaw estimated from the keypoints, in degrees.
    pub yaw: f32,
}

/// How a new template is described, beside its embedding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TemplateDetails<'a> {
    /// Where it came from.
    pub source: TemplateSource,
    /// 0..1, higher is better (see `domain::templates::quality_score`): the weakest
    /// template is the one replaced when the student is at the limit.
    pub quality: f32,
    /// What the gate measured (None for migrated embeddings).
    pub figures: Option<QualityFigures>,
    /// The aligned face crop, already sealed (encrypted) by the caller; None when crops
    /// are not kept.
    pub sealed_crop: Option<&'a [u8]>,
}

impl Default for TemplateDetails<'_> {
    fn default() -> Self {
        Self {
            source: TemplateSource::Enrolment,
            quality: 0.0,
            figures: None,
            sealed_crop: None,
        }
    }
}

/// A new face template of an existing student.
#[derive(Debug, Clone, Copy)]
pub struct NewTemplate<'a> {
    /// The recognizer that produced `embedding`.
    pub model_id: &'a str,
    pub embedding: &'a [f32],
    pub details: TemplateDetails<'a>,
}

/// What to do when the student already has the most templates allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Refuse the new template ([`StoreError::Refused`]).
    Refuse,
    /// Replace the weakest template (lowest quality, then oldest).
    ReplaceWeakest,
}

/// One face template of a student, as listed (without its embeddings or crop).
#[derive(Debug, Clone, PartialEq)]
pub struct FaceTemplate {
    pub id: TemplateId,
    pub student_id: StudentId,
    pub source: TemplateSource,
    pub quality: f32,
    pub figures: Option<QualityFigures>,
    /// Recognizer models it has an embedding of, sorted.
    pub models: Vec<String>,
    /// Whether a (sealed) crop is stored.
    pub has_crop: bool,
    pub created_at: DateTime<Utc>,
}

/// What [`Store::add_template`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateAdded {
    /// The new template.
    pub template: FaceTemplate,
    /// The template it replaced (the student was at the limit).
    pub replaced: Option<TemplateId>,
}

/// A stored crop to embed again with another recognizer (`rollcall models reembed`).
#[derive(Debug, Clone, PartialEq)]
pub struct CropToEmbed {
    pub template_id: TemplateId,
    /// The teacher the crop belongs to (its sealing is bound to them).
    pub teacher_id: TeacherId,
    /// Sealed (encrypted) crop.
    pub sealed_crop: Vec<u8>,
}

/// How far a recognizer model covers the students of every teacher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ModelCoverage {
    /// Students (all teachers).
    pub students: i64,
    /// Students with at least one template embedded by the model.
    pub covered: i64,
    /// Templates without an embedding of the model that have a crop (can be embedded).
    pub pending: i64,
    /// Templates without an embedding of the model and without a crop (cannot be).
    pub without_crop: i64,
}

/// A class of one teacher, with its number of members.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub id: ClassId,
    /// Unique per teacher, ignoring case.
    pub name: String,
    pub note: Option<String>,
    /// The class the original endpoints work on; created with the account, never deleted.
    pub is_default: bool,
    /// Number of members.
    pub students: i64,
    pub created_at: DateTime<Utc>,
}

/// What [`Store::create_class`] needs (already validated by the caller).
#[derive(Debug, Clone, Copy)]
pub struct NewClass<'a> {
    pub name: &'a str,
    pub note: Option<&'a str>,
}

/// A change of a class: `None` leaves a field as it is; `note: Some(None)` removes the note.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClassChange<'a> {
    pub name: Option<&'a str>,
    pub note: Option<Option<&'a str>>,
}

/// What [`Store::add_members`] did. When `unknown` is not empty nothing was added.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MembersAdded {
    /// Students that joined the class, by roll number.
    pub added: Vec<Student>,
    /// Students that were members already.
    pub already_members: Vec<Student>,
    /// Roll numbers the teacher has no student with.
    pub unknown: Vec<String>,
}

/// The embeddings of a teacher's students for matching one class's photo: the class's
/// members, and everyone else of the teacher (to report as "not in this class").
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassRoster {
    pub members: Vec<RosterEntry>,
    pub others: Vec<RosterEntry>,
}

/// How an attendance record was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttendanceSource {
    /// Marked by face recognition.
    Auto,
    /// Set by the teacher by hand.
    Manual,
}

/// A face-recognition mark to record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoMark {
    pub student_id: StudentId,
    pub similarity: f32,
}

/// A student with the dates they were present, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StudentAttendance {
    pub student: Student,
    pub dates: Vec<NaiveDate>,
}

/// Persistent storage of teachers, students, embeddings, classes and attendance.
///
/// Class-scoped methods take the teacher and the class: a class id that is not one of the
/// teacher's answers [`StoreError::NotFound`]`("class")`, exactly like one that does not
/// exist.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Apply pending migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    // --- verified emails (before an account exists) ---
    async fn mark_email_verified(&self, email: &str) -> Result<(), StoreError>;
    async fn is_email_verified(&self, email: &str) -> Result<bool, StoreError>;

    // --- revoked access tokens (kept until they expire) ---
    /// Records `jti` as revoked until `expires_at` (seconds since the epoch); also removes
    /// revocations that have expired. Idempotent.
    async fn revoke_token(&self, jti: uuid::Uuid, expires_at: i64) -> Result<(), StoreError>;
    /// True if `jti` was revoked (and the revocation has not expired).
    async fn is_token_revoked(&self, jti: uuid::Uuid) -> Result<bool, StoreError>;

    // --- teachers ---
    /// Creates the teacher and their default class ([`DEFAULT_CLASS_NAME`]) in one
    /// transaction. `Conflict("user_id")` or `Conflict("email")` if taken.
    async fn create_teacher(&self, new: NewTeacher<'_>) -> Result<Teacher, StoreError>;
    async fn teacher_by_email(&self, email: &str) -> Result<Option<Teacher>, StoreError>;
    async fn teacher_by_id(&self, id: TeacherId) -> Result<Option<Teacher>, StoreError>;
    /// Sets the hash and `password_changed_at`; false if the teacher does not exist.
    async fn update_password(
        &self,
        id: TeacherId,
        password_hash: &str,
        changed_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes the teacher, their classes, students, embeddings and attendance in one
    /// transaction. False if the teacher did not exist.
    async fn delete_teacher(&self, id: TeacherId) -> Result<bool, StoreError>;

    // --- students (always scoped to one teacher) ---
    /// Creates the student with one embedding in the teacher's default class. See
    /// [`Store::create_student_in`].
    async fn create_student(
        &self,
        teacher: TeacherId,
        new: NewStudent<'_>,
    ) -> Result<Student, StoreError> {
        let class = self.default_class(teacher).await?;
        self.create_student_in(teacher, class, new, &|_| Ok(()))
            .await
    }
    /// Creates the student with one embedding as a member of `class`, in one transaction,
    /// decided under a lock on the teacher: `admit` sees the teacher's whole roster for
    /// `new.model_id` (every class) inside the transaction, and its `Err(reason)` refuses
    /// the student with [`StoreError::Refused`]. Two enrolments for one teacher are
    /// serialised, so neither is admitted on a roster that lacks the other.
    /// `Conflict("roll_no")`, `NotFound("class")`.
    async fn create_student_in(
        &self,
        teacher: TeacherId,
        class: ClassId,
        new: NewStudent<'_>,
        admit: Admission<'_>,
    ) -> Result<Student, StoreError> {
        self.create_student_with(teacher, class, new, TemplateDetails::default(), admit)
            .await
    }
    /// [`Store::create_student_in`], the first face template described by `details`.
    async fn create_student_with(
        &self,
        teacher: TeacherId,
        class: ClassId,
        new: NewStudent<'_>,
        details: TemplateDetails<'_>,
        admit: Admission<'_>,
    ) -> Result<Student, StoreError>;
    /// Every student of the teacher, whatever their classes; sorted by roll number,
    /// numeric-aware ("2" before "10").
    async fn list_students(&self, teacher: TeacherId) -> Result<Vec<Student>, StoreError>;
    async fn student_by_roll_no(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Option<Student>, StoreError>;
    /// Deletes the student with their embeddings, memberships (in every class) and
    /// attendance. False if not found.
    async fn delete_student(&self, teacher: TeacherId, roll_no: &str) -> Result<bool, StoreError>;
    /// Adds another embedding to one of the teacher's students (a second photo, or the
    /// same face under another recognizer model). None if no such student.
    async fn add_embedding(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        model_id: &str,
        embedding: &[f32],
    ) -> Result<Option<()>, StoreError>;
    /// Adds a face template to one of the teacher's students, in one transaction under the
    /// same lock on the teacher as enrolments: `admit` sees the teacher's whole roster for
    /// `new.model_id` (the student's own templates included) and its `Err(reason)` refuses
    /// with [`StoreError::Refused`]. A student with `limit` templates or more gets
    /// `Refused` ([`WhenFull::Refuse`]) or loses their weakest template
    /// ([`WhenFull::ReplaceWeakest`]). `NotFound("student")`.
    async fn add_template(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        new: NewTemplate<'_>,
        limit: usize,
        when_full: WhenFull,
        admit: Admission<'_>,
    ) -> Result<TemplateAdded, StoreError>;
    /// The student's templates, oldest first. `NotFound("student")`.
    async fn list_templates(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Vec<FaceTemplate>, StoreError>;
    /// Deletes one template (with its embeddings and crop); the student's last template is
    /// [`StoreError::Refused`]. `NotFound("student")`, `NotFound("photo")`.
    async fn delete_template(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        id: TemplateId,
    ) -> Result<(), StoreError>;
    /// The sealed crop of one template (None when it has none). `NotFound("student")`,
    /// `NotFound("photo")`.
    async fn template_crop(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        id: TemplateId,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    // --- model upgrades (every teacher: for `rollcall models reembed`) ---
    /// Up to `limit` templates with a crop and no embedding of `model_id`, with ids above
    /// `after`, by id.
    async fn crops_to_embed(
        &self,
        model_id: &str,
        after: TemplateId,
        limit: usize,
    ) -> Result<Vec<CropToEmbed>, StoreError>;
    /// Adds (or replaces) the embedding of `model_id` of a template; false when the template
    /// no longer exists.
    async fn add_template_embedding(
        &self,
        template: TemplateId,
        model_id: &str,
        embedding: &[f32],
    ) -> Result<bool, StoreError>;
    /// How far `model_id` covers the students of every teacher.
    async fn model_coverage(&self, model_id: &str) -> Result<ModelCoverage, StoreError>;

    /// Every embedding of this teacher's students (all classes) produced by `model_id`.
    async fn roster(
        &self,
        teacher: TeacherId,
        model_id: &str,
    ) -> Result<Vec<RosterEntry>, StoreError>;

    // --- classes ---
    /// The id of the teacher's default class (`NotFound("class")` for an unknown teacher).
    async fn default_class(&self, teacher: TeacherId) -> Result<ClassId, StoreError>;
    /// The teacher's classes: the default class first, then by name (case-insensitive,
    /// numeric-aware).
    async fn list_classes(&self, teacher: TeacherId) -> Result<Vec<Class>, StoreError>;
    async fn class(&self, teacher: TeacherId, class: ClassId) -> Result<Class, StoreError>;
    /// `Conflict("name")` when the teacher has a class of that name (ignoring case).
    async fn create_class(
        &self,
        teacher: TeacherId,
        new: NewClass<'_>,
    ) -> Result<Class, StoreError>;
    /// Renames the class and/or changes its note. `Conflict("name")`, `NotFound("class")`.
    async fn update_class(
        &self,
        teacher: TeacherId,
        class: ClassId,
        change: ClassChange<'_>,
    ) -> Result<Class, StoreError>;
    /// Deletes the class with its memberships and attendance (not the students).
    /// `NotFound("class")`; the default class is [`StoreError::Refused`].
    async fn delete_class(&self, teacher: TeacherId, class: ClassId) -> Result<(), StoreError>;
    /// The class's members, sorted as [`Store::list_students`]. `NotFound("class")`.
    async fn class_students(
        &self,
        teacher: TeacherId,
        class: ClassId,
    ) -> Result<Vec<Student>, StoreError>;
    /// Adds existing students (by roll number) to the class, in one transaction: all of
    /// them, or none when a roll number is unknown (listed in `unknown`). Adding a member
    /// again changes nothing. `NotFound("class")`.
    async fn add_members(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_nos: &[String],
    ) -> Result<MembersAdded, StoreError>;
    /// Removes a student from the class, with their attendance in it (the student stays).
    /// `NotFound("class")`, `NotFound("student")` (no such student, or not a member).
    async fn remove_member(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<(), StoreError>;
    /// The embeddings of `model_id` of the class's members and of the teacher's other
    /// students. `NotFound("class")`.
    async fn class_roster(
        &self,
        teacher: TeacherId,
        class: ClassId,
        model_id: &str,
    ) -> Result<ClassRoster, StoreError>;

    // --- attendance (unique per class, student and day) ---
    /// Records the marks for `date` in the class in one transaction; a student already
    /// present in the class that day keeps their one record. Returns the ids of the
    /// students newly marked. Marks for students who are not members of the class are
    /// ignored. `NotFound("class")`.
    async fn mark_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        date: NaiveDate,
        marks: &[AutoMark],
    ) -> Result<Vec<StudentId>, StoreError>;
    /// Manual correction: present in the class (upsert, recorded as manual).
    /// `NotFound("class")`, `NotFound("student")` (no such member).
    async fn set_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<(), StoreError>;
    /// Manual correction: absent in the class; false if there was no record.
    /// `NotFound("class")`, `NotFound("student")` (no such member).
    async fn clear_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<bool, StoreError>;
    /// Dates the student was present in the class, ascending (empty for a student of the
    /// teacher who is not a member). `NotFound("class")`, `NotFound("student")` (the teacher
    /// has no such student).
    async fn attendance_dates(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<Vec<NaiveDate>, StoreError>;
    /// Every member of the class (sorted as `list_students`) with their present dates in
    /// the class in `[start, end]` (both optional, inclusive), ascending.
    /// `NotFound("class")`.
    async fn attendance_range(
        &self,
        teacher: TeacherId,
        class: ClassId,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<Vec<StudentAttendance>, StoreError>;
}
