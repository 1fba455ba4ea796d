//! The gRPC handlers' parsing: prost decoding of every request message, the `SubmitUpdate`
//! and `DownloadModel` reassemblers fed fuzzed chunk sequences, and `le_bytes_to_f32s`.
//!
//! The first byte picks a mode; the rest is either raw protobuf bytes or, read through
//! `arbitrary`, a payload plus a sequence of stream operations. Ops mostly use "plausible"
//! values (the payload's real length, checksum and next offset) so that the fuzzer reaches
//! the completed-stream paths, and arbitrary values otherwise.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use fl_proto::pb::{self, update_chunk::Kind};
use fl_proto::{ChunkError, ModelReassembler, UpdateReassembler, le_bytes_to_f32s, sha256_hex};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug)]
enum Num {
    /// The value a well-behaved peer would send.
    Right,
    /// Right ± a small delta.
    Near(i8),
    Any(u64),
}

#[derive(Arbitrary, Debug)]
enum Sha {
    Right,
    /// A well-formed checksum of other bytes.
    OfOther(Vec<u8>),
    Any(String),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Header { len: Num, sha: Sha, version: u64 },
    /// The next `take` bytes of the payload (from `offset`), or arbitrary bytes.
    Data { offset: Num, take: u16, junk: Option<Vec<u8>> },
    Empty,
}

#[derive(Arbitrary, Debug)]
struct Stream {
    payload: Vec<u8>,
    max_total: Num,
    ops: Vec<Op>,
}

fn num(n: &Num, right: u64) -> u64 {
    match *n {
        Num::Right => right,
        Num::Near(d) => right.wrapping_add_signed(i64::from(d)),
        Num::Any(v) => v,
    }
}

fn sha(s: &Sha, payload: &[u8]) -> String {
    match s {
        Sha::Right => sha256_hex(payload),
        Sha::OfOther(b) => sha256_hex(b),
        Sha::Any(s) => s.clone(),
    }
}

/// Runs `s` through both reassemblers; a completed stream must give back exactly the payload.
fn run_stream(s: Stream) {
    let payload = &s.payload;
    let plen = payload.len() as u64;
    let max_total = num(&s.max_total, plen);
    let mut up = UpdateReassembler::new(max_total);
    let mut model = ModelReassembler::new(max_total);
    let (mut next, mut declared, mut declared_sha, mut version) = (0u64, None, None, 0u64);
    let mut header_accepted = false;
    for op in s.ops.iter().take(64) {
        let (chunk, mchunk) = match op {
            Op::Empty => (pb::UpdateChunk { kind: None }, None),
            Op::Header { len, sha: h, version: v } => {
                let total_len = num(len, plen);
                let sha256 = sha(h, payload);
                if declared.is_none() {
                    (declared, declared_sha, version) = (Some(total_len), Some(sha256.clone()), *v);
                }
                let header = pb::UpdateHeader {
                    total_len,
                    sha256: sha256.clone(),
                    model_version: *v,
                    ..Default::default()
                };
                let m = pb::ModelChunk {
                    model_version: *v,
                    offset: 0,
                    total_len,
                    data: Default::default(),
                    sha256,
                };
                (pb::UpdateChunk { kind: Some(Kind::Header(header)) }, Some(m))
            }
            Op::Data { offset, take, junk } => {
                let offset = num(offset, next);
                let data: Vec<u8> = match junk {
                    Some(j) => j.clone(),
                    None => {
                        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(payload.len());
                        let end = start.saturating_add(usize::from(*take)).min(payload.len());
                        payload[start..end].to_vec()
                    }
                };
                if up.push(pb::UpdateChunk {
                    kind: Some(Kind::Data(pb::DataChunk { offset, data: data.clone().into() })),
                })
                .is_ok()
                {
                    next = offset + data.len() as u64;
                }
                let m = pb::ModelChunk {
                    model_version: version,
                    offset,
                    total_len: declared.unwrap_or(0),
                    data: data.into(),
                    sha256: declared_sha.clone().unwrap_or_default(),
                };
                let _ = model.push(m);
                continue;
            }
        };
        let is_header = matches!(chunk.kind, Some(Kind::Header(_)));
        header_accepted |= up.push(chunk).is_ok() && is_header;
        if let Some(m) = mchunk {
            let _ = model.push(m);
        }
        assert!(up.received() <= max_total, "received more than the limit");
    }
    let complete = up.is_complete();
    match up.finish() {
        Ok((header, bytes)) => {
            assert!(complete);
            assert_eq!(bytes.len() as u64, header.total_len);
            assert_eq!(sha256_hex(&bytes), header.sha256.to_ascii_lowercase());
        }
        Err(ChunkError::MissingHeader) => assert!(!header_accepted),
        Err(_) => {}
    }
    if let Ok(m) = model.finish() {
        assert_eq!(sha256_hex(&m.bytes), m.sha256.to_ascii_lowercase());
    }
}

fn decode_all(bytes: &[u8]) {
    // Every message a server or client decodes from the network.
    let _ = pb::RegisterRequest::decode(bytes);
    let _ = pb::HeartbeatRequest::decode(bytes);
    let _ = pb::GetTaskRequest::decode(bytes);
    let _ = pb::DownloadModelRequest::decode(bytes);
    let _ = pb::EvaluationRequest::decode(bytes);
    let _ = pb::RegisterResponse::decode(bytes);
    let _ = pb::HeartbeatResponse::decode(bytes);
    let _ = pb::GetTaskResponse::decode(bytes);
    let _ = pb::SubmitUpdateResponse::decode(bytes);
    let _ = pb::Ack::decode(bytes);
    if let Ok(m) = pb::ModelChunk::decode(bytes) {
        let mut r = ModelReassembler::new(1 << 20);
        let _ = r.push(m);
    }
    if let Ok(c) = pb::UpdateChunk::decode(bytes) {
        // Re-encoding is stable (bytes, not messages, are compared: a NaN loss is not equal to itself).
        let once = c.encode_to_vec();
        let again = pb::UpdateChunk::decode(once.as_slice()).expect("re-encoded chunk decodes");
        assert_eq!(again.encode_to_vec(), once);
        let mut r = UpdateReassembler::new(1 << 20);
        let _ = r.push(c);
    }
    match le_bytes_to_f32s(bytes) {
        Ok(v) => assert_eq!(v.len() * 4, bytes.len()),
        Err(_) => assert_ne!(bytes.len() % 4, 0),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        decode_all(rest);
    } else if let Ok(s) = Stream::arbitrary(&mut Unstructured::new(rest)) {
        run_stream(s);
    }
});
