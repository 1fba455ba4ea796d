//! End-to-end simulations on a real MNIST subset.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use fl_sim::{Quiet, SimConfig, Transport, run};

fn data_dir() -> PathBuf {
    std::env::var_os("FL_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
        })
}

fn small() -> SimConfig {
    SimConfig {
        clients: 3,
        rounds: 2,
        train_limit: Some(3000),
        test_limit: Some(1000),
        data_dir: Some(data_dir()),
        ..SimConfig::default()
    }
}

#[test]
fn three_clients_two_rounds_learn_mnist_and_write_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        report: Some(dir.path().join("report.json")),
        model_out: Some(dir.path().join("model.safetensors")),
        ..small()
    };
    let r = run(&cfg, &mut Quiet).unwrap();
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.rounds.len(), 2);
    let acc = r.final_accuracy.unwrap();
    assert!(acc > 0.90, "accuracy {acc}");
    assert!(r.rounds[1].accuracy.unwrap() >= r.rounds[0].accuracy.unwrap() - 0.02);
    assert!(
        r.rounds
            .iter()
            .all(|x| x.clients == 3 && x.bytes_up > 0 && x.bytes_down == 3 * 26_010 * 4)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for key in ["config", "rounds", "final_accuracy", "total_seconds"] {
        assert!(json.get(key).is_some(), "report lacks {key}");
    }
    for key in [
        "round",
        "accuracy",
        "loss",
        "seconds",
        "bytes_up",
        "bytes_down",
        "clients",
    ] {
        assert!(json["rounds"][0].get(key).is_some(), "round lacks {key}");
    }
    let model = fl_ml::ModelSpec::default();
    let params =
        fl_ml::safetensors_io::load(&dir.path().join("model.safetensors"), &model.layout())
            .unwrap();
    assert_eq!(params.len(), 26_010);
}

#[test]
fn the_same_seed_gives_the_same_result() {
    let cfg = SimConfig {
        rounds: 1,
        train_limit: Some(1200),
        test_limit: Some(300),
        ..small()
    };
    let a = run(&cfg, &mut Quiet).unwrap();
    let b = run(&cfg, &mut Quiet).unwrap();
    assert_eq!(a.rounds[0].accuracy, b.rounds[0].accuracy);
    assert_eq!(a.rounds[0].loss, b.rounds[0].loss);
    let c = run(&SimConfig { seed: 7, ..cfg }, &mut Quiet).unwrap();
    assert_ne!(a.rounds[0].loss, c.rounds[0].loss);
}

#[test]
fn dp_run_reports_epsilon_within_budget() {
    let cfg = SimConfig {
        dp: true,
        epsilon: 2.0,
        rounds: 2,
        batch_size: 64,
        lr: 0.5,
        momentum: 0.0,
        train_limit: Some(1800),
        test_limit: Some(300),
        ..small()
    };
    let r = run(&cfg, &mut Quiet).unwrap();
    assert_eq!(r.outcome, "completed");
    for (id, c) in &r.clients {
        let e = c.epsilon.unwrap();
        assert!(e > 0.0 && e <= 2.0, "{id}: ε = {e}");
    }
    assert!(r.rounds.iter().all(|x| x.epsilon.is_some()));
    assert!(!r.seeded_noise);
}

/// The DP model of docs/PRIVACY.md: scattering features + a linear layer, DP-SGD on every
/// client with a cosine learning-rate schedule, in process and over gRPC (the clients and the
/// coordinator's evaluator each apply the feature map to their own data).
#[test]
fn dp_scatter_linear_learns_within_budget_on_both_transports() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        model: "scatter-linear".into(),
        dp: true,
        epsilon: 4.0,
        rounds: 3,
        batch_size: 256,
        lr: 16.0,
        momentum: 0.0,
        max_grad_norm: 0.1,
        lr_schedule: "cosine".into(),
        report: Some(dir.path().join("inproc.json")),
        ..small()
    };
    for transport in [Transport::Inproc, Transport::Grpc] {
        let r = run(
            &SimConfig {
                transport,
                ..cfg.clone()
            },
            &mut Quiet,
        )
        .unwrap();
        assert_eq!(r.outcome, "completed", "{transport}: {:?}", r.warnings);
        let acc = r.final_accuracy.unwrap();
        // Measured 0.88 (inproc) and 0.89 (grpc) on 3 × 1,000 images at ε ≤ 4.
        eprintln!("{transport}: accuracy {acc:.4}");
        assert!(acc > 0.8, "{transport}: accuracy {acc}");
        for (id, c) in &r.clients {
            let e = c.epsilon.unwrap();
            assert!(e > 0.0 && e <= 4.0, "{transport} {id}: ε = {e}");
        }
    }
    let text = std::fs::read_to_string(dir.path().join("inproc.json")).unwrap();
    let parsed: fl_core::report::RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.config["model"], "scatter-linear");
    assert_eq!(parsed.config["lr_schedule"], "cosine");
}

#[test]
fn bad_settings_are_refused_before_training() {
    for cfg in [
        SimConfig {
            clients: 0,
            ..small()
        },
        SimConfig {
            fraction: 1.5,
            ..small()
        },
        SimConfig {
            model: "resnet".into(),
            ..small()
        },
        SimConfig {
            partition: "dirichlet:-1".into(),
            ..small()
        },
        SimConfig {
            strategy: "krum".into(),
            ..small()
        },
        SimConfig {
            codec: "zip".into(),
            ..small()
        },
        SimConfig {
            dp: true,
            delta: 1.5,
            ..small()
        },
        SimConfig {
            dp: true,
            epsilon: -1.0,
            ..small()
        },
        SimConfig {
            dp: true,
            noise_multiplier: Some(0.0),
            ..small()
        },
        SimConfig {
            attack: Some("scale:100".into()),
            ..small()
        },
        SimConfig {
            lr_schedule: "linear".into(),
            ..small()
        },
        SimConfig {
            lr_schedule: "exp:1.5".into(),
            ..small()
        },
    ] {
        assert!(cfg.validate().is_err(), "{cfg:?}");
    }
    let missing = SimConfig {
        data_dir: Some("/nonexistent".into()),
        dataset: "fashion-mnist".into(),
        ..small()
    };
    // A missing data set is a clear error, not a panic (download is off in tests).
    if std::env::var_os("FL_NO_DOWNLOAD").is_some()
        && !std::path::Path::new("/usr/share/datasets/fashion-mnist").exists()
    {
        let e = run(&missing, &mut Quiet).unwrap_err().to_string();
        assert!(
            e.contains("fashion-mnist") || e.contains("FL_DATA_DIR"),
            "{e}"
        );
    }
}

#[test]
fn cli_rejects_bad_flags_and_config_with_a_message() {
    let bin = env!("CARGO_BIN_EXE_fl-sim");
    let out = Command::new(bin)
        .args(["--rounds", "zero"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rounds"));
    let out = Command::new(bin)
        .args(["--strategy", "nope"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown strategy"));
    let dir = tempfile::tempdir().unwrap();
    let cfgp = dir.path().join("bad.yaml");
    std::fs::write(&cfgp, "clients: 3\nbogus_key: 1\n").unwrap();
    let out = Command::new(bin)
        .args(["--config", cfgp.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bogus_key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(bin)
        .args(["--config", "/nonexistent.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `transport: grpc` runs the same federation through an in-process `fl-coordinator` and
/// three `fl-client`s over loopback gRPC. With the same seed the clients get the same shards,
/// the engine samples the same clients with the same task seeds and starts from the same
/// model, and without DP or a stochastic codec local training is deterministic; what remains
/// is the order in which updates reach the aggregator (arrival order over gRPC, client-id
/// order inproc).
#[test]
fn grpc_transport_matches_inproc() {
    // Measured (2 cores, dev profile, 3 runs): inproc and grpc both reach accuracy 0.9120
    // with bit-identical test loss 0.3075667136907578 (inproc ~0.8 s, grpc ~1.7 s). FedAvg
    // sums example-weighted f32 deltas in f64, which is exact for three clients, so the
    // arrival order does not even change the last bit here. The tolerance allows for a
    // rounding difference flipping at most two of the 1000 test images, far inside the
    // 1-point budget of the issue.
    const TOLERANCE: f64 = 0.002;
    let dir = tempfile::tempdir().unwrap();
    // Nesterov momentum on, so the test also shows that it travels in the task.
    let cfg = SimConfig {
        momentum: 0.9,
        nesterov: true,
        ..small()
    };
    let t = Instant::now();
    let a = run(&cfg, &mut Quiet).unwrap();
    let inproc_secs = t.elapsed().as_secs_f64();
    let g = SimConfig {
        transport: Transport::Grpc,
        report: Some(dir.path().join("grpc.json")),
        model_out: Some(dir.path().join("grpc.safetensors")),
        ..cfg.clone()
    };
    let t = Instant::now();
    let b = run(&g, &mut Quiet).unwrap();
    let grpc_secs = t.elapsed().as_secs_f64();
    let (acc_a, acc_b) = (a.final_accuracy.unwrap(), b.final_accuracy.unwrap());
    eprintln!(
        "inproc: accuracy {acc_a:.4}, loss {:?} in {inproc_secs:.1} s; grpc: accuracy {acc_b:.4}, loss {:?} in {grpc_secs:.1} s, {} bytes up, {} bytes down",
        a.final_loss,
        b.final_loss,
        b.bytes_up(),
        b.bytes_down()
    );
    assert_eq!(b.outcome, "completed", "{:?}", b.warnings);
    assert_eq!(b.rounds.len(), 2);
    for (x, y) in a.rounds.iter().zip(&b.rounds) {
        assert_eq!(x.participants, y.participants, "same clients sampled");
        assert!(y.bytes_up > 0, "{y:?}");
        assert_eq!(
            y.bytes_down, x.bytes_down,
            "one model download per selected client"
        );
    }
    assert!(acc_a > 0.90, "inproc accuracy {acc_a}");
    assert!(acc_b > 0.90, "grpc accuracy {acc_b}");
    assert!(
        (acc_a - acc_b).abs() <= TOLERANCE,
        "inproc {acc_a} vs grpc {acc_b}"
    );
    let (loss_a, loss_b) = (a.final_loss.unwrap(), b.final_loss.unwrap());
    assert!((loss_a - loss_b).abs() < 1e-3, "loss {loss_a} vs {loss_b}");
    // ...and the check can tell: classical momentum ends elsewhere.
    let classic = run(
        &SimConfig {
            nesterov: false,
            ..cfg.clone()
        },
        &mut Quiet,
    )
    .unwrap();
    let loss_c = classic.final_loss.unwrap();
    assert!(
        (loss_c - loss_b).abs() > 1e-3,
        "classical {loss_c} vs {loss_b}"
    );
    // Every model download and update of the run was for a selected client: no task was
    // handed out twice and nothing was rejected.
    assert!(b.warnings.is_empty(), "{:?}", b.warnings);
    // The report is the coordinator's, in the shared schema, with the fl-sim config.
    let text = std::fs::read_to_string(dir.path().join("grpc.json")).unwrap();
    let parsed: fl_core::report::RunReport = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.rounds.len(), 2);
    assert_eq!(parsed.config["transport"], "grpc");
    assert_eq!(parsed.config["coordinator"]["seed"], 42);
    assert_eq!(parsed.config["coordinator"]["nesterov"], true);
    let model = fl_ml::safetensors_io::load(
        &dir.path().join("grpc.safetensors"),
        &fl_ml::ModelSpec::default().layout(),
    )
    .unwrap();
    assert_eq!(model.len(), 26_010);
}

/// `attack` over gRPC: the same clients are malicious (`AttackSpec::malicious_clients`) and
/// their `fl-client`s poison the delta before encoding, as inproc. Sign-flip is deterministic,
/// so the poisoned run is the same on both transports.
#[test]
fn grpc_attack_poisons_the_same_clients_as_inproc() {
    let cfg = SimConfig {
        rounds: 1,
        train_limit: Some(1200),
        test_limit: Some(300),
        attack: Some("sign-flip:0.34".into()),
        ..small()
    };
    let honest = run(
        &SimConfig {
            attack: None,
            ..cfg.clone()
        },
        &mut Quiet,
    )
    .unwrap();
    let a = run(&cfg, &mut Quiet).unwrap();
    let b = run(
        &SimConfig {
            transport: Transport::Grpc,
            ..cfg
        },
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(b.outcome, "completed");
    let loss = |r: &fl_core::report::RunReport| r.final_loss.unwrap();
    assert!(
        (loss(&a) - loss(&b)).abs() < 1e-6,
        "{} vs {}",
        loss(&a),
        loss(&b)
    );
    assert!(
        (loss(&a) - loss(&honest)).abs() > 1e-3,
        "the attack changed nothing"
    );
}

/// Record-level DP over gRPC: σ is calibrated for all four rounds, so a client that trained
/// one task twice (a GetTask answered from the snapshot before its accepted update was
/// published) charged its own ledger an extra round, refused the last round as over budget
/// and stalled the run. The run must finish, within budget, with nothing rejected.
#[test]
fn grpc_dp_run_completes_within_budget() {
    let cfg = SimConfig {
        transport: Transport::Grpc,
        dp: true,
        epsilon: 2.0,
        rounds: 4,
        batch_size: 64,
        lr: 0.5,
        momentum: 0.0,
        train_limit: Some(1800),
        test_limit: Some(300),
        ..small()
    };
    // The stall was a 24 h round timeout: fail after two minutes instead of hanging.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run(&cfg, &mut Quiet).map_err(|e| e.to_string()));
    });
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the gRPC DP run stalled")
        .unwrap();
    assert_eq!(r.outcome, "completed");
    assert_eq!(r.rounds.len(), 4);
    assert!(
        r.warnings.iter().all(|w| !w.contains("rejected")),
        "{:?}",
        r.warnings
    );
    let mut server_max = 0.0f64;
    for (id, c) in &r.clients {
        let e = c.epsilon.unwrap();
        assert!(e > 0.0 && e <= 2.0, "{id}: ε = {e}");
        server_max = server_max.max(e);
    }
    // A round's ε is the largest any client reports from its own ledger: after the last
    // round it must equal the coordinator's (one charge per round on both sides).
    let eps: Vec<f64> = r.rounds.iter().map(|x| x.epsilon.unwrap()).collect();
    assert!(eps.windows(2).all(|w| w[0] < w[1]), "{eps:?}");
    assert!(
        (eps[3] - server_max).abs() < 1e-9,
        "{eps:?} vs {server_max}"
    );
}

/// Without `train_limit`, the shard fl-sim hands gRPC client i is exactly the one `fl-client`
/// loads itself from the mapped configuration (`data.partition`, `num_partitions`, `index`).
#[test]
fn grpc_clients_get_the_shards_fl_client_would_load() {
    let cfg = SimConfig {
        clients: 3,
        transport: Transport::Grpc,
        data_dir: Some(data_dir()),
        ..SimConfig::default()
    };
    let (dir, shards) = fl_sim::grpc::load_shards(&cfg).unwrap();
    assert_eq!(shards.iter().map(|s| s.len()).sum::<usize>(), 60_000);
    for (i, shard) in shards.iter().enumerate() {
        let c = fl_sim::grpc::client_config(&cfg, i, "http://127.0.0.1:1", &dir);
        c.validate().unwrap();
        let id = fl_sim::grpc::client_id(i);
        assert_eq!(c.shard_index(&id).unwrap(), i);
        let own = fl_client::worker::load_shard(&c, &id).unwrap();
        assert_eq!(own.y, shard.y, "{id}");
        assert_eq!(own.x, shard.x, "{id}");
    }
}

#[test]
fn grpc_transport_refuses_what_it_cannot_do() {
    let grpc = || SimConfig {
        transport: Transport::Grpc,
        ..small()
    };
    for (cfg, key) in [
        (
            SimConfig {
                user_dp: true,
                ..grpc()
            },
            "user_dp",
        ),
        (
            SimConfig {
                backend: "burn".into(),
                ..grpc()
            },
            "backend",
        ),
        (
            SimConfig {
                dp: true,
                seeded_noise: true,
                ..grpc()
            },
            "seeded_noise",
        ),
    ] {
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains(key) && e.contains("transport grpc"), "{e}");
    }
    assert!(grpc().validate().is_ok());

    let bin = env!("CARGO_BIN_EXE_fl-sim");
    // A data directory that does not exist and no download: getting past validation would
    // be a data error (exit 1), so exit 2 shows the refusal came first.
    let fl_sim = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .args(["--data-dir", "/nonexistent"])
            .env("FL_NO_DOWNLOAD", "1")
            .env_remove("FL_DATA_DIR")
            .output()
            .unwrap()
    };
    let out = fl_sim(&["--transport", "carrier-pigeon"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("carrier-pigeon") && err.contains("grpc") && err.contains("inproc"),
        "{err}"
    );
    let out = fl_sim(&["--transport", "grpc", "--user-dp"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("user_dp") && err.contains("not supported with transport grpc"),
        "{err}"
    );
    // A bad attack is refused as inproc; a good one maps (fl-client has an attack mode).
    let out = fl_sim(&["--transport", "grpc", "--attack", "sign-flip"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign-flip"));
    assert!(
        SimConfig {
            attack: Some("sign-flip:0.2".into()),
            ..grpc()
        }
        .validate()
        .is_ok()
    );
    // The same key in a config file.
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("sim.yaml");
    std::fs::write(&p, "transport: carrier-pigeon\n").unwrap();
    let e = SimConfig::from_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("carrier-pigeon") || e.contains("transport"),
        "{e}"
    );
    std::fs::write(&p, "transport: grpc\n").unwrap();
    assert_eq!(SimConfig::from_file(&p).unwrap().transport, Transport::Grpc);
}
