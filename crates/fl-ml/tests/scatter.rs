//! The scattering linear model: Kymatio's transform, exactly; a trainer that learns with it.

use fl_core::adapt::TrainPlan;
use fl_core::engine::TrainTask;
use fl_ml::scatter::Scattering;
use fl_ml::{Backend, DpSgd, LocalData, LocalTrainer, ModelSpec};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Golden vectors from `bench/scatter_fixture.py` (Kymatio's numpy frontend).
#[test]
fn scatter_matches_kymatio() {
    let fx: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/scatter_kymatio.json")).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let s = Scattering::new(28).unwrap();
    let images = fx["images"].as_array().unwrap();
    let want = fx["scattering"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for (img, want) in images.iter().zip(want) {
        let (img, want) = (floats(img), floats(want));
        let mut got = vec![0.0; s.output_len()];
        s.transform(&img, &mut got).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * scale,
                "coefficient {i} (channel {}): {g} vs Kymatio {w}",
                i / 49
            );
        }
    }
}

fn mnist(split: fl_data::Split, n: usize) -> LocalData {
    let dir = std::env::var_os("FL_DATA_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/mnist")
        });
    let ds = fl_data::Dataset::load_dir(&dir, fl_data::DatasetName::Mnist, split).unwrap();
    LocalData::from_dataset(&ds.subset(&(0..n).collect::<Vec<_>>()).unwrap())
}

fn task(plan: TrainPlan) -> TrainTask {
    TrainTask {
        round: 1,
        attempt: 1,
        model_version: 0,
        plan,
        seed: 5,
        dp: None,
    }
}

#[test]
fn scatter_linear_learns_with_and_without_dp() {
    let spec: ModelSpec = "scatter-linear".parse().unwrap();
    let raw_train = mnist(fl_data::Split::Train, 2000);
    let te = spec.prepare(mnist(fl_data::Split::Test, 500)).unwrap();
    let tr = spec.prepare(raw_train.clone()).unwrap();
    assert_eq!((tr.len(), tr.image_len), (2000, 3969));
    let mut t = LocalTrainer::new(spec, Backend::Native).unwrap();
    // Raw pixels are refused with a hint, not silently misread.
    let init = spec.init(0);
    let err = t
        .train(
            &init,
            &raw_train,
            &task(TrainPlan::default()),
            None,
            &mut ChaCha20Rng::seed_from_u64(0),
        )
        .unwrap_err();
    assert!(err.to_string().contains("prepare"), "{err}");
    let plan = TrainPlan {
        batch_size: 64,
        learning_rate: 0.5,
        local_epochs: 2,
        ..TrainPlan::default()
    };
    let before = t.evaluate(&init, &te).unwrap();
    let out = t
        .train(
            &init,
            &tr,
            &task(plan),
            None,
            &mut ChaCha20Rng::seed_from_u64(0),
        )
        .unwrap();
    let after: Vec<f32> = init.iter().zip(&out.delta).map(|(a, d)| a + d).collect();
    let ev = t.evaluate(&after, &te).unwrap();
    assert!(ev.accuracy > 0.9, "{before:?} → {ev:?}");
    // DP-SGD: Poisson batches, clipping and noise still learn on 2,000 images.
    let plan = TrainPlan {
        batch_size: 256,
        learning_rate: 8.0,
        local_epochs: 5,
        ..TrainPlan::default()
    };
    let dp = DpSgd {
        noise_multiplier: 1.0,
        max_grad_norm: 0.1,
    };
    let out = t
        .train(
            &init,
            &tr,
            &task(plan),
            Some(&dp),
            &mut ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap();
    assert_eq!(out.sample_rate, Some(256.0 / 2000.0));
    let after: Vec<f32> = init.iter().zip(&out.delta).map(|(a, d)| a + d).collect();
    let ev = t.evaluate(&after, &te).unwrap();
    assert!(ev.accuracy > 0.85, "DP: {ev:?}");
    // The burn backend runs the CNNs only: a clear error.
    assert!(LocalTrainer::new(spec, Backend::Burn).is_err());
    // Not 28×28: refused.
    let odd = LocalData::new(vec![0.0; 2 * 100], vec![1, 2], 100).unwrap();
    assert!(spec.prepare(odd).is_err());
}
