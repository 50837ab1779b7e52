//! The `Store` contract, written once and run against SQLite (a temp file) and
//! PostgreSQL (a fresh database per test, see `testkit::postgres`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeZone, Utc};
use rollcall::store::{
    self, AutoMark, NewStudent, NewTeacher, PostgresStore, RosterEntry, SqliteStore, Store,
    StoreError, StoreOptions, Student, StudentId, Teacher, TeacherId,
};

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
    mark_present_concurrent_calls_insert_once,
    admission_sees_concurrent_enrolments,
    manual_set_and_clear,
    attendance_dates_sorted,
    attendance_range_bounds,
    delete_teacher_removes_everything,
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
    let s = student(store, t.id, "7").await;
    let keep = student(store, t.id, "8").await;
    store
        .mark_present(t.id, day(1), &[auto(&s), auto(&keep)])
        .await
        .unwrap();
    store.set_present(t.id, "7", day(2)).await.unwrap();
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
        store.attendance_dates(t.id, "7").await.unwrap(),
        Some(vec![])
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
    let s = student(store, a.id, "1").await;
    store.mark_present(a.id, day(1), &[auto(&s)]).await.unwrap();

    assert!(store.list_students(b.id).await.unwrap().is_empty());
    assert_eq!(store.student_by_roll_no(b.id, "1").await.unwrap(), None);
    assert!(!store.delete_student(b.id, "1").await.unwrap());
    assert!(store.roster(b.id, "arcface-r100").await.unwrap().is_empty());
    assert_eq!(
        store.mark_present(b.id, day(2), &[auto(&s)]).await.unwrap(),
        Vec::<StudentId>::new()
    );
    assert_eq!(store.set_present(b.id, "1", day(3)).await.unwrap(), None);
    assert_eq!(store.clear_present(b.id, "1", day(1)).await.unwrap(), None);
    assert_eq!(store.attendance_dates(b.id, "1").await.unwrap(), None);
    assert!(
        store
            .attendance_range(b.id, None, None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.delete_teacher(b.id + 1000).await.unwrap());

    // A's data is untouched.
    assert_eq!(
        store.attendance_dates(a.id, "1").await.unwrap(),
        Some(vec![day(1)])
    );
    assert_eq!(store.list_students(a.id).await.unwrap().len(), 1);
}

async fn mark_present_is_idempotent(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let other = teacher(store, "bob").await;
    let s1 = student(store, t.id, "1").await;
    let s2 = student(store, t.id, "2").await;
    let foreign = student(store, other.id, "1").await;

    assert!(
        store
            .mark_present(t.id, day(1), &[])
            .await
            .unwrap()
            .is_empty()
    );
    let mut first = store
        .mark_present(t.id, day(1), &[auto(&s1), auto(&foreign), auto(&s1)])
        .await
        .unwrap();
    first.sort_unstable();
    assert_eq!(first, vec![s1.id]);
    let second = store
        .mark_present(t.id, day(1), &[auto(&s1), auto(&s2)])
        .await
        .unwrap();
    assert_eq!(second, vec![s2.id]);
    assert!(
        store
            .mark_present(t.id, day(1), &[auto(&s1), auto(&s2)])
            .await
            .unwrap()
            .is_empty()
    );
    // Another day is another record.
    assert_eq!(
        store
            .mark_present(t.id, day(2), &[auto(&s1)])
            .await
            .unwrap(),
        vec![s1.id]
    );
    assert_eq!(h.count("attendance").await, 3);
    assert_eq!(h.source(s1.id, day(1)).await.as_deref(), Some("auto"));
    assert_eq!(
        store.attendance_dates(other.id, "1").await.unwrap(),
        Some(vec![])
    );
}

async fn mark_present_concurrent_calls_insert_once(h: Harness) {
    let t = teacher(h.store(), "alice").await;
    let mut students = Vec::new();
    for roll in 1..=12 {
        students.push(student(h.store(), t.id, &roll.to_string()).await);
    }
    let marks: Arc<Vec<AutoMark>> = Arc::new(students.iter().map(auto).collect());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let store = Arc::clone(&h.store);
        let marks = Arc::clone(&marks);
        tasks.push(tokio::spawn(async move {
            store.mark_present(t.id, day(5), &marks).await
        }));
    }
    let mut all_inserted = Vec::new();
    for task in tasks {
        all_inserted.extend(task.await.unwrap().unwrap());
    }
    all_inserted.sort_unstable();
    let mut expected: Vec<StudentId> = students.iter().map(|s| s.id).collect();
    expected.sort_unstable();
    assert_eq!(
        all_inserted, expected,
        "each student newly marked by exactly one call"
    );
    assert_eq!(h.count("attendance").await, 12);
    for s in &students {
        assert_eq!(
            h.store().attendance_dates(t.id, &s.roll_no).await.unwrap(),
            Some(vec![day(5)])
        );
    }
}

/// Eight enrolments of one face under eight roll numbers at the same moment, each admitted
/// only if the face is not on the roster yet: exactly one gets in.
async fn admission_sees_concurrent_enrolments(h: Harness) {
    let t = teacher(h.store(), "alice").await;
    let face = Arc::new(embedding(7));
    let mut tasks = Vec::new();
    for roll in 1..=8 {
        let store = Arc::clone(&h.store);
        let face = Arc::clone(&face);
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
                .create_student_if(
                    t.id,
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
    // A refusal changes nothing; another face still gets in.
    student(h.store(), t.id, "9").await;
    assert_eq!(h.count("students").await, 2);
}

async fn manual_set_and_clear(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let s = student(store, t.id, "1").await;
    store.mark_present(t.id, day(1), &[auto(&s)]).await.unwrap();
    assert_eq!(h.source(s.id, day(1)).await.as_deref(), Some("auto"));

    // An auto record becomes manual; still one record.
    assert_eq!(
        store.set_present(t.id, "1", day(1)).await.unwrap(),
        Some(())
    );
    assert_eq!(h.source(s.id, day(1)).await.as_deref(), Some("manual"));
    assert_eq!(
        store.set_present(t.id, "1", day(1)).await.unwrap(),
        Some(())
    );
    assert_eq!(
        store.set_present(t.id, "1", day(2)).await.unwrap(),
        Some(())
    );
    assert_eq!(h.source(s.id, day(2)).await.as_deref(), Some("manual"));
    assert_eq!(
        store.attendance_dates(t.id, "1").await.unwrap(),
        Some(vec![day(1), day(2)])
    );
    // A manual record is not overwritten by a later automatic mark.
    assert!(
        store
            .mark_present(t.id, day(2), &[auto(&s)])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.source(s.id, day(2)).await.as_deref(), Some("manual"));

    assert_eq!(
        store.clear_present(t.id, "1", day(1)).await.unwrap(),
        Some(true)
    );
    assert_eq!(
        store.clear_present(t.id, "1", day(1)).await.unwrap(),
        Some(false)
    );
    assert_eq!(
        store.clear_present(t.id, "404", day(1)).await.unwrap(),
        None
    );
    assert_eq!(store.set_present(t.id, "404", day(1)).await.unwrap(), None);
    assert_eq!(
        store.attendance_dates(t.id, "1").await.unwrap(),
        Some(vec![day(2)])
    );
}

async fn attendance_dates_sorted(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let s = student(store, t.id, "1").await;
    student(store, t.id, "2").await;
    for d in [17, 3, 28, 9] {
        store.mark_present(t.id, day(d), &[auto(&s)]).await.unwrap();
    }
    store.set_present(t.id, "1", day(1)).await.unwrap();
    assert_eq!(
        store.attendance_dates(t.id, "1").await.unwrap(),
        Some(vec![day(1), day(3), day(9), day(17), day(28)])
    );
    assert_eq!(
        store.attendance_dates(t.id, "2").await.unwrap(),
        Some(vec![])
    );
    assert_eq!(store.attendance_dates(t.id, "3").await.unwrap(), None);
}

async fn attendance_range_bounds(h: Harness) {
    let store = h.store();
    let t = teacher(store, "alice").await;
    let s10 = student(store, t.id, "10").await;
    let s2 = student(store, t.id, "2").await;
    student(store, t.id, "3").await; // never present
    for d in [1, 5, 10] {
        store
            .mark_present(t.id, day(d), &[auto(&s10)])
            .await
            .unwrap();
    }
    store
        .mark_present(t.id, day(5), &[auto(&s2)])
        .await
        .unwrap();
    store.set_present(t.id, "2", day(11)).await.unwrap();

    let summary = |items: Vec<store::StudentAttendance>| -> Vec<(String, Vec<NaiveDate>)> {
        items
            .into_iter()
            .map(|i| (i.student.roll_no, i.dates))
            .collect()
    };
    let all = summary(store.attendance_range(t.id, None, None).await.unwrap());
    assert_eq!(
        all,
        vec![
            ("2".to_owned(), vec![day(5), day(11)]),
            ("3".to_owned(), vec![]),
            ("10".to_owned(), vec![day(1), day(5), day(10)]),
        ]
    );
    let inclusive = summary(
        store
            .attendance_range(t.id, Some(day(5)), Some(day(10)))
            .await
            .unwrap(),
    );
    assert_eq!(
        inclusive,
        vec![
            ("2".to_owned(), vec![day(5)]),
            ("3".to_owned(), vec![]),
            ("10".to_owned(), vec![day(5), day(10)]),
        ]
    );
    let from = summary(
        store
            .attendance_range(t.id, Some(day(10)), None)
            .await
            .unwrap(),
    );
    assert_eq!(from[0].1, vec![day(11)]);
    assert_eq!(from[2].1, vec![day(10)]);
    let until = summary(
        store
            .attendance_range(t.id, None, Some(day(1)))
            .await
            .unwrap(),
    );
    assert_eq!(until[2].1, vec![day(1)]);
    assert!(until[0].1.is_empty());
    // An empty range still lists every student, with no dates.
    let empty = summary(
        store
            .attendance_range(t.id, Some(day(20)), Some(day(19)))
            .await
            .unwrap(),
    );
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
    let sa = student(store, a.id, "1").await;
    student(store, a.id, "2").await;
    let sb = student(store, b.id, "1").await;
    store
        .mark_present(a.id, day(1), &[auto(&sa)])
        .await
        .unwrap();
    store
        .mark_present(b.id, day(1), &[auto(&sb)])
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
    assert_eq!(h.count("teachers").await, 1);
    assert_eq!(h.count("students").await, 1);
    assert_eq!(h.count("student_embeddings").await, 1);
    assert_eq!(h.count("attendance").await, 1);

    // Bob is untouched, and alice can sign up again.
    assert!(store.is_email_verified("bob@school.test").await.unwrap());
    assert_eq!(
        store.attendance_dates(b.id, "1").await.unwrap(),
        Some(vec![day(1)])
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

async fn migrate_twice(h: Harness) {
    h.store().migrate().await.unwrap();
    h.store().migrate().await.unwrap();
    let t = teacher(h.store(), "alice").await;
    assert!(h.store().teacher_by_id(t.id).await.unwrap().is_some());
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
    // A student for a teacher that does not exist is refused.
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
    assert!(matches!(orphan, Err(StoreError::Internal(_))), "{orphan:?}");
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
