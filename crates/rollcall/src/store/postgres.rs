//! PostgreSQL implementation of [`Store`].

use std::str::FromStr;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::db_error::{db_err, migrate_err};
use super::rows::{
    self, RosterRow, StudentDateRow, StudentRow, TEACHER_COLUMNS, TeacherRow, now,
    to_stored_precision,
};
use super::{
    Admission, AutoMark, NewStudent, NewTeacher, RosterEntry, Store, StoreError, StoreOptions,
    Student, StudentAttendance, StudentId, Teacher, TeacherId, embedding_bytes,
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
        let connect_options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL URL: {e}")))?;
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
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(migrate_err)
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
        let created = now();
        let row: TeacherRow = sqlx::query_as(&format!(
            "INSERT INTO teachers (user_id, email, password_hash, password_changed_at, created_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING {TEACHER_COLUMNS}"
        ))
        .bind(new.user_id)
        .bind(new.email)
        .bind(new.password_hash)
        .bind(created)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("creating a teacher"))?;
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
        sqlx::query("DELETE FROM attendance WHERE teacher_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
        sqlx::query(
            "DELETE FROM student_embeddings
             WHERE student_id IN (SELECT id FROM students WHERE teacher_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err(CONTEXT))?;
        sqlx::query("DELETE FROM students WHERE teacher_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
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

    async fn create_student_if(
        &self,
        teacher: TeacherId,
        new: NewStudent<'_>,
        admit: Admission<'_>,
    ) -> Result<Student, StoreError> {
        const CONTEXT: &str = "creating a student";
        let dim = i32::try_from(new.embedding.len())
            .map_err(|_| StoreError::Internal(format!("{CONTEXT}: embedding too long")))?;
        let created = now();
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        // The teacher's row lock serialises their enrolments.
        sqlx::query("SELECT 1 FROM teachers WHERE id = $1 FOR UPDATE")
            .bind(teacher)
            .execute(&mut *tx)
            .await
            .map_err(db_err(CONTEXT))?;
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
        sqlx::query(
            "INSERT INTO student_embeddings (student_id, model_id, dim, embedding, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(row.id)
        .bind(new.model_id)
        .bind(dim)
        .bind(embedding_bytes::encode(new.embedding))
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
        // Embeddings and attendance go with the student (ON DELETE CASCADE).
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
        let dim = i32::try_from(embedding.len())
            .map_err(|_| StoreError::Internal(format!("{CONTEXT}: embedding too long")))?;
        let done = sqlx::query(
            "INSERT INTO student_embeddings (student_id, model_id, dim, embedding, created_at)
             SELECT id, $3, $4, $5, $6 FROM students WHERE teacher_id = $1 AND roll_no = $2",
        )
        .bind(teacher)
        .bind(roll_no)
        .bind(model_id)
        .bind(dim)
        .bind(embedding_bytes::encode(embedding))
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err(CONTEXT))?;
        Ok((done.rows_affected() > 0).then_some(()))
    }

    async fn roster(
        &self,
        teacher: TeacherId,
        model_id: &str,
    ) -> Result<Vec<RosterEntry>, StoreError> {
        roster_on(&self.pool, teacher, model_id).await
    }

    async fn mark_present(
        &self,
        teacher: TeacherId,
        date: NaiveDate,
        marks: &[AutoMark],
    ) -> Result<Vec<StudentId>, StoreError> {
        const CONTEXT: &str = "marking attendance";
        if marks.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<StudentId> = marks.iter().map(|m| m.student_id).collect();
        let similarities: Vec<f32> = marks.iter().map(|m| m.similarity).collect();
        let mut tx = self.pool.begin().await.map_err(db_err(CONTEXT))?;
        // One statement: rows for other teachers' students are filtered by the join, and
        // ON CONFLICT makes concurrent calls insert each (student, date) exactly once;
        // RETURNING yields only the rows this call inserted.
        let mut inserted: Vec<StudentId> = sqlx::query_scalar(
            "INSERT INTO attendance (student_id, date, teacher_id, source, similarity, marked_at)
             SELECT s.id, $2, s.teacher_id, 'auto', m.similarity, $5
             FROM UNNEST($3::BIGINT[], $4::REAL[]) AS m(student_id, similarity)
             JOIN students s ON s.id = m.student_id AND s.teacher_id = $1
             ON CONFLICT (student_id, date) DO NOTHING
             RETURNING student_id",
        )
        .bind(teacher)
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
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<Option<()>, StoreError> {
        let done = sqlx::query(
            "INSERT INTO attendance (student_id, date, teacher_id, source, similarity, marked_at)
             SELECT id, $3, teacher_id, 'manual', NULL, $4
             FROM students WHERE teacher_id = $1 AND roll_no = $2
             ON CONFLICT (student_id, date) DO UPDATE
             SET source = 'manual', similarity = NULL, marked_at = EXCLUDED.marked_at",
        )
        .bind(teacher)
        .bind(roll_no)
        .bind(date)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(db_err("setting attendance"))?;
        Ok((done.rows_affected() > 0).then_some(()))
    }

    async fn clear_present(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<Option<bool>, StoreError> {
        const CONTEXT: &str = "clearing attendance";
        let student: Option<StudentId> =
            sqlx::query_scalar("SELECT id FROM students WHERE teacher_id = $1 AND roll_no = $2")
                .bind(teacher)
                .bind(roll_no)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err(CONTEXT))?;
        let Some(student) = student else {
            return Ok(None);
        };
        let done = sqlx::query("DELETE FROM attendance WHERE student_id = $1 AND date = $2")
            .bind(student)
            .bind(date)
            .execute(&self.pool)
            .await
            .map_err(db_err(CONTEXT))?;
        Ok(Some(done.rows_affected() > 0))
    }

    async fn attendance_dates(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Option<Vec<NaiveDate>>, StoreError> {
        let rows: Vec<Option<NaiveDate>> = sqlx::query_scalar(
            "SELECT a.date FROM students s
             LEFT JOIN attendance a ON a.student_id = s.id
             WHERE s.teacher_id = $1 AND s.roll_no = $2
             ORDER BY a.date",
        )
        .bind(teacher)
        .bind(roll_no)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading attendance dates"))?;
        Ok(rows::dates_of_one(rows))
    }

    async fn attendance_range(
        &self,
        teacher: TeacherId,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<Vec<StudentAttendance>, StoreError> {
        let rows: Vec<StudentDateRow> = sqlx::query_as(
            "SELECT s.id, s.name, s.roll_no, s.created_at, a.date
             FROM students s
             LEFT JOIN attendance a ON a.student_id = s.id
                 AND ($2::DATE IS NULL OR a.date >= $2)
                 AND ($3::DATE IS NULL OR a.date <= $3)
             WHERE s.teacher_id = $1",
        )
        .bind(teacher)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err("reading attendance"))?;
        Ok(rows::group_attendance(rows))
    }
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
         FROM student_embeddings e JOIN students s ON s.id = e.student_id
         WHERE s.teacher_id = $1 AND e.model_id = $2
         ORDER BY s.id, e.id",
    )
    .bind(teacher)
    .bind(model_id)
    .fetch_all(executor)
    .await
    .map_err(db_err("reading the roster"))?;
    rows.into_iter().map(RosterEntry::try_from).collect()
}
