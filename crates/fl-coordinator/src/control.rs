//! The coordinator as `fl-api`'s [`ControlPlane`]: the REST API reads snapshots and sends
//! operator commands to the engine task.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use fl_api::{
    ApiError, ClientInfo, ClientPrivacy, Command, ControlPlane, ModelFileFuture, ModelInfo,
    PrivacyOverview, RoundInfo, RunPhase as ApiPhase, RunStatus, TrainingState,
};

use crate::state::{Command as EngineCommand, RunPhase, Shared};

/// [`ControlPlane`] over the coordinator's shared state.
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    /// Wraps the shared state.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    fn round_info(r: &fl_core::report::RoundRecord) -> RoundInfo {
        RoundInfo {
            round: r.round,
            participants: r.clients as u64,
            dropped: r.dropped.len() as u64,
            accuracy: r.accuracy,
            loss: r.loss,
            duration_seconds: r.seconds,
            bytes_up: r.bytes_up,
            bytes_down: r.bytes_down,
            epsilon: r.epsilon,
            attempt: r.attempt,
            completed_at_unix: None,
        }
    }

    fn privacy_line(&self, id: &str) -> Option<ClientPrivacy> {
        let snap = self.shared.snap();
        let ledger = snap.ledger.as_ref()?;
        let st = ledger.status(id);
        Some(ClientPrivacy::new(
            id,
            st.spent,
            Some(ledger.budget().epsilon),
            snap.exhausted.contains(id),
        ))
    }
}

fn unix_secs(t: std::time::Instant) -> Option<u64> {
    let ago = t.elapsed();
    SystemTime::now()
        .checked_sub(ago)?
        .duration_since(UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

impl ControlPlane for Control {
    fn ready(&self) -> bool {
        !self.shared.commands.is_closed()
    }

    fn status(&self) -> RunStatus {
        let s = self.shared.snap();
        let (connected, registered) = self
            .shared
            .presence
            .lock()
            .map(|p| {
                (
                    p.values().filter(|c| c.connected).count() as u64,
                    p.len() as u64,
                )
            })
            .unwrap_or((0, 0));
        let (phase, training_state) = match s.phase {
            RunPhase::Waiting => (ApiPhase::Waiting, TrainingState::Running),
            RunPhase::Training => (ApiPhase::Training, TrainingState::Running),
            RunPhase::Paused => (ApiPhase::Paused, TrainingState::Paused),
            RunPhase::Finished => (ApiPhase::Finished, TrainingState::Finished),
        };
        let training_state = if s.paused && s.finished.is_none() {
            TrainingState::Paused
        } else {
            training_state
        };
        RunStatus {
            run_id: self.shared.cfg.run_id.clone(),
            phase,
            current_round: s.open_round.unwrap_or(s.completed),
            completed_rounds: s.completed,
            total_rounds: self.shared.cfg.rounds,
            clients_connected: connected,
            clients_registered: registered,
            strategy: self.shared.cfg.strategy.clone(),
            model: self.shared.cfg.model.clone(),
            started_at_unix: Some(self.shared.started_unix),
            training_state,
        }
    }

    fn rounds(&self) -> Vec<RoundInfo> {
        self.shared
            .snap()
            .rounds
            .iter()
            .map(Self::round_info)
            .collect()
    }

    fn round(&self, round: u64) -> Option<RoundInfo> {
        self.shared
            .snap()
            .rounds
            .iter()
            .find(|r| r.round == round)
            .map(Self::round_info)
    }

    fn clients(&self) -> Vec<ClientInfo> {
        let ids: Vec<String> = self
            .shared
            .presence
            .lock()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut out: Vec<ClientInfo> = ids.iter().filter_map(|id| self.client(id)).collect();
        out.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        out
    }

    fn client(&self, id: &str) -> Option<ClientInfo> {
        let p = self.shared.presence.lock().ok()?.get(id).cloned()?;
        let snap = self.shared.snap();
        let rounds = snap
            .rounds
            .iter()
            .filter(|r| r.participants.iter().any(|x| x == id))
            .count() as u64;
        let privacy = self.privacy_line(id);
        Some(ClientInfo {
            client_id: id.to_string(),
            online: p.connected,
            last_seen_unix: unix_secs(p.last_seen),
            capabilities: fl_api::Capabilities {
                cores: p.caps.cores,
                memory_bytes: p.caps.memory_bytes,
                num_examples: p.caps.num_examples,
                samples_per_second: p.caps.samples_per_second,
            },
            rounds_participated: rounds,
            epsilon_spent: privacy.as_ref().map_or(0.0, |c| c.epsilon_spent),
            epsilon_budget: privacy.as_ref().and_then(|c| c.epsilon_budget),
            budget_fraction: privacy.as_ref().and_then(|c| c.budget_fraction),
            budget_exhausted: privacy.as_ref().is_some_and(|c| c.budget_exhausted),
        })
    }

    fn privacy(&self) -> PrivacyOverview {
        let snap = self.shared.snap();
        let p = &self.shared.cfg.privacy;
        let dp = self.shared.dp.as_ref();
        let clients = snap
            .ledger
            .as_ref()
            .map(|l| {
                l.clients()
                    .filter_map(|(id, _)| self.privacy_line(id))
                    .collect()
            })
            .unwrap_or_default();
        PrivacyOverview {
            enabled: dp.is_some(),
            accountant: p.accountant.clone(),
            delta: p.delta,
            epsilon_budget: dp.map(|d| d.epsilon),
            noise_multiplier: dp.map(|d| d.noise_multiplier),
            max_grad_norm: dp.map(|d| d.max_grad_norm),
            epsilon_max: 0.0,
            clients_at_warning: 0,
            clients_exhausted: 0,
            clients,
        }
        .tally()
    }

    fn models(&self) -> Vec<ModelInfo> {
        self.shared
            .snap()
            .model_files
            .iter()
            .map(|m| ModelInfo {
                round: m.round,
                model_version: m.model_version,
                sha256: m.sha256.clone(),
                size_bytes: m.size_bytes,
            })
            .collect()
    }

    fn model_file(&self, round: u64) -> ModelFileFuture<'_> {
        Box::pin(async move {
            let snap = self.shared.snap();
            let values = if round == snap.model_version {
                match snap.model(round) {
                    Some(p) => fl_proto::le_bytes_to_f32s(p.bytes())
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    None => return Ok(None),
                }
            } else {
                match self
                    .shared
                    .store
                    .load_checkpoint_model(&self.shared.cfg.run_id, round as i64)
                    .await
                {
                    Ok(bytes) => fl_proto::le_bytes_to_f32s(&bytes)
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                    Err(fl_store::StoreError::NotFound(_)) => return Ok(None),
                    Err(e) => return Err(ApiError::Internal(e.to_string())),
                }
            };
            fl_ml::safetensors_io::to_bytes(&self.shared.layout, &values, None)
                .map(Some)
                .map_err(|e| ApiError::Internal(e.to_string()))
        })
    }

    fn command(&self, cmd: Command) -> Result<RunStatus, ApiError> {
        let s = self.shared.snap();
        if s.finished.is_some() {
            return Err(ApiError::Conflict("the run is finished".into()));
        }
        let engine_cmd = match cmd {
            Command::Start | Command::Resume if s.paused => EngineCommand::Resume,
            Command::Start | Command::Resume => {
                return Err(ApiError::Conflict("the run is already running".into()));
            }
            Command::Pause if s.paused => {
                return Err(ApiError::Conflict("the run is already paused".into()));
            }
            Command::Pause => EngineCommand::Pause,
            Command::Stop => EngineCommand::Stop,
        };
        self.shared
            .commands
            .try_send(engine_cmd)
            .map_err(|e| ApiError::Internal(format!("engine busy: {e}")))?;
        let mut st = self.status();
        st.training_state = match cmd {
            Command::Pause => TrainingState::Paused,
            Command::Stop => TrainingState::Finished,
            _ => TrainingState::Running,
        };
        Ok(st)
    }
}
