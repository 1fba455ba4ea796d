//! fl-ml: files PyTorch can load, backends that agree, a trainer that learns.

use fl_core::adapt::TrainPlan;
use fl_core::engine::TrainTask;
use fl_ml::burn_net::BurnNet;
use fl_ml::safetensors_io::{from_bytes, load, save, to_bytes};
use fl_ml::{Backend, DpSgd, LocalData, LocalTrainer, ModelSpec};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn fixture() -> serde_json::Value {
    let text = include_str!("fixtures/torch_state_dict.json");
    serde_json::from_str(text).unwrap()
}

#[test]
fn safetensors_file_matches_pytorch_state_dict() {
    let fx = fixture();
    for (name, spec) in [
        ("cnn-small", "cnn-small"),
        ("cnn-fedavg", "cnn-fedavg:relu"),
    ] {
        let spec: ModelSpec = spec.parse().unwrap();
        let params = spec.init(1);
        let bytes = to_bytes(&spec.layout(), &params, None).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let expected = fx[name].as_array().unwrap();
        assert_eq!(st.len(), expected.len());
        // Same names, shapes, dtype, and the layout order is the state_dict order.
        for (t, e) in spec.layout().tensors().iter().zip(expected) {
            assert_eq!(t.name, e["name"].as_str().unwrap());
            let shape: Vec<usize> = e["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_eq!(t.shape, shape, "{}", t.name);
            assert_eq!(e["dtype"], "torch.float32");
            let v = st.tensor(&t.name).unwrap();
            assert_eq!(v.shape(), shape.as_slice());
            assert_eq!(v.dtype(), safetensors::Dtype::F32);
        }
        assert_eq!(
            fx[format!("{name}.num_params")].as_u64().unwrap() as usize,
            spec.num_params()
        );
        assert_eq!(
            from_bytes(&spec.layout(), &bytes).unwrap(),
            params,
            "round trip"
        );
    }
}

#[test]
fn model_files_round_trip_and_bad_files_are_clear_errors() {
    let spec = ModelSpec::default();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/model.safetensors");
    let params = spec.init(3);
    save(&path, &spec.layout(), &params, None).unwrap();
    assert_eq!(load(&path, &spec.layout()).unwrap(), params);
    // Wrong architecture.
    let big: ModelSpec = "cnn-fedavg".parse().unwrap();
    let e = load(&path, &big.layout()).unwrap_err().to_string();
    assert!(e.contains("shape") || e.contains("missing"), "{e}");
    // Truncated / garbage / missing.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert!(load(&path, &spec.layout()).is_err());
    std::fs::write(&path, b"not a model").unwrap();
    assert!(
        load(&path, &spec.layout())
            .unwrap_err()
            .to_string()
            .contains("safetensors")
    );
    assert!(load(&dir.path().join("absent"), &spec.layout()).is_err());
    assert!(to_bytes(&spec.layout(), &params[1..], None).is_err());
}

fn random_batch(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    use rand::Rng;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let x = (0..n * 784)
        .map(|_| rng.random::<f32>() * 2.0 - 0.5)
        .collect();
    let y = (0..n).map(|_| rng.random_range(0..10u8)).collect();
    (x, y)
}

#[test]
fn native_kernels_and_burn_autodiff_agree() {
    for spec in ["cnn-small:tanh", "cnn-small:relu", "cnn-fedavg:relu"] {
        let spec: ModelSpec = spec.parse().unwrap();
        let params = spec.init(11);
        let (x, y) = random_batch(4, 5);
        let mut g_native = vec![0.0; params.len()];
        let mut g_burn = vec![0.0; params.len()];
        let mut net = fl_kernels::Network::new(spec.net().unwrap()).unwrap();
        let l1 = net.loss_and_grad(&params, &x, &y, &mut g_native).unwrap();
        let l2 = BurnNet::flex(spec.net().unwrap())
            .loss_and_grad(&params, &x, &y, &mut g_burn)
            .unwrap();
        assert!(
            (l1 - l2).abs() < 1e-4 * l2.abs().max(1.0),
            "{spec}: loss {l1} vs {l2}"
        );
        let scale = g_burn.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = g_native
            .iter()
            .zip(&g_burn)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-4 * scale,
            "{spec}: max |Δgrad| {worst} vs scale {scale}"
        );
    }
}

fn task(plan: TrainPlan) -> TrainTask {
    TrainTask {
        round: 1,
        attempt: 1,
        model_version: 0,
        plan,
        seed: 9,
        dp: None,
    }
}

#[test]
fn trainer_learns_and_both_backends_reach_the_same_accuracy() {
    let dir = std::env::var_os("FL_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
        });
    let train =
        fl_data::Dataset::load_dir(&dir, fl_data::DatasetName::Mnist, fl_data::Split::Train)
            .unwrap();
    let test = fl_data::Dataset::load_dir(&dir, fl_data::DatasetName::Mnist, fl_data::Split::Test)
        .unwrap();
    let tr = LocalData::from_dataset(&train.subset(&(0..2000).collect::<Vec<_>>()).unwrap());
    let te = LocalData::from_dataset(&test.subset(&(0..500).collect::<Vec<_>>()).unwrap());
    let spec = ModelSpec::default();
    let init = spec.init(1);
    let plan = TrainPlan {
        batch_size: 32,
        learning_rate: 0.05,
        momentum: 0.9,
        ..TrainPlan::default()
    };
    let mut accs = Vec::new();
    for backend in [Backend::Native, Backend::Burn] {
        let mut t = LocalTrainer::new(spec, backend).unwrap();
        let before = t.evaluate(&init, &te).unwrap();
        let out = t
            .train(
                &init,
                &tr,
                &task(plan.clone()),
                None,
                &mut ChaCha20Rng::seed_from_u64(0),
            )
            .unwrap();
        assert_eq!(out.steps, 63);
        assert_eq!(out.num_examples, 2000);
        let after: Vec<f32> = init.iter().zip(&out.delta).map(|(a, d)| a + d).collect();
        let ev = t.evaluate(&after, &te).unwrap();
        assert!(
            ev.accuracy > 0.8 && ev.accuracy > before.accuracy + 0.5,
            "{backend:?}: {before:?} → {ev:?}"
        );
        accs.push(ev.accuracy);
    }
    assert!(
        (accs[0] - accs[1]).abs() < 0.03,
        "native {} vs burn {}",
        accs[0],
        accs[1]
    );
}

#[test]
fn dp_training_clips_and_noises_and_bad_inputs_are_errors() {
    let spec = ModelSpec::default();
    let init = spec.init(2);
    let (x, y) = random_batch(64, 1);
    let data = LocalData::new(x, y, 784).unwrap();
    let plan = TrainPlan {
        batch_size: 16,
        learning_rate: 0.1,
        momentum: 0.0,
        max_steps: Some(1),
        ..TrainPlan::default()
    };
    let dp = DpSgd {
        noise_multiplier: 1.0,
        max_grad_norm: 0.5,
    };
    let mut t = LocalTrainer::new(spec, Backend::Native).unwrap();
    let a = t
        .train(
            &init,
            &data,
            &task(plan.clone()),
            Some(&dp),
            &mut ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap();
    let b = t
        .train(
            &init,
            &data,
            &task(plan.clone()),
            Some(&dp),
            &mut ChaCha20Rng::seed_from_u64(2),
        )
        .unwrap();
    assert_eq!(a.sample_rate, Some(0.25));
    assert_ne!(a.delta, b.delta, "different noise draws");
    // One step: ‖delta‖ = lr·‖(Σ clipped + noise)/(q·n)‖; the noise part has norm ≈ lr·σC·√P/(qn).
    let norm = a
        .delta
        .iter()
        .map(|v| f64::from(*v).powi(2))
        .sum::<f64>()
        .sqrt();
    let expected_noise = 0.1 * 1.0 * 0.5 * (26_010f64).sqrt() / 16.0;
    assert!(
        (norm / expected_noise - 1.0).abs() < 0.2,
        "‖Δ‖ {norm} vs noise {expected_noise}"
    );
    // Bad inputs.
    assert!(
        t.train(
            &init[1..],
            &data,
            &task(plan.clone()),
            None,
            &mut ChaCha20Rng::seed_from_u64(1)
        )
        .is_err()
    );
    let bad_dp = DpSgd {
        noise_multiplier: -1.0,
        max_grad_norm: 1.0,
    };
    assert!(
        t.train(
            &init,
            &data,
            &task(plan.clone()),
            Some(&bad_dp),
            &mut ChaCha20Rng::seed_from_u64(1)
        )
        .is_err()
    );
    assert!(
        t.train(
            &init,
            &LocalData::default(),
            &task(plan),
            None,
            &mut ChaCha20Rng::seed_from_u64(1)
        )
        .is_err()
    );
    assert!(LocalData::new(vec![0.0; 10], vec![1], 784).is_err());
}

/// The plan's `nesterov` reaches the optimizer: on the first step the buffer is the
/// gradient g, so Nesterov moves by lr·(g + μg) = (1 + μ)× the classical step.
#[test]
fn nesterov_plan_takes_the_nesterov_step() {
    let spec = ModelSpec::default();
    let init = spec.init(3);
    let (x, y) = random_batch(32, 4);
    let data = LocalData::new(x, y, 784).unwrap();
    let plan = TrainPlan {
        batch_size: 32,
        learning_rate: 0.05,
        momentum: 0.9,
        max_steps: Some(1),
        ..TrainPlan::default()
    };
    let mut t = LocalTrainer::new(spec, Backend::Native).unwrap();
    let mut run = |nesterov: bool| {
        t.train(
            &init,
            &data,
            &task(TrainPlan {
                nesterov,
                ..plan.clone()
            }),
            None,
            &mut ChaCha20Rng::seed_from_u64(0),
        )
        .unwrap()
        .delta
    };
    let classic = run(false);
    let nesterov = run(true);
    assert!(classic.iter().any(|d| d.abs() > 1e-4));
    for (c, n) in classic.iter().zip(&nesterov) {
        assert!(
            (n - 1.9 * c).abs() <= 1e-6 + 1e-4 * c.abs(),
            "{n} vs 1.9 × {c}"
        );
    }
}
