//! The `Store` contract, written once and run against SQLite (a temp file) and
//! PostgreSQL (a fresh database per test, see `testkit::postgres`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use rollcall::store::{
    self, AutoMark, ClassChange, ClassId, NewClass, NewStudent, NewTeacher, PostgresStore,
    RosterEntry, SqliteStore, Store, StoreError, StoreOptions, Student, StudentId, Teacher,
    TeacherId,
};
use sqlx::migrate::{Migration, Migrator};

/// A store under test plus raw access for checks the trait does not expose.
struct Harness {
    store: Arc<dyn Store>,
    raw: Raw,
    _guard: Guard,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

#[allow(dead_code)] // held for their Drop only
enum Guard {
    TempDir(tempfile::TempDir),
    Database(testkit::postgres::TestDatabase),
}

impl Harness {
    async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}",
            dir.path().join("nested/dir/rollcall.db").display()
        );
        let store = SqliteStore::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Harness {
            raw: Raw::Sqlite(store.pool().clone()),
            store: Arc::new(store),
            _guard: Guard::TempDir(dir),
        }
    }

    async fn postgres() -> Harness {
        let db = testkit::postgres::TestDatabase::create().await;
        let store = PostgresStore::connect(db.url(), &StoreOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Harness {
            raw: Raw::Postgres(store.pool().clone()),
            store: Arc::new(store),
            _guard: Guard::Database(db),
        }
    }

    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The `source` column of one attendance record.
    async fn source(&self, student: StudentId, date: NaiveDate) -> Option<String> {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(
                "SELECT source FROM attendance WHERE student_id = ?1 AND date = ?2",
            )
            .bind(student)
            .bind(date)
            .fetch_optional(pool)
            .await
            .unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(
                "SELECT source FROM attendance WHERE student_id = $1 AND date = $2",
            )
            .bind(student)
            .bind(date)
            .fetch_optional(pool)
            .await
            .unwrap(),
        }
    }

    /// Rows in `table` (one of ours).
    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
            Raw::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
        }
    }
}

/// Generates one `#[tokio::test]` per backend for each suite function.
macro_rules! store_suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Harness::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Harness::postgres().await).await;
                }
            )*
        }
    };
}

store_suite!(
    teacher_create_and_conflicts,
    teacher_lookups,
    password_update,
    verified_emails,
    students_create_conflict_and_order,
    delete_student_cascades,
    roster_by_model_and_teacher,
    several_embeddings_per_student,
    cross_teacher_isolation,
    mark_present_is_idempotent,
    mark_present_concurrent_calls_insert_once_per_class,
    admission_sees_concurrent_enrolments,
    manual_set_and_clear,
    attendance_dates_sorted,
    attendance_range_bounds,
    delete_teacher_removes_everything,
    classes_crud,
    class_membership,
    attendance_is_per_class,
    class_and_student_deletion_cascade,
    classes_isolated_between_teachers,
    migrate_twice,
    revoked_tokens_until_they_expire,
);

// --- helpers ---

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, d).unwrap()
}

fn embedding(seed: u32) -> Vec<f32> {
    (0..512).map(|i| ((seed * 1000 + i) as f32).sin()).collect()
}

async fn teacher(store: &dyn Store, name: &str) -> Teacher {
    let email = format!("{name}@school.test");
    store
        .create_teacher(NewTeacher {
            user_id: name,
            email: &email,
            password_hash: "$argon2id$hash",
        })
        .await
        .unwrap()
}

async fn student(store: &dyn Store, teacher: TeacherId, roll_no: &str) -> Student {
    student_with_model(store, teacher, roll_no, "arcface-r100").await
}

async fn student_with_model(
    store: &dyn Store,
    teacher: TeacherId,
    roll_no: &str,
    model_id: &str,
) -> Student {
    let name = format!("Student {roll_no}");
    let seed = roll_no.bytes().map(u32::from).sum();
    store
        .create_student(
            teacher,
            NewStudent {
                name: &name,
                roll_no,
                model_id,
                embedding: &embedding(seed),
            },
        )
        .await
        .unwrap()
}

fn auto(student: &Student) -> AutoMark {
    AutoMark {
        student_id: student.id,
        similarity: 0.75,
    }
}

fn roll_nos(students: &[Student]) -> Vec<&str> {
    students.iter().map(|s| s.roll_no.as_str()).collect()
}

async fn default_class(store: &dyn Store, teacher: TeacherId) -> ClassId {
    store.default_class(teacher).await.unwrap()
}

async fn class(store: &dyn Store, teacher: TeacherId, name: &str) -> ClassId {
    store
        .create_class(teacher, NewClass { name, note: None })
        .await
        .unwrap()
        .id
}

/// Asserts `Err(StoreError::NotFound(what))`.
#[track_caller]
fn not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound(w)) if w == what => {}
        other => panic!("expected NotFound({what:?}), got {other:?}"),
    }
}

fn strings(rolls: &[&str]) -> Vec<String> {
    rolls.iter().map(|r| (*r).to_owned()).collect()
}

/// (roll number, dates) of each row of an attendance range.
fn summary(items: Vec<store::StudentAttendance>) -> Vec<(String, Vec<NaiveDate>)> {
    items
        .into_iter()
        .map(|i| (i.student.roll_no, i.dates))
        .collect()
}

// --- the suite ---

async fn teacher_create_and_conflicts(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    assert_eq!(t.user_id, "alice");
    assert_eq!(t.email, "alice@school.test");
    assert_eq!(t.password_hash, "$argon2id$hash");
    assert!(t.created_at <= Utc::now());

    let same_user_id = store
        .create_teacher(NewTeacher {
            user_id: "alice",
            email: "other@school.test",
            password_hash: "h",
        })
        .await;
    assert!(
        matches!(same_user_id, Err(StoreError::Conflict("user_id"))),
        "{same_user_id:?}"
    );

    let same_email = store
        .create_teacher(NewTeacher {
            user_id: "alice2",
            email: "alice@school.test",
            password_hash: "h",
        })
        .await;
    assert!(
        matches!(same_email, Err(StoreError::Conflict("email"))),
        "{same_email:?}"
    );

    let bob = teacher(store, "bob").await;
    assert_ne!(bob.id, t.id);
}

async fn teacher_lookups(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    assert_eq!(store.teacher_by_id(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(
        store.teacher_by_email("alice@school.test").await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        store.teacher_by_email("nobody@school.test").await.unwrap(),
        None
    );
    assert_eq!(store.teacher_by_id(t.id + 1000).await.unwrap(), None);
    store.ping().await.unwrap();
}

async fn password_update(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let changed_at = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
    assert!(
        store
            .update_password(t.id, "new-hash", changed_at)
            .await
            .unwrap()
    );
    let after = store.teacher_by_id(t.id).await.unwrap().unwrap();
    assert_eq!(after.password_hash, "new-hash");
    assert_eq!(after.password_changed_at, changed_at);
    assert_eq!(after.created_at, t.created_at);
    assert!(
        !store
            .update_password(t.id + 1000, "x", changed_at)
            .await
            .unwrap()
    );
}

async fn verified_emails(h: Harness) {
    let store = h.store();
    assert!(!store.is_email_verified("a@school.test").await.unwrap());
    store.mark_email_verified("a@school.test").await.unwrap();
    store.mark_email_verified("a@school.test").await.unwrap();
    assert!(store.is_email_verified("a@school.test").await.unwrap());
    assert!(!store.is_email_verified("b@school.test").await.unwrap());
}

async fn students_create_conflict_and_order(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let other = teacher(store, "bob").await;
    for roll in ["10", "2", "B1", "1", "A10", "A2", "20"] {
        student(store, t.id, roll).await;
    }
    let listed = store.list_students(t.id).await.unwrap();
    assert_eq!(roll_nos(&listed), ["1", "2", "10", "20", "A2", "A10", "B1"]);
    assert_eq!(listed[0].name, "Student 1");

    let duplicate = store
        .create_student(
            t.id,
            NewStudent {
                name: "Someone else",
                roll_no: "2",
                model_id: "m",
                embedding: &[1.0],
            },
        )
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict("roll_no"))),
        "{duplicate:?}"
    );
    // The failed create left nothing behind.
    assert_eq!(store.list_students(t.id).await.unwrap().len(), 7);
    assert_eq!(h.count("student_embeddings").await, 7);

    // Roll numbers are unique per teacher only.
    student(store, other.id, "2").await;
    let found = store.student_by_roll_no(t.id, "2").await.unwrap().unwrap();
    assert_eq!(found.name, "Student 2");
    assert_eq!(store.student_by_roll_no(t.id, "99").await.unwrap(), None);
}

async fn delete_student_cascades(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let c = default_class(store, t.id).await;
    let s = student(store, t.id, "7").await;
    let keep = student(store, t.id, "8").await;
    store
        .mark_present(t.id, c, day(1), &[auto(&s), auto(&keep)])
        .await
        .unwrap();
    store.set_present(t.id, c, "7", day(2)).await.unwrap();
    assert_eq!(h.count("attendance").await, 3);

    assert!(store.delete_student(t.id, "7").await.unwrap());
    assert!(!store.delete_student(t.id, "7").await.unwrap());
    assert_eq!(store.student_by_roll_no(t.id, "7").await.unwrap(), None);
    assert_eq!(h.count("attendance").await, 1);
    assert_eq!(h.count("student_embeddings").await, 1);
    let roster = store.roster(t.id, "arcface-r100").await.unwrap();
    assert_eq!(roster.len(), 1);
    assert_eq!(roster[0].student_id, keep.id);

    // Re-enrolling the same roll number starts clean.
    let again = student(store, t.id, "7").await;
    assert_ne!(again.id, s.id);
    assert_eq!(
        store.attendance_dates(t.id, c, "7").await.unwrap(),
        Vec::<NaiveDate>::new()
    );
}

async fn roster_by_model_and_teacher(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let other = teacher(store, "bob").await;
    let a = student_with_model(store, t.id, "1", "model-a").await;
    let b = student_with_model(store, t.id, "2", "model-b").await;
    student_with_model(store, other.id, "3", "model-a").await;

    let roster = store.roster(t.id, "model-a").await.unwrap();
    assert_eq!(roster.len(), 1);
    assert_eq!(roster[0].student_id, a.id);
    assert_eq!(roster[0].roll_no, "1");
    assert_eq!(roster[0].name, "Student 1");
    let seed = "1".bytes().map(u32::from).sum();
    assert_eq!(
        roster[0].embedding,
        embedding(seed),
        "embeddings round-trip bit for bit"
    );

    let roster_b = store.roster(t.id, "model-b").await.unwrap();
    assert_eq!(roster_b.len(), 1);
    assert_eq!(roster_b[0].student_id, b.id);
    assert!(store.roster(t.id, "model-c").await.unwrap().is_empty());
    assert!(store.roster(other.id, "model-b").await.unwrap().is_empty());
}

async fn several_embeddings_per_student(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let other = teacher(store, "bob").await;
    let s = student_with_model(store, t.id, "1", "model-a").await;
    let second = embedding(77);
    let upgraded = vec![0.25_f32; 128];
    assert_eq!(
        store
            .add_embedding(t.id, "1", "model-a", &second)
            .await
            .unwrap(),
        Some(())
    );
    assert_eq!(
        store
            .add_embedding(t.id, "1", "model-b", &upgraded)
            .await
            .unwrap(),
        Some(())
    );
    assert_eq!(
        store
            .add_embedding(t.id, "2", "model-a", &second)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .add_embedding(other.id, "1", "model-a", &second)
            .await
            .unwrap(),
        None
    );

    let roster = store.roster(t.id, "model-a").await.unwrap();
    assert_eq!(roster.len(), 2);
    assert!(roster.iter().all(|e| e.student_id == s.id));
    assert_eq!(roster[1].embedding, second);
    let roster_b = store.roster(t.id, "model-b").await.unwrap();
    assert_eq!(roster_b.len(), 1);
    assert_eq!(roster_b[0].embedding, upgraded);

    assert!(store.delete_student(t.id, "1").await.unwrap());
    assert_eq!(h.count("student_embeddings").await, 0);
}

async fn cross_teacher_isolation(h: Harness) {
    let store = h.store();
    let a = teacher(store, "alice").await;
    let b = teacher(store, "bob").await;
    let ca = default_class(store, a.id).await;
    let cb = default_class(store, b.id).await;
    let s = student(store, a.id, "1").await;
    store
        .mark_present(a.id, ca, day(1), &[auto(&s)])
        .await
        .unwrap();

    assert!(store.list_students(b.id).await.unwrap().is_empty());
    assert_eq!(store.student_by_roll_no(b.id, "1").await.unwrap(), None);
    assert!(!store.delete_student(b.id, "1").await.unwrap());
    assert!(store.roster(b.id, "arcface-r100").await.unwrap().is_empty());
    assert_eq!(
        store
            .mark_present(b.id, cb, day(2), &[auto(&s)])
            .await
            .unwrap(),
        Vec::<StudentId>::new()
    );
    not_found(store.set_present(b.id, cb, "1", day(3)).await, "student");
    not_found(store.clear_present(b.id, cb, "1", day(1)).await, "student");
    not_found(store.attendance_dates(b.id, cb, "1").await, "student");
    assert!(
        store
            .attendance_range(b.id, cb, None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.delete_teacher(b.id + 1000).await.unwrap());

    // A's data is untouched.
    assert_eq!(
        store.attendance_dates(a.id, ca, "1").await.unwrap(),
        vec![day(1)]
    );
    assert_eq!(store.list_students(a.id).await.unwrap().len(), 1);
}

async fn mark_present_is_idempotent(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let other = teacher(store, "bob").await;
    let c = default_class(store, t.id).await;
    let s1 = student(store, t.id, "1").await;
    let s2 = student(store, t.id, "2").await;
    let foreign = student(store, other.id, "1").await;

    assert!(
        store
            .mark_present(t.id, c, day(1), &[])
            .await
            .unwrap()
            .is_empty()
    );
    let mut first = store
        .mark_present(t.id, c, day(1), &[auto(&s1), auto(&foreign), auto(&s1)])
        .await
        .unwrap();
    first.sort_unstable();
    assert_eq!(first, vec![s1.id]);
    let second = store
        .mark_present(t.id, c, day(1), &[auto(&s1), auto(&s2)])
        .await
        .unwrap();
    assert_eq!(second, vec![s2.id]);
    assert!(
        store
            .mark_present(t.id, c, day(1), &[auto(&s1), auto(&s2)])
            .await
            .unwrap()
            .is_empty()
    );
    // Another day is another record.
    assert_eq!(
        store
            .mark_present(t.id, c, day(2), &[auto(&s1)])
            .await
            .unwrap(),
        vec![s1.id]
    );
    assert_eq!(h.count("attendance").await, 3);
    assert_eq!(h.source(s1.id, day(1)).await.as_deref(), Some("auto"));
    let other_class = default_class(store, other.id).await;
    assert_eq!(
        store
            .attendance_dates(other.id, other_class, "1")
            .await
            .unwrap(),
        Vec::<NaiveDate>::new()
    );
}

/// Ten simultaneous photos of the same students in each of two classes that share them:
/// every student is newly marked exactly once per class.
async fn mark_present_concurrent_calls_insert_once_per_class(h: Harness) {
    let t = teacher(h.store(), "alice").await;
    let maths = default_class(h.store(), t.id).await;
    let science = class(h.store(), t.id, "7B Science").await;
    let mut students = Vec::new();
    for roll in 1..=12 {
        students.push(student(h.store(), t.id, &roll.to_string()).await);
    }
    let rolls: Vec<String> = students.iter().map(|s| s.roll_no.clone()).collect();
    h.store().add_members(t.id, science, &rolls).await.unwrap();
    let marks: Arc<Vec<AutoMark>> = Arc::new(students.iter().map(auto).collect());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&h.store);
        let marks = Arc::clone(&marks);
        let class = if i % 2 == 0 { maths } else { science };
        tasks.push(tokio::spawn(async move {
            let inserted = store.mark_present(t.id, class, day(5), &marks).await;
            (class, inserted)
        }));
    }
    let mut inserted_in_maths = Vec::new();
    let mut inserted_in_science = Vec::new();
    for task in tasks {
        let (class, inserted) = task.await.unwrap();
        if class == maths {
            inserted_in_maths.extend(inserted.unwrap());
        } else {
            inserted_in_science.extend(inserted.unwrap());
        }
    }
    let mut expected: Vec<StudentId> = students.iter().map(|s| s.id).collect();
    expected.sort_unstable();
    inserted_in_maths.sort_unstable();
    inserted_in_science.sort_unstable();
    assert_eq!(
        inserted_in_maths, expected,
        "each student newly marked by exactly one call in the first class"
    );
    assert_eq!(
        inserted_in_science, expected,
        "each student newly marked by exactly one call in the second class"
    );
    assert_eq!(h.count("attendance").await, 24);
    for s in &students {
        for c in [maths, science] {
            assert_eq!(
                h.store()
                    .attendance_dates(t.id, c, &s.roll_no)
                    .await
                    .unwrap(),
                vec![day(5)]
            );
        }
    }
}

/// Eight enrolments of one face under eight roll numbers at the same moment, each admitted
/// only if the face is not on the roster yet: exactly one gets in. The roster the check
/// sees is the teacher's whole roster, whatever class each enrolment goes to.
async fn admission_sees_concurrent_enrolments(h: Harness) {
    let t = teacher(h.store(), "alice").await;
    let default = default_class(h.store(), t.id).await;
    let other = class(h.store(), t.id, "7B").await;
    let face = Arc::new(embedding(7));
    let mut tasks = Vec::new();
    for roll in 1..=8 {
        let store = Arc::clone(&h.store);
        let face = Arc::clone(&face);
        let class = if roll % 2 == 0 { default } else { other };
        tasks.push(tokio::spawn(async move {
            let admit = |roster: &[RosterEntry]| {
                // Widen the window between reading the roster and inserting.
                std::thread::sleep(std::time::Duration::from_millis(20));
                match roster.iter().find(|e| e.embedding == *face) {
                    Some(twin) => Err(format!("already enrolled as {}", twin.roll_no)),
                    None => Ok(()),
                }
            };
            let roll_no = roll.to_string();
            store
                .create_student_in(
                    t.id,
                    class,
                    NewStudent {
                        name: "Twin",
                        roll_no: &roll_no,
                        model_id: "arcface-r100",
                        embedding: &face,
                    },
                    &admit,
                )
                .await
        }));
    }
    let mut admitted = Vec::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(student) => admitted.push(student.roll_no),
            Err(StoreError::Refused(reason)) => {
                assert!(reason.starts_with("already enrolled as "), "{reason}");
                refused += 1;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(admitted.len(), 1, "admitted {admitted:?}");
    assert_eq!(refused, 7);
    assert_eq!(h.count("students").await, 1);
    assert_eq!(h.count("student_embeddings").await, 1);
    assert_eq!(h.count("class_members").await, 1);
    // A refusal changes nothing; another face still gets in.
    student(h.store(), t.id, "9").await;
    assert_eq!(h.count("students").await, 2);
}

async fn manual_set_and_clear(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let c = default_class(store, t.id).await;
    let s = student(store, t.id, "1").await;
    store
        .mark_present(t.id, c, day(1), &[auto(&s)])
        .await
        .unwrap();
    assert_eq!(h.source(s.id, day(1)).await.as_deref(), Some("auto"));

    // An auto record becomes manual; still one record.
    store.set_present(t.id, c, "1", day(1)).await.unwrap();
    assert_eq!(h.source(s.id, day(1)).await.as_deref(), Some("manual"));
    store.set_present(t.id, c, "1", day(1)).await.unwrap();
    store.set_present(t.id, c, "1", day(2)).await.unwrap();
    assert_eq!(h.source(s.id, day(2)).await.as_deref(), Some("manual"));
    assert_eq!(
        store.attendance_dates(t.id, c, "1").await.unwrap(),
        vec![day(1), day(2)]
    );
    // A manual record is not overwritten by a later automatic mark.
    assert!(
        store
            .mark_present(t.id, c, day(2), &[auto(&s)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.source(s.id, day(2)).await.as_deref(), Some("manual"));

    assert!(store.clear_present(t.id, c, "1", day(1)).await.unwrap());
    assert!(!store.clear_present(t.id, c, "1", day(1)).await.unwrap());
    not_found(store.clear_present(t.id, c, "404", day(1)).await, "student");
    not_found(store.set_present(t.id, c, "404", day(1)).await, "student");
    assert_eq!(
        store.attendance_dates(t.id, c, "1").await.unwrap(),
        vec![day(2)]
    );
}

async fn attendance_dates_sorted(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let c = default_class(store, t.id).await;
    let s = student(store, t.id, "1").await;
    student(store, t.id, "2").await;
    for d in [17, 3, 28, 9] {
        store
            .mark_present(t.id, c, day(d), &[auto(&s)])
            .await
            .unwrap();
    }
    store.set_present(t.id, c, "1", day(1)).await.unwrap();
    assert_eq!(
        store.attendance_dates(t.id, c, "1").await.unwrap(),
        vec![day(1), day(3), day(9), day(17), day(28)]
    );
    assert_eq!(
        store.attendance_dates(t.id, c, "2").await.unwrap(),
        Vec::<NaiveDate>::new()
    );
    not_found(store.attendance_dates(t.id, c, "3").await, "student");
}

async fn attendance_range_bounds(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let c = default_class(store, t.id).await;
    let s10 = student(store, t.id, "10").await;
    let s2 = student(store, t.id, "2").await;
    student(store, t.id, "3").await; // never present
    for d in [1, 5, 10] {
        store
            .mark_present(t.id, c, day(d), &[auto(&s10)])
            .await
            .unwrap();
    }
    store
        .mark_present(t.id, c, day(5), &[auto(&s2)])
        .await
        .unwrap();
    store.set_present(t.id, c, "2", day(11)).await.unwrap();

    let range = |start, end| store.attendance_range(t.id, c, start, end);
    let all = summary(range(None, None).await.unwrap());
    assert_eq!(
        all,
        vec![
            ("2".to_owned(), vec![day(5), day(11)]),
            ("3".to_owned(), vec![]),
            ("10".to_owned(), vec![day(1), day(5), day(10)]),
        ]
    );
    let inclusive = summary(range(Some(day(5)), Some(day(10))).await.unwrap());
    assert_eq!(
        inclusive,
        vec![
            ("2".to_owned(), vec![day(5)]),
            ("3".to_owned(), vec![]),
            ("10".to_owned(), vec![day(5), day(10)]),
        ]
    );
    let from = summary(range(Some(day(10)), None).await.unwrap());
    assert_eq!(from[0].1, vec![day(11)]);
    assert_eq!(from[2].1, vec![day(10)]);
    let until = summary(range(None, Some(day(1))).await.unwrap());
    assert_eq!(until[2].1, vec![day(1)]);
    assert!(until[0].1.is_empty());
    // An empty range still lists every member, with no dates.
    let empty = summary(range(Some(day(20)), Some(day(19))).await.unwrap());
    assert_eq!(empty.len(), 3);
    assert!(empty.iter().all(|(_, dates)| dates.is_empty()));
}

async fn delete_teacher_removes_everything(h: Harness) {
    let store = h.store();
    store
        .mark_email_verified("alice@school.test")
        .await
        .unwrap();
    store.mark_email_verified("bob@school.test").await.unwrap();
    let a = teacher(store, "alice").await;
    let b = teacher(store, "bob").await;
    let ca = default_class(store, a.id).await;
    let cb = default_class(store, b.id).await;
    let extra = class(store, a.id, "7B").await;
    let sa = student(store, a.id, "1").await;
    student(store, a.id, "2").await;
    let sb = student(store, b.id, "1").await;
    store
        .add_members(a.id, extra, &["1".to_owned()])
        .await
        .unwrap();
    store
        .mark_present(a.id, ca, day(1), &[auto(&sa)])
        .await
        .unwrap();
    store
        .mark_present(a.id, extra, day(1), &[auto(&sa)])
        .await
        .unwrap();
    store
        .mark_present(b.id, cb, day(1), &[auto(&sb)])
        .await
        .unwrap();

    assert!(store.delete_teacher(a.id).await.unwrap());
    assert!(!store.delete_teacher(a.id).await.unwrap());
    assert_eq!(store.teacher_by_id(a.id).await.unwrap(), None);
    assert_eq!(
        store.teacher_by_email("alice@school.test").await.unwrap(),
        None
    );
    assert!(!store.is_email_verified("alice@school.test").await.unwrap());
    assert!(store.list_students(a.id).await.unwrap().is_empty());
    assert!(store.list_classes(a.id).await.unwrap().is_empty());
    assert_eq!(h.count("teachers").await, 1);
    assert_eq!(h.count("students").await, 1);
    assert_eq!(h.count("student_embeddings").await, 1);
    assert_eq!(h.count("classes").await, 1);
    assert_eq!(h.count("class_members").await, 1);
    assert_eq!(h.count("attendance").await, 1);

    // Bob is untouched, and alice can sign up again.
    assert!(store.is_email_verified("bob@school.test").await.unwrap());
    assert_eq!(
        store.attendance_dates(b.id, cb, "1").await.unwrap(),
        vec![day(1)]
    );
    teacher(store, "alice").await;
}

async fn revoked_tokens_until_they_expire(h: Harness) {
    let store = h.store();
    let now = chrono::Utc::now().timestamp();
    let (live, expired, other) = (
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    store.revoke_token(live, now + 3600).await.unwrap();
    // Idempotent.
    store.revoke_token(live, now + 3600).await.unwrap();
    store.revoke_token(expired, now - 5).await.unwrap();
    assert!(store.is_token_revoked(live).await.unwrap());
    assert!(!store.is_token_revoked(other).await.unwrap());
    // Past its expiry a revocation no longer matters, and the next revocation sweeps it out.
    assert!(!store.is_token_revoked(expired).await.unwrap());
    store.revoke_token(other, now + 60).await.unwrap();
    assert_eq!(h.count("revoked_tokens").await, 2);
}

async fn classes_crud(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    // The account comes with its default class.
    let listed = store.list_classes(t.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, store::DEFAULT_CLASS_NAME);
    assert!(listed[0].is_default);
    assert_eq!(listed[0].students, 0);
    assert_eq!(listed[0].id, default_class(store, t.id).await);

    let maths = store
        .create_class(
            t.id,
            NewClass {
                name: "7B Maths",
                note: Some("Room 12"),
            },
        )
        .await
        .unwrap();
    assert_eq!(maths.name, "7B Maths");
    assert_eq!(maths.note.as_deref(), Some("Room 12"));
    assert!(!maths.is_default);
    assert_eq!(maths.students, 0);
    assert_eq!(store.class(t.id, maths.id).await.unwrap(), maths);
    // Names are unique per teacher, ignoring case.
    let taken = store
        .create_class(
            t.id,
            NewClass {
                name: "7b MATHS",
                note: None,
            },
        )
        .await;
    assert!(
        matches!(taken, Err(StoreError::Conflict("name"))),
        "{taken:?}"
    );
    class(store, t.id, "10A Physics").await;
    class(store, t.id, "7B Art").await;
    let names: Vec<String> = store
        .list_classes(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(
        names,
        [
            store::DEFAULT_CLASS_NAME,
            "7B Art",
            "7B Maths",
            "10A Physics"
        ],
        "default first, then by name, numeric-aware"
    );

    // Rename, change and remove the note.
    let renamed = store
        .update_class(
            t.id,
            maths.id,
            ClassChange {
                name: Some("7B Mathematics"),
                note: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.name, "7B Mathematics");
    assert_eq!(renamed.note.as_deref(), Some("Room 12"));
    let noted = store
        .update_class(
            t.id,
            maths.id,
            ClassChange {
                name: None,
                note: Some(Some("Room 4")),
            },
        )
        .await
        .unwrap();
    assert_eq!(noted.note.as_deref(), Some("Room 4"));
    let cleared = store
        .update_class(
            t.id,
            maths.id,
            ClassChange {
                name: None,
                note: Some(None),
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.note, None);
    assert_eq!(cleared.name, "7B Mathematics");
    // Another class's name is taken; the class's own name in other letters is not.
    let clash = store
        .update_class(
            t.id,
            maths.id,
            ClassChange {
                name: Some("7b art"),
                note: None,
            },
        )
        .await;
    assert!(
        matches!(clash, Err(StoreError::Conflict("name"))),
        "{clash:?}"
    );
    let recased = store
        .update_class(
            t.id,
            maths.id,
            ClassChange {
                name: Some("7B MATHEMATICS"),
                note: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(recased.name, "7B MATHEMATICS");
    // The default class can be renamed but not deleted.
    let default = default_class(store, t.id).await;
    let renamed_default = store
        .update_class(
            t.id,
            default,
            ClassChange {
                name: Some("Homeroom"),
                note: None,
            },
        )
        .await
        .unwrap();
    assert!(renamed_default.is_default);
    assert!(matches!(
        store.delete_class(t.id, default).await,
        Err(StoreError::Refused(_))
    ));
    assert_eq!(default_class(store, t.id).await, default);

    store.delete_class(t.id, maths.id).await.unwrap();
    not_found(store.delete_class(t.id, maths.id).await, "class");
    not_found(store.class(t.id, maths.id).await, "class");
    not_found(
        store
            .update_class(t.id, maths.id, ClassChange::default())
            .await,
        "class",
    );
    assert_eq!(store.list_classes(t.id).await.unwrap().len(), 3);
    // The name is free again.
    class(store, t.id, "7B Mathematics").await;
}

async fn class_membership(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let default = default_class(store, t.id).await;
    let maths = class(store, t.id, "7B Maths").await;
    for roll in ["1", "2", "10"] {
        student(store, t.id, roll).await;
    }
    // Enrolled straight into a class: a member of that class only.
    let direct = store
        .create_student_in(
            t.id,
            maths,
            NewStudent {
                name: "Direct",
                roll_no: "3",
                model_id: "arcface-r100",
                embedding: &embedding(3),
            },
            &|_| Ok(()),
        )
        .await
        .unwrap();
    let roll_nos_of = |students: Vec<Student>| -> Vec<String> {
        students.into_iter().map(|s| s.roll_no).collect()
    };
    assert_eq!(
        roll_nos_of(store.class_students(t.id, default).await.unwrap()),
        ["1", "2", "10"]
    );
    assert_eq!(
        roll_nos_of(store.class_students(t.id, maths).await.unwrap()),
        ["3"]
    );
    assert_eq!(
        roll_nos(&store.list_students(t.id).await.unwrap()),
        ["1", "2", "3", "10"],
        "every student of the teacher, whatever their classes"
    );

    // Adding: all or nothing.
    let refused = store
        .add_members(t.id, maths, &strings(&["10", "404", "1", "405", "404"]))
        .await
        .unwrap();
    assert_eq!(refused.unknown, ["404", "405"]);
    assert!(refused.added.is_empty());
    assert_eq!(store.class(t.id, maths).await.unwrap().students, 1);
    let added = store
        .add_members(t.id, maths, &strings(&["10", "3", "1", "10"]))
        .await
        .unwrap();
    assert_eq!(roll_nos(&added.added), ["1", "10"]);
    assert_eq!(roll_nos(&added.already_members), ["3"]);
    assert!(added.unknown.is_empty());
    assert_eq!(
        roll_nos_of(store.class_students(t.id, maths).await.unwrap()),
        ["1", "3", "10"]
    );
    assert_eq!(store.class(t.id, maths).await.unwrap().students, 3);
    let again = store
        .add_members(t.id, maths, &strings(&["1"]))
        .await
        .unwrap();
    assert!(again.added.is_empty());
    assert_eq!(roll_nos(&again.already_members), ["1"]);

    // The class roster: members, and the teacher's other students.
    let roster = store
        .class_roster(t.id, maths, "arcface-r100")
        .await
        .unwrap();
    let mut members: Vec<&str> = roster.members.iter().map(|e| e.roll_no.as_str()).collect();
    members.sort_unstable();
    assert_eq!(members, ["1", "10", "3"]);
    let others: Vec<&str> = roster.others.iter().map(|e| e.roll_no.as_str()).collect();
    assert_eq!(others, ["2"]);
    assert_eq!(
        roster
            .members
            .iter()
            .find(|e| e.student_id == direct.id)
            .map(|e| &e.embedding),
        Some(&embedding(3))
    );
    assert!(
        store
            .class_roster(t.id, maths, "other-model")
            .await
            .unwrap()
            .members
            .is_empty()
    );

    // Removing a membership keeps the student.
    store.remove_member(t.id, maths, "1").await.unwrap();
    not_found(store.remove_member(t.id, maths, "1").await, "student");
    not_found(store.remove_member(t.id, maths, "404").await, "student");
    assert_eq!(
        roll_nos_of(store.class_students(t.id, maths).await.unwrap()),
        ["3", "10"]
    );
    assert!(store.student_by_roll_no(t.id, "1").await.unwrap().is_some());
    // The default class is a class like any other.
    store.remove_member(t.id, default, "2").await.unwrap();
    assert_eq!(
        roll_nos_of(store.class_students(t.id, default).await.unwrap()),
        ["1", "10"]
    );
    assert_eq!(store.list_students(t.id).await.unwrap().len(), 4);
}

async fn attendance_is_per_class(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let maths = default_class(store, t.id).await;
    let science = class(store, t.id, "7B Science").await;
    let both = student(store, t.id, "1").await;
    let only_maths = student(store, t.id, "2").await;
    store
        .add_members(t.id, science, &strings(&["1"]))
        .await
        .unwrap();

    // Marked in maths: present there, not in science.
    assert_eq!(
        store
            .mark_present(t.id, maths, day(1), &[auto(&both), auto(&only_maths)])
            .await
            .unwrap(),
        {
            let mut ids = vec![both.id, only_maths.id];
            ids.sort_unstable();
            ids
        }
    );
    assert_eq!(
        store.attendance_dates(t.id, science, "1").await.unwrap(),
        Vec::<NaiveDate>::new()
    );
    // Marking science the same day is a new record there; a non-member is ignored.
    assert_eq!(
        store
            .mark_present(t.id, science, day(1), &[auto(&both), auto(&only_maths)])
            .await
            .unwrap(),
        vec![both.id]
    );
    assert_eq!(h.count("attendance").await, 3);
    // Corrections are per class.
    store.set_present(t.id, science, "1", day(2)).await.unwrap();
    assert!(store.clear_present(t.id, maths, "1", day(1)).await.unwrap());
    assert_eq!(
        store.attendance_dates(t.id, maths, "1").await.unwrap(),
        Vec::<NaiveDate>::new()
    );
    assert_eq!(
        store.attendance_dates(t.id, science, "1").await.unwrap(),
        vec![day(1), day(2)]
    );
    // A student of the teacher who is not a member: no dates, and no corrections.
    assert_eq!(
        store.attendance_dates(t.id, science, "2").await.unwrap(),
        Vec::<NaiveDate>::new()
    );
    not_found(
        store.set_present(t.id, science, "2", day(3)).await,
        "student",
    );
    not_found(
        store.clear_present(t.id, science, "2", day(1)).await,
        "student",
    );
    // Reports list the class's members only.
    assert_eq!(
        summary(
            store
                .attendance_range(t.id, science, None, None)
                .await
                .unwrap()
        ),
        vec![("1".to_owned(), vec![day(1), day(2)])]
    );
    assert_eq!(
        summary(
            store
                .attendance_range(t.id, maths, None, None)
                .await
                .unwrap()
        ),
        vec![("1".to_owned(), vec![]), ("2".to_owned(), vec![day(1)])]
    );
}

async fn class_and_student_deletion_cascade(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let maths = default_class(store, t.id).await;
    let science = class(store, t.id, "7B Science").await;
    let art = class(store, t.id, "7B Art").await;
    let s1 = student(store, t.id, "1").await;
    let s2 = student(store, t.id, "2").await;
    for c in [science, art] {
        store
            .add_members(t.id, c, &strings(&["1", "2"]))
            .await
            .unwrap();
    }
    for c in [maths, science, art] {
        store
            .mark_present(t.id, c, day(1), &[auto(&s1), auto(&s2)])
            .await
            .unwrap();
    }
    assert_eq!(h.count("attendance").await, 6);
    assert_eq!(h.count("class_members").await, 6);

    // Deleting a class: its memberships and attendance go, the students stay.
    store.delete_class(t.id, science).await.unwrap();
    assert_eq!(h.count("class_members").await, 4);
    assert_eq!(h.count("attendance").await, 4);
    assert_eq!(h.count("students").await, 2);
    assert_eq!(h.count("student_embeddings").await, 2);
    not_found(store.class_students(t.id, science).await, "class");
    assert_eq!(
        store.attendance_dates(t.id, art, "1").await.unwrap(),
        vec![day(1)]
    );

    // Leaving a class takes the attendance in it, not elsewhere.
    store.remove_member(t.id, art, "2").await.unwrap();
    assert_eq!(h.count("attendance").await, 3);
    assert_eq!(
        store.attendance_dates(t.id, maths, "2").await.unwrap(),
        vec![day(1)]
    );
    // Re-joining starts with no attendance in that class.
    store
        .add_members(t.id, art, &strings(&["2"]))
        .await
        .unwrap();
    assert_eq!(
        store.attendance_dates(t.id, art, "2").await.unwrap(),
        Vec::<NaiveDate>::new()
    );

    // Deleting a student removes them from every class.
    assert!(store.delete_student(t.id, "1").await.unwrap());
    for c in [maths, art] {
        let members = store.class_students(t.id, c).await.unwrap();
        assert_eq!(roll_nos(&members), ["2"]);
    }
    assert_eq!(h.count("class_members").await, 2);
    assert_eq!(h.count("attendance").await, 1);
    assert_eq!(store.class(t.id, art).await.unwrap().students, 1);
}

async fn classes_isolated_between_teachers(h: Harness) {
    let store = h.store();
    let a = teacher(store, "alice").await;
    let b = teacher(store, "bob").await;
    let a_class = class(store, a.id, "7B").await;
    let a_default = default_class(store, a.id).await;
    let s = student(store, a.id, "1").await;
    store
        .add_members(a.id, a_class, &strings(&["1"]))
        .await
        .unwrap();
    store
        .mark_present(a.id, a_class, day(1), &[auto(&s)])
        .await
        .unwrap();
    // The same class name is fine for another teacher.
    let b_class = class(store, b.id, "7B").await;
    assert_ne!(default_class(store, b.id).await, a_default);

    // Bob cannot see or touch alice's classes: "not found", like a class that does not
    // exist.
    let unknown: ClassId = a_class + 1000;
    for c in [a_class, a_default, unknown] {
        not_found(store.class(b.id, c).await, "class");
        not_found(
            store
                .update_class(
                    b.id,
                    c,
                    ClassChange {
                        name: Some("mine"),
                        note: None,
                    },
                )
                .await,
            "class",
        );
        not_found(store.delete_class(b.id, c).await, "class");
        not_found(store.class_students(b.id, c).await, "class");
        not_found(store.add_members(b.id, c, &strings(&["1"])).await, "class");
        not_found(store.remove_member(b.id, c, "1").await, "class");
        not_found(store.class_roster(b.id, c, "arcface-r100").await, "class");
        not_found(
            store.mark_present(b.id, c, day(2), &[auto(&s)]).await,
            "class",
        );
        not_found(store.set_present(b.id, c, "1", day(2)).await, "class");
        not_found(store.clear_present(b.id, c, "1", day(1)).await, "class");
        not_found(store.attendance_dates(b.id, c, "1").await, "class");
        not_found(store.attendance_range(b.id, c, None, None).await, "class");
        not_found(
            store
                .create_student_in(
                    b.id,
                    c,
                    NewStudent {
                        name: "x",
                        roll_no: "9",
                        model_id: "m",
                        embedding: &[1.0],
                    },
                    &|_| Ok(()),
                )
                .await,
            "class",
        );
    }
    // Alice's students cannot join bob's class, nor be marked there.
    let refused = store
        .add_members(b.id, b_class, &strings(&["1"]))
        .await
        .unwrap();
    assert_eq!(refused.unknown, ["1"]);
    assert!(
        store
            .mark_present(b.id, b_class, day(1), &[auto(&s)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .class_students(b.id, b_class)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.list_students(b.id).await.unwrap().is_empty());

    // Alice's data is untouched.
    let a_classes = store.list_classes(a.id).await.unwrap();
    assert_eq!(a_classes.len(), 2);
    assert_eq!(a_classes[1].name, "7B");
    assert_eq!(a_classes[1].students, 1);
    assert_eq!(
        store.attendance_dates(a.id, a_class, "1").await.unwrap(),
        vec![day(1)]
    );
    assert_eq!(h.count("attendance").await, 1);
}

async fn migrate_twice(h: Harness) {
    h.store().migrate().await.unwrap();
    h.store().migrate().await.unwrap();
    let t = teacher(h.store(), "alice").await;
    assert!(h.store().teacher_by_id(t.id).await.unwrap().is_some());
}

// --- the migration to classes, on a database of the previous schema ---

/// The version of the migration that introduced classes.
const CLASSES_MIGRATION: i64 = 20261202000100;

/// A migrator with only the migrations before [`CLASSES_MIGRATION`] (the schema of the
/// release before classes), read from the crate's migration folder for `backend`.
async fn previous_schema(backend: &str) -> Migrator {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let mut migrator = Migrator::new(dir).await.unwrap();
    let previous: Vec<Migration> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < CLASSES_MIGRATION)
        .cloned()
        .collect();
    assert!(!previous.is_empty());
    assert!(
        migrator
            .migrations
            .iter()
            .any(|m| m.version == CLASSES_MIGRATION),
        "the classes migration exists"
    );
    migrator.migrations = previous.into();
    migrator
}

impl Harness {
    /// A SQLite store whose database has the previous schema (not migrated further).
    async fn sqlite_previous_schema() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("rollcall.db").display());
        let store = SqliteStore::connect(&url, &StoreOptions::default())
            .await
            .unwrap();
        previous_schema("sqlite")
            .await
            .run(store.pool())
            .await
            .unwrap();
        Harness {
            raw: Raw::Sqlite(store.pool().clone()),
            store: Arc::new(store),
            _guard: Guard::TempDir(dir),
        }
    }

    /// A PostgreSQL store whose database has the previous schema (not migrated further).
    async fn postgres_previous_schema() -> Harness {
        let db = testkit::postgres::TestDatabase::create().await;
        let store = PostgresStore::connect(db.url(), &StoreOptions::default())
            .await
            .unwrap();
        previous_schema("postgres")
            .await
            .run(store.pool())
            .await
            .unwrap();
        Harness {
            raw: Raw::Postgres(store.pool().clone()),
            store: Arc::new(store),
            _guard: Guard::Database(db),
        }
    }

    /// Runs raw SQL statements (one per item).
    async fn execute(&self, statements: &[String]) {
        for sql in statements {
            let result = match &self.raw {
                Raw::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
                Raw::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
            };
            result.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}

/// Rows as the previous release wrote them: two teachers, four students with embeddings,
/// attendance (auto and manual) on two days.
fn previous_release_rows(postgres: bool) -> Vec<String> {
    let ts = |t: &str| {
        if postgres {
            format!("'{t}'::timestamptz")
        } else {
            format!("'{t}'")
        }
    };
    let date = |d: &str| {
        if postgres {
            format!("'{d}'::date")
        } else {
            format!("'{d}'")
        }
    };
    // [1.0, 0.0] as little-endian f32.
    let embedding = if postgres {
        "'\\x0000803f00000000'::bytea"
    } else {
        "X'0000803f00000000'"
    };
    let mut rows = Vec::new();
    for (user, created) in [
        ("alice", "2025-01-01T08:00:00+00:00"),
        ("bob", "2025-01-05T08:00:00+00:00"),
    ] {
        rows.push(format!(
            "INSERT INTO teachers (user_id, email, password_hash, password_changed_at, created_at)
             VALUES ('{user}', '{user}@school.test', 'h', {c}, {c})",
            c = ts(created)
        ));
    }
    for (user, roll, name) in [
        ("alice", "1", "Ada"),
        ("alice", "10", "Alan"),
        ("alice", "2", "Grace"),
        ("bob", "1", "Linus"),
    ] {
        rows.push(format!(
            "INSERT INTO students (teacher_id, name, roll_no, created_at)
             SELECT id, '{name}', '{roll}', {t} FROM teachers WHERE user_id = '{user}'",
            t = ts("2025-01-10T09:00:00+00:00")
        ));
    }
    rows.push(format!(
        "INSERT INTO student_embeddings (student_id, model_id, dim, embedding, created_at)
         SELECT id, 'arcface-r100', 2, {embedding}, {t} FROM students",
        t = ts("2025-01-10T09:00:00+00:00")
    ));
    for (user, roll, day, source, similarity) in [
        ("alice", "1", "2025-03-01", "auto", "0.8"),
        ("alice", "1", "2025-03-02", "manual", "NULL"),
        ("alice", "2", "2025-03-02", "auto", "0.7"),
        ("bob", "1", "2025-03-01", "auto", "0.9"),
    ] {
        rows.push(format!(
            "INSERT INTO attendance (student_id, date, teacher_id, source, similarity, marked_at)
             SELECT s.id, {d}, s.teacher_id, '{source}', {similarity}, {t}
             FROM students s JOIN teachers t ON t.id = s.teacher_id
             WHERE t.user_id = '{user}' AND s.roll_no = '{roll}'",
            d = date(day),
            t = ts("2025-03-02T10:00:00+00:00")
        ));
    }
    rows
}

async fn migration_moves_existing_data_into_default_class(h: Harness) {
    let postgres = matches!(h.raw, Raw::Postgres(_));
    h.execute(&previous_release_rows(postgres)).await;
    assert_eq!(h.count("attendance").await, 4);

    h.store().migrate().await.unwrap();
    let store = h.store();
    let alice = store
        .teacher_by_email("alice@school.test")
        .await
        .unwrap()
        .unwrap();
    let bob = store
        .teacher_by_email("bob@school.test")
        .await
        .unwrap()
        .unwrap();

    // Each teacher got a default class with every one of their students in it.
    let classes = store.list_classes(alice.id).await.unwrap();
    assert_eq!(classes.len(), 1);
    assert_eq!(classes[0].name, store::DEFAULT_CLASS_NAME);
    assert!(classes[0].is_default);
    assert_eq!(classes[0].students, 3);
    assert_eq!(classes[0].created_at, alice.created_at);
    let ca = classes[0].id;
    assert_eq!(default_class(store, alice.id).await, ca);
    let cb = default_class(store, bob.id).await;
    assert_ne!(ca, cb);
    assert_eq!(
        roll_nos(&store.class_students(alice.id, ca).await.unwrap()),
        ["1", "2", "10"]
    );
    assert_eq!(
        roll_nos(&store.class_students(bob.id, cb).await.unwrap()),
        ["1"]
    );

    // Their attendance moved into it, source and all.
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert_eq!(
        summary(
            store
                .attendance_range(alice.id, ca, None, None)
                .await
                .unwrap()
        ),
        vec![
            ("1".to_owned(), vec![d("2025-03-01"), d("2025-03-02")]),
            ("2".to_owned(), vec![d("2025-03-02")]),
            ("10".to_owned(), vec![]),
        ]
    );
    assert_eq!(
        store.attendance_dates(bob.id, cb, "1").await.unwrap(),
        vec![d("2025-03-01")]
    );
    let ada = store
        .student_by_roll_no(alice.id, "1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h.source(ada.id, d("2025-03-01")).await.as_deref(),
        Some("auto")
    );
    assert_eq!(
        h.source(ada.id, d("2025-03-02")).await.as_deref(),
        Some("manual")
    );
    assert_eq!(h.count("attendance").await, 4);
    let roster = store
        .class_roster(alice.id, ca, "arcface-r100")
        .await
        .unwrap();
    assert_eq!(roster.members.len(), 3);
    assert!(roster.others.is_empty());
    assert!(roster.members.iter().all(|e| e.embedding == [1.0, 0.0]));

    // The migrated data behaves like new data: marking is still idempotent, the new
    // tables work, new accounts get their default class.
    assert!(
        store
            .mark_present(alice.id, ca, d("2025-03-01"), &[auto(&ada)])
            .await
            .unwrap()
            .is_empty()
    );
    let art = class(store, alice.id, "Art").await;
    store
        .add_members(alice.id, art, &strings(&["1", "10"]))
        .await
        .unwrap();
    assert_eq!(
        store
            .mark_present(alice.id, art, d("2025-03-01"), &[auto(&ada)])
            .await
            .unwrap(),
        vec![ada.id]
    );
    assert!(store.delete_student(alice.id, "1").await.unwrap());
    assert_eq!(h.count("attendance").await, 2);
    let carol = teacher(store, "carol").await;
    assert_eq!(store.list_classes(carol.id).await.unwrap().len(), 1);
    store.migrate().await.unwrap();
}

#[tokio::test]
async fn sqlite_migration_moves_existing_data_into_default_class() {
    migration_moves_existing_data_into_default_class(Harness::sqlite_previous_schema().await).await;
}

#[tokio::test]
async fn postgres_migration_moves_existing_data_into_default_class() {
    migration_moves_existing_data_into_default_class(Harness::postgres_previous_schema().await)
        .await;
}

// --- backend-specific ---

#[tokio::test]
async fn connect_chooses_backend_by_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("a/b/c.db").display());
    let sqlite = store::connect(&url, &StoreOptions::default())
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    sqlite.ping().await.unwrap();
    assert!(dir.path().join("a/b/c.db").exists());

    let memory = store::connect("sqlite::memory:", &StoreOptions::default())
        .await
        .unwrap();
    memory.migrate().await.unwrap();
    teacher(memory.as_ref(), "alice").await;
    assert!(
        memory
            .teacher_by_email("alice@school.test")
            .await
            .unwrap()
            .is_some()
    );

    let db = testkit::postgres::TestDatabase::create().await;
    let pg = store::connect(db.url(), &StoreOptions::default())
        .await
        .unwrap();
    pg.migrate().await.unwrap();
    pg.ping().await.unwrap();
    drop(pg);
    db.drop_db().await;

    let unknown =
        store::connect("mysql://root:secret@localhost/db", &StoreOptions::default()).await;
    match unknown {
        Err(StoreError::Internal(msg)) => assert!(!msg.contains("secret"), "{msg}"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("mysql is not supported"),
    }
}

#[tokio::test]
async fn postgres_down_is_unavailable_quickly() {
    let opts = StoreOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
    };
    let started = Instant::now();
    // Nothing listens on port 1.
    let result = store::connect("postgres://postgres:pw@127.0.0.1:1/rollcall", &opts).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn sqlite_foreign_keys_are_enforced() {
    let h = Harness::sqlite().await;
    let Raw::Sqlite(pool) = &h.raw else {
        unreachable!()
    };
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    // A student for a teacher that does not exist is refused (by the store: the teacher has
    // no class; by the database: the foreign key).
    let orphan = h
        .store()
        .create_student(
            12345,
            NewStudent {
                name: "x",
                roll_no: "1",
                model_id: "m",
                embedding: &[0.5],
            },
        )
        .await;
    not_found(orphan, "class");
    let raw = sqlx::query(
        "INSERT INTO students (teacher_id, name, roll_no, created_at) VALUES (12345, 'x', '1', '')",
    )
    .execute(pool)
    .await;
    assert!(raw.is_err(), "{raw:?}");
    // A membership across teachers is refused by the database too.
    let alice = teacher(h.store(), "alice").await;
    let bob = teacher(h.store(), "bob").await;
    let bobs_class = default_class(h.store(), bob.id).await;
    let s = student(h.store(), alice.id, "1").await;
    let cross = sqlx::query(
        "INSERT INTO class_members (teacher_id, class_id, student_id, added_at)
         VALUES (?1, ?2, ?3, '')",
    )
    .bind(alice.id)
    .bind(bobs_class)
    .bind(s.id)
    .execute(pool)
    .await;
    assert!(cross.is_err(), "{cross:?}");
    assert_eq!(h.count("class_members").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_fast_and_recovers() {
    let db = testkit::postgres::TestDatabase::create().await;
    let direct = url::Url::parse(db.url()).unwrap();
    let target = format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap_or(5432)
    );
    let proxy = testkit::proxy::TcpProxy::start(&target).await;
    let mut proxied = direct.clone();
    proxied.set_port(Some(proxy.addr().port())).unwrap();
    let opts = StoreOptions {
        max_connections: 3,
        acquire_timeout: Duration::from_secs(1),
    };
    let store = store::connect(proxied.as_str(), &opts).await.unwrap();
    store.migrate().await.unwrap();
    let t = teacher(store.as_ref(), "alice").await;

    proxy.set_up(false);
    for _ in 0..3 {
        let started = Instant::now();
        let result = store.teacher_by_id(t.id).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));

    proxy.set_up(true);
    let mut recovered = None;
    for _ in 0..50 {
        if let Ok(found) = store.teacher_by_id(t.id).await {
            recovered = found;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(recovered, Some(t));
    store.ping().await.unwrap();
    drop(store);
    db.drop_db().await;
}

/// `bounded.rs` used to put a second deadline on every store call; the PostgreSQL
/// `statement_timeout` (the backend timeout) does it now: a query stuck behind a lock fails
/// as `Unavailable` (503) instead of hanging, and the store works once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statement_stuck_behind_a_lock_is_unavailable_within_the_timeout() {
    use sqlx::Connection;
    let db = testkit::postgres::TestDatabase::create().await;
    let opts = StoreOptions {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
    };
    let store = store::connect(db.url(), &opts).await.unwrap();
    store.migrate().await.unwrap();
    let t = teacher(store.as_ref(), "alice").await;

    let mut locker = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let mut lock = locker.begin().await.unwrap();
    sqlx::query("LOCK TABLE teachers IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let started = Instant::now();
    let result = store.teacher_by_id(t.id).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    lock.rollback().await.unwrap();
    assert_eq!(store.teacher_by_id(t.id).await.unwrap(), Some(t));
    drop(store);
    drop(locker);
    db.drop_db().await;
}
