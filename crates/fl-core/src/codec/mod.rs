//! Update codecs: how a client's model delta travels on the wire.
//!
//! A run picks one [`CodecSpec`] (`none`, `fp16`, `int8`, `topk:<fraction>`
//! optionally `+fp16` / `+int8`). [`encode`] turns an `f32` delta into a
//! self-describing little-endian message and [`decode`] turns it back.
//!
//! | codec | bytes per value | error | bias |
//! |---|---|---|---|
//! | `none` | 4 | exact | none |
//! | `fp16` | 2 | relative ≤ 2⁻¹¹ (round to nearest) | none in practice |
//! | `int8` | 1 (+ 8 per tensor) | < per-tensor scale `max\|x\|/127` | unbiased (stochastic rounding) |
//! | `topk:f` | ≈ f · (index + value bytes) | drops all but the top f | biased: use [`ErrorFeedback`] |
//!
//! References: stochastic quantisation as in QSGD (Alistarh et al. 2017);
//! top-k sparsification (Aji & Heafield 2017; Stich et al. 2018); error
//! feedback (Seide et al. 2014, "1-bit SGD"; Karimireddy et al. 2019,
//! "Error Feedback Fixes SignSGD and other Gradient Compression Schemes").
//!
//! # Wire format (version 1)
//!
//! A 16-byte header: magic `FLUC`, format version `u8` (1), codec id `u8`
//! (0 none, 1 fp16, 2 int8, 3 top-k), value codec id `u8` (top-k only: 0 f32,
//! 1 fp16, 2 int8; otherwise 0), a reserved zero byte, and the element count
//! as `u64`. Then the payload:
//!
//! - `none`: `count` × `f32`; `fp16`: `count` × `f16`;
//! - `int8`: `u32` segment count, per segment (`u32` length, `f32` scale),
//!   then `count` × `i8` codes in [-127, 127]; one segment per tensor of the
//!   [`Layout`];
//! - top-k ([`top_k_indices`]): `u64` k, k varint index gaps (ascending),
//!   then k values in the value codec (int8: one segment per tensor that
//!   kept at least one value).
//!
//! Decoding untrusted bytes never panics and never allocates from a count it
//! has not checked against `expected_len` and the bytes actually present. It
//! does not check that decoded values are finite: that is update validation's
//! job, the same for every codec. It does reject non-finite or negative scales.
//!
//! # With differential privacy
//!
//! Lossy codecs are post-processing of whatever the client sends. Under
//! central (server-side) DP the server clips and adds noise after decoding,
//! so codecs do not change the privacy accounting; under local DP, add the
//! noise before encoding.

mod feedback;
mod quant;
mod spec;
mod topk;
mod wire;

use rand::Rng;
use thiserror::Error;

pub use feedback::ErrorFeedback;
pub use spec::{CodecSpec, ValueCodec};
pub use topk::top_k_indices;

use crate::params::Layout;
use wire::Reader;

/// First four bytes of every encoded update.
pub const MAGIC: [u8; 4] = *b"FLUC";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 16;

/// Why an update could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CodecError {
    /// A codec string or parameter is invalid (e.g. a top-k fraction outside (0, 1]).
    #[error("invalid codec `{spec}`: {reason}")]
    Spec {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The update to encode does not match the layout (or the error-feedback residual).
    #[error("update has {got} values, expected {expected}")]
    LengthMismatch {
        /// Expected length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// The update to encode holds NaN or infinity.
    #[error("cannot encode a non-finite value at index {index}")]
    NonFinite {
        /// First offending coordinate.
        index: usize,
    },
    /// A value is too large for fp16 (|x| ≥ 65520 rounds to infinity).
    #[error("value {value} at index {index} overflows fp16 (largest finite is 65504)")]
    Fp16Overflow {
        /// Coordinate.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A count does not fit the format's fields (a tensor over `u32::MAX` values).
    #[error("{0} values do not fit in one int8 segment (at most u32::MAX)")]
    TooLarge(usize),
    /// The bytes do not start with [`MAGIC`].
    #[error("not an encoded update: bad magic")]
    BadMagic,
    /// The bytes use another format version.
    #[error("unsupported update format version {0} (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u8),
    /// Unknown codec or value-codec id.
    #[error("unknown codec id {0}")]
    UnknownCodec(u8),
    /// The message declares another element count than the model has.
    #[error("encoded update declares {got} values, the model has {expected}")]
    WrongLength {
        /// The model's length.
        expected: usize,
        /// The declared count.
        got: u64,
    },
    /// The message ends early.
    #[error("encoded update is truncated: {needed} more bytes needed at offset {offset}")]
    Truncated {
        /// Where reading stopped.
        offset: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// The payload is inconsistent (message says how).
    #[error("malformed encoded update: {0}")]
    Malformed(String),
}

const ID_NONE: u8 = 0;
const ID_FP16: u8 = 1;
const ID_INT8: u8 = 2;
const ID_TOPK: u8 = 3;

fn value_id(v: ValueCodec) -> u8 {
    match v {
        ValueCodec::None => ID_NONE,
        ValueCodec::Fp16 => ID_FP16,
        ValueCodec::Int8 => ID_INT8,
    }
}

/// Encodes an update (a delta in `layout` order) with `spec`.
///
/// Fails on a length that does not match the layout, on a non-finite value,
/// on an invalid spec, and (fp16) on values beyond the f16 range. `rng`
/// drives int8 stochastic rounding; other codecs do not draw from it.
pub fn encode(
    spec: CodecSpec,
    update: &[f32],
    layout: &Layout,
    rng: &mut impl Rng,
) -> Result<Vec<u8>, CodecError> {
    spec.validate()?;
    if update.len() != layout.len() {
        return Err(CodecError::LengthMismatch {
            expected: layout.len(),
            got: update.len(),
        });
    }
    if let Some(index) = update.iter().position(|x| !x.is_finite()) {
        return Err(CodecError::NonFinite { index });
    }
    let (codec, values) = match spec {
        CodecSpec::None => (ID_NONE, 0),
        CodecSpec::Fp16 => (ID_FP16, 0),
        CodecSpec::Int8 => (ID_INT8, 0),
        CodecSpec::TopK { values, .. } => (ID_TOPK, value_id(values)),
    };
    let mut out = Vec::with_capacity(max_encoded_len(spec, layout));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[FORMAT_VERSION, codec, values, 0]);
    out.extend_from_slice(&(update.len() as u64).to_le_bytes());
    match spec {
        CodecSpec::None => quant::put_f32(&mut out, update),
        CodecSpec::Fp16 => quant::put_fp16(&mut out, update, |i| i)?,
        CodecSpec::Int8 => {
            let lens: Vec<usize> = layout.tensors().iter().map(|t| t.numel()).collect();
            quant::put_int8(&mut out, update, &lens, rng)?;
        }
        CodecSpec::TopK { values, .. } => {
            topk::put_topk(
                &mut out,
                update,
                layout,
                spec.kept(update.len()),
                values,
                rng,
            )?;
        }
    }
    Ok(out)
}

/// Decodes an update encoded by [`encode`] for a model of `expected_len` values.
///
/// Never panics; fails with a [`CodecError`] on any malformed, truncated or
/// over-long input. Allocates at most `expected_len` values plus what the
/// bytes present can justify.
pub fn decode(bytes: &[u8], expected_len: usize) -> Result<Vec<f32>, CodecError> {
    let mut r = Reader::new(bytes);
    if r.take(4).map_err(|_| CodecError::BadMagic)? != MAGIC {
        return Err(CodecError::BadMagic);
    }
    let version = r.u8()?;
    if version != FORMAT_VERSION {
        return Err(CodecError::UnsupportedVersion(version));
    }
    let codec = r.u8()?;
    let value = r.u8()?;
    if r.u8()? != 0 {
        return Err(CodecError::Malformed(
            "reserved header byte is not zero".into(),
        ));
    }
    let count = r.u64()?;
    if count != expected_len as u64 {
        return Err(CodecError::WrongLength {
            expected: expected_len,
            got: count,
        });
    }
    let n = expected_len;
    if codec != ID_TOPK && value != 0 {
        return Err(CodecError::Malformed(
            "value codec set on a dense codec".into(),
        ));
    }
    let out = match codec {
        ID_NONE => quant::read_f32(&mut r, n)?,
        ID_FP16 => quant::read_fp16(&mut r, n)?,
        ID_INT8 => quant::read_int8(&mut r, n)?,
        ID_TOPK => {
            let values = match value {
                ID_NONE => ValueCodec::None,
                ID_FP16 => ValueCodec::Fp16,
                ID_INT8 => ValueCodec::Int8,
                other => return Err(CodecError::UnknownCodec(other)),
            };
            topk::read_topk(&mut r, n, values)?
        }
        other => return Err(CodecError::UnknownCodec(other)),
    };
    r.finish()?;
    Ok(out)
}

/// An upper bound on the size of [`encode`]'s output for any update of
/// `layout` (exact for the dense codecs). Useful to size transport limits.
pub fn max_encoded_len(spec: CodecSpec, layout: &Layout) -> usize {
    let n = layout.len();
    let tensors = layout.tensors().len();
    let payload = match spec {
        CodecSpec::None => 4 * n,
        CodecSpec::Fp16 => 2 * n,
        CodecSpec::Int8 => 4 + quant::SEGMENT_HEADER * tensors + n,
        CodecSpec::TopK { values, .. } => {
            let k = spec.kept(n);
            let index_bytes = k * wire::varint_len(n as u64);
            let value_bytes = match values {
                ValueCodec::None => 4 * k,
                ValueCodec::Fp16 => 2 * k,
                ValueCodec::Int8 => 4 + quant::SEGMENT_HEADER * tensors.min(k) + k,
            };
            8 + index_bytes + value_bytes
        }
    };
    HEADER_LEN + payload
}
