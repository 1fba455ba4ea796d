//! Plain records stored and returned by [`crate::Store`].

use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Lifecycle of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, no round started yet.
    Created,
    /// Rounds are being executed.
    Running,
    /// Stopped on purpose; can be resumed.
    Paused,
    /// All rounds done.
    Completed,
    /// Stopped by an error.
    Failed,
}

impl RunStatus {
    /// The string stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return Err(bad("runs.status", s)),
        })
    }
}

/// Lifecycle of one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    /// Started, not finished.
    Running,
    /// Aggregated and checkpointed.
    Completed,
    /// Abandoned (e.g. too few clients).
    Failed,
}

impl RoundStatus {
    /// The string stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            _ => return Err(bad("rounds.status", s)),
        })
    }
}

fn bad(column: &'static str, value: &str) -> StoreError {
    StoreError::BadData {
        column,
        value: value.chars().take(64).collect(),
    }
}

/// A training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Run id.
    pub id: String,
    /// The run's configuration, as JSON text.
    pub config_json: String,
    /// Current status.
    pub status: RunStatus,
    /// Creation time (unix ms).
    pub created_at: i64,
    /// Last change (unix ms): status change or checkpoint.
    pub updated_at: i64,
}

/// Result of [`crate::Store::create_or_resume_run`].
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedRun {
    /// The stored run. When `existed`, its `config_json` is the one stored first, which the
    /// caller may compare with the configuration it was started with.
    pub run: Run,
    /// Whether the run was already there (a resume) rather than created now.
    pub existed: bool,
}

/// One round's outcome; the primary key is `(run_id, round)`, and recording it again replaces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// Run id.
    pub run_id: String,
    /// Round number (≥ 0).
    pub round: i64,
    /// Status.
    pub status: RoundStatus,
    /// Start time (unix ms), supplied by the caller.
    pub started_at: i64,
    /// End time (unix ms), if finished.
    pub finished_at: Option<i64>,
    /// Client ids that took part, as a JSON array.
    pub participants_json: String,
    /// Client ids that dropped out, as a JSON array.
    pub dropped_json: String,
    /// Evaluation accuracy, if evaluated. Non-finite values are stored as `None`.
    pub accuracy: Option<f64>,
    /// Evaluation or training loss. Non-finite values are stored as `None`.
    pub loss: Option<f64>,
    /// Wall-clock duration in seconds. Non-finite values are stored as `None`.
    pub duration_s: Option<f64>,
    /// Bytes received from clients in this round.
    pub bytes_up: i64,
    /// Bytes sent to clients in this round.
    pub bytes_down: i64,
    /// Largest per-client ε after this round (DP runs). Non-finite values are stored as `None`.
    pub epsilon_max: Option<f64>,
    /// Anything else, as a JSON object.
    pub summary_json: String,
}

impl RoundRecord {
    /// A running round with empty lists, no metrics and `{}` as summary.
    pub fn new(run_id: impl Into<String>, round: i64, started_at: i64) -> Self {
        Self {
            run_id: run_id.into(),
            round,
            status: RoundStatus::Running,
            started_at,
            finished_at: None,
            participants_json: "[]".into(),
            dropped_json: "[]".into(),
            accuracy: None,
            loss: None,
            duration_s: None,
            bytes_up: 0,
            bytes_down: 0,
            epsilon_max: None,
            summary_json: "{}".into(),
        }
    }
}

/// A client as seen by one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Run id.
    pub run_id: String,
    /// Client id.
    pub client_id: String,
    /// Capabilities reported at registration, as JSON.
    pub capabilities_json: String,
    /// First registration (unix ms).
    pub first_seen: i64,
    /// Last registration, heartbeat or touch (unix ms).
    pub last_seen: i64,
    /// Number of rounds with an accepted participation (kept in step by
    /// [`crate::Store::record_participation`], so re-recording never double counts).
    pub rounds_participated: i64,
    /// Largest cumulative ε reported for this client (0 without DP).
    pub epsilon_spent: f64,
    /// The client's ε budget, if any.
    pub epsilon_budget: Option<f64>,
    /// Free-form status chosen by the coordinator (`"active"` at registration).
    pub status: String,
}

/// One client's contribution to one round; the primary key is `(run_id, round, client_id)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Participation {
    /// Run id.
    pub run_id: String,
    /// Round.
    pub round: i64,
    /// Client id.
    pub client_id: String,
    /// Local examples used.
    pub num_examples: i64,
    /// Local training loss. Non-finite values are stored as `None`.
    pub train_loss: Option<f64>,
    /// The client's cumulative ε after this round (DP runs). Must be finite when present.
    pub epsilon_spent: Option<f64>,
    /// Whether the update was aggregated.
    pub accepted: bool,
    /// Why it was rejected (or any note).
    pub reason: Option<String>,
}

/// A privacy-accounting event; the primary key is `(run_id, client_id, round)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Run id.
    pub run_id: String,
    /// Client id.
    pub client_id: String,
    /// Round.
    pub round: i64,
    /// Cumulative ε after this event (finite).
    pub epsilon_after: f64,
    /// The δ the ε refers to (finite).
    pub delta: f64,
    /// Mechanism details (noise multiplier, sampling rate, ...), as JSON.
    pub event_json: String,
}

/// The parts of a checkpoint the caller supplies to [`crate::Store::save_checkpoint`].
#[derive(Clone, Copy, Debug)]
pub struct NewCheckpoint<'a> {
    /// The serialized global model (e.g. safetensors bytes).
    pub model: &'a [u8],
    /// Strategy state (server optimizer moments, ...), as JSON.
    pub strategy_state_json: &'a str,
    /// Privacy ledger snapshot, as JSON.
    pub ledger_json: &'a str,
    /// Round-engine state, as JSON.
    pub engine_state_json: &'a str,
}

/// A stored checkpoint, model included; its SHA-256 has been verified.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Run id.
    pub run_id: String,
    /// Round after which it was taken.
    pub round: i64,
    /// The model bytes.
    pub model: Vec<u8>,
    /// Hex SHA-256 of `model`.
    pub sha256: String,
    /// Strategy state, as JSON.
    pub strategy_state_json: String,
    /// Privacy ledger snapshot, as JSON.
    pub ledger_json: String,
    /// Round-engine state, as JSON.
    pub engine_state_json: String,
    /// When it was saved (unix ms).
    pub created_at: i64,
}

/// A checkpoint without its model bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// Run id.
    pub run_id: String,
    /// Round.
    pub round: i64,
    /// Model size in bytes.
    pub size_bytes: i64,
    /// Hex SHA-256 of the model.
    pub sha256: String,
    /// When it was saved (unix ms).
    pub created_at: i64,
}
