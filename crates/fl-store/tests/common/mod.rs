//! Test databases: a SQLite file in a temp dir, or a fresh PostgreSQL schema, so tests (and
//! parallel runs of the suite) never share tables.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe};

/// PostgreSQL for tests (`FL_TEST_DATABASE_URL`, default trust-auth local server).
pub fn pg_base_url() -> String {
    std::env::var("FL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Redis for tests (`FL_TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("FL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A name no other test or process uses: pid, time and a counter.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's database.
pub struct TestDb {
    /// URL to hand to `Store::connect`.
    pub url: String,
    schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A SQLite file under a fresh temp dir (in a sub-directory that does not exist yet).
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested").join("fl.db");
        TestDb {
            url: format!("sqlite://{}?mode=rwc", path.display()),
            schema: None,
            _dir: Some(dir),
        }
    }

    /// A new schema in the test PostgreSQL database; the URL sets `search_path` to it.
    pub async fn postgres() -> TestDb {
        let base = pg_base_url();
        let schema = unique("flstore_t");
        let admin = raw_pool(&base).await;
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        TestDb {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            schema: Some(schema),
            _dir: None,
        }
    }

    /// A second, independent connection to the same database, for tampering with it.
    pub async fn raw(&self) -> AnyPool {
        raw_pool(&self.url).await
    }

    /// Drops the PostgreSQL schema (the temp dir goes with `self`).
    pub async fn cleanup(self) {
        if let Some(schema) = &self.schema {
            let admin = raw_pool(&pg_base_url()).await;
            sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .expect("drop schema");
            admin.close().await;
        }
    }
}

async fn raw_pool(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// Runs `async fn $body(db: &TestDb)` once on SQLite and once on PostgreSQL.
#[allow(unused_macros)]
macro_rules! on_both {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite().await;
                $body(&db).await;
                db.cleanup().await;
            }

            #[tokio::test]
            async fn postgres() {
                let db = $crate::common::TestDb::postgres().await;
                $body(&db).await;
                db.cleanup().await;
            }
        }
    };
}
