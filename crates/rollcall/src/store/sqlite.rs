//! SQLite implementation of [`Store`] (one process; WAL, foreign keys on).
//!
//! Every transaction starts with a write, or with `BEGIN IMMEDIATE` when it reads first,
//! so SQLite takes the write lock up front and concurrent writers wait on the busy timeout
//! instead of failing on a lock upgrade.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::db_error::{db_err, migrate_err};
use super::rows::{
    self, CLASS_SELECT, ClassRosterRow, ClassRow, RosterRow, StudentDateRow, StudentRow,
    TEACHER_COLUMNS, TEMPLATE_COLUMNS, TeacherRow, TemplateModelRow, TemplateRow, class_name_key,
    now, to_stored_precision,
};
use super::{
    Admission, AutoMark, Class, ClassChange, ClassId, ClassRoster, CropToEmbed, DEFAULT_CLASS_NAME,
    FaceTemplate, MembersAdded, ModelCoverage, NewClass, NewStudent, NewTeacher, NewTemplate,
    RosterEntry, Store, StoreError, StoreOptions, Student, StudentAttendance, StudentId, Teacher,
    TeacherId, TemplateAdded, TemplateDetails, TemplateId, WhenFull, embedding_bytes,
};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// [`Store`] on a SQLite database file (or `sqlite::memory:`).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens `url` (`sqlite:path`, `sqlite://path`, `sqlite::memory:`), creating the file
    /// and its parent directory if missing, with WAL journaling, `foreign_keys=ON` and a
    /// busy timeout.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self, StoreError> {
        let connect_options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        if !in_memory {
            create_parent_dir(connect_options.get_filename()).await?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(connect_options)
            .await
            .map_err(db_err("opening the SQLite database"))?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool (it must have `foreign_keys=ON`).
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

async fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                StoreError::Internal(format!(
                    "creating the database directory {}: {e}",
                    dir.display()
                ))
            })
        }
        _ => Ok(()),
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.pool)
            .await
            .map_err(migrate_err)
    }

    async fn mark_email_verified(&self, email: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO verified_emails (email, verified_at) VALUES (?1, ?2)
             ON CONFLICT (email) DO UPDATE SET verified_at = excluded.verified_at",
        )
        .bind(email)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err("marking an email verified"))?;
        Ok(())
    }

    async fn is_email_verified(&self, email: &str) -> Result<bool, StoreError> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM verified_emails WHERE email = ?1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading a verified email"))?;
        Ok(found.is_some())
    }

    async fn revoke_token(&self, jti: uuid::Uuid, expires_at: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "revoking a token";
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < ?1")
            .bind(Utc::now().timestamp())
            .execute(&self.pool)
            .await
            .map_err(db_err(CONTEXT))?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES (?1, ?2)
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti.to_string())
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: uuid::Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = ?1 AND expires_at >= ?2")
                .bind(jti.to_string())
                .bind(Utc::now().timestamp())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading a revoked token"))?;
        Ok(found.is_some())
    }

    async fn create_teacher(&self, new: NewTeacher<'_>) -> Result<Teacher, StoreError> {
        const CONTEXT: &str = "creating a teacher";
        let created = now();
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        let row: TeacherRow = sqlx::query_as(&format!(
            "INSERT INTO teachers (user_id, email, password_hash, password_changed_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?4) RETURNING {TEACHER_COLUMNS}"
        ))
        .bind(new.user_id)
        .bind(new.email)
        .bind(new.password_hash)
        .bind(created)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        sqlx::query(
            "INSERT INTO classes (teacher_id, name, name_key, note, is_default, created_at)
             VALUES (?1, ?2, ?3, NULL, 1, ?4)",
        )
        .bind(row.id)
        .bind(DEFAULT_CLASS_NAME)
        .bind(class_name_key(DEFAULT_CLASS_NAME))
        .bind(created)
        .execute(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(row.into())
    }

    async fn teacher_by_email(&self, email: &str) -> Result<Option<Teacher>, StoreError> {
        let row: Option<TeacherRow> = sqlx::query_as(&format!(
            "SELECT {TEACHER_COLUMNS} FROM teachers WHERE email = ?1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a teacher by email"))?;
        Ok(row.map(Teacher::from))
    }

    async fn teacher_by_id(&self, id: TeacherId) -> Result<Option<Teacher>, StoreError> {
        let row: Option<TeacherRow> = sqlx::query_as(&format!(
            "SELECT {TEACHER_COLUMNS} FROM teachers WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a teacher by id"))?;
        Ok(row.map(Teacher::from))
    }

    async fn update_password(
        &self,
        id: TeacherId,
        password_hash: &str,
        changed_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE teachers SET password_hash = ?2, password_changed_at = ?3 WHERE id = ?1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(to_stored_precision(changed_at))
        .execute(&self.pool)
        .await
        .map_err(db_err("updating a password"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_teacher(&self, id: TeacherId) -> Result<bool, StoreError> {
        const CONTEXT: &str = "deleting a teacher";
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        // Classes take their memberships and attendance with them.
        for statement in [
            "DELETE FROM classes WHERE teacher_id = ?1",
            "DELETE FROM face_templates
             WHERE student_id IN (SELECT id FROM students WHERE teacher_id = ?1)",
            "DELETE FROM students WHERE teacher_id = ?1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        }
        let email: Option<String> =
            sqlx::query_scalar("DELETE FROM teachers WHERE id = ?1 RETURNING email")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        if let Some(email) = &email {
            sqlx::query("DELETE FROM verified_emails WHERE email = ?1")
                .bind(email)
                .execute(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        }
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(email.is_some())
    }

    async fn create_student_with(
        &self,
        teacher: TeacherId,
        class: ClassId,
        new: NewStudent<'_>,
        details: TemplateDetails<'_>,
        admit: Admission<'_>,
    ) -> Result<Student, StoreError> {
        const CONTEXT: &str = "creating a student";
        let created = now();
        // IMMEDIATE takes the write lock first: enrolments wait for each other (busy
        // timeout) instead of both reading a roster that lacks the other.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        ensure_class(&mut *tx, teacher, class).await?;
        let roster = roster_on(&mut *tx, teacher, new.model_id).await?;
        admit(&roster).map_err(StoreError::Refused)?;
        let row: StudentRow = sqlx::query_as(
            "INSERT INTO students (teacher_id, name, roll_no, created_at) VALUES (?1, ?2, ?3, ?4)
             RETURNING id, name, roll_no, created_at",
        )
        .bind(teacher)
        .bind(new.name)
        .bind(new.roll_no)
        .bind(created)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        let template = NewTemplate {
            model_id: new.model_id,
            embedding: new.embedding,
            details,
        };
        insert_template(&mut tx, row.id, &template, created).await?;
        sqlx::query(
            "INSERT INTO class_members (teacher_id, class_id, student_id, added_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(teacher)
        .bind(class)
        .bind(row.id)
        .bind(created)
        .execute(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(row.into())
    }

    async fn list_students(&self, teacher: TeacherId) -> Result<Vec<Student>, StoreError> {
        let rows: Vec<StudentRow> = sqlx::query_as(
            "SELECT id, name, roll_no, created_at FROM students WHERE teacher_id = ?1",
        )
        .bind(teacher)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing students"))?;
        let mut students: Vec<Student> = rows.into_iter().map(Student::from).collect();
        rows::sort_students(&mut students);
        Ok(students)
    }

    async fn student_by_roll_no(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Option<Student>, StoreError> {
        let row: Option<StudentRow> = sqlx::query_as(
            "SELECT id, name, roll_no, created_at FROM students
             WHERE teacher_id = ?1 AND roll_no = ?2",
        )
        .bind(teacher)
        .bind(roll_no)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a student"))?;
        Ok(row.map(Student::from))
    }

    async fn delete_student(&self, teacher: TeacherId, roll_no: &str) -> Result<bool, StoreError> {
        // Embeddings, memberships and attendance go with the student (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM students WHERE teacher_id = ?1 AND roll_no = ?2")
            .bind(teacher)
            .bind(roll_no)
            .execute(&self.pool)
            .await
            .map_err(db_err("deleting a student"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn add_embedding(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        model_id: &str,
        embedding: &[f32],
    ) -> Result<Option<()>, StoreError> {
        const CONTEXT: &str = "adding an embedding";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        let Some(student) = student_id_on(&mut *tx, teacher, roll_no).await? else {
            return Ok(None);
        };
        let template = NewTemplate {
            model_id,
            embedding,
            details: TemplateDetails {
                source: super::TemplateSource::Photo,
                ..TemplateDetails::default()
            },
        };
        insert_template(&mut tx, student, &template, now()).await?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(Some(()))
    }

    async fn add_template(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        new: NewTemplate<'_>,
        limit: usize,
        when_full: WhenFull,
        admit: Admission<'_>,
    ) -> Result<TemplateAdded, StoreError> {
        const CONTEXT: &str = "adding a face template";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        let student = student_id_on(&mut *tx, teacher, roll_no)
            .await?
            .ok_or(StoreError::NotFound("student"))?;
        let roster = roster_on(&mut *tx, teacher, new.model_id).await?;
        admit(&roster).map_err(StoreError::Refused)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM face_templates WHERE student_id = ?1")
                .bind(student)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        let surplus = rows::templates_to_replace(count, limit);
        let mut replaced = None;
        if surplus > 0 {
            if when_full == WhenFull::Refuse {
                return Err(rows::templates_full(count, limit));
            }
            let weakest: Vec<TemplateId> = sqlx::query_scalar(
                "SELECT id FROM face_templates WHERE student_id = ?1
                 ORDER BY quality, created_at, id LIMIT ?2",
            )
            .bind(student)
            .bind(surplus)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
            for id in &weakest {
                sqlx::query("DELETE FROM face_templates WHERE id = ?1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err(CONTEXT))?;
            }
            replaced = weakest.first().copied();
        }
        let id = insert_template(&mut tx, student, &new, now()).await?;
        let template = templates_on(&mut tx, student, Some(id))
            .await?
            .pop()
            .ok_or_else(|| StoreError::Internal(format!("{CONTEXT}: the new template is gone")))?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(TemplateAdded { template, replaced })
    }

    async fn list_templates(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Vec<FaceTemplate>, StoreError> {
        const CONTEXT: &str = "listing face templates";
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        let student = student_id_on(&mut *tx, teacher, roll_no)
            .await?
            .ok_or(StoreError::NotFound("student"))?;
        let templates = templates_on(&mut tx, student, None).await?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(templates)
    }

    async fn delete_template(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        id: TemplateId,
    ) -> Result<(), StoreError> {
        const CONTEXT: &str = "deleting a face template";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        let student = student_id_on(&mut *tx, teacher, roll_no)
            .await?
            .ok_or(StoreError::NotFound("student"))?;
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(id = ?2), 0) FROM face_templates WHERE student_id = ?1",
        )
        .bind(student)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        match counts {
            (_, 0) => return Err(StoreError::NotFound("photo")),
            (count, _) if count <= 1 => {
                return Err(StoreError::Refused(rows::LAST_TEMPLATE_KEPT.to_owned()));
            }
            _ => {}
        }
        sqlx::query("DELETE FROM face_templates WHERE id = ?1 AND student_id = ?2")
            .bind(id)
            .bind(student)
            .execute(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(())
    }

    async fn template_crop(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        id: TemplateId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        const CONTEXT: &str = "reading a face crop";
        let found: Option<(Option<Vec<u8>>,)> = sqlx::query_as(
            "SELECT t.crop FROM face_templates t JOIN students s ON s.id = t.student_id
             WHERE s.teacher_id = ?1 AND s.roll_no = ?2 AND t.id = ?3",
        )
        .bind(teacher)
        .bind(roll_no)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        match found {
            Some((crop,)) => Ok(crop),
            None => match student_id_on(&self.pool, teacher, roll_no).await? {
                Some(_) => Err(StoreError::NotFound("photo")),
                None => Err(StoreError::NotFound("student")),
            },
        }
    }

    async fn crops_to_embed(
        &self,
        model_id: &str,
        after: TemplateId,
        limit: usize,
    ) -> Result<Vec<CropToEmbed>, StoreError> {
        let rows: Vec<(TemplateId, TeacherId, Vec<u8>)> = sqlx::query_as(
            "SELECT t.id, s.teacher_id, t.crop
             FROM face_templates t JOIN students s ON s.id = t.student_id
             WHERE t.crop IS NOT NULL AND t.id > ?2
               AND NOT EXISTS (SELECT 1 FROM template_embeddings e
                               WHERE e.template_id = t.id AND e.model_id = ?1)
             ORDER BY t.id LIMIT ?3",
        )
        .bind(model_id)
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading crops to embed"))?;
        Ok(rows
            .into_iter()
            .map(|(template_id, teacher_id, sealed_crop)| CropToEmbed {
                template_id,
                teacher_id,
                sealed_crop,
            })
            .collect())
    }

    async fn add_template_embedding(
        &self,
        template: TemplateId,
        model_id: &str,
        embedding: &[f32],
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "adding a template embedding";
        let dim = i32::try_from(embedding.len())
            .map_err(|_| StoreError::Internal(format!("{CONTEXT}: embedding too long")))?;
        let done = sqlx::query(
            "INSERT INTO template_embeddings (template_id, model_id, dim, embedding, created_at)
             SELECT id, ?2, ?3, ?4, ?5 FROM face_templates WHERE id = ?1
             ON CONFLICT (template_id, model_id) DO UPDATE
             SET dim = excluded.dim, embedding = excluded.embedding,
                 created_at = excluded.created_at",
        )
        .bind(template)
        .bind(model_id)
        .bind(dim)
        .bind(embedding_bytes::encode(embedding))
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        Ok(done.rows_affected() > 0)
    }

    async fn model_coverage(&self, model_id: &str) -> Result<ModelCoverage, StoreError> {
        let (students, covered, pending, without_crop): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM students),
                    (SELECT COUNT(DISTINCT t.student_id) FROM face_templates t
                     JOIN template_embeddings e ON e.template_id = t.id AND e.model_id = ?1),
                    (SELECT COUNT(*) FROM face_templates t WHERE t.crop IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM template_embeddings e
                                     WHERE e.template_id = t.id AND e.model_id = ?1)),
                    (SELECT COUNT(*) FROM face_templates t WHERE t.crop IS NULL
                     AND NOT EXISTS (SELECT 1 FROM template_embeddings e
                                     WHERE e.template_id = t.id AND e.model_id = ?1))",
        )
        .bind(model_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("reading a model's coverage"))?;
        Ok(ModelCoverage {
            students,
            covered,
            pending,
            without_crop,
        })
    }

    async fn roster(
        &self,
        teacher: TeacherId,
        model_id: &str,
    ) -> Result<Vec<RosterEntry>, StoreError> {
        roster_on(&self.pool, teacher, model_id).await
    }

    async fn default_class(&self, teacher: TeacherId) -> Result<ClassId, StoreError> {
        let id: Option<ClassId> =
            sqlx::query_scalar("SELECT id FROM classes WHERE teacher_id = ?1 AND is_default = 1")
                .bind(teacher)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading the default class"))?;
        id.ok_or(StoreError::NotFound("class"))
    }

    async fn list_classes(&self, teacher: TeacherId) -> Result<Vec<Class>, StoreError> {
        let rows: Vec<ClassRow> =
            sqlx::query_as(&format!("{CLASS_SELECT} WHERE c.teacher_id = ?1"))
                .bind(teacher)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("listing classes"))?;
        let mut classes: Vec<Class> = rows.into_iter().map(Class::from).collect();
        rows::sort_classes(&mut classes);
        Ok(classes)
    }

    async fn class(&self, teacher: TeacherId, class: ClassId) -> Result<Class, StoreError> {
        class_on(&self.pool, teacher, class).await
    }

    async fn create_class(
        &self,
        teacher: TeacherId,
        new: NewClass<'_>,
    ) -> Result<Class, StoreError> {
        let row: ClassRow = sqlx::query_as(
            "INSERT INTO classes (teacher_id, name, name_key, note, is_default, created_at)
             VALUES (?1, ?2, ?3, ?4, 0, ?5)
             RETURNING id, name, note, is_default, 0 AS students, created_at",
        )
        .bind(teacher)
        .bind(new.name)
        .bind(class_name_key(new.name))
        .bind(new.note)
        .bind(now())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("creating a class"))?;
        Ok(row.into())
    }

    async fn update_class(
        &self,
        teacher: TeacherId,
        class: ClassId,
        change: ClassChange<'_>,
    ) -> Result<Class, StoreError> {
        const CONTEXT: &str = "changing a class";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        let done = sqlx::query(
            "UPDATE classes SET
                 name = COALESCE(?3, name),
                 name_key = COALESCE(?4, name_key),
                 note = CASE WHEN ?5 THEN ?6 ELSE note END
             WHERE id = ?2 AND teacher_id = ?1",
        )
        .bind(teacher)
        .bind(class)
        .bind(change.name)
        .bind(change.name.map(class_name_key))
        .bind(change.note.is_some())
        .bind(change.note.flatten())
        .execute(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("class"));
        }
        let class = class_on(&mut *tx, teacher, class).await?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(class)
    }

    async fn delete_class(&self, teacher: TeacherId, class: ClassId) -> Result<(), StoreError> {
        const CONTEXT: &str = "deleting a class";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        let is_default: Option<bool> =
            sqlx::query_scalar("SELECT is_default FROM classes WHERE id = ?2 AND teacher_id = ?1")
                .bind(teacher)
                .bind(class)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        match is_default {
            None => return Err(StoreError::NotFound("class")),
            Some(true) => return Err(StoreError::Refused(DEFAULT_CLASS_KEPT.to_owned())),
            Some(false) => {}
        }
        // Memberships and attendance go with the class (ON DELETE CASCADE).
        sqlx::query("DELETE FROM classes WHERE id = ?1")
            .bind(class)
            .execute(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(())
    }

    async fn class_students(
        &self,
        teacher: TeacherId,
        class: ClassId,
    ) -> Result<Vec<Student>, StoreError> {
        ensure_class(&self.pool, teacher, class).await?;
        let rows: Vec<StudentRow> = sqlx::query_as(
            "SELECT s.id, s.name, s.roll_no, s.created_at
             FROM class_members m JOIN students s ON s.id = m.student_id
             WHERE m.teacher_id = ?1 AND m.class_id = ?2",
        )
        .bind(teacher)
        .bind(class)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("listing a class's students"))?;
        let mut students: Vec<Student> = rows.into_iter().map(Student::from).collect();
        rows::sort_students(&mut students);
        Ok(students)
    }

    async fn add_members(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_nos: &[String],
    ) -> Result<MembersAdded, StoreError> {
        const CONTEXT: &str = "adding students to a class";
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        ensure_class(&mut *tx, teacher, class).await?;
        let mut found: Vec<Student> = Vec::with_capacity(roll_nos.len());
        for roll_no in roll_nos {
            if found.iter().any(|s| s.roll_no == *roll_no) {
                continue;
            }
            let row: Option<StudentRow> = sqlx::query_as(
                "SELECT id, name, roll_no, created_at FROM students
                 WHERE teacher_id = ?1 AND roll_no = ?2",
            )
            .bind(teacher)
            .bind(roll_no)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
            found.extend(row.map(Student::from));
        }
        let unknown = rows::unknown_roll_nos(roll_nos, &found);
        if !unknown.is_empty() {
            return Ok(MembersAdded {
                unknown,
                ..MembersAdded::default()
            });
        }
        let added_at = now();
        let mut inserted = Vec::with_capacity(found.len());
        for student in &found {
            let id: Option<StudentId> = sqlx::query_scalar(
                "INSERT INTO class_members (teacher_id, class_id, student_id, added_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (class_id, student_id) DO NOTHING
                 RETURNING student_id",
            )
            .bind(teacher)
            .bind(class)
            .bind(student.id)
            .bind(added_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
            inserted.extend(id);
        }
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(rows::members_added(found, &inserted))
    }

    async fn remove_member(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<(), StoreError> {
        // Their attendance in the class goes with the membership (ON DELETE CASCADE).
        let done = sqlx::query(
            "DELETE FROM class_members
             WHERE teacher_id = ?1 AND class_id = ?2
               AND student_id = (SELECT id FROM students WHERE teacher_id = ?1 AND roll_no = ?3)",
        )
        .bind(teacher)
        .bind(class)
        .bind(roll_no)
        .execute(&self.pool)
        .await
        .map_err(db_err("removing a student from a class"))?;
        if done.rows_affected() == 0 {
            ensure_class(&self.pool, teacher, class).await?;
            return Err(StoreError::NotFound("student"));
        }
        Ok(())
    }

    async fn class_roster(
        &self,
        teacher: TeacherId,
        class: ClassId,
        model_id: &str,
    ) -> Result<ClassRoster, StoreError> {
        ensure_class(&self.pool, teacher, class).await?;
        let rows: Vec<ClassRosterRow> = sqlx::query_as(
            "SELECT s.id AS student_id, s.roll_no, s.name, e.dim, e.embedding,
                    (m.student_id IS NOT NULL) AS member
             FROM template_embeddings e
             JOIN face_templates t ON t.id = e.template_id
             JOIN students s ON s.id = t.student_id
             LEFT JOIN class_members m ON m.student_id = s.id AND m.class_id = ?2
             WHERE s.teacher_id = ?1 AND e.model_id = ?3
             ORDER BY s.id, t.id",
        )
        .bind(teacher)
        .bind(class)
        .bind(model_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading a class's roster"))?;
        rows::split_class_roster(rows)
    }

    async fn mark_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        date: NaiveDate,
        marks: &[AutoMark],
    ) -> Result<Vec<StudentId>, StoreError> {
        const CONTEXT: &str = "marking attendance";
        let marked_at = now();
        let mut inserted = Vec::with_capacity(marks.len());
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err(CONTEXT))?;
        ensure_class(&mut *tx, teacher, class).await?;
        for mark in marks {
            // The SELECT drops anyone who is not a member of this teacher's class; ON
            // CONFLICT keeps the one record per class and day; RETURNING yields a row only
            // when this call inserted it.
            let id: Option<StudentId> = sqlx::query_scalar(
                "INSERT INTO attendance (class_id, student_id, date, source, similarity, marked_at)
                 SELECT class_id, student_id, ?4, 'auto', ?5, ?6
                 FROM class_members WHERE class_id = ?2 AND teacher_id = ?1 AND student_id = ?3
                 ON CONFLICT (class_id, student_id, date) DO NOTHING
                 RETURNING student_id",
            )
            .bind(teacher)
            .bind(class)
            .bind(mark.student_id)
            .bind(date)
            .bind(mark.similarity)
            .bind(marked_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
            inserted.extend(id);
        }
        tx.commit().await.map_err(db_err(CONTEXT))?;
        inserted.sort_unstable();
        inserted.dedup();
        Ok(inserted)
    }

    async fn set_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO attendance (class_id, student_id, date, source, similarity, marked_at)
             SELECT m.class_id, m.student_id, ?4, 'manual', NULL, ?5
             FROM class_members m JOIN students s ON s.id = m.student_id
             WHERE m.teacher_id = ?1 AND m.class_id = ?2 AND s.roll_no = ?3
             ON CONFLICT (class_id, student_id, date) DO UPDATE
             SET source = 'manual', similarity = NULL, marked_at = excluded.marked_at",
        )
        .bind(teacher)
        .bind(class)
        .bind(roll_no)
        .bind(date)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err("setting attendance"))?;
        if done.rows_affected() == 0 {
            ensure_class(&self.pool, teacher, class).await?;
            return Err(StoreError::NotFound("student"));
        }
        Ok(())
    }

    async fn clear_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<bool, StoreError> {
        const CONTEXT: &str = "clearing attendance";
        ensure_class(&self.pool, teacher, class).await?;
        let member: Option<StudentId> = sqlx::query_scalar(
            "SELECT m.student_id FROM class_members m JOIN students s ON s.id = m.student_id
             WHERE m.teacher_id = ?1 AND m.class_id = ?2 AND s.roll_no = ?3",
        )
        .bind(teacher)
        .bind(class)
        .bind(roll_no)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        let student = member.ok_or(StoreError::NotFound("student"))?;
        let done = sqlx::query(
            "DELETE FROM attendance WHERE class_id = ?1 AND student_id = ?2 AND date = ?3",
        )
        .bind(class)
        .bind(student)
        .bind(date)
        .execute(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        Ok(done.rows_affected() > 0)
    }

    async fn attendance_dates(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<Vec<NaiveDate>, StoreError> {
        ensure_class(&self.pool, teacher, class).await?;
        let rows: Vec<Option<NaiveDate>> = sqlx::query_scalar(
            "SELECT a.date FROM students s
             LEFT JOIN attendance a ON a.student_id = s.id AND a.class_id = ?2
             WHERE s.teacher_id = ?1 AND s.roll_no = ?3
             ORDER BY a.date",
        )
        .bind(teacher)
        .bind(class)
        .bind(roll_no)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading attendance dates"))?;
        rows::dates_of_one(rows).ok_or(StoreError::NotFound("student"))
    }

    async fn attendance_range(
        &self,
        teacher: TeacherId,
        class: ClassId,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<Vec<StudentAttendance>, StoreError> {
        ensure_class(&self.pool, teacher, class).await?;
        let rows: Vec<StudentDateRow> = sqlx::query_as(
            "SELECT s.id, s.name, s.roll_no, s.created_at, a.date
             FROM class_members m
             JOIN students s ON s.id = m.student_id
             LEFT JOIN attendance a ON a.class_id = m.class_id AND a.student_id = m.student_id
                 AND (?3 IS NULL OR a.date >= ?3)
                 AND (?4 IS NULL OR a.date <= ?4)
             WHERE m.teacher_id = ?1 AND m.class_id = ?2",
        )
        .bind(teacher)
        .bind(class)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading attendance"))?;
        Ok(rows::group_attendance(rows))
    }
}

/// Why the default class cannot be deleted.
const DEFAULT_CLASS_KEPT: &str =
    "The default class cannot be deleted: the original endpoints work on it";

/// `NotFound("class")` unless `class` is one of the teacher's.
async fn ensure_class<'e, E>(
    executor: E,
    teacher: TeacherId,
    class: ClassId,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM classes WHERE id = ?2 AND teacher_id = ?1")
            .bind(teacher)
            .bind(class)
            .fetch_optional(executor)
            .await
            .map_err(db_err("reading a class"))?;
    found.map(|_| ()).ok_or(StoreError::NotFound("class"))
}

/// One of the teacher's classes with its number of members.
async fn class_on<'e, E>(
    executor: E,
    teacher: TeacherId,
    class: ClassId,
) -> Result<Class, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row: Option<ClassRow> = sqlx::query_as(&format!(
        "{CLASS_SELECT} WHERE c.teacher_id = ?1 AND c.id = ?2"
    ))
    .bind(teacher)
    .bind(class)
    .fetch_optional(executor)
    .await
    .map_err(db_err("reading a class"))?;
    row.map(Class::from).ok_or(StoreError::NotFound("class"))
}

/// The teacher's embeddings of one model, on a pool or inside a transaction.
async fn roster_on<'e, E>(
    executor: E,
    teacher: TeacherId,
    model_id: &str,
) -> Result<Vec<RosterEntry>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let rows: Vec<RosterRow> = sqlx::query_as(
        "SELECT s.id AS student_id, s.roll_no, s.name, e.dim, e.embedding
         FROM template_embeddings e
         JOIN face_templates t ON t.id = e.template_id
         JOIN students s ON s.id = t.student_id
         WHERE s.teacher_id = ?1 AND e.model_id = ?2
         ORDER BY s.id, t.id",
    )
    .bind(teacher)
    .bind(model_id)
    .fetch_all(executor)
    .await
    .map_err(db_err("reading the roster"))?;
    rows.into_iter().map(RosterEntry::try_from).collect()
}

/// The id of the teacher's student with this roll number.
async fn student_id_on<'e, E>(
    executor: E,
    teacher: TeacherId,
    roll_no: &str,
) -> Result<Option<StudentId>, StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query_scalar("SELECT id FROM students WHERE teacher_id = ?1 AND roll_no = ?2")
        .bind(teacher)
        .bind(roll_no)
        .fetch_optional(executor)
        .await
        .map_err(db_err("reading a student"))
}

/// Inserts a template of `student` with its one embedding; returns its id.
async fn insert_template(
    tx: &mut sqlx::SqliteConnection,
    student: StudentId,
    new: &NewTemplate<'_>,
    created: DateTime<Utc>,
) -> Result<TemplateId, StoreError> {
    const CONTEXT: &str = "storing a face template";
    let dim = i32::try_from(new.embedding.len())
        .map_err(|_| StoreError::Internal(format!("{CONTEXT}: embedding too long")))?;
    let d = &new.details;
    let f = d.figures;
    let id: TemplateId = sqlx::query_scalar(
        "INSERT INTO face_templates (student_id, source, quality, face_width, sharpness,
             brightness, detection_score, yaw, crop, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
    )
    .bind(student)
    .bind(d.source.as_str())
    .bind(d.quality)
    .bind(f.map(|f| f.face_width))
    .bind(f.map(|f| f.sharpness))
    .bind(f.map(|f| f.brightness))
    .bind(f.map(|f| f.detection_score))
    .bind(f.map(|f| f.yaw))
    .bind(d.sealed_crop)
    .bind(created)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err(CONTEXT))?;
    sqlx::query(
        "INSERT INTO template_embeddings (template_id, model_id, dim, embedding, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(id)
    .bind(new.model_id)
    .bind(dim)
    .bind(embedding_bytes::encode(new.embedding))
    .bind(created)
    .execute(&mut *tx)
    .await
    .map_err(db_err(CONTEXT))?;
    Ok(id)
}

/// The student's templates (or only `only`), oldest first, with their models.
async fn templates_on(
    tx: &mut sqlx::SqliteConnection,
    student: StudentId,
    only: Option<TemplateId>,
) -> Result<Vec<FaceTemplate>, StoreError> {
    const CONTEXT: &str = "reading face templates";
    let rows: Vec<TemplateRow> = sqlx::query_as(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM face_templates t
         WHERE t.student_id = ?1 AND (?2 IS NULL OR t.id = ?2)
         ORDER BY t.created_at, t.id"
    ))
    .bind(student)
    .bind(only)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err(CONTEXT))?;
    let models: Vec<TemplateModelRow> = sqlx::query_as(
        "SELECT e.template_id, e.model_id FROM template_embeddings e
         JOIN face_templates t ON t.id = e.template_id
         WHERE t.student_id = ?1 AND (?2 IS NULL OR t.id = ?2)",
    )
    .bind(student)
    .bind(only)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err(CONTEXT))?;
    rows::templates(rows, models)
}
