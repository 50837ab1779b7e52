//! The `rollcall` binary itself: `migrate`, `models verify`, and a setting given both in the
//! config file (`ROLLCALL_CONFIG`) and in the environment (the environment wins).

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args` and `env`, and no other `ROLLCALL_*` variable.
fn rollcall(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rollcall"));
    command.args(args);
    for (key, _) in std::env::vars() {
        if key.starts_with("ROLLCALL_") {
            command.env_remove(key);
        }
    }
    for (key, value) in env {
        command.env(key, value);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run the rollcall binary: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Rows of `_sqlx_migrations` in a SQLite file (the migrations applied).
fn applied_migrations(db: &Path) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    })
}

#[test]
fn migrate_creates_the_schema_once_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("ROLLCALL_DATA_DIR", dir.path().display().to_string())];
    let first = rollcall(&["migrate"], &env);
    assert!(first.status.success(), "{}", text(&first));
    let db = dir.path().join("rollcall.db");
    assert!(
        db.is_file(),
        "no database at {}: {}",
        db.display(),
        text(&first)
    );
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as i64;
    assert!(migrations > 0);
    assert_eq!(applied_migrations(&db), migrations);
    // Again: nothing pending, still a success, nothing applied twice.
    let again = rollcall(&["migrate"], &env);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(applied_migrations(&db), migrations);
}

#[test]
fn the_environment_overrides_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_file = dir.path().join("from-file.db");
    let from_env = dir.path().join("from-env.db");
    let config = dir.path().join("rollcall.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\ndatabase_url = \"sqlite://{}\"\n",
            dir.path().display(),
            from_file.display()
        ),
    )
    .unwrap();
    // The file alone decides.
    let only_file = rollcall(
        &["migrate"],
        &[("ROLLCALL_CONFIG", config.display().to_string())],
    );
    assert!(only_file.status.success(), "{}", text(&only_file));
    assert!(from_file.is_file(), "{}", text(&only_file));
    std::fs::remove_file(&from_file).unwrap();
    // The environment wins over the file.
    let both = rollcall(
        &["migrate"],
        &[
            ("ROLLCALL_CONFIG", config.display().to_string()),
            (
                "ROLLCALL_DATABASE_URL",
                format!("sqlite://{}", from_env.display()),
            ),
        ],
    );
    assert!(both.status.success(), "{}", text(&both));
    assert!(from_env.is_file(), "{}", text(&both));
    assert!(
        !from_file.exists(),
        "the file's database was used: {}",
        text(&both)
    );
    // A key the file does not know is refused with a reason (exit 2), nothing created.
    std::fs::write(&config, "no_such_setting = 1\n").unwrap();
    let bad = rollcall(
        &["migrate"],
        &[("ROLLCALL_CONFIG", config.display().to_string())],
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no_such_setting"),
        "{}",
        text(&bad)
    );
}

#[test]
fn models_verify_checks_the_model_folder() {
    let models = testkit::paths::model_dir();
    let ok = rollcall(
        &["models", "verify", "faceplugin"],
        &[("ROLLCALL_MODEL_DIR", models.display().to_string())],
    );
    assert!(ok.status.success(), "{}", text(&ok));
    let listing = String::from_utf8_lossy(&ok.stdout);
    assert!(
        listing.contains("faceplugin/fr_feature.onnx"),
        "{}",
        text(&ok)
    );
    assert_eq!(listing.lines().count(), 2, "{}", text(&ok));
    assert!(listing.lines().all(|l| l.ends_with(" ok")), "{}", text(&ok));

    // An empty folder: every file named as missing, a failure exit.
    let empty = tempfile::tempdir().unwrap();
    let missing = rollcall(
        &["models", "verify", "faceplugin"],
        &[("ROLLCALL_MODEL_DIR", empty.path().display().to_string())],
    );
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    let listing = String::from_utf8_lossy(&missing.stdout);
    assert!(
        listing.contains("faceplugin/fr_feature.onnx"),
        "{}",
        text(&missing)
    );
    assert_eq!(listing.lines().count(), 2, "{}", text(&missing));
    assert!(
        listing.lines().all(|l| l.ends_with("missing")),
        "{}",
        text(&missing)
    );

    // An unknown set: exit 2 with a reason.
    let unknown = rollcall(
        &["models", "verify", "no_such_set"],
        &[("ROLLCALL_MODEL_DIR", models.display().to_string())],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
}
