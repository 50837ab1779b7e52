//! Wrappers that bound every call to the store and the key-value store by a deadline, so
//! that a hung database or Redis turns into a quick 503 instead of a stuck request. The
//! key-value wrapper also puts a prefix in front of every key, so that several instances
//! (or test runs) can share one Redis.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use crate::kv::{KeyValue, KvError};
use crate::store::{
    Admission, AutoMark, Class, ClassChange, ClassId, ClassRoster, MembersAdded, NewClass,
    NewStudent, NewTeacher, RosterEntry, Store, StoreError, Student, StudentAttendance, StudentId,
    Teacher, TeacherId,
};

/// A [`KeyValue`] whose calls fail with [`KvError::Unavailable`] after `timeout`, and whose
/// keys all start with `prefix`.
pub struct BoundedKv {
    inner: Arc<dyn KeyValue>,
    prefix: String,
    timeout: Duration,
}

impl BoundedKv {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn KeyValue>, prefix: impl Into<String>, timeout: Duration) -> Self {
        Self {
            inner,
            prefix: prefix.into(),
            timeout,
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, KvError>>,
    ) -> Result<T, KvError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or_else(|_| Err(KvError::Unavailable("timed out".into())))
    }
}

#[async_trait]
impl KeyValue for BoundedKv {
    async fn ping(&self) -> Result<(), KvError> {
        self.bounded(self.inner.ping()).await
    }
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), KvError> {
        self.bounded(self.inner.set(&self.key(key), value, ttl))
            .await
    }
    async fn set_nx(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, KvError> {
        self.bounded(self.inner.set_nx(&self.key(key), value, ttl))
            .await
    }
    async fn get(&self, key: &str) -> Result<Option<String>, KvError> {
        self.bounded(self.inner.get(&self.key(key))).await
    }
    async fn take(&self, key: &str) -> Result<Option<String>, KvError> {
        self.bounded(self.inner.take(&self.key(key))).await
    }
    async fn delete(&self, key: &str) -> Result<bool, KvError> {
        self.bounded(self.inner.delete(&self.key(key))).await
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<i64, KvError> {
        self.bounded(self.inner.incr(&self.key(key), ttl)).await
    }
    async fn decr(&self, key: &str) -> Result<i64, KvError> {
        self.bounded(self.inner.decr(&self.key(key))).await
    }
    async fn ttl(&self, key: &str) -> Result<Option<Duration>, KvError> {
        self.bounded(self.inner.ttl(&self.key(key))).await
    }
}

/// A [`Store`] whose calls fail with [`StoreError::Unavailable`] after `timeout`.
pub struct BoundedStore {
    inner: Arc<dyn Store>,
    timeout: Duration,
}

impl BoundedStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Store>, timeout: Duration) -> Self {
        Self { inner, timeout }
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, fut)
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("timed out".into())))
    }
}

#[async_trait]
impl Store for BoundedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.bounded(self.inner.ping()).await
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        // Migrations may legitimately take long; not bounded.
        self.inner.migrate().await
    }
    async fn mark_email_verified(&self, email: &str) -> Result<(), StoreError> {
        self.bounded(self.inner.mark_email_verified(email)).await
    }
    async fn is_email_verified(&self, email: &str) -> Result<bool, StoreError> {
        self.bounded(self.inner.is_email_verified(email)).await
    }
    async fn revoke_token(&self, jti: uuid::Uuid, expires_at: i64) -> Result<(), StoreError> {
        self.bounded(self.inner.revoke_token(jti, expires_at)).await
    }
    async fn is_token_revoked(&self, jti: uuid::Uuid) -> Result<bool, StoreError> {
        self.bounded(self.inner.is_token_revoked(jti)).await
    }
    async fn create_teacher(&self, new: NewTeacher<'_>) -> Result<Teacher, StoreError> {
        self.bounded(self.inner.create_teacher(new)).await
    }
    async fn teacher_by_email(&self, email: &str) -> Result<Option<Teacher>, StoreError> {
        self.bounded(self.inner.teacher_by_email(email)).await
    }
    async fn teacher_by_id(&self, id: TeacherId) -> Result<Option<Teacher>, StoreError> {
        self.bounded(self.inner.teacher_by_id(id)).await
    }
    async fn update_password(
        &self,
        id: TeacherId,
        password_hash: &str,
        changed_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.bounded(self.inner.update_password(id, password_hash, changed_at))
            .await
    }
    async fn delete_teacher(&self, id: TeacherId) -> Result<bool, StoreError> {
        self.bounded(self.inner.delete_teacher(id)).await
    }
    async fn create_student_in(
        &self,
        teacher: TeacherId,
        class: ClassId,
        new: NewStudent<'_>,
        admit: Admission<'_>,
    ) -> Result<Student, StoreError> {
        self.bounded(self.inner.create_student_in(teacher, class, new, admit))
            .await
    }
    async fn list_students(&self, teacher: TeacherId) -> Result<Vec<Student>, StoreError> {
        self.bounded(self.inner.list_students(teacher)).await
    }
    async fn student_by_roll_no(
        &self,
        teacher: TeacherId,
        roll_no: &str,
    ) -> Result<Option<Student>, StoreError> {
        self.bounded(self.inner.student_by_roll_no(teacher, roll_no))
            .await
    }
    async fn delete_student(&self, teacher: TeacherId, roll_no: &str) -> Result<bool, StoreError> {
        self.bounded(self.inner.delete_student(teacher, roll_no))
            .await
    }
    async fn add_embedding(
        &self,
        teacher: TeacherId,
        roll_no: &str,
        model_id: &str,
        embedding: &[f32],
    ) -> Result<Option<()>, StoreError> {
        self.bounded(
            self.inner
                .add_embedding(teacher, roll_no, model_id, embedding),
        )
        .await
    }
    async fn roster(
        &self,
        teacher: TeacherId,
        model_id: &str,
    ) -> Result<Vec<RosterEntry>, StoreError> {
        self.bounded(self.inner.roster(teacher, model_id)).await
    }
    async fn default_class(&self, teacher: TeacherId) -> Result<ClassId, StoreError> {
        self.bounded(self.inner.default_class(teacher)).await
    }
    async fn list_classes(&self, teacher: TeacherId) -> Result<Vec<Class>, StoreError> {
        self.bounded(self.inner.list_classes(teacher)).await
    }
    async fn class(&self, teacher: TeacherId, class: ClassId) -> Result<Class, StoreError> {
        self.bounded(self.inner.class(teacher, class)).await
    }
    async fn create_class(
        &self,
        teacher: TeacherId,
        new: NewClass<'_>,
    ) -> Result<Class, StoreError> {
        self.bounded(self.inner.create_class(teacher, new)).await
    }
    async fn update_class(
        &self,
        teacher: TeacherId,
        class: ClassId,
        change: ClassChange<'_>,
    ) -> Result<Class, StoreError> {
        self.bounded(self.inner.update_class(teacher, class, change))
            .await
    }
    async fn delete_class(&self, teacher: TeacherId, class: ClassId) -> Result<(), StoreError> {
        self.bounded(self.inner.delete_class(teacher, class)).await
    }
    async fn class_students(
        &self,
        teacher: TeacherId,
        class: ClassId,
    ) -> Result<Vec<Student>, StoreError> {
        self.bounded(self.inner.class_students(teacher, class))
            .await
    }
    async fn add_members(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_nos: &[String],
    ) -> Result<MembersAdded, StoreError> {
        self.bounded(self.inner.add_members(teacher, class, roll_nos))
            .await
    }
    async fn remove_member(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<(), StoreError> {
        self.bounded(self.inner.remove_member(teacher, class, roll_no))
            .await
    }
    async fn class_roster(
        &self,
        teacher: TeacherId,
        class: ClassId,
        model_id: &str,
    ) -> Result<ClassRoster, StoreError> {
        self.bounded(self.inner.class_roster(teacher, class, model_id))
            .await
    }
    async fn mark_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        date: NaiveDate,
        marks: &[AutoMark],
    ) -> Result<Vec<StudentId>, StoreError> {
        self.bounded(self.inner.mark_present(teacher, class, date, marks))
            .await
    }
    async fn set_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<(), StoreError> {
        self.bounded(self.inner.set_present(teacher, class, roll_no, date))
            .await
    }
    async fn clear_present(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
        date: NaiveDate,
    ) -> Result<bool, StoreError> {
        self.bounded(self.inner.clear_present(teacher, class, roll_no, date))
            .await
    }
    async fn attendance_dates(
        &self,
        teacher: TeacherId,
        class: ClassId,
        roll_no: &str,
    ) -> Result<Vec<NaiveDate>, StoreError> {
        self.bounded(self.inner.attendance_dates(teacher, class, roll_no))
            .await
    }
    async fn attendance_range(
        &self,
        teacher: TeacherId,
        class: ClassId,
        start: Option<NaiveDate>,
        end: Option<NaiveDate>,
    ) -> Result<Vec<StudentAttendance>, StoreError> {
        self.bounded(self.inner.attendance_range(teacher, class, start, end))
            .await
    }
}
