//! Database rows shared by both backends and their conversion to the public types.
//!
//! The column types decode the same way on PostgreSQL and SQLite, so one set of
//! `FromRow` structs serves both; each backend only owns its SQL.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};

use super::natural_order::natural_cmp;
use super::{
    Class, ClassId, ClassRoster, FaceTemplate, QualityFigures, RosterEntry, StoreError, Student,
    StudentAttendance, StudentId, Teacher, TeacherId, TemplateId, TemplateSource, embedding_bytes,
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

/// Columns of `classes` with the number of members, in the order of [`CLASS_SELECT`].
#[derive(Debug, sqlx::FromRow)]
pub struct ClassRow {
    pub id: ClassId,
    pub name: String,
    pub note: Option<String>,
    pub is_default: bool,
    pub students: i64,
    pub created_at: DateTime<Utc>,
}

/// Selects [`ClassRow`]s from `classes c` (append a `WHERE` on `c`). Works on both backends.
pub const CLASS_SELECT: &str = "SELECT c.id, c.name, c.note, c.is_default, \
     (SELECT COUNT(*) FROM class_members m WHERE m.class_id = c.id) AS students, c.created_at \
     FROM classes c";

impl From<ClassRow> for Class {
    fn from(row: ClassRow) -> Self {
        Class {
            id: row.id,
            name: row.name,
            note: row.note,
            is_default: row.is_default,
            students: row.students,
            created_at: row.created_at,
        }
    }
}

/// The key that makes class names unique per teacher: the name lower-cased.
pub fn class_name_key(name: &str) -> String {
    name.to_lowercase()
}

/// Sorts classes: the default class first, then by name, case-insensitive and
/// numeric-aware ("7B" before "10A").
pub fn sort_classes(classes: &mut [Class]) {
    classes.sort_by(|a, b| {
        b.is_default.cmp(&a.is_default).then_with(|| {
            natural_cmp(&class_name_key(&a.name), &class_name_key(&b.name))
                .then_with(|| a.id.cmp(&b.id))
        })
    });
}

/// A roster row with whether the student is a member of the class asked about.
#[derive(Debug, sqlx::FromRow)]
pub struct ClassRosterRow {
    pub student_id: StudentId,
    pub roll_no: String,
    pub name: String,
    pub dim: i32,
    pub embedding: Vec<u8>,
    pub member: bool,
}

/// Splits class roster rows into members and the teacher's other students.
pub fn split_class_roster(rows: Vec<ClassRosterRow>) -> Result<ClassRoster, StoreError> {
    let mut roster = ClassRoster::default();
    for row in rows {
        let member = row.member;
        let entry = RosterEntry::try_from(RosterRow {
            student_id: row.student_id,
            roll_no: row.roll_no,
            name: row.name,
            dim: row.dim,
            embedding: row.embedding,
        })?;
        if member {
            roster.members.push(entry);
        } else {
            roster.others.push(entry);
        }
    }
    Ok(roster)
}

/// Roll numbers of `wanted` not among `found`, first occurrences in the order asked.
pub fn unknown_roll_nos(wanted: &[String], found: &[Student]) -> Vec<String> {
    let known: std::collections::HashSet<&str> = found.iter().map(|s| s.roll_no.as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    wanted
        .iter()
        .filter(|r| !known.contains(r.as_str()) && seen.insert(r.as_str()))
        .cloned()
        .collect()
}

/// Splits the students found for [`super::Store::add_members`] into those `inserted` and
/// those that were members already, each sorted by roll number.
pub fn members_added(found: Vec<Student>, inserted: &[StudentId]) -> super::MembersAdded {
    let (mut added, mut already_members): (Vec<Student>, Vec<Student>) =
        found.into_iter().partition(|s| inserted.contains(&s.id));
    sort_students(&mut added);
    sort_students(&mut already_members);
    super::MembersAdded {
        added,
        already_members,
        unknown: Vec::new(),
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

/// Columns of `face_templates t` that make a [`TemplateRow`].
pub const TEMPLATE_COLUMNS: &str = "t.id, t.student_id, t.source, t.quality, t.face_width, \
     t.sharpness, t.brightness, t.detection_score, t.yaw, (t.crop IS NOT NULL) AS has_crop, \
     t.created_at";

/// One row of `face_templates` (without the crop), in the order of [`TEMPLATE_COLUMNS`].
#[derive(Debug, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: TemplateId,
    pub student_id: StudentId,
    pub source: String,
    pub quality: f32,
    pub face_width: Option<f32>,
    pub sharpness: Option<f32>,
    pub brightness: Option<f32>,
    pub detection_score: Option<f32>,
    pub yaw: Option<f32>,
    pub has_crop: bool,
    pub created_at: DateTime<Utc>,
}

/// A template's embedding model, for [`templates`].
#[derive(Debug, sqlx::FromRow)]
pub struct TemplateModelRow {
    pub template_id: TemplateId,
    pub model_id: String,
}

/// Builds templates from their rows and the models they have embeddings of.
pub fn templates(
    rows: Vec<TemplateRow>,
    models: Vec<TemplateModelRow>,
) -> Result<Vec<FaceTemplate>, StoreError> {
    let mut by_template: std::collections::HashMap<TemplateId, Vec<String>> =
        std::collections::HashMap::new();
    for m in models {
        by_template
            .entry(m.template_id)
            .or_default()
            .push(m.model_id);
    }
    rows.into_iter()
        .map(|row| {
            let source = TemplateSource::parse(&row.source).ok_or_else(|| {
                StoreError::Internal(format!(
                    "template {} has an unknown source {:?}",
                    row.id, row.source
                ))
            })?;
            let figures = match (
                row.face_width,
                row.sharpness,
                row.brightness,
                row.detection_score,
                row.yaw,
            ) {
                (Some(face_width), Some(sharpness), Some(brightness), Some(score), Some(yaw)) => {
                    Some(QualityFigures {
                        face_width,
                        sharpness,
                        brightness,
                        detection_score: score,
                        yaw,
                    })
                }
                _ => None,
            };
            let mut models = by_template.remove(&row.id).unwrap_or_default();
            models.sort_unstable();
            Ok(FaceTemplate {
                id: row.id,
                student_id: row.student_id,
                source,
                quality: row.quality,
                figures,
                models,
                has_crop: row.has_crop,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// Why a student at the limit cannot get another template.
pub fn templates_full(count: i64, limit: usize) -> StoreError {
    StoreError::Refused(format!(
        "This student already has {count} photos, the most allowed ({limit}); delete one first"
    ))
}

/// Why a student's last template cannot be deleted.
pub const LAST_TEMPLATE_KEPT: &str = "This is the student's only photo: add another photo \
     before deleting this one (or delete the student)";

/// How many of a student's `count` templates must go so that one more fits under `limit`.
pub fn templates_to_replace(count: i64, limit: usize) -> i64 {
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    (count - limit + 1).max(0)
}
