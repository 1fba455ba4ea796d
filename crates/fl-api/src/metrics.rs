//! Prometheus exporter: the process-wide `metrics` recorder whose rendering `GET /metrics` serves.
//!
//! The coordinator records with the `metrics` macros (`counter!`, `gauge!`, `histogram!`)
//! using the names in [`names`] (the contract in `tests/deploy/metrics_contract.txt`).

use std::sync::Mutex;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Metric names of the monitoring contract (`tests/deploy/metrics_contract.txt`).
pub mod names {
    /// Counter: rounds completed.
    pub const ROUNDS_COMPLETED_TOTAL: &str = "fl_rounds_completed_total";
    /// Gauge: round in progress.
    pub const CURRENT_ROUND: &str = "fl_current_round";
    /// Histogram (seconds): round wall time.
    pub const ROUND_DURATION_SECONDS: &str = "fl_round_duration_seconds";
    /// Gauge: clients with a live session.
    pub const CLIENTS_CONNECTED: &str = "fl_clients_connected";
    /// Gauge: clients registered.
    pub const CLIENTS_REGISTERED: &str = "fl_clients_registered";
    /// Counter: selected clients that dropped out.
    pub const CLIENT_DROPOUTS_TOTAL: &str = "fl_client_dropouts_total";
    /// Counter: updates aggregated.
    pub const UPDATES_ACCEPTED_TOTAL: &str = "fl_updates_accepted_total";
    /// Counter with label `reason`: updates rejected.
    pub const UPDATES_REJECTED_TOTAL: &str = "fl_updates_rejected_total";
    /// Counter: bytes received from clients.
    pub const BYTES_RECEIVED_TOTAL: &str = "fl_bytes_received_total";
    /// Counter: bytes sent to clients.
    pub const BYTES_SENT_TOTAL: &str = "fl_bytes_sent_total";
    /// Histogram (seconds): aggregation time per round.
    pub const AGGREGATION_SECONDS: &str = "fl_aggregation_seconds";
    /// Gauge: global test accuracy.
    pub const GLOBAL_ACCURACY: &str = "fl_global_accuracy";
    /// Gauge: global test loss.
    pub const GLOBAL_LOSS: &str = "fl_global_loss";
    /// Gauge with label `client_id`: ε spent.
    pub const CLIENT_EPSILON_SPENT: &str = "fl_client_epsilon_spent";
    /// Gauge with label `client_id`: ε budget.
    pub const CLIENT_EPSILON_BUDGET: &str = "fl_client_epsilon_budget";
    /// Gauge with label `client_id`: spent / budget.
    pub const CLIENT_BUDGET_FRACTION: &str = "fl_client_budget_fraction";
    /// Gauge: largest ε spent by any client.
    pub const EPSILON_SPENT_MAX: &str = "fl_epsilon_spent_max";
    /// Gauge with label `client_id`: budget − spent.
    pub const PRIVACY_BUDGET_REMAINING: &str = "fl_privacy_budget_remaining";
    /// Gauge: [`TrainingState::gauge_value`](crate::TrainingState::gauge_value).
    pub const TRAINING_STATE: &str = "fl_training_state";
    /// Gauge: Unix time the last round completed.
    pub const LAST_ROUND_COMPLETED_TIMESTAMP_SECONDS: &str =
        "fl_last_round_completed_timestamp_seconds";
}

/// Bucket upper bounds (seconds) of `fl_round_duration_seconds`: rounds take seconds to minutes.
pub const ROUND_DURATION_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];
/// Bucket upper bounds (seconds) of `fl_aggregation_seconds`: milliseconds to seconds.
pub const AGGREGATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Building the exporter or installing it as the global recorder failed (typically
    /// another recorder was installed first, outside this crate).
    #[error("cannot install the Prometheus recorder: {0}")]
    Build(#[from] BuildError),
}

static HANDLE: Mutex<Option<PrometheusHandle>> = Mutex::new(None);

/// Installs the Prometheus recorder as the global `metrics` recorder, once per process, and
/// returns a handle to render it. Later calls return a clone of the same handle.
///
/// # Errors
/// [`MetricsError`] if a different global recorder was already installed.
pub fn install_metrics_recorder() -> Result<PrometheusHandle, MetricsError> {
    // A poisoned lock only means a panic elsewhere while holding it; the Option is still valid.
    let mut guard = HANDLE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(handle) = guard.as_ref() {
        return Ok(handle.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(names::ROUND_DURATION_SECONDS.to_owned()),
            ROUND_DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(names::AGGREGATION_SECONDS.to_owned()),
            AGGREGATION_BUCKETS,
        )?
        .install_recorder()?;
    describe_all();
    *guard = Some(handle.clone());
    Ok(handle)
}

/// Registers `# HELP` texts (and units) for the contract metrics.
fn describe_all() {
    use names::*;
    describe_counter!(ROUNDS_COMPLETED_TOTAL, "Federated rounds completed");
    describe_gauge!(CURRENT_ROUND, "Round in progress");
    describe_histogram!(ROUND_DURATION_SECONDS, Unit::Seconds, "Round wall time");
    describe_gauge!(CLIENTS_CONNECTED, "Clients with a live session");
    describe_gauge!(CLIENTS_REGISTERED, "Clients registered for the run");
    describe_counter!(CLIENT_DROPOUTS_TOTAL, "Selected clients that dropped out");
    describe_counter!(UPDATES_ACCEPTED_TOTAL, "Client updates aggregated");
    describe_counter!(UPDATES_REJECTED_TOTAL, "Client updates rejected, by reason");
    describe_counter!(
        BYTES_RECEIVED_TOTAL,
        Unit::Bytes,
        "Bytes received from clients"
    );
    describe_counter!(BYTES_SENT_TOTAL, Unit::Bytes, "Bytes sent to clients");
    describe_histogram!(
        AGGREGATION_SECONDS,
        Unit::Seconds,
        "Aggregation time per round"
    );
    describe_gauge!(GLOBAL_ACCURACY, "Global model test accuracy");
    describe_gauge!(GLOBAL_LOSS, "Global model test loss");
    describe_gauge!(CLIENT_EPSILON_SPENT, "Epsilon spent per client");
    describe_gauge!(CLIENT_EPSILON_BUDGET, "Epsilon budget per client");
    describe_gauge!(CLIENT_BUDGET_FRACTION, "Epsilon spent / budget per client");
    describe_gauge!(EPSILON_SPENT_MAX, "Largest epsilon spent by any client");
    describe_gauge!(PRIVACY_BUDGET_REMAINING, "Epsilon budget left per client");
    describe_gauge!(
        TRAINING_STATE,
        "Training state: 0 idle, 1 running, 2 paused, 3 finished"
    );
    describe_gauge!(
        LAST_ROUND_COMPLETED_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Unix time the last round completed"
    );
}

/// Renders the Prometheus text exposition, running upkeep first so histogram memory stays bounded.
pub(crate) fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}
