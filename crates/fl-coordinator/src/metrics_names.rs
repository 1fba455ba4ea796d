//! Metric names: a contract with the Prometheus alerts and Grafana dashboards
//! (`tests/deploy/metrics_contract.txt`). Do not rename.

/// Counter: rounds completed.
pub const ROUNDS_COMPLETED: &str = "fl_rounds_completed_total";
/// Gauge: current round (open round, or last completed).
pub const CURRENT_ROUND: &str = "fl_current_round";
/// Histogram: round duration, seconds.
pub const ROUND_DURATION: &str = "fl_round_duration_seconds";
/// Gauge: clients with a live heartbeat.
pub const CLIENTS_CONNECTED: &str = "fl_clients_connected";
/// Gauge: clients registered in this run.
pub const CLIENTS_REGISTERED: &str = "fl_clients_registered";
/// Counter: selected clients that dropped out.
pub const CLIENT_DROPOUTS: &str = "fl_client_dropouts_total";
/// Counter: accepted updates.
pub const UPDATES_ACCEPTED: &str = "fl_updates_accepted_total";
/// Counter: rejected updates, label `reason`.
pub const UPDATES_REJECTED: &str = "fl_updates_rejected_total";
/// Counter: payload bytes received.
pub const BYTES_RECEIVED: &str = "fl_bytes_received_total";
/// Counter: payload bytes sent.
pub const BYTES_SENT: &str = "fl_bytes_sent_total";
/// Histogram: aggregation seconds (last needed update → new model).
pub const AGGREGATION_SECONDS: &str = "fl_aggregation_seconds";
/// Gauge: test accuracy of the global model.
pub const GLOBAL_ACCURACY: &str = "fl_global_accuracy";
/// Gauge: test loss of the global model.
pub const GLOBAL_LOSS: &str = "fl_global_loss";
/// Gauge: ε spent, label `client_id`.
pub const CLIENT_EPSILON_SPENT: &str = "fl_client_epsilon_spent";
/// Gauge: ε budget, label `client_id`.
pub const CLIENT_EPSILON_BUDGET: &str = "fl_client_epsilon_budget";
/// Gauge: spent / budget, label `client_id`.
pub const CLIENT_BUDGET_FRACTION: &str = "fl_client_budget_fraction";
/// Gauge: largest ε spent by any client.
pub const EPSILON_SPENT_MAX: &str = "fl_epsilon_spent_max";
/// Gauge: ε remaining, label `client_id`.
pub const PRIVACY_BUDGET_REMAINING: &str = "fl_privacy_budget_remaining";
/// Gauge: 0 idle, 1 running, 2 paused, 3 finished.
pub const TRAINING_STATE: &str = "fl_training_state";
/// Gauge: unix time of the last completed round.
pub const LAST_ROUND_COMPLETED_TS: &str = "fl_last_round_completed_timestamp_seconds";

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
