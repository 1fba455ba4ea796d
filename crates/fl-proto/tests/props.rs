//! Properties of chunking and reassembly: round trips for any size and chunk size, and
//! arbitrary tampering with a stream never panics and never yields different bytes.

use fl_proto::pb::{self, update_chunk::Kind};
use fl_proto::{ChunkError, ModelReassembler, Payload, UpdateReassembler};
use proptest::prelude::*;

fn run_update(chunks: Vec<pb::UpdateChunk>, max: u64) -> Result<Vec<u8>, ChunkError> {
    let mut r = UpdateReassembler::new(max);
    for c in chunks {
        r.push(c)?;
    }
    r.finish().map(|(_, bytes)| bytes)
}

/// One way of damaging a chunk stream.
#[derive(Debug, Clone)]
enum Tamper {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    FlipByte(usize, usize),
    ShiftOffset(usize, u64),
    SetTotal(u64),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        any::<usize>().prop_map(Tamper::Drop),
        any::<usize>().prop_map(Tamper::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::Swap(a, b)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Tamper::FlipByte(a, b)),
        (any::<usize>(), 1..u64::MAX).prop_map(|(a, d)| Tamper::ShiftOffset(a, d)),
        any::<u64>().prop_map(Tamper::SetTotal),
    ]
}

fn apply(chunks: &mut Vec<pb::UpdateChunk>, t: &Tamper) {
    let n = chunks.len();
    match *t {
        Tamper::Drop(i) => {
            chunks.remove(i % n);
        }
        Tamper::Duplicate(i) => chunks.insert(i % n, chunks[i % n].clone()),
        Tamper::Swap(a, b) => chunks.swap(a % n, b % n),
        Tamper::FlipByte(i, j) => {
            if let Some(Kind::Data(d)) = &mut chunks[i % n].kind {
                let mut v = d.data.to_vec();
                let k = j % v.len();
                v[k] ^= 0x01;
                d.data = v.into();
            }
        }
        Tamper::ShiftOffset(i, delta) => {
            if let Some(Kind::Data(d)) = &mut chunks[i % n].kind {
                d.offset = d.offset.wrapping_add(delta);
            }
        }
        Tamper::SetTotal(total) => {
            if let Some(Kind::Header(h)) = &mut chunks[0].kind {
                h.total_len = total;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn update_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..5000), size in 1usize..2000) {
        let payload = Payload::new(bytes.clone());
        let chunks: Vec<_> = payload.update_chunks(pb::UpdateHeader::default(), size).collect();
        prop_assert_eq!(chunks.len(), 1 + bytes.len().div_ceil(size));
        prop_assert_eq!(run_update(chunks, bytes.len() as u64)?, bytes);
    }

    #[test]
    fn model_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..5000), size in 1usize..2000) {
        let payload = Payload::new(bytes.clone());
        let mut r = ModelReassembler::new(bytes.len() as u64);
        for c in payload.model_chunks(5, size) {
            r.push(c)?;
        }
        prop_assert_eq!(r.finish()?.bytes, bytes);
    }

    #[test]
    fn tampered_streams_never_yield_other_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 1..3000),
        size in 1usize..1000,
        tampers in proptest::collection::vec(tamper(), 1..4),
    ) {
        let payload = Payload::new(bytes.clone());
        let mut chunks: Vec<_> = payload.update_chunks(pb::UpdateHeader::default(), size).collect();
        for t in &tampers {
            if chunks.is_empty() {
                break;
            }
            apply(&mut chunks, t);
        }
        // Any outcome is fine except a panic or a successful result with different bytes.
        if let Ok(got) = run_update(chunks, 1 << 20) {
            prop_assert_eq!(got, bytes);
        }
    }
}
