//! The in-process driver: a clock, clients, and the round engine.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use fl_core::adapt::Capabilities;
use fl_core::codec::{self, CodecSpec, ErrorFeedback};
use fl_core::engine::{DpPlan, EngineConfig, Event, FinishReason, RoundEngine, TrainTask, Update};
use fl_core::privacy::{BudgetLevel, noise_multiplier_for, user_level_epsilon};
use fl_core::report::{RoundRecord, RunReport};
use fl_core::sampling::Sampling;
use fl_core::strategies::{AdaptiveClip, DpFedAvg};
use fl_core::strategy::{NoiseRng, Strategy};
use fl_core::{Layout, Params};
use fl_data::{Locator, Split};
use fl_ml::{DpSgd, LocalData, LocalTrainer};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_chacha::{ChaCha8Rng, ChaCha20Rng};

use crate::SimError;
use crate::config::{Parsed, SimConfig};

/// One line of the per-round table.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundRow {
    /// The round's record (as in the report).
    pub record: RoundRecord,
}

/// Receives progress; the binary draws a progress bar and a table.
pub trait Observer {
    /// A round started with `clients` participants.
    fn round_started(&mut self, _round: u64, _clients: usize) {}
    /// One more client finished local training.
    fn client_trained(&mut self, _round: u64, _done: usize, _of: usize) {}
    /// A round completed and was evaluated.
    fn round_completed(&mut self, _row: &RoundRow) {}
    /// Something worth telling the user (budget warnings, retries).
    fn warn(&mut self, _message: &str) {}
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct Quiet;
impl Observer for Quiet {}

struct SimClient {
    id: String,
    data: LocalData,
    feedback: Option<ErrorFeedback>,
    malicious: bool,
}

/// Runs a simulation to the end and returns its report.
pub fn run(cfg: &SimConfig, obs: &mut dyn Observer) -> Result<RunReport, SimError> {
    let p = cfg.validate()?;
    let started = Instant::now();

    // Data: load, optionally truncate, partition.
    let locator = Locator::from_env(cfg.data_dir.clone());
    let mut train = locator.load(p.dataset, Split::Train)?;
    let mut test = locator.load(p.dataset, Split::Test)?;
    if let Some(n) = cfg.train_limit {
        train = train.subset(&(0..n.min(train.len())).collect::<Vec<_>>())?;
    }
    if let Some(n) = cfg.test_limit {
        test = test.subset(&(0..n.min(test.len())).collect::<Vec<_>>())?;
    }
    let parts = fl_data::partition(train.labels(), cfg.clients, &p.partition, cfg.seed)?;
    let malicious = p
        .attack
        .map(|a| a.malicious_clients(cfg.clients, cfg.seed))
        .unwrap_or_default();
    let mut clients: Vec<SimClient> = parts
        .iter()
        .enumerate()
        .map(|(i, idx)| {
            let raw = LocalData::from_dataset(&train.subset(idx)?);
            Ok(SimClient {
                id: format!("client-{:03}", i + 1),
                data: p.model.prepare(raw)?,
                feedback: matches!(p.codec, CodecSpec::TopK { .. })
                    .then(|| ErrorFeedback::new(p.model.num_params())),
                malicious: malicious.contains(&i),
            })
        })
        .collect::<Result<_, SimError>>()?;
    let test = p.model.prepare(LocalData::from_dataset(&test))?;
    let by_id: HashMap<String, usize> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id.clone(), i))
        .collect();

    let plan = fl_core::adapt::TrainPlan {
        local_epochs: cfg.local_epochs,
        batch_size: cfg.batch_size,
        learning_rate: cfg.lr,
        momentum: cfg.momentum,
        nesterov: cfg.nesterov,
        max_steps: None,
        proximal_mu: 0.0,
    };
    let dp = if cfg.dp {
        Some(dp_plan(cfg, &p, &plan, &clients)?)
    } else {
        None
    };
    let (strategy, sampling): (Box<dyn Strategy>, Sampling) = if cfg.user_dp {
        let expected = cfg.fraction * cfg.clients as f64;
        let mut s = DpFedAvg::new(cfg.user_clip, cfg.user_noise_multiplier, expected)
            .map_err(|e| SimError::Config(e.to_string()))?;
        if let Some(q) = cfg.user_adaptive_quantile {
            let a = AdaptiveClip {
                target_quantile: q,
                ..AdaptiveClip::paper_defaults(expected)
            };
            s = s
                .with_adaptive(a)
                .map_err(|e| SimError::Config(e.to_string()))?;
        }
        (Box::new(s), Sampling::Poisson { rate: cfg.fraction })
    } else {
        (
            p.strategy.build(),
            Sampling::Fraction {
                fraction: cfg.fraction,
                min_clients: 1,
            },
        )
    };
    let ecfg = EngineConfig {
        rounds: cfg.rounds,
        sampling,
        min_available: cfg.clients,
        quorum: 1.0,
        min_updates: 1,
        round_timeout: Duration::from_secs(24 * 3600),
        max_attempts: if cfg.user_dp { 1000 } else { 3 },
        seed: cfg.seed,
        plan,
        target_round_seconds: None,
        max_update_norm: None,
        dp: dp.clone(),
        lr_schedule: p.lr_schedule,
    };
    // DP noise: a CSPRNG seeded by the OS, unless the user asked for reproducibility.
    let noise = || -> Box<dyn NoiseRng> {
        if cfg.seeded_noise {
            Box::new(ChaCha20Rng::seed_from_u64(cfg.seed ^ 0x5EED))
        } else {
            Box::new(StdRng::from_os_rng())
        }
    };
    let mut client_noise = noise();
    let layout = p.model.layout();
    let initial = Params::new(p.model.init(cfg.seed));
    let mut engine = RoundEngine::new(ecfg, strategy, initial, noise())
        .map_err(|e| SimError::Config(e.to_string()))?;
    let mut trainer = LocalTrainer::new(p.model, p.backend)?;
    let mut evaluator = LocalTrainer::new(p.model, p.backend)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xC0DEC);
    let model_bytes = (layout.len() * 4) as u64;

    let now = |s: &Instant| s.elapsed();
    for c in &clients {
        let caps = Capabilities {
            num_examples: c.data.len() as u64,
            ..Capabilities::default()
        };
        engine.handle_join(now(&started), c.id.clone(), caps);
    }

    let mut report = RunReport {
        config: serde_json::to_value(cfg).unwrap_or_default(),
        strategy: engine.strategy_name(),
        seeded_noise: cfg.seeded_noise && (cfg.dp || cfg.user_dp),
        ..RunReport::default()
    };
    let mut bytes = (0u64, 0u64);
    let mut round_started = Instant::now();
    // Time of the update that completed the round (it runs the aggregation).
    let mut last_update_secs = 0.0;
    let mut warned: BTreeMap<String, BudgetLevel> = BTreeMap::new();
    loop {
        let Some(ev) = engine.poll_event() else {
            // Nothing pending and not finished: the engine waits for clients that will never come.
            report.outcome = "stalled".into();
            break;
        };
        match ev {
            Event::RoundStarted {
                round,
                model_version,
                tasks,
                ..
            } => {
                round_started = Instant::now();
                bytes = (model_bytes * tasks.len() as u64, 0);
                obs.round_started(round, tasks.len());
                let global = engine.global().values.clone();
                let n = tasks.len();
                for (done, (id, task)) in tasks.into_iter().enumerate() {
                    let c = &mut clients[by_id[&id]];
                    let upd = train_client(
                        c,
                        &mut trainer,
                        &global,
                        &task,
                        &layout,
                        p.codec,
                        &mut rng,
                        &mut *client_noise,
                        p.attack,
                    )?;
                    bytes.1 += upd.1;
                    let update = Update {
                        client: id.clone(),
                        round,
                        model_version,
                        num_examples: upd.0.num_examples,
                        delta: upd.2,
                        train_loss: upd.0.loss,
                        train_accuracy: f64::NAN,
                        epsilon_spent: None,
                    };
                    let t = Instant::now();
                    let res = engine.handle_update(now(&started), update);
                    last_update_secs = t.elapsed().as_secs_f64();
                    if let Err(e) = res {
                        obs.warn(&format!("round {round}: update from {id} rejected: {e}"));
                    }
                    obs.client_trained(round, done + 1, n);
                }
                if engine.open_round() == Some(round) {
                    // Rejections left the round short: let the deadline rule decide now.
                    engine.handle_timeout(now(&started) + Duration::from_secs(24 * 3600 + 1));
                }
            }
            Event::RoundCompleted(s) => {
                let ev = evaluator.evaluate(&engine.global().values, &test)?;
                let record = RoundRecord {
                    round: s.round,
                    accuracy: Some(ev.accuracy),
                    loss: Some(ev.loss),
                    seconds: round_started.elapsed().as_secs_f64(),
                    bytes_up: bytes.1,
                    bytes_down: bytes.0,
                    clients: s.participants.len(),
                    participants: s.participants.clone(),
                    dropped: s.dropped.clone(),
                    attempt: s.attempt,
                    train_loss: s.train_loss,
                    epsilon: engine.ledger().map(|l| {
                        l.clients()
                            .map(|(_, a)| a.spent_epsilon())
                            .fold(0.0, f64::max)
                    }),
                    plans: BTreeMap::new(),
                    aggregation_seconds: last_update_secs,
                };
                obs.round_completed(&RoundRow {
                    record: record.clone(),
                });
                report.final_accuracy = Some(ev.accuracy);
                report.final_loss = Some(ev.loss);
                report.rounds.push(record);
            }
            Event::RoundFailed {
                round,
                attempt,
                reason,
                ..
            } => {
                let m = format!("round {round} attempt {attempt} failed: {reason}");
                obs.warn(&m);
                report.warnings.push(m);
            }
            Event::PrivacySpent { client, status } => {
                let prev = warned.get(&client).copied().unwrap_or(BudgetLevel::Ok);
                if status.level != prev && status.level != BudgetLevel::Ok {
                    let m = format!(
                        "{client}: privacy budget {:.0} % spent (ε = {:.3})",
                        status.fraction * 100.0,
                        status.spent
                    );
                    obs.warn(&m);
                    report.warnings.push(m);
                    warned.insert(client, status.level);
                }
            }
            Event::BudgetExhausted { client, spent } => {
                let m = format!(
                    "{client}: privacy budget exhausted at ε = {spent:.3}; it trains no more"
                );
                obs.warn(&m);
                report.warnings.push(m);
                report.clients.entry(client).or_default().budget_exhausted = true;
            }
            Event::Finished(reason) => {
                report.outcome = match reason {
                    FinishReason::Completed => "completed".into(),
                    FinishReason::Stopped => "stopped".into(),
                    FinishReason::Aborted { round } => format!("aborted at round {round}"),
                };
                break;
            }
            Event::UpdateAccepted { .. } | Event::ClientDropped { .. } => {}
        }
    }

    for r in &report.rounds {
        for id in &r.participants {
            report.clients.entry(id.clone()).or_default().rounds += 1;
        }
    }
    if let (Some(l), Some(d)) = (engine.ledger(), dp.as_ref()) {
        for c in &clients {
            let rec = report.clients.entry(c.id.clone()).or_default();
            rec.epsilon = Some(l.status(&c.id).spent);
            rec.epsilon_budget = Some(d.epsilon);
        }
    }
    if cfg.user_dp {
        let expected = (cfg.fraction * cfg.clients as f64).round().max(1.0) as u64;
        report.user_level_epsilon = user_level_epsilon(
            cfg.user_noise_multiplier,
            expected,
            cfg.clients as u64,
            report.rounds.len().max(1) as u64,
            cfg.delta,
            p.accountant,
            p.conversion,
        )
        .ok();
    }
    report.total_seconds = started.elapsed().as_secs_f64();
    if let Some(path) = &cfg.model_out {
        fl_ml::safetensors_io::save(path, &layout, &engine.global().values, None)?;
    }
    if let Some(path) = &cfg.report {
        write_report(path, &report)?;
    }
    Ok(report)
}

/// Trains one client and passes its update through the codec as the wire would.
#[allow(clippy::too_many_arguments)]
fn train_client(
    c: &mut SimClient,
    trainer: &mut LocalTrainer,
    global: &[f32],
    task: &TrainTask,
    layout: &Layout,
    codec_spec: CodecSpec,
    rng: &mut ChaCha8Rng,
    noise: &mut dyn NoiseRng,
    attack: Option<fl_core::robust::AttackSpec>,
) -> Result<(fl_ml::TrainOutcome, u64, Vec<f32>), SimError> {
    let dp = task.dp.as_ref().map(|d| DpSgd {
        noise_multiplier: d.noise_multiplier,
        max_grad_norm: d.max_grad_norm,
    });
    let out = trainer.train(global, &c.data, task, dp.as_ref(), noise)?;
    let mut delta = out.delta.clone();
    if c.malicious
        && let Some(a) = attack
    {
        a.apply(&mut delta, rng);
    }
    let wire = match c.feedback.as_mut() {
        Some(fb) => fb.encode(codec_spec, &delta, layout, rng),
        None => codec::encode(codec_spec, &delta, layout, rng),
    }
    .map_err(|e| SimError::Config(format!("codec: {e}")))?;
    let decoded =
        codec::decode(&wire, layout.len()).map_err(|e| SimError::Config(format!("codec: {e}")))?;
    Ok((out, wire.len() as u64, decoded))
}

/// Derives the DP plan: σ from the budget and the planned steps when not given.
fn dp_plan(
    cfg: &SimConfig,
    p: &Parsed,
    plan: &fl_core::adapt::TrainPlan,
    clients: &[SimClient],
) -> Result<DpPlan, SimError> {
    let noise_multiplier = match cfg.noise_multiplier {
        Some(s) => s,
        None => {
            // Worst case: the smallest shard (largest q) trained in every round.
            let n = clients
                .iter()
                .map(|c| c.data.len())
                .min()
                .unwrap_or(1)
                .max(1) as u64;
            let q = (f64::from(plan.batch_size) / n as f64).min(1.0);
            let steps = plan.steps(n) * cfg.rounds;
            noise_multiplier_for(cfg.epsilon, cfg.delta, q, steps, p.accountant, p.conversion)
                .map_err(|e| SimError::Config(format!("cannot calibrate the noise: {e}")))?
        }
    };
    Ok(DpPlan {
        noise_multiplier,
        max_grad_norm: cfg.max_grad_norm,
        epsilon: cfg.epsilon,
        delta: cfg.delta,
        accountant: p.accountant,
        conversion: p.conversion,
    })
}

/// Writes the JSON report (creating the directory).
pub fn write_report(path: &std::path::Path, report: &RunReport) -> Result<(), SimError> {
    let err = |e: &dyn std::fmt::Display| SimError::Output(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(&e))?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| err(&e))?;
    std::fs::write(path, json).map_err(|e| err(&e))
}
