//! End-to-end simulations on a real MNIST subset.

use std::path::PathBuf;
use std::process::Command;

use fl_sim::{Quiet, SimConfig, run};

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
