//! Database rows shared by both backends and their conversion to the public types.
//!
//! The column types decode the same way on PostgreSQL and SQLite, so one set of
//! `FromRow` structs serves both; each backend only owns its SQL.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};

use super::natural_order::natural_cmp;
use super::{
    RosterEntry, StoreError, Student, StudentAttendance, StudentId, Teacher, TeacherId,
    embedding_bytes,
};

/// The current instant, truncated to microseconds (PostgreSQL's precision) so that both
/// backends return exactly what they stored.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Truncates a caller-supplied instant to the precision both backends store.
pub fn to_stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Columns of `teachers`, in the order of [`TEACHER_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub struct TeacherRow {
    pub id: TeacherId,
    pub user_id: String,
    pub email: String,
    pub password_hash: String,
    pub password_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The column list that [`TeacherRow`] reads.
pub const TEACHER_COLUMNS: &str =
    "id, user_id, email, password_hash, password_changed_at, created_at";

impl From<TeacherRow> for Teacher {
    fn from(row: TeacherRow) -> Self {
        Teacher {
            id: row.id,
            user_id: row.user_id,
            email: row.email,
            password_hash: row.password_hash,
            password_changed_at: row.password_changed_at,
            created_at: row.created_at,
        }
    }
}

/// Columns of `students` that make a [`Student`].
#[derive(Debug, sqlx::FromRow)]
pub struct StudentRow {
    pub id: StudentId,
    pub name: String,
    pub roll_no: String,
    pub created_at: DateTime<Utc>,
}

impl From<StudentRow> for Student {
    fn from(row: StudentRow) -> Self {
        Student {
            id: row.id,
            name: row.name,
            roll_no: row.roll_no,
            created_at: row.created_at,
        }
    }
}

/// A student joined with one enrolled embedding.
#[derive(Debug, sqlx::FromRow)]
pub struct RosterRow {
    pub student_id: StudentId,
    pub roll_no: String,
    pub name: String,
    pub dim: i32,
    pub embedding: Vec<u8>,
}

impl TryFrom<RosterRow> for RosterEntry {
    type Error = StoreError;

    fn try_from(row: RosterRow) -> Result<Self, StoreError> {
        let embedding = usize::try_from(row.dim)
            .ok()
            .and_then(|dim| embedding_bytes::decode(&row.embedding, dim))
            .ok_or_else(|| {
                StoreError::Internal(format!(
                    "corrupt embedding of student {}: {} bytes for dimension {}",
                    row.student_id,
                    row.embedding.len(),
                    row.dim
                ))
            })?;
        Ok(RosterEntry {
            student_id: row.student_id,
            roll_no: row.roll_no,
            name: row.name,
            embedding,
        })
    }
}

/// A student left-joined with one of their attendance dates (None: no date).
#[derive(Debug, sqlx::FromRow)]
pub struct StudentDateRow {
    pub id: StudentId,
    pub name: String,
    pub roll_no: String,
    pub created_at: DateTime<Utc>,
    pub date: Option<NaiveDate>,
}

/// Sorts students by roll number, numeric-aware.
pub fn sort_students(students: &mut [Student]) {
    students.sort_by(|a, b| natural_cmp(&a.roll_no, &b.roll_no));
}

/// Groups student/date rows by student: students sorted by roll number, dates ascending
/// and unique. A student with only a `None` date gets an empty list.
pub fn group_attendance(rows: Vec<StudentDateRow>) -> Vec<StudentAttendance> {
    let mut by_student: std::collections::HashMap<StudentId, StudentAttendance> =
        std::collections::HashMap::new();
    for row in rows {
        let entry = by_student
            .entry(row.id)
            .or_insert_with(|| StudentAttendance {
                student: Student {
                    id: row.id,
                    name: row.name,
                    roll_no: row.roll_no,
                    created_at: row.created_at,
                },
                dates: Vec::new(),
            });
        if let Some(date) = row.date {
            entry.dates.push(date);
        }
    }
    let mut out: Vec<StudentAttendance> = by_student.into_values().collect();
    for item in &mut out {
        item.dates.sort_unstable();
        item.dates.dedup();
    }
    out.sort_by(|a, b| natural_cmp(&a.student.roll_no, &b.student.roll_no));
    out
}

/// Turns the rows of a single student's left join into their dates: `None` if there was
/// no such student (no rows at all).
pub fn dates_of_one(rows: Vec<Option<NaiveDate>>) -> Option<Vec<NaiveDate>> {
    if rows.is_empty() {
        return None;
    }
    let mut dates: Vec<NaiveDate> = rows.into_iter().flatten().collect();
    dates.sort_unstable();
    dates.dedup();
    Some(dates)
}
