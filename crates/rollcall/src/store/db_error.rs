//! The one place where `sqlx` errors become [`StoreError`]s.

use sqlx::error::DatabaseError;

use super::StoreError;

/// Returns a mapper for `map_err` that classifies a `sqlx` error, naming the operation
/// in the message of `Unavailable` and `Internal` errors:
///
/// - unique violations become `Conflict` naming the column (`roll_no`, `user_id`,
///   `email`);
/// - pool time-outs, I/O and TLS failures, and connection-level database errors
///   (PostgreSQL class 08, statement timeouts, shutdowns, too many connections; SQLite
///   busy/locked) become
///   `Unavailable`;
/// - everything else is `Internal`.
pub fn db_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| classify(context, err)
}

/// Same as [`db_err`] for migration errors.
pub fn migrate_err(err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        sqlx::migrate::MigrateError::Execute(inner)
        | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => {
            classify("running migrations", inner)
        }
        other => StoreError::Internal(format!("running migrations: {other}")),
    }
}

fn classify(context: &'static str, err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                StoreError::Conflict(conflicting_column(db.as_ref()))
            } else if is_connection_failure(db.as_ref()) {
                StoreError::Unavailable(format!("{context}: {db}"))
            } else {
                StoreError::Internal(format!("{context}: {db}"))
            }
        }
        sqlx::Error::PoolTimedOut => {
            StoreError::Unavailable(format!("{context}: timed out waiting for a connection"))
        }
        sqlx::Error::PoolClosed => {
            StoreError::Unavailable(format!("{context}: the connection pool is closed"))
        }
        sqlx::Error::Io(e) => StoreError::Unavailable(format!("{context}: {e}")),
        sqlx::Error::Tls(e) => StoreError::Unavailable(format!("{context}: TLS: {e}")),
        sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(format!("{context}: the database worker crashed"))
        }
        other => StoreError::Internal(format!("{context}: {other}")),
    }
}

/// Names the column of a unique violation from the constraint name (PostgreSQL) or the
/// message (SQLite: `UNIQUE constraint failed: students.teacher_id, students.roll_no`).
fn conflicting_column(db: &dyn DatabaseError) -> &'static str {
    let haystack = db.constraint().unwrap_or_else(|| db.message());
    // `roll_no` first: its constraint also names `teacher_id`.
    [
        ("roll_no", "roll_no"),
        ("user_id", "user_id"),
        ("email", "email"),
        ("name_key", "name"),
    ]
    .into_iter()
    .find(|(needle, _)| haystack.contains(needle))
    .map_or("value", |(_, column)| column)
}

/// Connection-level failures reported as database errors.
fn is_connection_failure(db: &dyn DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // PostgreSQL: connection exceptions, a statement cancelled by `statement_timeout`,
        // shutdowns, "cannot connect now", too many connections.
        return code.starts_with("08")
            || matches!(&*code, "57014" | "57P01" | "57P02" | "57P03" | "53300");
    }
    // SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6), with any extended code.
    code.parse::<i32>()
        .is_ok_and(|sqlite_code| matches!(sqlite_code & 0xff, 5 | 6))
}
