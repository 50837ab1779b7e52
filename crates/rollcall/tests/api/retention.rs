//! What is kept and what is not, on SQLite and on PostgreSQL (+ Redis), with the real face
//! models and photos: photos are never stored (no file under the data directory and no
//! database value holds any stretch of an uploaded photo), and deleting an account over
//! HTTP removes every row of that teacher (students, embeddings, attendance, classes) while
//! another teacher's data stays as it was.

use crate::common;
use crate::support::classroom;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveDate;
use classroom::{PASSWORD, photo, roll_nos};
use common::{Backend, TestApp, expect, expect_unauthorized, spawn, unique_email};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::{PgPool, Row, SqlitePool};

const DAY: &str = "2024-09-02";
const GROUP: &str = "groups/friends_four.jpg";

async fn app(backend: Backend) -> TestApp {
    spawn(backend, |s| {
        s.attendance_date = Some(DAY.parse::<NaiveDate>().unwrap());
        s.vision.queue_timeout = Duration::from_secs(60);
    })
    .await
}

/// The test server's database, opened beside it.
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Db {
    async fn open(app: &TestApp) -> Db {
        let url = &app.settings.database_url;
        if url.starts_with("sqlite:") {
            Db::Sqlite(SqlitePool::connect(url).await.unwrap())
        } else {
            Db::Postgres(PgPool::connect(url).await.unwrap())
        }
    }

    /// Every table of the schema but the migration book-keeping.
    async fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = match self {
            Db::Sqlite(pool) => sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' \
                 AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
            Db::Postgres(pool) => sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await
            .unwrap(),
        };
        tables.retain(|t| t != "_sqlx_migrations");
        tables.sort();
        assert!(
            tables.iter().any(|t| t == "students"),
            "no students table among {tables:?}"
        );
        tables
    }

    /// Rows per table.
    async fn counts(&self) -> BTreeMap<String, i64> {
        let mut counts = BTreeMap::new();
        for table in self.tables().await {
            let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
            let n: i64 = match self {
                Db::Sqlite(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
                Db::Postgres(pool) => sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap(),
            };
            counts.insert(table, n);
        }
        counts
    }

    /// Every value of every column of every table, as bytes (`table.column`, value):
    /// binary columns as stored, the others as text.
    async fn values(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for table in self.tables().await {
            match self {
                Db::Sqlite(pool) => {
                    let columns: Vec<String> = sqlx::query_scalar(&format!(
                        "SELECT name FROM pragma_table_info('{table}')"
                    ))
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    for column in columns {
                        let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                        for row in sqlx::query(&sql).fetch_all(pool).await.unwrap() {
                            if let Some(bytes) = row.get::<Option<Vec<u8>>, _>(0) {
                                out.push((format!("{table}.{column}"), bytes));
                            }
                        }
                    }
                }
                Db::Postgres(pool) => {
                    let columns: Vec<(String, String)> = sqlx::query_as(
                        "SELECT column_name::text, data_type::text FROM information_schema.columns \
                         WHERE table_schema = 'public' AND table_name = $1",
                    )
                    .bind(&table)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    for (column, kind) in columns {
                        let name = format!("{table}.{column}");
                        if kind == "bytea" {
                            let sql = format!("SELECT \"{column}\" FROM \"{table}\"");
                            for row in sqlx::query(&sql).fetch_all(pool).await.unwrap() {
                                if let Some(bytes) = row.get::<Option<Vec<u8>>, _>(0) {
                                    out.push((name.clone(), bytes));
                                }
                            }
                        } else {
                            let sql = format!("SELECT \"{column}\"::text FROM \"{table}\"");
                            for row in sqlx::query(&sql).fetch_all(pool).await.unwrap() {
                                if let Some(text) = row.get::<Option<String>, _>(0) {
                                    out.push((name.clone(), text.into_bytes()));
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    async fn close(self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// Five 32-byte stretches spread over a photo (headers excluded).
fn stretches(bytes: &[u8]) -> Vec<&[u8]> {
    (1..=5)
        .map(|k| {
            let at = bytes.len() * k / 6;
            &bytes[at..at + 32]
        })
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: PathBuf) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// After two enrolments and a marked class photo, neither a file under the data directory
/// (on SQLite: the database, its journal, anything else) nor any database value holds any
/// stretch of the uploaded bytes.
async fn photos_are_never_stored(backend: Backend) {
    let app = app(backend).await;
    let token = app.signed_in_teacher().await;
    let mut uploaded = Vec::new();
    for (person, roll) in [("matt_leblanc", "1"), ("matthew_perry", "2")] {
        let path = app.enrol_person(&token, person, roll).await;
        uploaded.push((path.display().to_string(), std::fs::read(&path).unwrap()));
    }
    let group = photo(GROUP);
    let body = expect(app.mark(&token, group.clone()).await, StatusCode::OK).await;
    assert!(
        !roll_nos(&body["marked"]).is_empty(),
        "nobody marked: {body}"
    );
    uploaded.push((GROUP.to_owned(), group));

    let files = files_under(app.settings.data_dir.clone());
    if backend == Backend::SqliteInProcess {
        assert!(
            files.iter().any(|f| f.to_string_lossy().contains(".db")),
            "no database file under the data directory: {files:?}"
        );
    }
    for file in &files {
        let stored = std::fs::read(file).unwrap();
        for (name, bytes) in &uploaded {
            for window in stretches(bytes) {
                assert!(
                    !stored.windows(32).any(|w| w == window),
                    "{} holds bytes of the uploaded photo {name}",
                    file.display()
                );
            }
        }
    }

    let db = Db::open(&app).await;
    let values = db.values().await;
    // The embeddings are there (so the scan reads what the enrolments wrote) ...
    assert!(
        values
            .iter()
            .any(|(column, _)| column.starts_with("template_embeddings.")),
        "no embedding read from the database"
    );
    // ... and no value holds a stretch of any photo, nor is as large as the smallest one.
    let smallest = uploaded.iter().map(|(_, b)| b.len()).min().unwrap();
    for (column, value) in &values {
        assert!(
            value.len() < smallest,
            "{column} holds a value of {} bytes (the smallest photo has {smallest})",
            value.len()
        );
        for (name, bytes) in &uploaded {
            for window in stretches(bytes) {
                assert!(
                    !value.windows(32).any(|w| w == window),
                    "{column} holds bytes of the uploaded photo {name}"
                );
            }
        }
    }
    db.close().await;
}

#[tokio::test]
async fn photos_are_never_stored_on_sqlite() {
    photos_are_never_stored(Backend::SqliteInProcess).await;
}

#[tokio::test]
async fn photos_are_never_stored_on_postgres() {
    photos_are_never_stored(Backend::PostgresRedis).await;
}

/// A teacher with students, embeddings, a class, marked and corrected attendance deletes
/// their account over HTTP: every row of theirs is gone (each table holds exactly what it
/// held before they signed up), their tokens and password no longer work, and the other
/// teacher's students and attendance, under the same roll number, are untouched.
async fn account_deletion_removes_everything_of_the_teacher(backend: Backend) {
    let app = app(backend).await;
    let db = Db::open(&app).await;

    // The other teacher: one student, marked present from the class photo.
    let other = app.signed_in_teacher().await;
    app.enrol_person(&other, "matt_leblanc", "1").await;
    let body = expect(app.mark(&other, photo(GROUP)).await, StatusCode::OK).await;
    assert!(roll_nos(&body["marked"]).contains("1"), "{body}");
    let before = db.counts().await;

    // The teacher who leaves: two students (one with the other teacher's roll number),
    // attendance from the same photo, a class with both, a correction in it.
    let email = unique_email();
    app.create_account(&email, &format!("leaving-{}", &email[2..14]), PASSWORD)
        .await;
    let token = app.login(&email, PASSWORD).await;
    app.enrol_person(&token, "matt_leblanc", "1").await;
    app.enrol_person(&token, "matthew_perry", "2").await;
    let body = expect(app.mark(&token, photo(GROUP)).await, StatusCode::OK).await;
    assert!(!roll_nos(&body["marked"]).is_empty(), "{body}");
    let r = app
        .client
        .post(app.url("/classes"))
        .bearer_auth(&token)
        .json(&json!({ "name": "7B", "note": "Tuesday" }))
        .send()
        .await
        .unwrap();
    let class = expect(r, StatusCode::CREATED).await["id"].as_i64().unwrap();
    let r = app
        .client
        .post(app.url(&format!("/classes/{class}/students")))
        .bearer_auth(&token)
        .json(&json!({ "roll_nos": ["1", "2"] }))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::OK).await;
    let r = app
        .call(
            Method::PUT,
            &format!("/classes/{class}/attendance/2/2024-09-03"),
            &token,
        )
        .await;
    expect(r, StatusCode::OK).await;
    let during = db.counts().await;
    for table in [
        "teachers",
        "students",
        "face_templates",
        "template_embeddings",
        "attendance",
        "classes",
    ] {
        assert!(
            during[table] > before[table],
            "{table}: the leaving teacher's rows were not written ({} -> {})",
            before[table],
            during[table]
        );
    }

    let body = expect(
        app.with_token(Method::DELETE, "/delete_account", &token)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["msg"], "Account deleted successfully");

    // Over HTTP: the token and the password no longer work.
    expect_unauthorized(
        app.with_token(Method::GET, "/get_all_students", &token)
            .await,
    )
    .await;
    expect_unauthorized(
        app.with_token(Method::GET, &format!("/classes/{class}"), &token)
            .await,
    )
    .await;
    let r = app
        .post("/login", json!({ "email": email, "password": PASSWORD }))
        .await;
    expect(r, StatusCode::FORBIDDEN).await;

    // In the database: every table as before the teacher signed up (the revoked token of
    // the deletion itself aside).
    let mut after = db.counts().await;
    let mut before = before;
    for counts in [&mut before, &mut after] {
        counts.remove("revoked_tokens");
    }
    assert_eq!(after, before, "rows left behind by the deleted account");
    db.close().await;

    // The other teacher's data is intact.
    let roster = app.get_json("/get_all_students", &other).await;
    assert_eq!(roll_nos(&roster["msg"]), ["1".to_owned()].into());
    let attendance = app.get_json("/get-attendance/1", &other).await;
    assert_eq!(attendance["data"], json!([DAY]));
    let body = expect(app.mark(&other, photo(GROUP)).await, StatusCode::OK).await;
    assert!(roll_nos(&body["already_present"]).contains("1"), "{body}");
}

#[tokio::test]
async fn account_deletion_on_sqlite() {
    account_deletion_removes_everything_of_the_teacher(Backend::SqliteInProcess).await;
}

#[tokio::test]
async fn account_deletion_on_postgres() {
    account_deletion_removes_everything_of_the_teacher(Backend::PostgresRedis).await;
}
