//! Metric names: a contract with the Prometheus alerts and Grafana dashboards
//! (`tests/deploy/metrics_contract.txt`). Do not rename.
//!
//! The strings themselves live once, in [`fl_api::metrics::names`] (which also registers
//! their help texts and buckets); these are the coordinator's short aliases.

use fl_api::metrics::names;

/// Counter: rounds completed.
pub const ROUNDS_COMPLETED: &str = names::ROUNDS_COMPLETED_TOTAL;
/// Gauge: current round (open round, or last completed).
pub const CURRENT_ROUND: &str = names::CURRENT_ROUND;
/// Histogram: round duration, seconds.
pub const ROUND_DURATION: &str = names::ROUND_DURATION_SECONDS;
/// Gauge: clients with a live heartbeat.
pub const CLIENTS_CONNECTED: &str = names::CLIENTS_CONNECTED;
/// Gauge: clients registered in this run.
pub const CLIENTS_REGISTERED: &str = names::CLIENTS_REGISTERED;
/// Counter: selected clients that dropped out.
pub const CLIENT_DROPOUTS: &str = names::CLIENT_DROPOUTS_TOTAL;
/// Counter: accepted updates.
pub const UPDATES_ACCEPTED: &str = names::UPDATES_ACCEPTED_TOTAL;
/// Counter: rejected updates, label `reason`.
pub const UPDATES_REJECTED: &str = names::UPDATES_REJECTED_TOTAL;
/// Counter: payload bytes received.
pub const BYTES_RECEIVED: &str = names::BYTES_RECEIVED_TOTAL;
/// Counter: payload bytes sent.
pub const BYTES_SENT: &str = names::BYTES_SENT_TOTAL;
/// Histogram: aggregation seconds (last needed update → new model).
pub const AGGREGATION_SECONDS: &str = names::AGGREGATION_SECONDS;
/// Gauge: test accuracy of the global model.
pub const GLOBAL_ACCURACY: &str = names::GLOBAL_ACCURACY;
/// Gauge: test loss of the global model.
pub const GLOBAL_LOSS: &str = names::GLOBAL_LOSS;
/// Gauge: ε spent, label `client_id`.
pub const CLIENT_EPSILON_SPENT: &str = names::CLIENT_EPSILON_SPENT;
/// Gauge: ε budget, label `client_id`.
pub const CLIENT_EPSILON_BUDGET: &str = names::CLIENT_EPSILON_BUDGET;
/// Gauge: spent / budget, label `client_id`.
pub const CLIENT_BUDGET_FRACTION: &str = names::CLIENT_BUDGET_FRACTION;
/// Gauge: largest ε spent by any client.
pub const EPSILON_SPENT_MAX: &str = names::EPSILON_SPENT_MAX;
/// Gauge: ε remaining, label `client_id`.
pub const PRIVACY_BUDGET_REMAINING: &str = names::PRIVACY_BUDGET_REMAINING;
/// Gauge: 0 idle, 1 running, 2 paused, 3 finished.
pub const TRAINING_STATE: &str = names::TRAINING_STATE;
/// Gauge: unix time of the last completed round.
pub const LAST_ROUND_COMPLETED_TS: &str = names::LAST_ROUND_COMPLETED_TIMESTAMP_SECONDS;

/// Every `reason` label of [`UPDATES_REJECTED`]: fl-core's `UpdateRejected::reason` values
/// and the transport-level reasons of the gRPC service. Each is registered at zero when the
/// run starts, so the series exist before the first rejection (and `increase()` counts it);
/// `tests/live_http.rs` checks this list against the sources.
pub const REJECTION_REASONS: &[&str] = &[
    // fl_core::UpdateRejected::reason
    "no_open_round",
    "wrong_round",
    "wrong_model_version",
    "not_selected",
    "duplicate",
    "wrong_length",
    "non_finite",
    "norm_too_large",
    "no_examples",
    "too_late",
    // service.rs
    "wrong_codec",
    "bad_stream",
    "bad_encoding",
    "auth",
    "forged_client_id",
    "rate_limited",
    "stream_idle",
];
