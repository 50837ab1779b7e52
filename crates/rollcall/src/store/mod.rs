//! Persistent storage: one [`Store`] trait, a PostgreSQL and a SQLite implementation
//! (each with its own migrations), chosen at runtime by the database URL.
//!
//! Every method that touches students or attendance takes the signed-in teacher's id:
//! there is no way to read or change another teacher's data through this trait.

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
    /// [`StoreError::Unavailable`].
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

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated; the payload names what was taken
    /// (`"user_id"`, `"email"`, `"roll_no"`).
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The database cannot be reached (connection refused, pool timeout, ...).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupted data. Logged, never shown to clients.
    #[error("database error: {0}")]
    Internal(String),
    /// The caller's admission check refused the change; the payload says why, for the
    /// client (see [`Store::create_student_if`]).
    #[error("{0}")]
    Refused(String),
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

/// Persistent storage of teachers, students, embeddings and attendance.
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
    /// `Conflict("user_id")` or `Conflict("email")` if taken.
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
    /// Deletes the teacher, their students, embeddings and attendance in one transaction.
    /// False if the teacher did not exist.
    async fn delete_teacher(&self, id: TeacherId) -> Result<bool, StoreError>;

    // --- students (always scoped to one teacher) ---
    /// Creates the student with one embedding, in one transaction. `Conflict("roll_no")`.
    async fn create_student(
        &self,
        teacher: TeacherId,
        new: NewStudent<'_>,
    ) -> Result<Student, StoreError> {
        self.create_student_if(teacher, new, &|_| Ok(())).await
    }
    /// Like [`Store::create_student`], decided under a lock on the teacher: `admit` sees the
    /// teacher's roster for `new.model_id` inside the transaction, and its `Err(reason)`
    /// refuses the student with [`StoreError::Refused`]. Two enrolments for one teacher are
    /// serialised, so neither is admitted on a roster that lacks the other.
    async fn create_student_if(
        &self,
        teacher: TeacherId,
        new: NewStudent<'_>,
        admit: Admission<'_>,
    ) -> Result<Student, StoreError>;
    /// Sorted by roll number, numeric-aware ("2" before "10").
    async fn list_students(&self, teacher: TeacherId) -> Result<Vec<Student>, StoreError>;
    async fn student_by_roll_no(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Option<Student>, StoreError>;
    /// Deletes the student with their embeddings and attendance. False if not found.
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
    /// Every embedding of this teacher's students produced by `model_id`.
    async fn roster(
        &self,
        teacher: TeacherId,
        model_id: &str,
    ) -> Result<Vec<RosterEntry>, StoreError>;

    // --- attendance (unique per student per day) ---
    /// Records the marks for `date` in one transaction; a student already present that
    /// day keeps their one record. Returns the ids of the students newly marked.
    /// Marks for students that are not this teacher's are ignored.
    async fn mark_present(
        &self,
        teacher: TeacherId,
        date: NaiveDate,
        marks: &[AutoMark],
    ) -> Result<Vec<StudentId>, StoreError>;
    /// Manual correction: present (upsert, recorded as manual). None if no such student.
    async fn set_present(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<Option<()>, StoreError>;
    /// Manual correction: absent. None if no such student, Some(false) if there was no record.
    async fn clear_present(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<Option<bool>, StoreError>;
    /// Dates the student was present, ascending. None if no such student.
    async fn attendance_dates(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Option<Vec<NaiveDate>>, StoreError>;
    /// Every student of the teacher (sorted as `list_students`) with their present dates
    /// in `[start, end]` (both optional, inclusive), ascending.
    async fn attendance_range(
        &self,
        teacher: TeacherId,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<Vec<StudentAttendance>, StoreError>;
}
