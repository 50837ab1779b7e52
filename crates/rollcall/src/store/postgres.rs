//! PostgreSQL implementation of [`Store`].

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

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

/// [`Store`] on a PostgreSQL connection pool.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://` or `postgresql://`). Waiting for a connection is
    /// bounded by `opts.acquire_timeout`, here and in every later operation, so a database
    /// that is down gives [`StoreError::Unavailable`] instead of a hang; the pool
    /// reconnects by itself once the database is back.
    pub async fn connect(url: &str, opts: &StoreOptions) -> Result<Self, StoreError> {
        let statement_timeout = format!("{}ms", opts.acquire_timeout.as_millis().max(1));
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?
            .options([("statement_timeout", statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(true)
            .connect_with(connect_options)
            .await
            .map_err(db_err("connecting to PostgreSQL"))?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db_err("ping"))?;
        Ok(())
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // Migrations may legitimately take longer than one request's statement timeout.
        let mut conn = self.pool.acquire().await.map_err(db_err("migrating"))?;
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await
            .map_err(db_err("migrating"))?;
        let result = sqlx::migrate!("./migrations/postgres")
            .run_direct(&mut *conn)
            .await
            .map_err(migrate_err);
        sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await
            .map_err(db_err("migrating"))?;
        result
    }

    async fn mark_email_verified(&self, email: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO verified_emails (email, verified_at) VALUES ($1, $2)
             ON CONFLICT (email) DO UPDATE SET verified_at = EXCLUDED.verified_at",
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
            sqlx::query_scalar("SELECT 1 FROM verified_emails WHERE email = $1")
                .bind(email)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading a verified email"))?;
        Ok(found.is_some())
    }

    async fn revoke_token(&self, jti: uuid::Uuid, expires_at: i64) -> Result<(), StoreError> {
        const CONTEXT: &str = "revoking a token";
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(Utc::now().timestamp())
            .execute(&self.pool)
            .await
            .map_err(db_err(CONTEXT))?;
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2)
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: uuid::Uuid) -> Result<bool, StoreError> {
        let found: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = $1 AND expires_at >= $2")
                .bind(jti)
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
             VALUES ($1, $2, $3, $4, $4) RETURNING {TEACHER_COLUMNS}"
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
             VALUES ($1, $2, $3, NULL, TRUE, $4)",
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
            "SELECT {TEACHER_COLUMNS} FROM teachers WHERE email = $1"
        ))
        .bind(email)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err("reading a teacher by email"))?;
        Ok(row.map(Teacher::from))
    }

    async fn teacher_by_id(&self, id: TeacherId) -> Result<Option<Teacher>, StoreError> {
        let row: Option<TeacherRow> = sqlx::query_as(&format!(
            "SELECT {TEACHER_COLUMNS} FROM teachers WHERE id = $1"
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
            "UPDATE teachers SET password_hash = $2, password_changed_at = $3 WHERE id = $1",
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
            "DELETE FROM classes WHERE teacher_id = $1",
            "DELETE FROM face_templates
             WHERE student_id IN (SELECT id FROM students WHERE teacher_id = $1)",
            "DELETE FROM students WHERE teacher_id = $1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        }
        let email: Option<String> =
            sqlx::query_scalar("DELETE FROM teachers WHERE id = $1 RETURNING email")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err(CONTEXT))?;
        if let Some(email) = &email {
            sqlx::query("DELETE FROM verified_emails WHERE email = $1")
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        // The teacher's row lock serialises their enrolments.
        sqlx::query("SELECT 1 FROM teachers WHERE id = $1 FOR UPDATE")
            .bind(teacher)
            .execute(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
        ensure_class(&mut *tx, teacher, class, true).await?;
        let roster = roster_on(&mut *tx, teacher, new.model_id).await?;
        admit(&roster).map_err(StoreError::Refused)?;
        let row: StudentRow = sqlx::query_as(
            "INSERT INTO students (teacher_id, name, roll_no, created_at) VALUES ($1, $2, $3, $4)
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
             VALUES ($1, $2, $3, $4)",
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
            "SELECT id, name, roll_no, created_at FROM students WHERE teacher_id = $1",
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
             WHERE teacher_id = $1 AND roll_no = $2",
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
        let done = sqlx::query("DELETE FROM students WHERE teacher_id = $1 AND roll_no = $2")
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        lock_teacher(&mut tx, teacher).await?;
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        lock_teacher(&mut tx, teacher).await?;
        let student = student_id_on(&mut *tx, teacher, roll_no)
            .await?
            .ok_or(StoreError::NotFound("student"))?;
        let roster = roster_on(&mut *tx, teacher, new.model_id).await?;
        admit(&roster).map_err(StoreError::Refused)?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM face_templates WHERE student_id = $1")
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
                "SELECT id FROM face_templates WHERE student_id = $1
                 ORDER BY quality, created_at, id LIMIT $2",
            )
            .bind(student)
            .bind(surplus)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
            for id in &weakest {
                sqlx::query("DELETE FROM face_templates WHERE id = $1")
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        lock_teacher(&mut tx, teacher).await?;
        let student = student_id_on(&mut *tx, teacher, roll_no)
            .await?
            .ok_or(StoreError::NotFound("student"))?;
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN id = $2 THEN 1 ELSE 0 END), 0) FROM face_templates WHERE student_id = $1",
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
        sqlx::query("DELETE FROM face_templates WHERE id = $1 AND student_id = $2")
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
             WHERE s.teacher_id = $1 AND s.roll_no = $2 AND t.id = $3",
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
             WHERE t.crop IS NOT NULL AND t.id > $2
               AND NOT EXISTS (SELECT 1 FROM template_embeddings e
                               WHERE e.template_id = t.id AND e.model_id = $1)
             ORDER BY t.id LIMIT $3",
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
             SELECT id, $2, $3, $4, $5 FROM face_templates WHERE id = $1
             ON CONFLICT (template_id, model_id) DO UPDATE
             SET dim = EXCLUDED.dim, embedding = EXCLUDED.embedding,
                 created_at = EXCLUDED.created_at",
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
                     JOIN template_embeddings e ON e.template_id = t.id AND e.model_id = $1),
                    (SELECT COUNT(*) FROM face_templates t WHERE t.crop IS NOT NULL
                     AND NOT EXISTS (SELECT 1 FROM template_embeddings e
                                     WHERE e.template_id = t.id AND e.model_id = $1)),
                    (SELECT COUNT(*) FROM face_templates t WHERE t.crop IS NULL
                     AND NOT EXISTS (SELECT 1 FROM template_embeddings e
                                     WHERE e.template_id = t.id AND e.model_id = $1))",
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
            sqlx::query_scalar("SELECT id FROM classes WHERE teacher_id = $1 AND is_default")
                .bind(teacher)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err("reading the default class"))?;
        id.ok_or(StoreError::NotFound("class"))
    }

    async fn list_classes(&self, teacher: TeacherId) -> Result<Vec<Class>, StoreError> {
        let rows: Vec<ClassRow> =
            sqlx::query_as(&format!("{CLASS_SELECT} WHERE c.teacher_id = $1"))
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
             VALUES ($1, $2, $3, $4, FALSE, $5)
             RETURNING id, name, note, is_default, 0::BIGINT AS students, created_at",
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        let done = sqlx::query(
            "UPDATE classes SET
                 name = COALESCE($3, name),
                 name_key = COALESCE($4, name_key),
                 note = CASE WHEN $5 THEN $6 ELSE note END
             WHERE id = $2 AND teacher_id = $1",
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        let is_default: Option<bool> = sqlx::query_scalar(
            "SELECT is_default FROM classes WHERE id = $2 AND teacher_id = $1 FOR UPDATE",
        )
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
        sqlx::query("DELETE FROM classes WHERE id = $1")
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
        const CONTEXT: &str = "listing a class's students";
        ensure_class(&self.pool, teacher, class, false).await?;
        let rows: Vec<StudentRow> = sqlx::query_as(
            "SELECT s.id, s.name, s.roll_no, s.created_at
             FROM class_members m JOIN students s ON s.id = m.student_id
             WHERE m.teacher_id = $1 AND m.class_id = $2",
        )
        .bind(teacher)
        .bind(class)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
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
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        ensure_class(&mut *tx, teacher, class, true).await?;
        let rows: Vec<StudentRow> = sqlx::query_as(
            "SELECT id, name, roll_no, created_at FROM students
             WHERE teacher_id = $1 AND roll_no = ANY($2)",
        )
        .bind(teacher)
        .bind(roll_nos)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        let found: Vec<Student> = rows.into_iter().map(Student::from).collect();
        let unknown = rows::unknown_roll_nos(roll_nos, &found);
        if !unknown.is_empty() {
            return Ok(MembersAdded {
                unknown,
                ..MembersAdded::default()
            });
        }
        let ids: Vec<StudentId> = found.iter().map(|s| s.id).collect();
        let inserted: Vec<StudentId> = sqlx::query_scalar(
            "INSERT INTO class_members (teacher_id, class_id, student_id, added_at)
             SELECT $1, $2, id, $4 FROM UNNEST($3::BIGINT[]) AS x(id)
             ON CONFLICT (class_id, student_id) DO NOTHING
             RETURNING student_id",
        )
        .bind(teacher)
        .bind(class)
        .bind(&ids)
        .bind(now())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        tx.commit().await.map_err(db_err(CONTEXT))?;
        Ok(rows::members_added(found, &inserted))
    }

    async fn remove_member(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<(), StoreError> {
        const CONTEXT: &str = "removing a student from a class";
        // Their attendance in the class goes with the membership (ON DELETE CASCADE).
        let done = sqlx::query(
            "DELETE FROM class_members
             WHERE teacher_id = $1 AND class_id = $2
               AND student_id = (SELECT id FROM students WHERE teacher_id = $1 AND roll_no = $3)",
        )
        .bind(teacher)
        .bind(class)
        .bind(roll_no)
        .execute(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        if done.rows_affected() == 0 {
            ensure_class(&self.pool, teacher, class, false).await?;
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
        ensure_class(&self.pool, teacher, class, false).await?;
        let rows: Vec<ClassRosterRow> = sqlx::query_as(
            "SELECT s.id AS student_id, s.roll_no, s.name, e.dim, e.embedding,
                    (m.student_id IS NOT NULL) AS member
             FROM template_embeddings e
             JOIN face_templates t ON t.id = e.template_id
             JOIN students s ON s.id = t.student_id
             LEFT JOIN class_members m ON m.student_id = s.id AND m.class_id = $2
             WHERE s.teacher_id = $1 AND e.model_id = $3
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
        let ids: Vec<StudentId> = marks.iter().map(|m| m.student_id).collect();
        let similarities: Vec<f32> = marks.iter().map(|m| m.similarity).collect();
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        // The class is locked against deletion until the marks are in.
        ensure_class(&mut *tx, teacher, class, true).await?;
        if marks.is_empty() {
            return Ok(Vec::new());
        }
        // One statement: marks for anyone who is not a member of this teacher's class are
        // dropped by the join, and ON CONFLICT makes concurrent calls insert each (class,
        // student, date) exactly once; RETURNING yields only the rows this call inserted.
        let mut inserted: Vec<StudentId> = sqlx::query_scalar(
            "INSERT INTO attendance (class_id, student_id, date, source, similarity, marked_at)
             SELECT m.class_id, m.student_id, $3, 'auto', x.similarity, $6
             FROM UNNEST($4::BIGINT[], $5::REAL[]) AS x(student_id, similarity)
             JOIN class_members m
               ON m.class_id = $2 AND m.teacher_id = $1 AND m.student_id = x.student_id
             ON CONFLICT (class_id, student_id, date) DO NOTHING
             RETURNING student_id",
        )
        .bind(teacher)
        .bind(class)
        .bind(date)
        .bind(&ids)
        .bind(&similarities)
        .bind(now())
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
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
             SELECT m.class_id, m.student_id, $4, 'manual', NULL, $5
             FROM class_members m JOIN students s ON s.id = m.student_id
             WHERE m.teacher_id = $1 AND m.class_id = $2 AND s.roll_no = $3
             ON CONFLICT (class_id, student_id, date) DO UPDATE
             SET source = 'manual', similarity = NULL, marked_at = EXCLUDED.marked_at",
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
            ensure_class(&self.pool, teacher, class, false).await?;
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
        ensure_class(&self.pool, teacher, class, false).await?;
        let member: Option<StudentId> = sqlx::query_scalar(
            "SELECT m.student_id FROM class_members m JOIN students s ON s.id = m.student_id
             WHERE m.teacher_id = $1 AND m.class_id = $2 AND s.roll_no = $3",
        )
        .bind(teacher)
        .bind(class)
        .bind(roll_no)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        let student = member.ok_or(StoreError::NotFound("student"))?;
        let done = sqlx::query(
            "DELETE FROM attendance WHERE class_id = $1 AND student_id = $2 AND date = $3",
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
        ensure_class(&self.pool, teacher, class, false).await?;
        let rows: Vec<Option<NaiveDate>> = sqlx::query_scalar(
            "SELECT a.date FROM students s
             LEFT JOIN attendance a ON a.student_id = s.id AND a.class_id = $2
             WHERE s.teacher_id = $1 AND s.roll_no = $3
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
        ensure_class(&self.pool, teacher, class, false).await?;
        let rows: Vec<StudentDateRow> = sqlx::query_as(
            "SELECT s.id, s.name, s.roll_no, s.created_at, a.date
             FROM class_members m
             JOIN students s ON s.id = m.student_id
             LEFT JOIN attendance a ON a.class_id = m.class_id AND a.student_id = m.student_id
                 AND ($3::DATE IS NULL OR a.date >= $3)
                 AND ($4::DATE IS NULL OR a.date <= $4)
             WHERE m.teacher_id = $1 AND m.class_id = $2",
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

/// `NotFound("class")` unless `class` is one of the teacher's; `lock` holds a share lock
/// on it until the end of the transaction (so that it is not deleted meanwhile).
async fn ensure_class<'e, E>(
    executor: E,
    teacher: TeacherId,
    class: ClassId,
    lock: bool,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let sql = if lock {
        "SELECT 1 FROM classes WHERE id = $2 AND teacher_id = $1 FOR SHARE"
    } else {
        "SELECT 1 FROM classes WHERE id = $2 AND teacher_id = $1"
    };
    let found: Option<i32> = sqlx::query_scalar(sql)
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
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let row: Option<ClassRow> = sqlx::query_as(&format!(
        "{CLASS_SELECT} WHERE c.teacher_id = $1 AND c.id = $2"
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
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    let rows: Vec<RosterRow> = sqlx::query_as(
        "SELECT s.id AS student_id, s.roll_no, s.name, e.dim, e.embedding
         FROM template_embeddings e
         JOIN face_templates t ON t.id = e.template_id
         JOIN students s ON s.id = t.student_id
         WHERE s.teacher_id = $1 AND e.model_id = $2
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
    E: sqlx::Executor<'e, Database = sqlx::Postgres>,
{
    sqlx::query_scalar("SELECT id FROM students WHERE teacher_id = $1 AND roll_no = $2")
        .bind(teacher)
        .bind(roll_no)
        .fetch_optional(executor)
        .await
        .map_err(db_err("reading a student"))
}

/// Inserts a template of `student` with its one embedding; returns its id.
async fn insert_template(
    tx: &mut sqlx::PgConnection,
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
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
         VALUES ($1, $2, $3, $4, $5)",
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
    tx: &mut sqlx::PgConnection,
    student: StudentId,
    only: Option<TemplateId>,
) -> Result<Vec<FaceTemplate>, StoreError> {
    const CONTEXT: &str = "reading face templates";
    let rows: Vec<TemplateRow> = sqlx::query_as(&format!(
        "SELECT {TEMPLATE_COLUMNS} FROM face_templates t
         WHERE t.student_id = $1 AND ($2::BIGINT IS NULL OR t.id = $2)
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
         WHERE t.student_id = $1 AND ($2::BIGINT IS NULL OR t.id = $2)",
    )
    .bind(student)
    .bind(only)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err(CONTEXT))?;
    rows::templates(rows, models)
}

/// Locks the teacher's row for the transaction: serialises enrolments and template changes
/// of one teacher.
async fn lock_teacher(tx: &mut sqlx::PgConnection, teacher: TeacherId) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM teachers WHERE id = $1 FOR UPDATE")
        .bind(teacher)
        .execute(&mut *tx)
        .await
        .map_err(db_err("locking a teacher"))?;
    Ok(())
}
