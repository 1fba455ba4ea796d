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

/// Renders the Prometheus text exposition, running upkeep first so histogram memory stays bounded,
/// followed by the process metrics ([`process_metrics`]).
pub(crate) fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    let mut out = handle.render();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&process_metrics());
    out
}

/// `process_resident_memory_bytes` and `process_cpu_seconds_total` of this process, named and
/// typed as the official Prometheus client libraries export them (the Grafana dashboard's
/// memory and CPU panels use them). Read from `/proc/self` on Linux; empty elsewhere.
pub fn process_metrics() -> String {
    let mut out = String::new();
    #[cfg(target_os = "linux")]
    {
        use std::fmt::Write as _;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(rss) = rss_bytes(&status) {
            let _ = write!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                 # TYPE process_resident_memory_bytes gauge\n\
                 process_resident_memory_bytes {rss}\n"
            );
        }
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        if let Some(cpu) = cpu_seconds(&stat) {
            let _ = write!(
                out,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
                 # TYPE process_cpu_seconds_total counter\n\
                 process_cpu_seconds_total {cpu}\n"
            );
        }
    }
    out
}

/// `VmRSS` of a `/proc/<pid>/status` text, in bytes.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut f = line["VmRSS:".len()..].split_whitespace();
    let kib: u64 = f.next()?.parse().ok()?;
    (f.next() == Some("kB")).then_some(kib * 1024)
}

/// utime + stime of a `/proc/<pid>/stat` text, in seconds. The kernel reports them in
/// USER_HZ ticks, which is 100 on every Linux architecture (as Prometheus' procfs assumes).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn cpu_seconds(stat: &str) -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    // The command name (field 2) may contain spaces and parentheses: fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status_and_stat() {
        let status = "Name:\tfl-coordinator\nVmPeak:\t  99 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n";
        assert_eq!(rss_bytes(status), Some(12345 * 1024));
        assert_eq!(rss_bytes("Name: x\n"), None);
        let stat = "4242 (fl coord (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 123 456 789";
        assert_eq!(cpu_seconds(stat), Some(3.25));
        assert_eq!(cpu_seconds("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_memory_and_cpu() {
        let text = process_metrics();
        assert!(
            text.contains("# TYPE process_resident_memory_bytes gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
        let rss: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(rss > 1e6, "{rss}");
    }
}
