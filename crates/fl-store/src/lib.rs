//! Storage for the coordinator: training metadata in SQL and client sessions.
//!
//! * [`Store`]: runs, rounds, clients, participations, the privacy ledger and model
//!   checkpoints. An embedded SQLite file by default (`sqlite://path/fl.db`), PostgreSQL when
//!   the URL is `postgres://…`. Both go through `sqlx::any` with portable SQL and one set of
//!   migrations (`crates/fl-store/migrations/`), which [`Store::connect`] applies.
//! * [`SessionStore`]: client session tokens and presence, either in process
//!   ([`MemorySessions`]) or shared through Redis ([`RedisSessions`]).
//!
//! All timestamps are unix milliseconds (`i64`). Where a method does not take one it reads the
//! system clock ([`now_ms`]); this crate is the I/O layer, so the clock lives here and not in
//! `fl-core`.

mod error;
mod records;
mod sessions;
mod store;
mod url;

pub use error::{SessionError, StoreError};
pub use records::{
    Checkpoint, CheckpointInfo, ClientRecord, LedgerEntry, NewCheckpoint, OpenedRun, Participation,
    RoundRecord, RoundStatus, Run, RunStatus,
};
pub use sessions::{
    Clock, ManualClock, MemorySessions, RedisSessions, SessionStore, SessionsFuture, SystemClock,
    connect_sessions,
};
pub use store::{Backend, RunTotals, Store, StoreOptions};
pub use url::redact_url;

/// Milliseconds since the unix epoch from the system clock (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
