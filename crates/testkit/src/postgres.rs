//! Throw-away PostgreSQL databases for tests.

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

/// Default when `ROLLCALL_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh, empty database with a random name, dropped (best effort, forcibly closing
/// remaining connections) on [`TestDatabase::drop_db`] or when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates the database on the server of `ROLLCALL_TEST_POSTGRES_URL` (default
    /// [`DEFAULT_URL`]), whose user must be allowed to create databases.
    ///
    /// # Panics
    /// If the server cannot be reached or the database cannot be created, with
    /// instructions.
    pub async fn create() -> TestDatabase {
        let admin_url = admin_url();
        let name = format!("rollcall_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = admin_connection(&admin_url).await;
        if let Err(e) = admin
            .execute(&*format!(r#"CREATE DATABASE "{name}""#))
            .await
        {
            panic!("cannot create test database {name} on {admin_url}: {e}");
        }
        let _ = admin.close().await;
        let mut url = match url::Url::parse(&admin_url) {
            Ok(url) => url,
            Err(e) => panic!("ROLLCALL_TEST_POSTGRES_URL {admin_url:?} is not a URL: {e}"),
        };
        url.set_path(&format!("/{name}"));
        TestDatabase {
            admin_url,
            name,
            url: url.into(),
            dropped: false,
        }
    }

    /// The URL of the new database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database now (best effort).
    pub async fn drop_db(mut self) {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await;
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop can't await and may run inside a runtime: use a runtime of our own on a
        // thread of our own.
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin_url, &name));
            }
        })
        .join();
    }
}

/// The test server's admin URL (`ROLLCALL_TEST_POSTGRES_URL`, default [`DEFAULT_URL`]).
pub fn admin_url() -> String {
    std::env::var("ROLLCALL_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

async fn admin_connection(admin_url: &str) -> PgConnection {
    let attempt = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url));
    match attempt.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("{}", unreachable_message(admin_url, &e.to_string())),
        Err(_) => panic!("{}", unreachable_message(admin_url, "timed out after 5 s")),
    }
}

fn unreachable_message(admin_url: &str, why: &str) -> String {
    format!(
        "PostgreSQL is not reachable at {admin_url} ({why}). Start one that accepts this \
         user without a password and lets it create databases (e.g. `sudo service postgresql \
         start`, or `docker run -e POSTGRES_HOST_AUTH_METHOD=trust -p 5432:5432 postgres:16`), \
         or point ROLLCALL_TEST_POSTGRES_URL at one"
    )
}

async fn drop_database(admin_url: &str, name: &str) {
    let connect = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url));
    if let Ok(Ok(mut admin)) = connect.await {
        let _ = admin
            .execute(&*format!(
                r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#
            ))
            .await;
        let _ = admin.close().await;
    }
}
