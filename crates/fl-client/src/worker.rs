//! Local work for one task: train (real or fake), account privacy, encode the delta.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use fl_core::Layout;
use fl_core::adapt::TrainPlan;
use fl_core::codec::{CodecSpec, ErrorFeedback};
use fl_core::engine::TrainTask;
use fl_core::privacy::{AccountantKind, Budget, Conversion, Ledger, PrivacyEvent};
use fl_data::{DatasetName, Locator, Partition, Split};
use fl_ml::{Backend, DpSgd, LocalData, LocalTrainer, ModelSpec};
use fl_proto::pb;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ClientError;
use crate::config::ClientConfig;

/// What produces deltas.
pub enum Trainer {
    /// Real local training on a data shard.
    Real {
        /// The trainer (behind a mutex to move into `spawn_blocking`).
        trainer: Arc<Mutex<LocalTrainer>>,
        /// The shard.
        data: Arc<LocalData>,
    },
    /// LOAD TESTS ONLY: a small random delta, no data, no learning.
    Fake {
        /// Claimed example count.
        num_examples: u64,
        /// Simulated training time per task.
        delay: std::time::Duration,
    },
}

/// Result of one task's local work.
#[derive(Debug)]
pub struct Trained {
    /// Encoded delta.
    pub payload: Vec<u8>,
    /// Examples held.
    pub num_examples: u64,
    /// Mean training loss.
    pub loss: f64,
    /// Cumulative ε after this round (DP only).
    pub epsilon: Option<f64>,
}

/// A client's local state across rounds.
pub struct Worker {
    /// Model.
    pub spec: ModelSpec,
    /// Layout for codecs.
    pub layout: Layout,
    /// Trainer.
    pub trainer: Trainer,
    /// Error feedback for biased codecs (top-k).
    pub feedback: ErrorFeedback,
    /// Local privacy ledger (record-level DP).
    pub ledger: Option<Ledger>,
    /// RESEARCH AND TESTS ONLY: poison every update this way (a simulated attacker).
    pub attack: Option<fl_core::robust::Attack>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// Loads this client's shard as the config says.
pub fn load_shard(cfg: &ClientConfig, client_id: &str) -> Result<LocalData, ClientError> {
    let name: DatasetName = cfg
        .data
        .dataset
        .parse()
        .map_err(|e| ClientError::Config(format!("data.dataset: {e}")))?;
    let scheme: Partition = cfg
        .data
        .partition
        .parse()
        .map_err(|e| ClientError::Config(format!("data.partition: {e}")))?;
    let index = cfg.shard_index(client_id)?;
    let mut loc = Locator::from_env(cfg.data.data_dir.clone());
    loc.allow_download = false;
    let train = loc
        .load(name, Split::Train)
        .map_err(|e| ClientError::Data(e.to_string()))?;
    let parts = fl_data::partition(train.labels(), cfg.data.num_partitions, &scheme, cfg.seed)
        .map_err(|e| ClientError::Data(e.to_string()))?;
    let mut idx = parts
        .get(index)
        .cloned()
        .ok_or_else(|| ClientError::Config(format!("no partition {index}")))?;
    if cfg.data.max_examples > 0 {
        idx.truncate(cfg.data.max_examples);
    }
    let shard = train
        .subset(&idx)
        .map_err(|e| ClientError::Data(e.to_string()))?;
    Ok(LocalData::from_dataset(&shard))
}

impl Worker {
    /// A worker training `spec` on `data` (raw images; the model's fixed feature map, if
    /// any, is applied here once).
    pub fn real(spec: ModelSpec, data: LocalData) -> Result<Self, ClientError> {
        let data = spec
            .prepare(data)
            .map_err(|e| ClientError::Data(e.to_string()))?;
        let trainer = LocalTrainer::new(spec, Backend::Native)
            .map_err(|e| ClientError::Train(e.to_string()))?;
        Ok(Self {
            spec,
            layout: spec.layout(),
            trainer: Trainer::Real {
                trainer: Arc::new(Mutex::new(trainer)),
                data: Arc::new(data),
            },
            feedback: ErrorFeedback::default(),
            ledger: None,
            attack: None,
        })
    }

    /// LOAD TESTS ONLY: a worker that sends small random deltas.
    pub fn fake(spec: ModelSpec, num_examples: u64, delay: std::time::Duration) -> Self {
        Self {
            spec,
            layout: spec.layout(),
            trainer: Trainer::Fake {
                num_examples,
                delay,
            },
            feedback: ErrorFeedback::default(),
            ledger: None,
            attack: None,
        }
    }

    /// Examples held.
    pub fn num_examples(&self) -> u64 {
        match &self.trainer {
            Trainer::Real { data, .. } => data.len() as u64,
            Trainer::Fake { num_examples, .. } => *num_examples,
        }
    }

    /// Measures training throughput (examples/s) with a few steps from a fresh model.
    pub async fn warm_up(&self, steps: u32) -> f64 {
        let Trainer::Real { trainer, data } = &self.trainer else {
            return 0.0;
        };
        if steps == 0 || data.is_empty() {
            return 0.0;
        }
        let (trainer, data, spec) = (trainer.clone(), data.clone(), self.spec);
        let batch = 32u32;
        let r = tokio::task::spawn_blocking(move || {
            let global = spec.init(0);
            let task = TrainTask {
                round: 0,
                attempt: 1,
                model_version: 0,
                plan: TrainPlan {
                    local_epochs: 1,
                    batch_size: batch,
                    max_steps: Some(u64::from(steps)),
                    ..TrainPlan::default()
                },
                seed: 0,
                dp: None,
            };
            let mut t = trainer.lock().ok()?;
            let small = data.head((batch * steps) as usize);
            let t0 = Instant::now();
            let out = t
                .train(&global, &small, &task, None, &mut rand::rng())
                .ok()?;
            let secs = t0.elapsed().as_secs_f64().max(1e-9);
            Some(out.steps as f64 * f64::from(batch) / secs)
        })
        .await;
        r.ok().flatten().unwrap_or(0.0)
    }

    /// Trains on `global` as `task` says and encodes the delta with `codec`.
    pub async fn run_task(
        &mut self,
        task: &pb::TrainTask,
        global: Vec<f32>,
        codec: CodecSpec,
    ) -> Result<Trained, ClientError> {
        let plan = TrainPlan {
            local_epochs: task.local_epochs.max(1),
            batch_size: task.batch_size.max(1),
            learning_rate: task.learning_rate,
            momentum: task.momentum,
            nesterov: task.nesterov,
            max_steps: (task.max_steps > 0).then_some(task.max_steps),
            proximal_mu: task.proximal_mu,
        };
        let core_task = TrainTask {
            round: task.round,
            attempt: 1,
            model_version: task.model_version,
            plan: plan.clone(),
            seed: task.seed,
            dp: None,
        };
        let n = self.num_examples();
        // Record-level DP: refuse before training if the round would exceed the budget.
        let dp_event = match &task.dp {
            Some(d) => {
                let q = d
                    .sample_rate
                    .unwrap_or_else(|| DpSgd::sample_rate(plan.batch_size, n as usize));
                let ev = PrivacyEvent::new(d.noise_multiplier, q, plan.steps(n).max(1))
                    .map_err(|e| ClientError::Privacy(e.to_string()))?;
                let ledger = self.ledger_for(d)?;
                if d.epsilon_budget > 0.0 {
                    let projected = ledger
                        .projected_epsilon("self", ev)
                        .map_err(|e| ClientError::Privacy(e.to_string()))?;
                    if projected > d.epsilon_budget {
                        return Err(ClientError::BudgetExhausted {
                            projected,
                            budget: d.epsilon_budget,
                        });
                    }
                }
                Some((
                    ev,
                    DpSgd {
                        noise_multiplier: d.noise_multiplier,
                        max_grad_norm: d.max_grad_norm,
                    },
                ))
            }
            None => None,
        };
        let (delta, loss) = match &self.trainer {
            Trainer::Real { trainer, data } => {
                let (trainer, data) = (trainer.clone(), data.clone());
                let dp = dp_event.as_ref().map(|(_, d)| *d);
                let out = tokio::task::spawn_blocking(move || {
                    let mut t = trainer.lock().map_err(|_| "trainer poisoned".to_string())?;
                    // DP noise from the OS CSPRNG, never from the task seed.
                    let mut noise = rand::rngs::StdRng::from_os_rng();
                    t.train(&global, &data, &core_task, dp.as_ref(), &mut noise)
                        .map_err(|e| e.to_string())
                })
                .await
                .map_err(|e| ClientError::Train(e.to_string()))?
                .map_err(ClientError::Train)?;
                (out.delta, out.loss)
            }
            Trainer::Fake { delay, .. } => {
                tokio::time::sleep(*delay).await;
                let mut rng = ChaCha8Rng::seed_from_u64(task.seed);
                let d: Vec<f32> = (0..global.len())
                    .map(|_| rng.random_range(-1e-3..1e-3))
                    .collect();
                (d, 1.0)
            }
        };
        let mut rng = ChaCha8Rng::seed_from_u64(task.seed ^ 0x5EED);
        let mut delta = delta;
        if let Some(a) = &self.attack {
            a.apply(&mut delta, &mut rng);
        }
        let payload = match codec {
            CodecSpec::TopK { .. } => self.feedback.encode(codec, &delta, &self.layout, &mut rng),
            _ => fl_core::codec::encode(codec, &delta, &self.layout, &mut rng),
        }
        .map_err(|e| ClientError::Train(format!("encoding the update: {e}")))?;
        let epsilon = match (dp_event, self.ledger.as_mut()) {
            (Some((ev, _)), Some(l)) => Some(
                l.charge("self", ev)
                    .map_err(|e| ClientError::Privacy(e.to_string()))?
                    .epsilon,
            ),
            _ => None,
        };
        Ok(Trained {
            payload,
            num_examples: n,
            loss,
            epsilon,
        })
    }

    fn ledger_for(&mut self, d: &pb::DpConfig) -> Result<&Ledger, ClientError> {
        if self.ledger.is_none() {
            // No local budget (0): account against an effectively unbounded one.
            let eps = if d.epsilon_budget > 0.0 {
                d.epsilon_budget
            } else {
                1e12
            };
            let l = Ledger::new(
                Budget {
                    epsilon: eps,
                    delta: d.delta,
                },
                AccountantKind::Rdp,
                Conversion::Balle,
            )
            .map_err(|e| ClientError::Privacy(e.to_string()))?;
            self.ledger = Some(l);
        }
        self.ledger
            .as_ref()
            .ok_or_else(|| ClientError::Privacy("no ledger".into()))
    }
}
