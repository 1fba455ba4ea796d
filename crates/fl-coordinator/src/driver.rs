//! The engine task: owns the [`RoundEngine`], the clock and the database writes.
//!
//! It selects on the command inbox, the engine's next deadline and shutdown; after each step
//! it drains the engine's events (evaluating, persisting and reporting completed rounds) and
//! publishes a new [`Snapshot`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fl_core::engine::{Event, FinishReason, RoundEngine, RoundSummary, TrainTask};
use fl_core::report::{ClientRecord, RoundRecord, RunReport};
use fl_ml::{LocalData, LocalTrainer};
use fl_proto::Payload;
use fl_store::{NewCheckpoint, RunStatus, Store};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::metrics_names as m;
use crate::state::{Command, ModelFile, RunPhase, Shared, Snapshot};

/// Server-side evaluation: a trainer and the held-out examples.
pub struct Evaluator {
    /// Trainer used only for `evaluate`.
    pub trainer: Arc<Mutex<LocalTrainer>>,
    /// Test examples.
    pub data: Arc<LocalData>,
}

/// What the run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The report (also written to the configured path).
    pub report: RunReport,
}

/// The engine task's state.
pub struct Driver {
    /// The engine.
    pub engine: RoundEngine,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Command inbox.
    pub rx: mpsc::Receiver<Command>,
    /// Snapshot publisher.
    pub snap_tx: watch::Sender<Arc<Snapshot>>,
    /// Metadata store.
    pub store: Store,
    /// Run start (the engine's time origin).
    pub start: Instant,
    /// Optional evaluation.
    pub eval: Option<Evaluator>,
    /// Rounds completed (including those before a resume).
    pub rounds: Vec<RoundRecord>,
    /// Effective configuration for the report.
    pub config_json: serde_json::Value,
    /// Warnings for the report.
    pub warnings: Vec<String>,
    pub(crate) models: BTreeMap<u64, Arc<Payload>>,
    pub(crate) tasks: BTreeMap<String, TrainTask>,
    pub(crate) submitted: BTreeSet<String>,
    pub(crate) open_round: Option<u64>,
    pub(crate) round_started_ms: i64,
    pub(crate) finished: Option<FinishReason>,
    pub(crate) exhausted: BTreeSet<String>,
    pub(crate) model_files: Vec<ModelFile>,
    pub(crate) last_accuracy: Option<f64>,
    pub(crate) last_loss: Option<f64>,
    pub(crate) step_started: Instant,
}

impl Driver {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Runs until the engine finishes or `shutdown` fires; writes the report and final model.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> RunOutcome {
        init_metrics(self.engine.completed_rounds());
        let _ = self
            .store
            .set_run_status(&self.shared.cfg.run_id, RunStatus::Running)
            .await;
        let model_version = self.engine.model_version();
        self.record_model_file(self.engine.completed_rounds(), model_version);
        self.models.insert(
            model_version,
            Arc::new(Payload::from_f32s(&self.engine.global().values)),
        );
        if self.engine.phase() == fl_core::engine::Phase::Finished {
            // Restored after the last round: nothing left to train.
            self.finished = Some(FinishReason::Completed);
        }
        let now = self.now();
        self.engine.handle_timeout(now);
        self.drain().await;
        self.publish();
        while self.finished.is_none() {
            let deadline = self
                .engine
                .poll_timeout()
                .map(|d| tokio::time::Instant::from_std(self.start + d));
            let mut verdict = None;
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(c) => verdict = self.handle(c),
                    None => self.engine.stop(),
                },
                _ = sleep_opt(deadline) => {
                    self.step_started = Instant::now();
                    let now = self.now();
                    self.engine.handle_timeout(now);
                }
                r = shutdown.changed() => {
                    if r.is_err() || *shutdown.borrow() {
                        self.engine.stop();
                    }
                }
            }
            self.drain().await;
            self.publish();
            // Reply only now: a client told that its update was accepted must not find its
            // task still in the snapshot (for the update that completes a round, that is only
            // republished after the evaluation and the checkpoint). It would train the stale
            // task again and, under DP, charge its own ledger twice, then refuse a later
            // legitimate round as over budget and stall the run.
            if let Some((reply, v)) = verdict {
                let _ = reply.send(v);
            }
        }
        self.finish().await
    }

    /// Applies one command; an update's verdict is returned, to be sent once its effects
    /// are published.
    fn handle(&mut self, cmd: Command) -> Option<PendingVerdict> {
        self.step_started = Instant::now();
        let now = self.now();
        match cmd {
            Command::Join { client, caps } => self.engine.handle_join(now, client, caps),
            Command::Leave { client } => self.engine.handle_leave(now, &client),
            Command::Update {
                update,
                bytes,
                reply,
            } => {
                let client = update.client.clone();
                let verdict = self.engine.handle_update(now, update);
                match &verdict {
                    Ok(()) => {
                        self.shared.add_bytes_up(bytes);
                        metrics::counter!(m::UPDATES_ACCEPTED).increment(1);
                    }
                    Err(e) => {
                        self.shared.count_rejection(e.reason());
                        warn!(client = %client, reason = e.reason(), "update rejected: {e}");
                    }
                }
                return Some((reply, verdict));
            }
            Command::Pause => self.engine.pause(),
            Command::Resume => self.engine.resume(now),
            Command::Stop => self.engine.stop(),
        }
        None
    }

    async fn drain(&mut self) {
        while let Some(ev) = self.engine.poll_event() {
            match ev {
                Event::RoundStarted {
                    round,
                    attempt,
                    tasks,
                    ..
                } => {
                    info!(round, attempt, selected = tasks.len(), "round started");
                    self.tasks = tasks.into_iter().collect();
                    self.submitted.clear();
                    self.open_round = Some(round);
                    self.round_started_ms = fl_store::now_ms();
                    metrics::gauge!(m::CURRENT_ROUND).set(round as f64);
                }
                Event::UpdateAccepted { client, .. } => {
                    self.tasks.remove(&client);
                    self.submitted.insert(client);
                }
                Event::RoundCompleted(summary) => self.round_completed(summary).await,
                Event::RoundFailed {
                    round,
                    attempt,
                    received,
                    needed,
                    reason,
                } => {
                    warn!(
                        round,
                        attempt, received, needed, "round attempt failed: {reason}"
                    );
                    self.warnings
                        .push(format!("round {round} attempt {attempt} failed: {reason}"));
                    self.tasks.clear();
                    self.submitted.clear();
                    self.open_round = None;
                }
                Event::PrivacySpent { client, status } => {
                    let budget = self.engine.ledger().map_or(0.0, |l| l.budget().epsilon);
                    let id = client.clone();
                    metrics::gauge!(m::CLIENT_EPSILON_SPENT, "client_id" => id.clone())
                        .set(status.spent);
                    metrics::gauge!(m::CLIENT_EPSILON_BUDGET, "client_id" => id.clone())
                        .set(budget);
                    metrics::gauge!(m::CLIENT_BUDGET_FRACTION, "client_id" => id.clone())
                        .set(status.fraction);
                    metrics::gauge!(m::PRIVACY_BUDGET_REMAINING, "client_id" => id)
                        .set(status.remaining);
                    if status.fraction >= 0.8 {
                        self.warnings.push(format!(
                            "client {client} has spent {:.0}% of its ε budget",
                            status.fraction * 100.0
                        ));
                    }
                }
                Event::BudgetExhausted { client, spent } => {
                    self.exhausted.insert(client.clone());
                    warn!(client = %client, spent, "privacy budget exhausted");
                    self.warnings.push(format!(
                        "client {client} exhausted its ε budget (ε = {spent:.3})"
                    ));
                }
                Event::ClientDropped { round, client } => {
                    warn!(round, client = %client, "client dropped out");
                    metrics::counter!(m::CLIENT_DROPOUTS).increment(1);
                    self.tasks.remove(&client);
                }
                Event::Finished(reason) => {
                    info!(?reason, "run finished");
                    self.finished = Some(reason);
                }
            }
        }
    }

    async fn round_completed(&mut self, s: RoundSummary) {
        let version = s.model_version;
        let payload = Arc::new(Payload::from_f32s(&self.engine.global().values));
        self.models.insert(version, payload);
        self.record_model_file(s.round, version);
        // Keep the previous version for stragglers still downloading it.
        self.models.retain(|v, _| *v + 1 >= version);
        let aggregation_seconds = self.step_started.elapsed().as_secs_f64();
        metrics::histogram!(m::AGGREGATION_SECONDS).record(aggregation_seconds);
        self.tasks.clear();
        self.submitted.clear();
        self.open_round = None;

        let (accuracy, loss) = self.evaluate().await;
        let seconds = s.completed_at.saturating_sub(s.started_at).as_secs_f64();
        let record = RoundRecord {
            round: s.round,
            accuracy,
            loss,
            seconds,
            bytes_up: self.shared.bytes_up.swap(0, Ordering::Relaxed),
            bytes_down: self.shared.bytes_down.swap(0, Ordering::Relaxed),
            clients: s.participants.len(),
            participants: s.participants.clone(),
            dropped: s.dropped.clone(),
            attempt: s.attempt,
            train_loss: s.train_loss,
            epsilon: s.epsilon_max,
            plans: s
                .tasks
                .iter()
                .map(|(k, t)| (k.clone(), t.plan.clone()))
                .collect(),
            aggregation_seconds,
        };
        info!(
            round = record.round,
            attempt = record.attempt,
            clients = record.clients,
            dropped = record.dropped.len(),
            accuracy = accuracy.unwrap_or(f64::NAN),
            loss = loss.unwrap_or(f64::NAN),
            train_loss = record.train_loss,
            seconds = format_args!("{:.2}", record.seconds),
            aggregation_ms = format_args!("{:.2}", aggregation_seconds * 1e3),
            bytes_up = record.bytes_up,
            bytes_down = record.bytes_down,
            "round completed"
        );
        metrics::counter!(m::ROUNDS_COMPLETED).increment(1);
        metrics::histogram!(m::ROUND_DURATION).record(seconds);
        if let Some(a) = accuracy {
            metrics::gauge!(m::GLOBAL_ACCURACY).set(a);
            self.last_accuracy = Some(a);
        }
        if let Some(l) = loss {
            metrics::gauge!(m::GLOBAL_LOSS).set(l);
            self.last_loss = Some(l);
        }
        if let Some(e) = s.epsilon_max {
            metrics::gauge!(m::EPSILON_SPENT_MAX).set(e);
        }
        let ts = fl_store::now_ms() as f64 / 1e3;
        metrics::gauge!(m::LAST_ROUND_COMPLETED_TS).set(ts);
        if let Err(e) = self.persist(&record).await {
            warn!(
                "could not save the checkpoint of round {}: {e}",
                record.round
            );
            self.warnings.push(format!(
                "checkpoint of round {} not saved: {e}",
                record.round
            ));
        }
        self.rounds.push(record);
    }

    fn record_model_file(&mut self, round: u64, version: u64) {
        if let Ok(bytes) =
            fl_ml::safetensors_io::to_bytes(&self.shared.layout, &self.engine.global().values, None)
        {
            self.model_files.push(ModelFile {
                round,
                model_version: version,
                sha256: fl_proto::sha256_hex(&bytes),
                size_bytes: bytes.len() as u64,
            });
        }
    }

    async fn evaluate(&mut self) -> (Option<f64>, Option<f64>) {
        let Some(ev) = &self.eval else {
            return (None, None);
        };
        let (trainer, data) = (ev.trainer.clone(), ev.data.clone());
        let params = self.engine.global().values.clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut t = trainer
                .lock()
                .map_err(|_| "evaluator poisoned".to_string())?;
            t.evaluate(&params, &data).map_err(|e| e.to_string())
        })
        .await;
        match out {
            Ok(Ok(o)) => (Some(o.accuracy), Some(o.loss)),
            Ok(Err(e)) => {
                warn!("evaluation failed: {e}");
                (None, None)
            }
            Err(e) => {
                warn!("evaluation task failed: {e}");
                (None, None)
            }
        }
    }

    async fn persist(&mut self, r: &RoundRecord) -> Result<(), String> {
        let run_id = &self.shared.cfg.run_id;
        let mut rec =
            fl_store::RoundRecord::new(run_id.as_str(), r.round as i64, self.round_started_ms);
        rec.finished_at = Some(fl_store::now_ms());
        rec.participants_json =
            serde_json::to_string(&r.participants).map_err(|e| e.to_string())?;
        rec.dropped_json = serde_json::to_string(&r.dropped).map_err(|e| e.to_string())?;
        rec.accuracy = r.accuracy;
        rec.loss = r.loss;
        rec.duration_s = Some(r.seconds);
        rec.bytes_up = r.bytes_up as i64;
        rec.bytes_down = r.bytes_down as i64;
        rec.epsilon_max = r.epsilon;
        rec.summary_json = serde_json::to_string(r).map_err(|e| e.to_string())?;
        let mut ckpt = self.engine.checkpoint();
        // The model travels as raw bytes; keep the JSON small.
        let model = fl_proto::f32s_to_le_bytes(&ckpt.global.values);
        ckpt.global.values = Vec::new();
        let engine_json = serde_json::to_string(&ckpt).map_err(|e| e.to_string())?;
        let strategy_json = ckpt.strategy_state.to_string();
        let ledger_json = serde_json::to_string(&ckpt.ledger).map_err(|e| e.to_string())?;
        self.store
            .save_checkpoint(
                &rec,
                NewCheckpoint {
                    model: &model,
                    strategy_state_json: &strategy_json,
                    ledger_json: &ledger_json,
                    engine_state_json: &engine_json,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn phase(&self) -> RunPhase {
        if self.finished.is_some() {
            RunPhase::Finished
        } else if self.engine.is_paused() && self.open_round.is_none() {
            RunPhase::Paused
        } else if self.open_round.is_some() {
            RunPhase::Training
        } else {
            RunPhase::Waiting
        }
    }

    fn publish(&mut self) {
        let phase = self.phase();
        metrics::gauge!(m::TRAINING_STATE).set(phase.gauge());
        let snap = Snapshot {
            phase,
            open_round: self.open_round,
            completed: self.engine.completed_rounds(),
            model_version: self.engine.model_version(),
            models: self.models.clone(),
            tasks: self.tasks.clone(),
            submitted: self.submitted.clone(),
            rounds: self.rounds.clone(),
            finished: self.finished.clone(),
            paused: self.engine.is_paused(),
            ledger: self.engine.ledger().cloned(),
            exhausted: self.exhausted.clone(),
            model_files: self.model_files.clone(),
        };
        self.snap_tx.send_replace(Arc::new(snap));
    }

    /// The report of the run so far.
    pub fn report(&self) -> RunReport {
        let mut clients: BTreeMap<String, ClientRecord> = BTreeMap::new();
        for r in &self.rounds {
            for p in &r.participants {
                clients.entry(p.clone()).or_default().rounds += 1;
            }
        }
        if let Some(ledger) = self.engine.ledger() {
            for (id, c) in clients.iter_mut() {
                let st = ledger.status(id);
                c.epsilon = Some(st.spent);
                c.epsilon_budget = Some(ledger.budget().epsilon);
                c.budget_exhausted = st.remaining <= 0.0;
            }
        }
        let outcome = match &self.finished {
            Some(FinishReason::Completed) => "completed",
            Some(FinishReason::Stopped) => "stopped",
            Some(FinishReason::Aborted { .. }) => "aborted",
            None => "running",
        };
        let mut warnings = self.warnings.clone();
        for (reason, n) in self.shared.rejection_counts() {
            warnings.push(format!("{n} update(s) rejected: {reason}"));
        }
        RunReport {
            config: self.config_json.clone(),
            strategy: self.engine.strategy_name(),
            final_accuracy: self.rounds.last().and_then(|r| r.accuracy),
            final_loss: self.rounds.last().and_then(|r| r.loss),
            rounds: self.rounds.clone(),
            total_seconds: self.start.elapsed().as_secs_f64(),
            clients,
            user_level_epsilon: None,
            seeded_noise: false,
            outcome: outcome.into(),
            warnings,
        }
    }

    async fn finish(mut self) -> RunOutcome {
        self.publish();
        let cfg = &self.shared.cfg;
        let status = match self.finished {
            Some(FinishReason::Completed) => RunStatus::Completed,
            Some(FinishReason::Stopped) => RunStatus::Paused,
            _ => RunStatus::Failed,
        };
        let _ = self.store.set_run_status(&cfg.run_id, status).await;
        let model_path = cfg.model_path();
        let mut meta = std::collections::HashMap::new();
        meta.insert("run_id".to_string(), cfg.run_id.clone());
        meta.insert(
            "model_version".to_string(),
            self.engine.model_version().to_string(),
        );
        if let Err(e) = write_model(
            &model_path,
            &self.shared.layout,
            &self.engine.global().values,
            meta,
        ) {
            warn!("could not write the final model: {e}");
            self.warnings.push(format!("final model not written: {e}"));
        }
        let report = self.report();
        let path = cfg.report_path();
        match serde_json::to_string_pretty(&report) {
            Ok(text) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Err(e) = std::fs::write(&path, text) {
                    warn!("could not write the report to {}: {e}", path.display());
                } else {
                    info!(path = %path.display(), "report written");
                }
            }
            Err(e) => warn!("could not serialise the report: {e}"),
        }
        RunOutcome { report }
    }
}

fn write_model(
    path: &Path,
    layout: &fl_core::Layout,
    params: &[f32],
    meta: std::collections::HashMap<String, String>,
) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    fl_ml::safetensors_io::save(path, layout, params, Some(meta)).map_err(|e| e.to_string())?;
    info!(path = %path.display(), "final model written");
    Ok(())
}

/// Registers the counters (and every known rejection reason) at zero and the current round,
/// so that `/metrics` exports the whole contract from the start and Prometheus' `increase()`
/// sees the first event of each series.
fn init_metrics(completed_rounds: u64) {
    for name in [
        m::ROUNDS_COMPLETED,
        m::UPDATES_ACCEPTED,
        m::CLIENT_DROPOUTS,
        m::BYTES_RECEIVED,
        m::BYTES_SENT,
    ] {
        metrics::counter!(name).increment(0);
    }
    for reason in m::REJECTION_REASONS {
        metrics::counter!(m::UPDATES_REJECTED, "reason" => *reason).increment(0);
    }
    metrics::gauge!(m::CURRENT_ROUND).set(completed_rounds as f64);
}

/// An update's verdict and where to send it.
type PendingVerdict = (
    tokio::sync::oneshot::Sender<Result<(), fl_core::UpdateRejected>>,
    Result<(), fl_core::UpdateRejected>,
);

async fn sleep_opt(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
