//! The JSON run report that `fl-sim` and `fl-coordinator` both write.
//!
//! One schema for simulation and deployment, so results compare directly:
//! `{ config, strategy, rounds: [{round, accuracy, loss, seconds, bytes_up,
//! bytes_down, clients, …}], final_accuracy, total_seconds, … }`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::adapt::TrainPlan;

/// One completed round as reported.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// Round number (1-based).
    pub round: u64,
    /// Global test accuracy after the round, in [0, 1] (NaN-free: absent when not evaluated).
    pub accuracy: Option<f64>,
    /// Global test loss after the round.
    pub loss: Option<f64>,
    /// Wall-clock seconds of the round (start of the attempt that completed → model available).
    pub seconds: f64,
    /// Bytes sent by clients to the server this round (encoded updates).
    pub bytes_up: u64,
    /// Bytes sent by the server to clients this round (models).
    pub bytes_down: u64,
    /// Number of clients aggregated.
    pub clients: usize,
    /// Ids of the clients aggregated.
    pub participants: Vec<String>,
    /// Ids of the selected clients that dropped out or were rejected.
    pub dropped: Vec<String>,
    /// Attempt that completed (1 = no retry).
    pub attempt: u32,
    /// Example-weighted mean local training loss.
    pub train_loss: f64,
    /// Largest record-level ε spent by any participant after this round.
    pub epsilon: Option<f64>,
    /// Per-client training plans (adaptive clients show their caps here).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub plans: BTreeMap<String, TrainPlan>,
    /// Seconds spent aggregating (quorum → new global model).
    pub aggregation_seconds: f64,
}

/// Per-client privacy and participation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Rounds this client's update was aggregated in.
    pub rounds: u64,
    /// Record-level ε spent.
    pub epsilon: Option<f64>,
    /// ε budget.
    pub epsilon_budget: Option<f64>,
    /// True once the budget stopped this client.
    pub budget_exhausted: bool,
}

/// The whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The effective configuration.
    pub config: serde_json::Value,
    /// Strategy name.
    pub strategy: String,
    /// Completed rounds in order.
    pub rounds: Vec<RoundRecord>,
    /// Accuracy of the final global model.
    pub final_accuracy: Option<f64>,
    /// Loss of the final global model.
    pub final_loss: Option<f64>,
    /// Wall-clock seconds of the whole run.
    pub total_seconds: f64,
    /// Per-client records.
    pub clients: BTreeMap<String, ClientRecord>,
    /// User-level (client-level) ε of central DP-FedAvg, if used.
    pub user_level_epsilon: Option<f64>,
    /// True when DP noise came from a seeded (reproducible, NOT secure) generator.
    pub seeded_noise: bool,
    /// How the run ended (`completed`, `stopped`, `aborted`).
    pub outcome: String,
    /// Warnings raised during the run (budget at 80 %, exhaustion, retries).
    pub warnings: Vec<String>,
}

impl RunReport {
    /// Total bytes up over all rounds.
    pub fn bytes_up(&self) -> u64 {
        self.rounds.iter().map(|r| r.bytes_up).sum()
    }
    /// Total bytes down over all rounds.
    pub fn bytes_down(&self) -> u64 {
        self.rounds.iter().map(|r| r.bytes_down).sum()
    }
}
