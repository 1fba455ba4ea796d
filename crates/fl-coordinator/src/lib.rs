//! # fl-coordinator: the real-network driver of the round engine
//!
//! [`fl_core::engine::RoundEngine`] is sans-IO; this crate gives it a clock (an [`Instant`]
//! at start), sockets (a tonic `fl.v1.Federation` service), storage (`fl-store`: SQLite or
//! PostgreSQL for rounds and checkpoints, memory or Redis for sessions) and observability
//! (`metrics` counters and gauges; the REST API, dashboard and `/metrics` of `fl-api`; TLS
//! and client enrollment with `fl-tls` and [`auth`]).
//!
//! One task owns the engine ([`driver`]): it selects on a command inbox (joins, leaves,
//! updates, operator commands), the engine's next deadline and shutdown, and after each step
//! publishes a [`state::Snapshot`] on a `watch` channel that the RPC handlers read. Updates
//! are decoded in the RPC handler and folded into the streaming aggregator by the engine as
//! they arrive, so memory stays O(model) however many clients report.
//!
//! After each completed round the driver evaluates the global model (if configured), saves
//! the round record and checkpoint in one database transaction, and updates metrics. A
//! coordinator restarted with the same `run_id` resumes from the latest checkpoint.
//!
//! [`Instant`]: std::time::Instant

pub mod auth;
pub mod config;
pub mod control;
pub mod driver;
pub mod error;
pub mod limits;
pub mod metrics_names;
pub mod server;
pub mod service;
pub mod state;

pub use config::CoordinatorConfig;
pub use error::CoordinatorError;
pub use server::{Coordinator, RunOutcome};
