//! Error types. Messages name the URL with its password removed ([`crate::redact_url`]).

use std::path::PathBuf;

/// Errors from [`crate::Store`].
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL's scheme is not one this crate handles.
    #[error(
        "unsupported database URL `{0}`: expected `sqlite://PATH`, `sqlite::memory:` or `postgres://USER@HOST:PORT/DB`"
    )]
    UnsupportedUrl(String),
    /// The parent directory of a SQLite file could not be created.
    #[error("cannot create directory `{path}` for the SQLite database: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Connecting (or the first connection of the pool) failed.
    #[error("cannot connect to database `{url}`: {source}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// The driver error.
        source: sqlx::Error,
    },
    /// Applying the migrations failed.
    #[error("migrating database `{url}` failed: {source}")]
    Migrate {
        /// The URL, password removed.
        url: String,
        /// The migration error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The referenced row does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A stored checkpoint's bytes do not hash to the recorded SHA-256.
    #[error(
        "checkpoint of run `{run_id}` round {round} is corrupt: its model hashes to {actual}, the recorded sha256 is {expected}"
    )]
    CorruptCheckpoint {
        /// The run.
        run_id: String,
        /// The round.
        round: i64,
        /// The recorded digest (hex).
        expected: String,
        /// The digest of the stored bytes (hex).
        actual: String,
    },
    /// An argument was rejected before touching the database.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A stored value could not be interpreted (e.g. an unknown status string).
    #[error("bad value in column `{column}`: `{value}`")]
    BadData {
        /// The column.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

/// Errors from a [`crate::SessionStore`].
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Redis could not be reached (at startup or later).
    #[error("cannot connect to Redis at `{url}`: {reason}")]
    Connect {
        /// The URL, password removed.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A Redis command failed.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
    /// An argument was rejected (empty id, zero TTL, ...).
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which argument.
        field: &'static str,
        /// Why.
        reason: String,
    },
}
