//! [`Store`]: connection, migrations and runs. Other tables live in the sibling modules.

mod checkpoints;
mod clients;
mod rounds;

pub use rounds::RunTotals;

use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::url::{redact_url, sqlite_path};
use crate::{OpenedRun, Run, RunStatus, StoreError, now_ms};

/// The migrations in `crates/fl-store/migrations/`, compiled in.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

// NULL_F64: sqlx 0.9.0's `Any` binds a NULL `Option<f64>` as a PostgreSQL FLOAT4 (its Real and
// Double mappings are swapped) and the PostgreSQL driver caches a statement with the parameter
// types of its first execution, so a later non-NULL FLOAT8 fails with "incorrect binary data
// format". Statements binding optional floats therefore use `.persistent(false)`: prepared
// per call with the current types. Checked by the `optional_floats` test.

/// Longest id accepted (run and client ids).
const MAX_ID_LEN: usize = 256;

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (file or in memory).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Connection settings for [`Store::connect_with`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How long to wait for a connection, including the first one at startup: an unreachable
    /// PostgreSQL server fails [`Store::connect_with`] after this long.
    pub acquire_timeout: Duration,
    /// Pool size for PostgreSQL. SQLite always uses one connection: writes are serialized by
    /// SQLite anyway, and one connection never meets `database is locked`.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: Duration::from_secs(10),
            max_connections: 8,
        }
    }
}

/// Training metadata in SQLite or PostgreSQL. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connects with [`StoreOptions::default`] and applies the migrations.
    ///
    /// Accepted URLs: `sqlite://path/to/fl.db` (the file and its parent directory are created;
    /// `mode=rwc` is added when the URL has no `mode`), `sqlite::memory:` and
    /// `postgres://user[:password]@host:port/db` (or `postgresql://`).
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// Like [`Store::connect`] with explicit options.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let redacted = redact_url(url);
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, prepare_sqlite_url(url)?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl(redacted));
        };
        let pool_options = AnyPoolOptions::new().acquire_timeout(options.acquire_timeout);
        let pool_options = match backend {
            // An in-memory database lives and dies with its connection: keep exactly one, forever.
            Backend::Sqlite => pool_options
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None),
            Backend::Postgres => pool_options.max_connections(options.max_connections.max(1)),
        };
        let pool = pool_options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: redacted.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: redacted,
                source,
            })?;
        Ok(Store { pool, backend })
    }

    /// Which database this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Creates the run with status [`RunStatus::Created`], or returns the stored one untouched.
    pub async fn create_or_resume_run(
        &self,
        run_id: &str,
        config_json: &str,
    ) -> Result<OpenedRun, StoreError> {
        check_id("run_id", run_id)?;
        check_json("config_json", config_json)?;
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO runs (id, config_json, status, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (id) DO NOTHING",
        )
        .bind(run_id)
        .bind(config_json)
        .bind(RunStatus::Created.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        let run = self
            .get_run(run_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("run `{run_id}`")))?;
        Ok(OpenedRun {
            run,
            existed: inserted == 0,
        })
    }

    /// The run, if it exists.
    pub async fn get_run(&self, run_id: &str) -> Result<Option<Run>, StoreError> {
        sqlx::query(
            "SELECT id, config_json, status, created_at, updated_at FROM runs WHERE id = $1",
        )
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await?
        .map(|row| run_from_row(&row))
        .transpose()
    }

    /// All runs, oldest first.
    pub async fn list_runs(&self) -> Result<Vec<Run>, StoreError> {
        sqlx::query(
            "SELECT id, config_json, status, created_at, updated_at FROM runs \
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(run_from_row)
        .collect()
    }

    /// Sets the run's status (and `updated_at`). [`StoreError::NotFound`] if there is no such run.
    pub async fn set_run_status(&self, run_id: &str, status: RunStatus) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE runs SET status = $2, updated_at = $3 WHERE id = $1")
            .bind(run_id)
            .bind(status.as_str())
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound(format!("run `{run_id}`")));
        }
        Ok(())
    }
}

fn run_from_row(row: &AnyRow) -> Result<Run, StoreError> {
    Ok(Run {
        id: row.try_get("id")?,
        config_json: row.try_get("config_json")?,
        status: RunStatus::parse(&row.try_get::<String, _>("status")?)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Creates the SQLite file's parent directory and asks for create-if-missing.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let Some(path) = sqlite_path(url) else {
        return Ok(url.to_string());
    };
    if let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let has_mode = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("mode=")));
    Ok(match (has_mode, url.contains('?')) {
        (true, _) => url.to_string(),
        (false, true) => format!("{url}&mode=rwc"),
        (false, false) => format!("{url}?mode=rwc"),
    })
}

pub(crate) fn check_id(field: &'static str, id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("must be 1 to {MAX_ID_LEN} bytes, got {}", id.len()),
        });
    }
    Ok(())
}

pub(crate) fn check_round(round: i64) -> Result<(), StoreError> {
    if round < 0 {
        return Err(StoreError::InvalidInput {
            field: "round",
            reason: format!("must be ≥ 0, got {round}"),
        });
    }
    Ok(())
}

pub(crate) fn check_json(field: &'static str, text: &str) -> Result<(), StoreError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| StoreError::InvalidInput {
            field,
            reason: format!("not valid JSON: {e}"),
        })
}

pub(crate) fn check_finite(field: &'static str, v: f64) -> Result<(), StoreError> {
    if !v.is_finite() {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("must be finite, got {v}"),
        });
    }
    Ok(())
}

/// Optional metrics: non-finite values become NULL on both backends (SQLite turns NaN into
/// NULL on its own; PostgreSQL would keep it, so normalize here).
pub(crate) fn finite_or_none(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}
