//! Codec round-trips, compression ratios, hostile input and error feedback.

use fl_core::Layout;
use fl_core::codec::{
    CodecError, CodecSpec, ErrorFeedback, HEADER_LEN, ValueCodec, decode, encode, max_encoded_len,
};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A layout of the given tensor sizes, named t0, t1, ….
fn layout_of(sizes: &[usize]) -> Layout {
    Layout::new(
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (format!("t{i}"), vec![n])),
    )
    .unwrap()
}

/// The Opacus MNIST CNN (26,010 parameters) that the benchmarks use.
fn mnist_cnn() -> Layout {
    Layout::new([
        ("conv1.weight", vec![16, 1, 8, 8]),
        ("conv1.bias", vec![16]),
        ("conv2.weight", vec![32, 16, 4, 4]),
        ("conv2.bias", vec![32]),
        ("fc1.weight", vec![32, 512]),
        ("fc1.bias", vec![32]),
        ("fc2.weight", vec![10, 32]),
        ("fc2.bias", vec![10]),
    ])
    .unwrap()
}

fn normal_vec(n: usize, std: f32, rng: &mut impl Rng) -> Vec<f32> {
    (0..n)
        .map(|_| std * rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// Per-tensor max|x| / 127, spread back to every coordinate.
fn int8_scales(x: &[f32], layout: &Layout) -> Vec<f32> {
    let mut s = vec![0.0; x.len()];
    for t in layout.tensors() {
        let max = x[t.range()].iter().fold(0.0f32, |m, v| m.max(v.abs()));
        s[t.range()].fill(max / 127.0);
    }
    s
}

/// Tensor sizes and matching values, with magnitudes from 1e-3 to 1e3.
fn update_strategy() -> impl Strategy<Value = (Vec<usize>, Vec<f32>)> {
    (
        prop::collection::vec(1usize..200, 1..5),
        prop::sample::select(vec![1e-3f32, 1.0, 1e3]),
    )
        .prop_flat_map(|(sizes, mag)| {
            let n: usize = sizes.iter().sum();
            (Just(sizes), prop::collection::vec(-mag..mag, n))
        })
}

fn all_specs() -> Vec<CodecSpec> {
    let mut v = vec![CodecSpec::None, CodecSpec::Fp16, CodecSpec::Int8];
    for values in [ValueCodec::None, ValueCodec::Fp16, ValueCodec::Int8] {
        for fraction in [0.01, 0.3, 1.0] {
            v.push(CodecSpec::TopK { fraction, values });
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn none_is_exact((sizes, x) in update_strategy(), seed: u64) {
        let layout = layout_of(&sizes);
        let bytes = encode(CodecSpec::None, &x, &layout, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        prop_assert_eq!(bytes.len(), HEADER_LEN + 4 * x.len());
        let back = decode(&bytes, x.len()).unwrap();
        prop_assert!(back.iter().zip(&x).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn fp16_is_within_half_precision((sizes, x) in update_strategy(), seed: u64) {
        let layout = layout_of(&sizes);
        let bytes = encode(CodecSpec::Fp16, &x, &layout, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        prop_assert_eq!(bytes.len(), HEADER_LEN + 2 * x.len());
        let back = decode(&bytes, x.len()).unwrap();
        for (a, b) in back.iter().zip(&x) {
            // Round to nearest: relative 2^-11 for normals, 2^-25 absolute for subnormals.
            prop_assert!((a - b).abs() <= b.abs() * 2f32.powi(-11) + 2f32.powi(-25), "{a} vs {b}");
        }
    }

    #[test]
    fn int8_error_is_below_one_scale_step((sizes, x) in update_strategy(), seed: u64) {
        let layout = layout_of(&sizes);
        let bytes = encode(CodecSpec::Int8, &x, &layout, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        prop_assert_eq!(bytes.len(), max_encoded_len(CodecSpec::Int8, &layout));
        prop_assert_eq!(bytes.len(), HEADER_LEN + 4 + 8 * sizes.len() + x.len());
        let back = decode(&bytes, x.len()).unwrap();
        for ((a, b), s) in back.iter().zip(&x).zip(int8_scales(&x, &layout)) {
            prop_assert!((a - b).abs() <= s * (1.0 + 1e-6) + b.abs() * 1e-6, "{a} vs {b}, scale {s}");
        }
    }

    #[test]
    fn topk_keeps_exactly_the_k_largest((sizes, x) in update_strategy(), fraction in 0.001f32..=1.0, seed: u64) {
        // Nonzero values so that the kept set is visible in the decoded vector.
        let x: Vec<f32> = x.into_iter().map(|v| if v == 0.0 { 0.5 } else { v }).collect();
        let layout = layout_of(&sizes);
        let spec = CodecSpec::TopK { fraction, values: ValueCodec::None };
        let k = ((f64::from(fraction) * x.len() as f64).ceil() as usize).clamp(1, x.len());
        let bytes = encode(spec, &x, &layout, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        prop_assert!(bytes.len() <= max_encoded_len(spec, &layout));
        let back = decode(&bytes, x.len()).unwrap();
        let kept: Vec<usize> = (0..x.len()).filter(|&i| back[i] != 0.0).collect();
        prop_assert_eq!(kept.len(), k);
        for &i in &kept {
            prop_assert_eq!(back[i].to_bits(), x[i].to_bits());
        }
        let min_kept = kept.iter().map(|&i| x[i].abs()).fold(f32::INFINITY, f32::min);
        let max_dropped = (0..x.len()).filter(|i| back[*i] == 0.0).map(|i| x[i].abs()).fold(0.0, f32::max);
        prop_assert!(min_kept >= max_dropped, "kept {min_kept} < dropped {max_dropped}");
    }

    #[test]
    fn topk_quantised_values_stay_on_the_kept_set((sizes, x) in update_strategy(), fraction in 0.001f32..=1.0, seed: u64) {
        let layout = layout_of(&sizes);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let exact = decode(&encode(CodecSpec::TopK { fraction, values: ValueCodec::None }, &x, &layout, &mut rng).unwrap(), x.len()).unwrap();
        let scales = int8_scales(&x, &layout);
        for values in [ValueCodec::Fp16, ValueCodec::Int8] {
            let spec = CodecSpec::TopK { fraction, values };
            let bytes = encode(spec, &x, &layout, &mut rng).unwrap();
            prop_assert!(bytes.len() <= max_encoded_len(spec, &layout));
            let back = decode(&bytes, x.len()).unwrap();
            for i in 0..x.len() {
                if exact[i] == 0.0 && x[i] != 0.0 {
                    prop_assert_eq!(back[i], 0.0);
                } else {
                    // The kept-value scale is at most the whole tensor's.
                    let tol = match values {
                        ValueCodec::Fp16 => x[i].abs() * 2f32.powi(-11) + 2f32.powi(-25),
                        _ => scales[i] * (1.0 + 1e-6) + x[i].abs() * 1e-6,
                    };
                    prop_assert!((back[i] - x[i]).abs() <= tol, "{values}: {} vs {}", back[i], x[i]);
                }
            }
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256), n in 0usize..64) {
        let _ = decode(&bytes, n);
    }

    #[test]
    fn decode_rejects_every_truncation_and_survives_corruption(
        (sizes, x) in update_strategy(), spec in prop::sample::select(all_specs()),
        seed: u64, cut in any::<prop::sample::Index>(), flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
    ) {
        let layout = layout_of(&sizes);
        let bytes = encode(spec, &x, &layout, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
        // Every strict prefix is an error: messages are read exactly.
        let cut = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..cut], x.len()).is_err());
        // Trailing garbage is an error.
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(decode(&longer, x.len()).is_err());
        // Flipped bits: any outcome but a panic; a success has the right length.
        let mut bad = bytes;
        for (at, xor) in flips {
            let i = at.index(bad.len());
            bad[i] ^= xor;
        }
        if let Ok(v) = decode(&bad, x.len()) {
            prop_assert_eq!(v.len(), x.len());
        }
    }
}

#[test]
fn every_codec_round_trips_its_own_length_and_rejects_another() {
    let layout = layout_of(&[10, 5]);
    let x: Vec<f32> = (0..15).map(|i| i as f32 - 7.0).collect();
    for spec in all_specs() {
        let bytes = encode(spec, &x, &layout, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        assert_eq!(decode(&bytes, 15).unwrap().len(), 15, "{spec}");
        assert_eq!(
            decode(&bytes, 16),
            Err(CodecError::WrongLength {
                expected: 16,
                got: 15
            }),
            "{spec}"
        );
    }
}

#[test]
fn hostile_headers_fail_without_allocating() {
    // Prepare: a header declaring 2^40 f32 values followed by 4 bytes.
    let mut bytes = b"FLUC".to_vec();
    bytes.extend_from_slice(&[1, 0, 0, 0]);
    bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
    bytes.extend_from_slice(&[0; 4]);
    // Execute / Assert: a wrong count is caught before the payload …
    assert!(matches!(
        decode(&bytes, 10),
        Err(CodecError::WrongLength { .. })
    ));
    // … and even a caller expecting 2^40 values gets an error, not an abort.
    for codec in 0u8..=3 {
        bytes[5] = codec;
        assert!(decode(&bytes, 1 << 40).is_err(), "codec {codec}");
    }
    // Bad magic, version, codec ids and reserved byte.
    let good = encode(
        CodecSpec::None,
        &[1.0],
        &layout_of(&[1]),
        &mut ChaCha8Rng::seed_from_u64(0),
    )
    .unwrap();
    let with = |i: usize, b: u8| {
        let mut v = good.clone();
        v[i] = b;
        decode(&v, 1)
    };
    assert_eq!(with(0, b'X'), Err(CodecError::BadMagic));
    assert_eq!(with(4, 2), Err(CodecError::UnsupportedVersion(2)));
    assert_eq!(with(5, 9), Err(CodecError::UnknownCodec(9)));
    assert!(with(6, 1).is_err());
    assert!(with(7, 1).is_err());
    assert_eq!(decode(&[], 1), Err(CodecError::BadMagic));
}

#[test]
fn encode_rejects_bad_input() {
    let layout = layout_of(&[3]);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(
        encode(CodecSpec::Int8, &[1.0, 2.0], &layout, &mut rng),
        Err(CodecError::LengthMismatch {
            expected: 3,
            got: 2
        })
    );
    assert_eq!(
        encode(
            CodecSpec::None,
            &[1.0, f32::INFINITY, 0.0],
            &layout,
            &mut rng
        ),
        Err(CodecError::NonFinite { index: 1 })
    );
    assert!(matches!(
        encode(CodecSpec::Fp16, &[1.0, 0.0, -1.0e5], &layout, &mut rng),
        Err(CodecError::Fp16Overflow { index: 2, .. })
    ));
    let bad = CodecSpec::TopK {
        fraction: 0.0,
        values: ValueCodec::None,
    };
    assert!(matches!(
        encode(bad, &[1.0; 3], &layout, &mut rng),
        Err(CodecError::Spec { .. })
    ));
}

#[test]
fn int8_stochastic_rounding_is_unbiased() {
    // Prepare: 64 values off the quantisation grid; max 1.27 makes the scale 0.01.
    let layout = layout_of(&[64]);
    let mut x: Vec<f32> = (0..64).map(|i| -1.0 + 0.0313 * i as f32 + 0.0037).collect();
    x[0] = 1.27;
    let scale = 0.01f64;
    let trials = 4000;
    // Execute: average many independent encodings.
    let mut mean = vec![0.0f64; 64];
    for seed in 0..trials {
        let bytes = encode(
            CodecSpec::Int8,
            &x,
            &layout,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
        .unwrap();
        for (m, v) in mean.iter_mut().zip(decode(&bytes, 64).unwrap()) {
            *m += f64::from(v) / trials as f64;
        }
    }
    // Assert: each code is Bernoulli, so the mean's std is ≤ scale / (2·√trials);
    // allow 5 of those. Deterministic rounding would miss by up to scale / 2.
    let tol = 5.0 * scale / (2.0 * (trials as f64).sqrt());
    let mut worst = 0.0f64;
    for (m, &v) in mean.iter().zip(&x) {
        worst = worst.max((m - f64::from(v)).abs());
    }
    assert!(worst <= tol, "worst bias {worst:.2e} > {tol:.2e}");
    let nearest_bias = x
        .iter()
        .map(|&v| (f64::from(v) / scale - (f64::from(v) / scale).round()).abs() * scale)
        .fold(0.0, f64::max);
    assert!(
        nearest_bias > 4.0 * tol,
        "test vector is too close to the grid"
    );
}

#[test]
fn compression_ratios_on_the_mnist_cnn() {
    // Prepare: a realistic delta, N(0, 0.01²) over the 26,010-parameter CNN.
    let layout = mnist_cnn();
    assert_eq!(layout.len(), 26_010);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let x = normal_vec(layout.len(), 0.01, &mut rng);
    let mut size = |s: &str| {
        encode(s.parse().unwrap(), &x, &layout, &mut rng)
            .unwrap()
            .len()
    };
    // Execute
    let none = size("none");
    let ratios: Vec<(&str, f64)> = [
        "fp16",
        "int8",
        "topk:0.01",
        "topk:0.01+fp16",
        "topk:0.01+int8",
        "topk:0.1+int8",
    ]
    .into_iter()
    .map(|s| (s, none as f64 / size(s) as f64))
    .collect();
    for (s, r) in &ratios {
        eprintln!(
            "compression {s}: {r:.1}x ({} bytes vs {none})",
            (none as f64 / r).round()
        );
    }
    // Assert
    let ratio = |name: &str| ratios.iter().find(|(s, _)| *s == name).unwrap().1;
    assert!(ratio("fp16") >= 1.99);
    assert!(ratio("int8") >= 3.9, "int8 {}", ratio("int8"));
    assert!(
        ratio("topk:0.01+int8") >= 50.0,
        "topk+int8 {}",
        ratio("topk:0.01+int8")
    );
}

/// Runs `rounds` of top-k encoding of `g + 0.1·noise`; returns the error
/// ‖Σ true − Σ decoded‖ and the largest residual norm seen (0 without EF).
fn track(spec: CodecSpec, feedback: bool, rounds: usize) -> (f64, f64, f64) {
    let layout = layout_of(&[600, 400]);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let g = normal_vec(1000, 1.0, &mut rng);
    let mut ef = ErrorFeedback::new(1000);
    let (mut sum_true, mut sum_sent) = (vec![0.0f64; 1000], vec![0.0f64; 1000]);
    let (mut max_residual, mut max_update) = (0.0f64, 0.0f64);
    for _ in 0..rounds {
        let u: Vec<f32> = g
            .iter()
            .zip(normal_vec(1000, 0.1, &mut rng))
            .map(|(a, b)| a + b)
            .collect();
        let bytes = if feedback {
            ef.encode(spec, &u, &layout, &mut rng).unwrap()
        } else {
            encode(spec, &u, &layout, &mut rng).unwrap()
        };
        for ((t, s), (a, b)) in sum_true
            .iter_mut()
            .zip(&mut sum_sent)
            .zip(u.iter().zip(decode(&bytes, 1000).unwrap()))
        {
            *t += f64::from(*a);
            *s += f64::from(b);
        }
        max_residual = max_residual.max(ef.residual_norm());
        max_update = max_update.max(fl_core::params::l2_norm(&u));
    }
    let err = sum_true
        .iter()
        .zip(&sum_sent)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    if feedback {
        // Telescoping: what was not delivered is exactly the residual.
        assert!(
            (err - ef.residual_norm()).abs() <= 1e-3 * err.max(1.0),
            "{err} vs {}",
            ef.residual_norm()
        );
    }
    (err, max_residual, max_update)
}

#[test]
fn error_feedback_tracks_the_sum_of_true_updates() {
    let spec = CodecSpec::TopK {
        fraction: 0.05,
        values: ValueCodec::Int8,
    };
    let rounds = 200;
    // Execute
    let (ef_err, max_residual, max_update) = track(spec, true, rounds);
    let (plain_err, _, _) = track(spec, false, rounds);
    eprintln!(
        "top-k 5% + int8 over {rounds} rounds: ‖Σtrue − Σsent‖ = {ef_err:.1} with EF, {plain_err:.1} without; max residual {max_residual:.1}, max update {max_update:.1}"
    );
    // Assert: top-k keeps ≥ δ = k/n of the energy, so with EF the residual obeys
    // ‖e‖ ≤ √(1−δ)/(1−√(1−δ)) · max‖u‖ (plus int8 noise, hence the 10% slack).
    let delta: f64 = 0.05;
    let bound = (1.0 - delta).sqrt() / (1.0 - (1.0 - delta).sqrt()) * max_update * 1.1;
    assert!(
        max_residual <= bound,
        "residual {max_residual} exceeds {bound}"
    );
    // Without EF the dropped mass accumulates linearly in the rounds.
    assert!(
        plain_err > 10.0 * ef_err,
        "plain {plain_err} vs EF {ef_err}"
    );
}
