//! Scenario tests of the round engine: a virtual clock, scripted clients.

use std::time::Duration;

use fl_core::adapt::{Capabilities, LrSchedule, TrainPlan};
use fl_core::engine::{EngineConfig, Event, FinishReason, Phase, RoundEngine, Update};
use fl_core::sampling::Sampling;
use fl_core::strategy::FedAvg;
use fl_core::{Params, UpdateRejected};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const S: Duration = Duration::from_secs(1);

fn cfg(rounds: u64) -> EngineConfig {
    EngineConfig {
        rounds,
        sampling: Sampling::Fraction {
            fraction: 1.0,
            min_clients: 1,
        },
        min_available: 3,
        quorum: 0.6,
        min_updates: 1,
        round_timeout: 10 * S,
        max_attempts: 3,
        seed: 42,
        ..EngineConfig::default()
    }
}

fn engine(c: EngineConfig) -> RoundEngine {
    RoundEngine::new(
        c,
        Box::new(FedAvg),
        Params::zeros(2),
        Box::new(ChaCha20Rng::seed_from_u64(0)),
    )
    .unwrap()
}

fn caps(n: u64) -> Capabilities {
    Capabilities {
        num_examples: n,
        ..Default::default()
    }
}

fn cfg5(rounds: u64) -> EngineConfig {
    EngineConfig {
        min_available: 5,
        ..cfg(rounds)
    }
}

fn join_all(e: &mut RoundEngine, n: usize) {
    for i in 0..n {
        e.handle_join(Duration::ZERO, format!("c{i}"), caps(10));
    }
}

fn drain(e: &mut RoundEngine) -> Vec<Event> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

fn update(client: &str, round: u64, version: u64, delta: Vec<f32>) -> Update {
    Update {
        client: client.into(),
        round,
        model_version: version,
        num_examples: 10,
        delta,
        train_loss: 1.0,
        train_accuracy: 0.5,
        epsilon_spent: None,
    }
}

#[test]
fn waits_for_min_available_then_runs_rounds_to_completion() {
    let mut e = engine(cfg(2));
    e.handle_join(Duration::ZERO, "c0".into(), caps(10));
    e.handle_join(Duration::ZERO, "c1".into(), caps(10));
    assert!(drain(&mut e).is_empty(), "two clients are not enough");
    e.handle_join(Duration::ZERO, "c2".into(), caps(10));
    let ev = drain(&mut e);
    assert!(matches!(&ev[0], Event::RoundStarted { round: 1, tasks, .. } if tasks.len() == 3));
    for c in ["c0", "c1", "c2"] {
        e.handle_update(S, update(c, 1, 0, vec![1.0, -1.0]))
            .unwrap();
    }
    let ev = drain(&mut e);
    let done = ev.iter().find_map(|x| match x {
        Event::RoundCompleted(s) => Some(s.clone()),
        _ => None,
    });
    let s = done.expect("round 1 completes when all answered");
    assert_eq!(s.participants, vec!["c0", "c1", "c2"]);
    assert!(s.dropped.is_empty());
    assert_eq!(e.global().values, vec![1.0, -1.0]);
    assert_eq!(e.model_version(), 1);
    assert!(
        ev.iter()
            .any(|x| matches!(x, Event::RoundStarted { round: 2, .. }))
    );
    for c in ["c0", "c1", "c2"] {
        e.handle_update(2 * S, update(c, 2, 1, vec![1.0, 1.0]))
            .unwrap();
    }
    let ev = drain(&mut e);
    assert!(ev.contains(&Event::Finished(FinishReason::Completed)));
    assert_eq!(e.phase(), Phase::Finished);
    assert_eq!(e.global().values, vec![2.0, 0.0]);
}

#[test]
fn stale_duplicate_and_malformed_updates_are_refused_without_harm() {
    let mut e = engine(cfg(1));
    join_all(&mut e, 3);
    drain(&mut e);
    assert_eq!(
        e.handle_update(S, update("c0", 2, 0, vec![0.0, 0.0])),
        Err(UpdateRejected::WrongRound {
            expected: 1,
            got: 2
        })
    );
    assert_eq!(
        e.handle_update(S, update("c0", 1, 7, vec![0.0, 0.0])),
        Err(UpdateRejected::WrongModelVersion {
            expected: 0,
            got: 7
        })
    );
    assert_eq!(
        e.handle_update(S, update("zz", 1, 0, vec![0.0, 0.0])),
        Err(UpdateRejected::NotSelected("zz".into()))
    );
    assert_eq!(
        e.handle_update(S, update("c0", 1, 0, vec![0.0])),
        Err(UpdateRejected::WrongLength {
            expected: 2,
            got: 1
        })
    );
    assert_eq!(
        e.handle_update(S, update("c0", 1, 0, vec![0.0, f32::NAN])),
        Err(UpdateRejected::NonFinite(1))
    );
    e.handle_update(S, update("c0", 1, 0, vec![3.0, 3.0]))
        .unwrap();
    assert_eq!(
        e.handle_update(S, update("c0", 1, 0, vec![9.0, 9.0])),
        Err(UpdateRejected::Duplicate("c0".into()))
    );
    e.handle_update(S, update("c1", 1, 0, vec![3.0, 3.0]))
        .unwrap();
    e.handle_update(S, update("c2", 1, 0, vec![3.0, 3.0]))
        .unwrap();
    // The duplicate's 9.0 was not aggregated.
    assert_eq!(e.global().values, vec![3.0, 3.0]);
}

#[test]
fn deadline_with_quorum_completes_and_reports_dropped_clients() {
    let mut e = engine(cfg5(1));
    join_all(&mut e, 5);
    drain(&mut e);
    assert_eq!(e.poll_timeout(), Some(10 * S));
    for c in ["c0", "c1", "c2"] {
        e.handle_update(S, update(c, 1, 0, vec![1.0, 1.0])).unwrap();
    }
    e.handle_timeout(5 * S); // spurious: before the deadline
    assert!(
        !drain(&mut e)
            .iter()
            .any(|x| matches!(x, Event::RoundCompleted(_)))
    );
    e.handle_timeout(10 * S);
    let ev = drain(&mut e);
    let s = ev
        .iter()
        .find_map(|x| {
            if let Event::RoundCompleted(s) = x {
                Some(s.clone())
            } else {
                None
            }
        })
        .expect("3 of 5 ≥ ceil(0.6·5) completes");
    assert_eq!(s.dropped, vec!["c3", "c4"]);
}

#[test]
fn missed_quorum_is_retried_then_aborted() {
    let mut e = engine(cfg5(1));
    join_all(&mut e, 5);
    drain(&mut e);
    e.handle_update(S, update("c0", 1, 0, vec![1.0, 1.0]))
        .unwrap();
    e.handle_timeout(10 * S);
    let ev = drain(&mut e);
    assert!(ev.iter().any(|x| matches!(
        x,
        Event::RoundFailed {
            round: 1,
            attempt: 1,
            received: 1,
            needed: 3,
            ..
        }
    )));
    assert!(ev.iter().any(|x| matches!(
        x,
        Event::RoundStarted {
            round: 1,
            attempt: 2,
            ..
        }
    )));
    assert_eq!(
        e.global().values,
        vec![0.0, 0.0],
        "a failed attempt changes nothing"
    );
    e.handle_timeout(20 * S);
    e.handle_timeout(30 * S);
    let ev = drain(&mut e);
    assert!(ev.contains(&Event::Finished(FinishReason::Aborted { round: 1 })));
}

#[test]
fn leaving_clients_count_as_dropped_and_round_completes_early() {
    let mut e = engine(cfg5(1));
    join_all(&mut e, 5);
    drain(&mut e);
    for c in ["c0", "c1", "c2"] {
        e.handle_update(S, update(c, 1, 0, vec![1.0, 1.0])).unwrap();
    }
    e.handle_leave(2 * S, "c3");
    e.handle_leave(2 * S, "c4");
    let ev = drain(&mut e);
    assert!(
        ev.iter()
            .any(|x| matches!(x, Event::ClientDropped { client, .. } if client == "c3"))
    );
    assert!(
        ev.iter()
            .any(|x| matches!(x, Event::RoundCompleted(s) if s.completed_at == 2 * S))
    );
}

#[test]
fn same_seed_same_samples_and_checkpoint_restores() {
    let mut c = cfg(3);
    c.sampling = Sampling::Fraction {
        fraction: 0.5,
        min_clients: 1,
    };
    c.min_available = 1;
    let run = |c: EngineConfig| {
        let mut e = engine(c);
        join_all(&mut e, 10);
        drain(&mut e)
    };
    assert_eq!(run(c.clone()), run(c.clone()));

    let mut e = engine(c.clone());
    join_all(&mut e, 10);
    let ev = drain(&mut e);
    let Event::RoundStarted { tasks, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    for (id, _) in tasks {
        e.handle_update(S, update(id, 1, 0, vec![0.5, 0.5]))
            .unwrap();
    }
    drain(&mut e);
    let ckpt = e.checkpoint();
    assert_eq!(ckpt.completed_rounds, 1);
    let json = serde_json::to_string(&ckpt).unwrap();
    let mut r = RoundEngine::restore(
        c,
        Box::new(FedAvg),
        serde_json::from_str(&json).unwrap(),
        Box::new(ChaCha20Rng::seed_from_u64(0)),
    )
    .unwrap();
    join_all(&mut r, 10);
    let ev_restored = drain(&mut r);
    let next_original = drain(&mut e); // e already started round 2 after completing round 1
    assert!(next_original.is_empty());
    assert!(matches!(
        &ev_restored[0],
        Event::RoundStarted {
            round: 2,
            model_version: 1,
            ..
        }
    ));
    assert_eq!(r.global().values, vec![0.5, 0.5]);
}

#[test]
fn pause_resume_stop_and_adaptive_plans() {
    let mut c = cfg(5);
    c.min_available = 1;
    c.plan = TrainPlan {
        batch_size: 10,
        local_epochs: 1,
        ..TrainPlan::default()
    };
    c.target_round_seconds = Some(1.0);
    let mut e = engine(c);
    e.pause();
    e.handle_join(
        Duration::ZERO,
        "slow".into(),
        Capabilities {
            num_examples: 1000,
            samples_per_second: 50.0,
            ..Default::default()
        },
    );
    e.handle_join(
        Duration::ZERO,
        "fast".into(),
        Capabilities {
            num_examples: 1000,
            samples_per_second: 1e6,
            ..Default::default()
        },
    );
    assert!(drain(&mut e).is_empty(), "paused: no round");
    e.resume(Duration::ZERO);
    let ev = drain(&mut e);
    let Event::RoundStarted { tasks, .. } = &ev[0] else {
        panic!("{ev:?}")
    };
    let plan = |id: &str| tasks.iter().find(|t| t.0 == id).unwrap().1.plan.clone();
    assert_eq!(plan("slow").max_steps, Some(5));
    assert_eq!(plan("fast").max_steps, None);
    e.stop();
    assert_eq!(drain(&mut e), vec![Event::Finished(FinishReason::Stopped)]);
    assert_eq!(
        e.handle_update(S, update("fast", 1, 0, vec![0.0, 0.0])),
        Err(UpdateRejected::NoOpenRound)
    );
}

#[test]
fn invalid_configs_are_refused() {
    for bad in [
        EngineConfig {
            rounds: 0,
            ..cfg(1)
        },
        EngineConfig {
            quorum: 0.0,
            ..cfg(1)
        },
        EngineConfig {
            quorum: 1.5,
            ..cfg(1)
        },
        EngineConfig {
            max_update_norm: Some(-1.0),
            ..cfg(1)
        },
        EngineConfig {
            lr_schedule: LrSchedule::Exponential { gamma: 1.5 },
            ..cfg(1)
        },
        EngineConfig {
            plan: TrainPlan {
                learning_rate: 0.0,
                ..TrainPlan::default()
            },
            ..cfg(1)
        },
        EngineConfig {
            sampling: Sampling::Fraction {
                fraction: 2.0,
                min_clients: 1,
            },
            ..cfg(1)
        },
    ] {
        assert!(
            RoundEngine::new(
                bad.clone(),
                Box::new(FedAvg),
                Params::zeros(2),
                Box::new(ChaCha20Rng::seed_from_u64(0))
            )
            .is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn norm_bound_rejects_large_updates() {
    let mut c = cfg(1);
    c.max_update_norm = Some(1.0);
    let mut e = engine(c);
    join_all(&mut e, 3);
    drain(&mut e);
    let r = e.handle_update(S, update("c0", 1, 0, vec![3.0, 4.0]));
    assert!(
        matches!(r, Err(UpdateRejected::NormTooLarge { norm, .. }) if (norm - 5.0).abs() < 1e-9)
    );
}

#[test]
fn dp_budget_is_charged_and_enforced_by_the_engine() {
    use fl_core::engine::DpPlan;
    use fl_core::privacy::{AccountantKind, Conversion};
    let mut c = cfg(10);
    c.min_available = 2;
    c.plan = TrainPlan {
        batch_size: 10,
        local_epochs: 1,
        ..TrainPlan::default()
    };
    // σ = 1, q = 10/100, 10 steps a round; a budget of 1.5× one round's ε
    // allows the first round but not ten (ten cost about 2.3× one round).
    let one_round = fl_core::privacy::epsilon_for(
        &[fl_core::privacy::PrivacyEvent {
            noise_multiplier: 1.0,
            sample_rate: 0.1,
            steps: 10,
        }],
        1e-5,
        AccountantKind::Rdp,
        Conversion::Balle,
    )
    .unwrap();
    let budget = 1.5 * one_round;
    c.dp = Some(DpPlan {
        noise_multiplier: 1.0,
        max_grad_norm: 1.0,
        epsilon: budget,
        delta: 1e-5,
        accountant: AccountantKind::Rdp,
        conversion: Conversion::Balle,
    });
    let mut e = engine(c);
    e.handle_join(Duration::ZERO, "a".into(), caps(100));
    e.handle_join(Duration::ZERO, "b".into(), caps(100));
    let mut rounds = 0;
    let mut last_spent = 0.0;
    for step in 1..=20u64 {
        let ev = drain(&mut e);
        if ev.iter().any(|x| matches!(x, Event::Finished(_))) {
            assert!(
                ev.iter()
                    .any(|x| matches!(x, Event::BudgetExhausted { .. })),
                "{ev:?}"
            );
            break;
        }
        if let Some(Event::RoundStarted {
            round,
            model_version,
            tasks,
            ..
        }) = ev.iter().find(|x| matches!(x, Event::RoundStarted { .. }))
        {
            assert!(
                tasks.iter().all(|(_, t)| t.dp.is_some()),
                "tasks carry the DP plan"
            );
            for (id, _) in tasks {
                e.handle_update(
                    S * step as u32,
                    update(id, *round, *model_version, vec![0.0, 0.0]),
                )
                .unwrap();
            }
            rounds += 1;
        }
        let st = e.ledger().unwrap().status("a");
        assert!(st.spent <= budget + 1e-12, "never past the budget: {st:?}");
        assert!(st.spent >= last_spent);
        last_spent = st.spent;
    }
    assert!(
        (1..10).contains(&rounds),
        "the budget stops training early ({rounds} rounds)"
    );
    assert!(e.checkpoint().ledger.is_some());
}

/// The tasks of each round carry the scheduled learning rate.
#[test]
fn tasks_carry_the_scheduled_learning_rate() {
    let lrs = |schedule: LrSchedule| -> Vec<f64> {
        let mut e = engine(EngineConfig {
            lr_schedule: schedule,
            ..cfg(4)
        });
        join_all(&mut e, 3);
        let mut out = Vec::new();
        for round in 1..=4u64 {
            let ev = drain(&mut e);
            let Some(Event::RoundStarted { tasks, .. }) =
                ev.iter().find(|x| matches!(x, Event::RoundStarted { .. }))
            else {
                panic!("round {round} did not start: {ev:?}");
            };
            let rates: Vec<f64> = tasks.iter().map(|(_, t)| t.plan.learning_rate).collect();
            assert!(rates.iter().all(|r| *r == rates[0]), "one rate per round");
            out.push(rates[0]);
            for c in ["c0", "c1", "c2"] {
                e.handle_update(S, update(c, round, round - 1, vec![0.0, 0.0]))
                    .unwrap();
            }
        }
        out
    };
    let base = TrainPlan::default().learning_rate;
    assert_eq!(lrs(LrSchedule::Constant), vec![base; 4]);
    let cos = lrs(LrSchedule::Cosine);
    let want = [1.0, 0.853_553, 0.5, 0.146_447];
    for (got, w) in cos.iter().zip(want) {
        assert!((got - base * w).abs() < 1e-6, "{cos:?}");
    }
    let exp = lrs(LrSchedule::Exponential { gamma: 0.5 });
    assert_eq!(exp, vec![base, base / 2.0, base / 4.0, base / 8.0]);
    assert_eq!(
        "exp:0.5".parse::<LrSchedule>(),
        Ok(LrSchedule::Exponential { gamma: 0.5 })
    );
    assert_eq!("cosine".parse::<LrSchedule>(), Ok(LrSchedule::Cosine));
    for bad in ["exp:0", "exp:2", "exp:x", "linear", ""] {
        assert!(bad.parse::<LrSchedule>().is_err(), "{bad}");
    }
}
