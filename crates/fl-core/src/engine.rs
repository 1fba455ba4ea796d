//! The round state machine of a federated run.
//!
//! [`RoundEngine`] performs **no I/O and reads no clock**. Its driver — the
//! in-process simulator or the gRPC coordinator — feeds it events with the
//! `handle_*` methods, passing the current time as a [`Duration`] since the run
//! started, and drains what it must do with [`RoundEngine::poll_event`]. When
//! [`RoundEngine::poll_timeout`] returns a time, the driver calls
//! [`RoundEngine::handle_timeout`] once that time is reached; spurious calls are
//! harmless. The same seed and the same event sequence give the same run.
//!
//! A round: when at least `min_available` clients are known, the engine samples
//! participants and emits [`Event::RoundStarted`] with one [`TrainTask`] each.
//! Updates are validated and folded into the strategy's streaming aggregator as
//! they arrive. The round completes when every participant has answered (or
//! left), or at the deadline if a quorum of updates arrived; otherwise it is
//! retried with a fresh sample, up to `max_attempts` times.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::adapt::{Capabilities, LrSchedule, TrainPlan, adapt_plan};
use crate::error::{ConfigError, UpdateRejected};
use crate::params::{Params, l2_norm};
use crate::privacy::{AccountantKind, Budget, BudgetStatus, Conversion, Ledger, PrivacyEvent};
use crate::sampling::Sampling;
use crate::strategy::{Aggregator, NoiseRng, Strategy};

/// A client's identifier.
pub type ClientId = String;

/// Static settings of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Rounds to complete.
    pub rounds: u64,
    /// How participants are chosen.
    pub sampling: Sampling,
    /// Clients that must be available before a round starts.
    pub min_available: usize,
    /// Fraction of the selected clients whose updates suffice at the deadline, in (0, 1].
    pub quorum: f64,
    /// Absolute minimum number of updates for a round to count (≥ 1).
    pub min_updates: usize,
    /// Time a round may take before the quorum rule applies.
    pub round_timeout: Duration,
    /// Attempts per round before the run is aborted.
    pub max_attempts: u32,
    /// Seed of client sampling and of the per-task training seeds.
    pub seed: u64,
    /// Base local-training plan.
    pub plan: TrainPlan,
    /// Target round duration for adaptive plans (None = everyone gets the base plan).
    pub target_round_seconds: Option<f64>,
    /// Reject updates whose L2 norm exceeds this (None = no bound).
    pub max_update_norm: Option<f64>,
    /// Record-level DP-SGD on every client, with per-client budgets (None = no DP).
    pub dp: Option<DpPlan>,
    /// How the learning rate of `plan` changes over the rounds.
    #[serde(default)]
    pub lr_schedule: LrSchedule,
}

/// Record-level DP-SGD settings handed to clients, and the budget each client
/// may spend over the whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpPlan {
    /// Noise multiplier σ.
    pub noise_multiplier: f64,
    /// Per-example clipping bound C.
    pub max_grad_norm: f64,
    /// ε budget per client.
    pub epsilon: f64,
    /// δ per client.
    pub delta: f64,
    /// Accountant that turns steps into ε.
    pub accountant: AccountantKind,
    /// RDP→(ε, δ) conversion (RDP only).
    pub conversion: Conversion,
}

impl DpPlan {
    /// The privacy event of one round for a client holding `num_examples`
    /// examples under `plan`: Poisson rate `batch/n`, `plan.steps(n)` steps.
    pub fn round_event(&self, plan: &TrainPlan, num_examples: u64) -> PrivacyEvent {
        let n = num_examples.max(1);
        PrivacyEvent {
            noise_multiplier: self.noise_multiplier,
            sample_rate: (f64::from(plan.batch_size) / n as f64).min(1.0),
            steps: plan.steps(n).max(1),
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            rounds: 5,
            sampling: Sampling::Fraction {
                fraction: 1.0,
                min_clients: 1,
            },
            min_available: 1,
            quorum: 1.0,
            min_updates: 1,
            round_timeout: Duration::from_secs(600),
            max_attempts: 5,
            seed: 0,
            plan: TrainPlan::default(),
            target_round_seconds: None,
            max_update_norm: None,
            dp: None,
            lr_schedule: LrSchedule::Constant,
        }
    }
}

impl EngineConfig {
    /// Checks every value; the message names the bad one.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.sampling.validate()?;
        if self.rounds == 0 {
            return bad("rounds must be at least 1".into());
        }
        if !(self.quorum > 0.0 && self.quorum <= 1.0) {
            return bad(format!("quorum must be in (0, 1], got {}", self.quorum));
        }
        if self.min_updates == 0 {
            return bad("min_updates must be at least 1".into());
        }
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1".into());
        }
        if self.round_timeout.is_zero() {
            return bad("round_timeout must be positive".into());
        }
        let p = &self.plan;
        if p.batch_size == 0 || p.local_epochs == 0 {
            return bad("batch_size and local_epochs must be at least 1".into());
        }
        if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
            return bad(format!(
                "learning rate must be positive, got {}",
                p.learning_rate
            ));
        }
        if !(0.0..1.0).contains(&p.momentum) {
            return bad(format!("momentum must be in [0, 1), got {}", p.momentum));
        }
        self.lr_schedule.validate().map_err(ConfigError::Invalid)?;
        if let Some(b) = self.max_update_norm
            && !(b.is_finite() && b > 0.0)
        {
            return bad(format!("max_update_norm must be positive, got {b}"));
        }
        if let Some(dp) = &self.dp {
            let pos = |x: f64| x.is_finite() && x > 0.0;
            if !pos(dp.noise_multiplier) {
                return bad(format!(
                    "privacy.noise_multiplier must be positive, got {}",
                    dp.noise_multiplier
                ));
            }
            if !pos(dp.max_grad_norm) {
                return bad(format!(
                    "privacy.max_grad_norm must be positive, got {}",
                    dp.max_grad_norm
                ));
            }
            Budget::new(dp.epsilon, dp.delta)
                .map_err(|e| ConfigError::Invalid(format!("privacy budget: {e}")))?;
        }
        Ok(())
    }
}

/// What one selected client is asked to do in a round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainTask {
    /// Round number (1-based).
    pub round: u64,
    /// Attempt of this round (1-based).
    pub attempt: u32,
    /// Version of the global model to train from.
    pub model_version: u64,
    /// Local training plan (possibly adapted to the client).
    pub plan: TrainPlan,
    /// Seed for the client's batch shuffling (reproducible research runs).
    pub seed: u64,
    /// Record-level DP-SGD settings, when the run uses DP.
    pub dp: Option<DpPlan>,
}

/// A client's result for a round.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// Sender.
    pub client: ClientId,
    /// Round it answers.
    pub round: u64,
    /// Model version it trained from.
    pub model_version: u64,
    /// Examples it trained on (FedAvg weight).
    pub num_examples: u64,
    /// Local model minus global model.
    pub delta: Vec<f32>,
    /// Mean local training loss.
    pub train_loss: f64,
    /// Local training accuracy in [0, 1].
    pub train_accuracy: f64,
    /// Record-level ε the client has spent after this round, if it runs DP-SGD.
    pub epsilon_spent: Option<f64>,
}

/// Summary of a completed round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    /// Round number.
    pub round: u64,
    /// Attempt that completed.
    pub attempt: u32,
    /// New global model version.
    pub model_version: u64,
    /// Clients whose updates were aggregated.
    pub participants: Vec<ClientId>,
    /// Selected clients that sent nothing usable.
    pub dropped: Vec<ClientId>,
    /// Sum of the participants' example counts.
    pub num_examples: u64,
    /// Example-weighted mean training loss.
    pub train_loss: f64,
    /// Example-weighted mean training accuracy.
    pub train_accuracy: f64,
    /// Largest ε reported by a participant (record-level DP), if any.
    pub epsilon_max: Option<f64>,
    /// Time the round started (since run start).
    pub started_at: Duration,
    /// Time the round completed.
    pub completed_at: Duration,
    /// The tasks handed out, per client (shows adaptive plans).
    pub tasks: BTreeMap<ClientId, TrainTask>,
}

/// Why a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// All rounds completed.
    Completed,
    /// The operator stopped it.
    Stopped,
    /// A round failed `max_attempts` times.
    Aborted {
        /// The round that could not complete.
        round: u64,
    },
}

/// What the driver must act on.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A round began: send each task (with the global model) to its client.
    RoundStarted {
        /// Round number.
        round: u64,
        /// Attempt number.
        attempt: u32,
        /// Model version the tasks train from.
        model_version: u64,
        /// One task per selected client.
        tasks: Vec<(ClientId, TrainTask)>,
    },
    /// An update was accepted and aggregated.
    UpdateAccepted {
        /// Round.
        round: u64,
        /// Sender.
        client: ClientId,
    },
    /// A round completed; the new global model is available from [`RoundEngine::global`].
    RoundCompleted(RoundSummary),
    /// A round attempt failed (no quorum by the deadline, or aggregation failed) and will be retried.
    RoundFailed {
        /// Round number.
        round: u64,
        /// Attempt that failed.
        attempt: u32,
        /// Updates received.
        received: usize,
        /// Updates needed.
        needed: usize,
        /// Human-readable cause.
        reason: String,
    },
    /// A client's privacy ledger was charged for an accepted update.
    PrivacySpent {
        /// Client.
        client: ClientId,
        /// Its budget status after the charge (warning level at ≥ 80 %).
        status: BudgetStatus,
    },
    /// A client can no longer train without exceeding its ε budget; it is not selected again.
    BudgetExhausted {
        /// Client.
        client: ClientId,
        /// ε it has spent.
        spent: f64,
    },
    /// A selected client left before answering.
    ClientDropped {
        /// Round.
        round: u64,
        /// Client.
        client: ClientId,
    },
    /// The run is over.
    Finished(FinishReason),
}

/// The engine's phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for enough clients (or for `resume`).
    Waiting,
    /// A round is collecting updates.
    Training,
    /// The run is over.
    Finished,
}

struct OpenRound {
    round: u64,
    attempt: u32,
    started_at: Duration,
    deadline: Duration,
    tasks: BTreeMap<ClientId, TrainTask>,
    received: BTreeSet<ClientId>,
    left: BTreeSet<ClientId>,
    aggregator: Box<dyn Aggregator>,
    examples: u64,
    loss_sum: f64,
    acc_sum: f64,
    epsilon_max: Option<f64>,
}

/// What a checkpoint must hold to resume after the last completed round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineCheckpoint {
    /// Rounds completed.
    pub completed_rounds: u64,
    /// Global model version.
    pub model_version: u64,
    /// Global model.
    pub global: Params,
    /// Strategy state ([`Strategy::state`]).
    pub strategy_state: serde_json::Value,
    /// Per-client privacy ledger (record-level DP runs).
    #[serde(default)]
    pub ledger: Option<Ledger>,
}

/// The round state machine. See the [module docs](self).
pub struct RoundEngine {
    cfg: EngineConfig,
    strategy: Box<dyn Strategy>,
    noise: Box<dyn NoiseRng>,
    global: Params,
    model_version: u64,
    completed: u64,
    attempt: u32,
    pool: BTreeMap<ClientId, Capabilities>,
    open: Option<OpenRound>,
    phase: Phase,
    paused: bool,
    events: VecDeque<Event>,
    ledger: Option<Ledger>,
    exhausted: BTreeSet<ClientId>,
}

impl std::fmt::Debug for RoundEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoundEngine")
            .field("phase", &self.phase)
            .field("completed", &self.completed)
            .field("model_version", &self.model_version)
            .field("clients", &self.pool.len())
            .finish_non_exhaustive()
    }
}

impl RoundEngine {
    /// A new run starting from `initial`. `noise` feeds DP strategies only.
    pub fn new(
        cfg: EngineConfig,
        strategy: Box<dyn Strategy>,
        initial: Params,
        noise: Box<dyn NoiseRng>,
    ) -> Result<Self, ConfigError> {
        cfg.validate()?;
        if initial.is_empty() {
            return Err(ConfigError::Invalid("the initial model is empty".into()));
        }
        let ledger = match &cfg.dp {
            Some(dp) => Some(
                Ledger::new(
                    Budget {
                        epsilon: dp.epsilon,
                        delta: dp.delta,
                    },
                    dp.accountant,
                    dp.conversion,
                )
                .map_err(|e| ConfigError::Invalid(format!("privacy budget: {e}")))?,
            ),
            None => None,
        };
        Ok(Self {
            ledger,
            exhausted: BTreeSet::new(),
            cfg,
            strategy,
            noise,
            global: initial,
            model_version: 0,
            completed: 0,
            attempt: 0,
            pool: BTreeMap::new(),
            open: None,
            phase: Phase::Waiting,
            paused: false,
            events: VecDeque::new(),
        })
    }

    /// Resumes a run after its last completed round.
    pub fn restore(
        cfg: EngineConfig,
        mut strategy: Box<dyn Strategy>,
        ckpt: EngineCheckpoint,
        noise: Box<dyn NoiseRng>,
    ) -> Result<Self, ConfigError> {
        strategy
            .restore(&ckpt.strategy_state)
            .map_err(|e| ConfigError::Invalid(format!("strategy state: {e}")))?;
        let mut e = Self::new(cfg, strategy, ckpt.global, noise)?;
        e.model_version = ckpt.model_version;
        e.completed = ckpt.completed_rounds;
        if let (Some(l), Some(saved)) = (e.ledger.as_mut(), ckpt.ledger) {
            *l = saved;
        }
        if e.completed >= e.cfg.rounds {
            e.phase = Phase::Finished;
        }
        Ok(e)
    }

    /// The state to persist after a completed round.
    pub fn checkpoint(&self) -> EngineCheckpoint {
        EngineCheckpoint {
            completed_rounds: self.completed,
            model_version: self.model_version,
            global: self.global.clone(),
            strategy_state: self.strategy.state(),
            ledger: self.ledger.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }
    /// The current global model.
    pub fn global(&self) -> &Params {
        &self.global
    }
    /// Version of the current global model (rounds applied).
    pub fn model_version(&self) -> u64 {
        self.model_version
    }
    /// Rounds completed.
    pub fn completed_rounds(&self) -> u64 {
        self.completed
    }
    /// Current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }
    /// True while paused by the operator.
    pub fn is_paused(&self) -> bool {
        self.paused
    }
    /// The open round's number, if a round is collecting updates.
    pub fn open_round(&self) -> Option<u64> {
        self.open.as_ref().map(|o| o.round)
    }
    /// The task of `client` in the open round, if it was selected and has not answered.
    pub fn task_for(&self, client: &str) -> Option<&TrainTask> {
        let o = self.open.as_ref()?;
        if o.received.contains(client) {
            return None;
        }
        o.tasks.get(client)
    }
    /// Known clients and their capabilities.
    pub fn clients(&self) -> &BTreeMap<ClientId, Capabilities> {
        &self.pool
    }
    /// The privacy ledger (record-level DP runs).
    pub fn ledger(&self) -> Option<&Ledger> {
        self.ledger.as_ref()
    }
    /// Strategy name.
    pub fn strategy_name(&self) -> String {
        self.strategy.name()
    }

    /// A client became available (or re-registered with new capabilities).
    pub fn handle_join(&mut self, now: Duration, client: ClientId, caps: Capabilities) {
        self.pool.insert(client, caps);
        self.maybe_start(now);
    }

    /// A client went away. If it was selected and had not answered, it is dropped.
    pub fn handle_leave(&mut self, now: Duration, client: &str) {
        self.pool.remove(client);
        if let Some(o) = self.open.as_mut()
            && o.tasks.contains_key(client)
            && !o.received.contains(client)
            && o.left.insert(client.to_string())
        {
            self.events.push_back(Event::ClientDropped {
                round: o.round,
                client: client.to_string(),
            });
        }
        self.maybe_complete(now, false);
    }

    /// Validates and aggregates a client update.
    pub fn handle_update(&mut self, now: Duration, update: Update) -> Result<(), UpdateRejected> {
        let model_len = self.global.len();
        let o = self.open.as_mut().ok_or(UpdateRejected::NoOpenRound)?;
        if update.round != o.round {
            return Err(UpdateRejected::WrongRound {
                expected: o.round,
                got: update.round,
            });
        }
        if update.model_version != self.model_version {
            return Err(UpdateRejected::WrongModelVersion {
                expected: self.model_version,
                got: update.model_version,
            });
        }
        if !o.tasks.contains_key(&update.client) {
            return Err(UpdateRejected::NotSelected(update.client));
        }
        if o.received.contains(&update.client) {
            return Err(UpdateRejected::Duplicate(update.client));
        }
        if update.delta.len() != model_len {
            return Err(UpdateRejected::WrongLength {
                expected: model_len,
                got: update.delta.len(),
            });
        }
        if let Some(i) = update.delta.iter().position(|x| !x.is_finite()) {
            return Err(UpdateRejected::NonFinite(i));
        }
        if update.num_examples == 0 {
            return Err(UpdateRejected::NoExamples);
        }
        if let Some(bound) = self.cfg.max_update_norm {
            let norm = l2_norm(&update.delta);
            if norm > bound {
                return Err(UpdateRejected::NormTooLarge { norm, bound });
            }
        }
        if now > o.deadline && o.left.contains(&update.client) {
            return Err(UpdateRejected::TooLate);
        }
        // Length was checked above, so the aggregator cannot refuse it.
        if o.aggregator
            .add(&update.client, update.num_examples, &update.delta)
            .is_err()
        {
            return Err(UpdateRejected::WrongLength {
                expected: model_len,
                got: update.delta.len(),
            });
        }
        let w = update.num_examples as f64;
        o.examples += update.num_examples;
        if update.train_loss.is_finite() {
            o.loss_sum += w * update.train_loss;
        }
        if update.train_accuracy.is_finite() {
            o.acc_sum += w * update.train_accuracy;
        }
        if let Some(eps) = update.epsilon_spent.filter(|e| e.is_finite()) {
            o.epsilon_max = Some(o.epsilon_max.map_or(eps, |m: f64| m.max(eps)));
        }
        if let (Some(ledger), Some(dp)) = (self.ledger.as_mut(), self.cfg.dp.as_ref()) {
            // Server-side accounting from the task actually handed out; the
            // selection step guaranteed it fits the budget.
            let n = self
                .pool
                .get(&update.client)
                .map_or(update.num_examples, |c| c.num_examples.max(1));
            let ev = dp.round_event(&o.tasks[&update.client].plan, n);
            if let Ok(spent) = ledger.charge(&update.client, ev) {
                self.events.push_back(Event::PrivacySpent {
                    client: update.client.clone(),
                    status: spent.status,
                });
            }
        }
        o.left.remove(&update.client);
        o.received.insert(update.client.clone());
        self.events.push_back(Event::UpdateAccepted {
            round: o.round,
            client: update.client,
        });
        self.maybe_complete(now, false);
        Ok(())
    }

    /// Time at which [`RoundEngine::handle_timeout`] must be called, if any.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.open.as_ref().map(|o| o.deadline)
    }

    /// Drives deadlines. Spurious calls are no-ops.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.maybe_complete(now, true);
        self.maybe_start(now);
    }

    /// The next thing the driver must do, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Stops starting new rounds; the open round still completes.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Allows rounds to start again.
    pub fn resume(&mut self, now: Duration) {
        self.paused = false;
        self.maybe_start(now);
    }

    /// Ends the run now; the open round is discarded.
    pub fn stop(&mut self) {
        if self.phase != Phase::Finished {
            self.open = None;
            self.finish(FinishReason::Stopped);
        }
    }

    fn finish(&mut self, reason: FinishReason) {
        self.phase = Phase::Finished;
        self.events.push_back(Event::Finished(reason));
    }

    fn maybe_start(&mut self, now: Duration) {
        if self.phase != Phase::Waiting || self.paused || self.open.is_some() {
            return;
        }
        if self.completed >= self.cfg.rounds {
            self.finish(FinishReason::Completed);
            return;
        }
        if self.pool.len() < self.cfg.min_available.max(1) {
            return;
        }
        let round = self.completed + 1;
        let attempt = self.attempt + 1;
        // One RNG per (seed, round, attempt): a restored run samples exactly as
        // the original would have, without persisting RNG state.
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.cfg.seed ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt) << 48,
        );
        let available = self.eligible_clients();
        if available.is_empty() {
            if !self.pool.is_empty() && self.exhausted.len() >= self.pool.len() {
                // Every client has spent its budget: the run cannot go on.
                self.finish(FinishReason::Aborted { round });
            }
            return;
        }
        let selected = self.cfg.sampling.sample(&available, &mut rng);
        let hints = self.strategy.client_hints();
        let tasks: BTreeMap<ClientId, TrainTask> = selected
            .into_iter()
            .map(|id| {
                let caps = &self.pool[&id];
                let mut plan = match self.cfg.target_round_seconds {
                    Some(t) => adapt_plan(&self.cfg.plan, caps, t),
                    None => self.cfg.plan.clone(),
                };
                plan.proximal_mu = hints.proximal_mu;
                plan.learning_rate *= self.cfg.lr_schedule.factor(round, self.cfg.rounds);
                let seed = rand::Rng::random(&mut rng);
                (
                    id,
                    TrainTask {
                        round,
                        attempt,
                        model_version: self.model_version,
                        plan,
                        seed,
                        dp: self.cfg.dp.clone(),
                    },
                )
            })
            .collect();
        self.attempt = attempt;
        self.phase = Phase::Training;
        self.events.push_back(Event::RoundStarted {
            round,
            attempt,
            model_version: self.model_version,
            tasks: tasks.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        });
        self.open = Some(OpenRound {
            round,
            attempt,
            started_at: now,
            deadline: now + self.cfg.round_timeout,
            tasks,
            received: BTreeSet::new(),
            left: BTreeSet::new(),
            aggregator: self.strategy.aggregator(self.global.len()),
            examples: 0,
            loss_sum: 0.0,
            acc_sum: 0.0,
            epsilon_max: None,
        });
        // An empty Poisson sample completes (or fails) at once.
        self.maybe_complete(now, false);
    }

    /// Known clients that may still train: with DP, those whose next round fits their budget.
    fn eligible_clients(&mut self) -> Vec<ClientId> {
        let (Some(ledger), Some(dp)) = (self.ledger.as_ref(), self.cfg.dp.as_ref()) else {
            return self.pool.keys().cloned().collect();
        };
        let mut out = Vec::new();
        for (id, caps) in &self.pool {
            let plan = match self.cfg.target_round_seconds {
                Some(t) => adapt_plan(&self.cfg.plan, caps, t),
                None => self.cfg.plan.clone(),
            };
            let ev = dp.round_event(&plan, caps.num_examples);
            match ledger.would_exceed(id, ev) {
                Ok(false) => out.push(id.clone()),
                _ => {
                    if self.exhausted.insert(id.clone()) {
                        self.events.push_back(Event::BudgetExhausted {
                            client: id.clone(),
                            spent: ledger.status(id).spent,
                        });
                    }
                }
            }
        }
        out
    }

    fn needed(&self, o: &OpenRound) -> usize {
        let q = (self.cfg.quorum * o.tasks.len() as f64).ceil() as usize;
        q.max(self.cfg.min_updates)
    }

    fn maybe_complete(&mut self, now: Duration, timed_out: bool) {
        let Some(o) = self.open.as_ref() else { return };
        let answered = o.received.len() + o.left.len();
        let all_answered = answered >= o.tasks.len();
        let past_deadline = timed_out && now >= o.deadline;
        if !all_answered && !past_deadline {
            return;
        }
        let needed = self.needed(o);
        let received = o.received.len();
        let Some(o) = self.open.take() else { return };
        if received < needed {
            let reason = format!("{received} of {needed} needed updates by the deadline");
            self.fail(o.round, o.attempt, now, received, needed, reason);
            return;
        }
        let round = o.round;
        let attempt = o.attempt;
        match o.aggregator.finish(self.noise.as_mut()) {
            Ok(aggregate) => {
                self.strategy.apply(&mut self.global.values, &aggregate);
                self.model_version += 1;
                self.completed = round;
                self.attempt = 0;
                let w = o.examples.max(1) as f64;
                let dropped = o
                    .tasks
                    .keys()
                    .filter(|k| !o.received.contains(*k))
                    .cloned()
                    .collect();
                self.events.push_back(Event::RoundCompleted(RoundSummary {
                    round,
                    attempt,
                    model_version: self.model_version,
                    participants: o.received.iter().cloned().collect(),
                    dropped,
                    num_examples: o.examples,
                    train_loss: o.loss_sum / w,
                    train_accuracy: o.acc_sum / w,
                    epsilon_max: o.epsilon_max,
                    started_at: o.started_at,
                    completed_at: now,
                    tasks: o.tasks,
                }));
                self.phase = Phase::Waiting;
                self.maybe_start(now);
            }
            Err(e) => {
                let reason = format!("aggregation failed: {e}");
                self.fail(round, attempt, now, received, needed, reason);
            }
        }
    }

    fn fail(
        &mut self,
        round: u64,
        attempt: u32,
        now: Duration,
        received: usize,
        needed: usize,
        reason: String,
    ) {
        self.events.push_back(Event::RoundFailed {
            round,
            attempt,
            received,
            needed,
            reason,
        });
        self.phase = Phase::Waiting;
        if attempt >= self.cfg.max_attempts {
            self.finish(FinishReason::Aborted { round });
        } else {
            self.maybe_start(now);
        }
    }
}
