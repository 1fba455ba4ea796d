//! JSON documents served by the API. Field names are part of the public contract
//! (the dashboard, docs/API.md and external tooling read them); add fields, do not rename.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Fraction of a client's ε budget from which the dashboard and `/privacy` flag a warning.
pub const BUDGET_WARNING_FRACTION: f64 = 0.8;

/// Coarse phase of the federated run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunPhase {
    /// Waiting for enough clients (or for `start`).
    Waiting,
    /// Rounds are being executed.
    Training,
    /// An operator paused the run; the current round finishes, no new one starts.
    Paused,
    /// All rounds done or the run was stopped.
    Finished,
}

/// Operator-controlled training state (what `POST /training/*` changes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TrainingState {
    /// Not started yet.
    Idle,
    /// Running rounds.
    Running,
    /// Paused by an operator.
    Paused,
    /// Finished or stopped; terminal.
    Finished,
}

impl TrainingState {
    /// Value of the `fl_training_state` gauge: idle 0, running 1, paused 2, finished 3.
    pub fn gauge_value(self) -> f64 {
        match self {
            Self::Idle => 0.0,
            Self::Running => 1.0,
            Self::Paused => 2.0,
            Self::Finished => 3.0,
        }
    }
}

/// `GET /api/v1/run`: the state of the current run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunStatus {
    /// Identifier of the run (stable across coordinator restarts).
    pub run_id: String,
    /// Coarse phase.
    pub phase: RunPhase,
    /// Round in progress (or the last one when finished); 0 before the first round.
    pub current_round: u64,
    /// Rounds completed so far.
    pub completed_rounds: u64,
    /// Rounds configured for the run.
    pub total_rounds: u64,
    /// Clients with a live session.
    pub clients_connected: u64,
    /// Clients ever registered for this run.
    pub clients_registered: u64,
    /// Aggregation strategy name (e.g. `fedavg`).
    pub strategy: String,
    /// Model architecture name (e.g. `mnist-cnn`).
    pub model: String,
    /// Unix time (seconds) the run started; `null` before it starts.
    pub started_at_unix: Option<u64>,
    /// Operator-controlled state.
    pub training_state: TrainingState,
}

/// One completed round (`GET /api/v1/rounds`, `GET /api/v1/rounds/{round}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RoundInfo {
    /// Round number, starting at 1.
    pub round: u64,
    /// Clients whose updates were aggregated.
    pub participants: u64,
    /// Selected clients that dropped out or were rejected.
    pub dropped: u64,
    /// Global test accuracy in [0, 1] after the round, when evaluated.
    pub accuracy: Option<f64>,
    /// Global test loss after the round, when evaluated.
    pub loss: Option<f64>,
    /// Wall time of the round in seconds.
    pub duration_seconds: f64,
    /// Bytes received from clients (updates).
    pub bytes_up: u64,
    /// Bytes sent to clients (global model, tasks).
    pub bytes_down: u64,
    /// Largest ε spent by any participant after the round (`null` without DP).
    pub epsilon: Option<f64>,
    /// Attempt number (1 unless the round was retried after too many dropouts).
    pub attempt: u32,
    /// Unix time (seconds) the round completed.
    pub completed_at_unix: Option<u64>,
}

/// Hardware and data a client reported when registering.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Capabilities {
    /// CPU cores available for training.
    pub cores: u32,
    /// Memory available in bytes.
    pub memory_bytes: u64,
    /// Local training examples.
    pub num_examples: u64,
    /// Measured training throughput (examples per second).
    pub samples_per_second: f64,
}

/// One registered client (`GET /api/v1/clients`, `GET /api/v1/clients/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientInfo {
    /// Client identifier.
    pub client_id: String,
    /// Whether the client has a live session.
    pub online: bool,
    /// Unix time (seconds) of the last message from the client.
    pub last_seen_unix: Option<u64>,
    /// What the client reported at registration.
    pub capabilities: Capabilities,
    /// Rounds whose aggregate included this client's update.
    pub rounds_participated: u64,
    /// ε spent so far (0 without DP).
    pub epsilon_spent: f64,
    /// ε budget (`null` without DP).
    pub epsilon_budget: Option<f64>,
    /// `epsilon_spent / epsilon_budget` (`null` without DP).
    pub budget_fraction: Option<f64>,
    /// The client may no longer be selected because its budget is spent.
    pub budget_exhausted: bool,
}

/// Per-client line of [`PrivacyOverview`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClientPrivacy {
    /// Client identifier.
    pub client_id: String,
    /// ε spent so far.
    pub epsilon_spent: f64,
    /// ε budget (`null` without DP).
    pub epsilon_budget: Option<f64>,
    /// `epsilon_spent / epsilon_budget`.
    pub budget_fraction: Option<f64>,
    /// Budget spent: the client is excluded from selection.
    pub budget_exhausted: bool,
}

impl ClientPrivacy {
    /// Builds a line, deriving `budget_fraction` from spent and budget.
    pub fn new(
        client_id: impl Into<String>,
        epsilon_spent: f64,
        epsilon_budget: Option<f64>,
        budget_exhausted: bool,
    ) -> Self {
        let budget_fraction = epsilon_budget
            .filter(|b| *b > 0.0 && b.is_finite())
            .map(|b| epsilon_spent / b);
        Self {
            client_id: client_id.into(),
            epsilon_spent,
            epsilon_budget,
            budget_fraction,
            budget_exhausted,
        }
    }
}

/// `GET /api/v1/privacy`: the run's differential-privacy configuration and spend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PrivacyOverview {
    /// Whether DP-SGD is enabled for this run.
    pub enabled: bool,
    /// Accountant used for ε (e.g. `rdp`, `prv`).
    pub accountant: String,
    /// Target δ.
    pub delta: f64,
    /// Per-client ε budget (`null` without DP).
    pub epsilon_budget: Option<f64>,
    /// Noise multiplier σ of DP-SGD.
    pub noise_multiplier: Option<f64>,
    /// Per-example clipping norm C.
    pub max_grad_norm: Option<f64>,
    /// Largest ε spent by any client.
    pub epsilon_max: f64,
    /// Clients that spent at least 80 % of their budget (exhausted ones included).
    pub clients_at_warning: u64,
    /// Clients whose budget is exhausted.
    pub clients_exhausted: u64,
    /// Per-client spend.
    pub clients: Vec<ClientPrivacy>,
}

impl PrivacyOverview {
    /// Recomputes `epsilon_max`, `clients_at_warning` and `clients_exhausted` from `clients`,
    /// so implementors only fill the configuration and the per-client lines.
    pub fn tally(mut self) -> Self {
        self.epsilon_max = self
            .clients
            .iter()
            .map(|c| c.epsilon_spent)
            .fold(0.0, f64::max);
        self.clients_at_warning = self
            .clients
            .iter()
            .filter(|c| {
                c.budget_exhausted
                    || c.budget_fraction
                        .is_some_and(|f| f >= BUDGET_WARNING_FRACTION)
            })
            .count() as u64;
        self.clients_exhausted = self.clients.iter().filter(|c| c.budget_exhausted).count() as u64;
        self
    }
}

/// One stored global model (`GET /api/v1/models`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelInfo {
    /// Round that produced the model (0: initial model).
    pub round: u64,
    /// Monotonic model version.
    pub model_version: u64,
    /// Hex SHA-256 of the safetensors file.
    pub sha256: String,
    /// Size of the safetensors file in bytes.
    pub size_bytes: u64,
}

/// Operator command (`POST /api/v1/training/{start,pause,resume,stop}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Start training (from `idle`).
    Start,
    /// Pause after the current round (from `running`).
    Pause,
    /// Resume (from `paused`).
    Resume,
    /// Stop for good (from any non-finished state).
    Stop,
}

impl Command {
    /// Lower-case name, as in the route.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Stop => "stop",
        }
    }
}

/// Body of `GET /api/v1/health` and of `GET /api/v1/ready` when ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthStatus {
    /// `ok` (health) or `ready` (readiness).
    pub status: String,
}
