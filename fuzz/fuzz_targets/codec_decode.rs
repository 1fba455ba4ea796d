//! `fl_core::codec::decode` on arbitrary bytes, and `encode` → `decode` round trips.
//!
//! Input layout: bytes 0..3 give `expected_len` (little-endian, reduced to ≤ 100 000), the
//! rest is the encoded update. The same input, read through `arbitrary`, also drives a round
//! trip: a spec, a layout and finite values that must decode to the right length (and, for
//! the lossless codecs, to the same values).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use fl_core::Layout;
use fl_core::codec::{self, CodecSpec, ValueCodec};
use libfuzzer_sys::fuzz_target;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const MAX_LEN: usize = 100_000;

#[derive(Arbitrary, Debug)]
enum Values {
    None,
    Fp16,
    Int8,
}

#[derive(Arbitrary, Debug)]
enum Spec {
    None,
    Fp16,
    Int8,
    TopK { fraction: f32, values: Values },
}

#[derive(Arbitrary, Debug)]
struct RoundTrip {
    spec: Spec,
    /// Tensor sizes (each reduced to 1..=64).
    shapes: Vec<u8>,
    values: Vec<f32>,
    seed: u64,
}

fn to_spec(s: &Spec) -> CodecSpec {
    let v = |v: &Values| match v {
        Values::None => ValueCodec::None,
        Values::Fp16 => ValueCodec::Fp16,
        Values::Int8 => ValueCodec::Int8,
    };
    match s {
        Spec::None => CodecSpec::None,
        Spec::Fp16 => CodecSpec::Fp16,
        Spec::Int8 => CodecSpec::Int8,
        Spec::TopK { fraction, values } => CodecSpec::TopK {
            fraction: *fraction,
            values: v(values),
        },
    }
}

fn round_trip(rt: RoundTrip) {
    let spec = to_spec(&rt.spec);
    let shapes: Vec<(String, Vec<usize>)> = rt
        .shapes
        .iter()
        .take(4)
        .enumerate()
        .map(|(i, &s)| (format!("t{i}"), vec![usize::from(s % 64) + 1]))
        .collect();
    let Ok(layout) = Layout::new(shapes) else {
        return;
    };
    // Fill the layout, cycling through the fuzzed values (zeros if none).
    let n = layout.len();
    let update: Vec<f32> = (0..n)
        .map(|i| rt.values.get(i % rt.values.len().max(1)).copied().unwrap_or(0.0))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(rt.seed);
    let Ok(bytes) = codec::encode(spec, &update, &layout, &mut rng) else {
        // Refusing (bad fraction, non-finite or out-of-range value) is fine; panicking is not.
        return;
    };
    let decoded = codec::decode(&bytes, n).expect("a freshly encoded update decodes");
    assert_eq!(decoded.len(), n);
    if let Some(i) = decoded.iter().position(|x| !x.is_finite()) {
        panic!("{spec}: value {i} = {} encoded, {} decoded", update[i], decoded[i]);
    }
    match spec {
        CodecSpec::None => assert_eq!(decoded, update),
        CodecSpec::TopK {
            values: ValueCodec::None,
            ..
        } => {
            let kept = decoded.iter().zip(&update).filter(|(d, _)| **d != 0.0);
            for (d, u) in kept {
                assert_eq!(d, u, "top-k kept a value that was not in the update");
            }
            let nonzero = decoded.iter().filter(|d| **d != 0.0).count();
            assert!(nonzero <= spec.kept(n), "top-k kept more than k values");
        }
        _ => {}
    }
    // A wrong expected length is always refused.
    assert!(codec::decode(&bytes, n + 1).is_err());
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 3 {
        let len = u32::from_le_bytes([data[0], data[1], data[2], 0]) as usize % (MAX_LEN + 1);
        if let Ok(v) = codec::decode(&data[3..], len) {
            assert_eq!(v.len(), len, "decode returned the wrong length");
        }
    }
    let mut u = Unstructured::new(data);
    if let Ok(rt) = RoundTrip::arbitrary(&mut u) {
        round_trip(rt);
    }
});
