//! Value quantisers: half precision and 8-bit stochastic rounding.
//!
//! Int8 follows QSGD-style unbiased stochastic quantisation (Alistarh et al.
//! 2017, "QSGD: Communication-Efficient SGD via Gradient Quantization and
//! Encoding"): with one scale `s = max|x| / 127` per segment, a value
//! `y = x / s` is sent as `floor(y) + 1` with probability `y - floor(y)` and
//! as `floor(y)` otherwise, so `E[code · s] = x` and `|code · s − x| < s`.
//! Unbiasedness is what lets the server average many quantised updates
//! without a systematic drift.

use half::f16;
use rand::Rng;

use super::CodecError;
use super::wire::Reader;

/// Bytes of one int8 segment header: `u32` length + `f32` scale.
pub(crate) const SEGMENT_HEADER: usize = 8;

/// Appends `values` as little-endian f16. `index` maps a position in
/// `values` to the coordinate it came from, for the error message.
pub(crate) fn put_fp16(
    out: &mut Vec<u8>,
    values: &[f32],
    index: impl Fn(usize) -> usize,
) -> Result<(), CodecError> {
    out.reserve(values.len() * 2);
    for (i, &x) in values.iter().enumerate() {
        let h = f16::from_f32(x);
        if h.is_infinite() {
            return Err(CodecError::Fp16Overflow {
                index: index(i),
                value: x,
            });
        }
        out.extend_from_slice(&h.to_le_bytes());
    }
    Ok(())
}

/// Reads `count` little-endian f16 values.
pub(crate) fn read_fp16(r: &mut Reader<'_>, count: usize) -> Result<Vec<f32>, CodecError> {
    let bytes = r.take(count.checked_mul(2).ok_or_else(too_many)?)?;
    Ok(bytes
        .chunks_exact(2)
        .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect())
}

/// Appends `values` as little-endian f32.
pub(crate) fn put_f32(out: &mut Vec<u8>, values: &[f32]) {
    out.reserve(values.len() * 4);
    for &x in values {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// Reads `count` little-endian f32 values.
pub(crate) fn read_f32(r: &mut Reader<'_>, count: usize) -> Result<Vec<f32>, CodecError> {
    let bytes = r.take(count.checked_mul(4).ok_or_else(too_many)?)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// The int8 scale of a segment: `max|x| / 127`, never 0 unless the segment is.
pub(crate) fn int8_scale(values: &[f32]) -> f32 {
    let max_abs = values.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    let mut scale = max_abs / 127.0;
    if max_abs > 0.0 && scale == 0.0 {
        // max|x| is so small that the division underflowed: use the smallest
        // positive f32 so that codes stay in range.
        return f32::from_bits(1);
    }
    // Near f32::MAX the rounded-up quotient times 127 overflows, and the decoder
    // would turn a finite value into ±inf (found by fuzzing): step the scale down.
    while (127.0 * scale).is_infinite() {
        scale = scale.next_down();
    }
    scale
}

/// Stochastically rounds `x / scale` to an integer code in [-127, 127].
fn quantise(x: f32, scale: f32, rng: &mut impl Rng) -> i8 {
    if scale == 0.0 {
        return 0;
    }
    let y = (f64::from(x) / f64::from(scale)).clamp(-127.0, 127.0);
    let lo = y.floor();
    let up = rng.random::<f64>() < y - lo;
    (lo + f64::from(u8::from(up))) as i8
}

/// Appends an int8 block: `u32` segment count, then per segment `u32` length
/// and `f32` scale, then one `i8` code per value. `seg_lens` splits `values`
/// into segments (one per tensor); empty segments are skipped.
pub(crate) fn put_int8(
    out: &mut Vec<u8>,
    values: &[f32],
    seg_lens: &[usize],
    rng: &mut impl Rng,
) -> Result<(), CodecError> {
    debug_assert_eq!(seg_lens.iter().sum::<usize>(), values.len());
    let mut segments = Vec::with_capacity(seg_lens.len());
    let mut start = 0;
    for &len in seg_lens.iter().filter(|&&l| l > 0) {
        let len32 = u32::try_from(len).map_err(|_| CodecError::TooLarge(len))?;
        segments.push((
            start..start + len,
            len32,
            int8_scale(&values[start..start + len]),
        ));
        start += len;
    }
    let nseg = u32::try_from(segments.len()).map_err(|_| CodecError::TooLarge(segments.len()))?;
    out.extend_from_slice(&nseg.to_le_bytes());
    for (_, len32, scale) in &segments {
        out.extend_from_slice(&len32.to_le_bytes());
        out.extend_from_slice(&scale.to_le_bytes());
    }
    out.reserve(values.len());
    for (range, _, scale) in segments {
        for &x in &values[range] {
            out.push(quantise(x, scale, rng) as u8);
        }
    }
    Ok(())
}

/// Reads an int8 block holding exactly `count` values.
pub(crate) fn read_int8(r: &mut Reader<'_>, count: usize) -> Result<Vec<f32>, CodecError> {
    let nseg = r.u32()? as usize;
    // Bound the header allocation by the bytes actually present.
    if nseg > r.remaining() / SEGMENT_HEADER {
        return Err(CodecError::Malformed(format!(
            "int8 block declares {nseg} segments but only {} bytes follow",
            r.remaining()
        )));
    }
    let mut segments = Vec::with_capacity(nseg);
    let mut total = 0usize;
    for _ in 0..nseg {
        let len = r.u32()? as usize;
        let scale = r.f32()?;
        if len == 0 {
            return Err(CodecError::Malformed("empty int8 segment".into()));
        }
        if !(scale.is_finite() && scale >= 0.0) {
            return Err(CodecError::Malformed(format!(
                "int8 scale {scale} is not finite and ≥ 0"
            )));
        }
        total = total.checked_add(len).ok_or_else(too_many)?;
        segments.push((len, scale));
    }
    if total != count {
        return Err(CodecError::Malformed(format!(
            "int8 segments hold {total} values, expected {count}"
        )));
    }
    let codes = r.take(count)?;
    let mut out = Vec::with_capacity(count);
    let mut codes = codes.iter();
    for (len, scale) in segments {
        for &c in codes.by_ref().take(len) {
            let c = c as i8;
            if c == i8::MIN {
                return Err(CodecError::Malformed(
                    "int8 code -128 is outside [-127, 127]".into(),
                ));
            }
            out.push(f32::from(c) * scale);
        }
    }
    Ok(out)
}

fn too_many() -> CodecError {
    CodecError::Malformed("declared size overflows".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn int8_hits_the_extremes_exactly_and_zero_segments_stay_zero() {
        // Prepare: max|x| = 1.27 gives scale 0.01; ±max and 0 are exact codes.
        let values = [1.27, -1.27, 0.0, 0.0, 0.0];
        let mut out = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // Execute
        put_int8(&mut out, &values, &[3, 2], &mut rng).unwrap();
        let decoded = read_int8(&mut Reader::new(&out), 5).unwrap();
        // Assert: 4 (count) + 2×8 (segments) + 5 codes.
        assert_eq!(out.len(), 4 + 16 + 5);
        assert_eq!(out[4 + 16..], [127, (-127i8) as u8, 0, 0, 0]);
        assert!((decoded[0] - 1.27).abs() < 1e-6 && (decoded[1] + 1.27).abs() < 1e-6);
        assert_eq!(&decoded[2..], &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn int8_of_values_near_f32_max_decodes_finite() {
        // Regression (fuzz/codec_decode): max|x| = f32::MAX gave a scale whose
        // product with code 127 overflowed to -inf on decode.
        let values = [1.0, -f32::MAX, f32::MAX, 0.0];
        let mut out = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        put_int8(&mut out, &values, &[4], &mut rng).unwrap();
        let decoded = read_int8(&mut Reader::new(&out), 4).unwrap();
        assert!(decoded.iter().all(|x| x.is_finite()), "{decoded:?}");
        assert!(decoded[1] < -0.99 * f32::MAX && decoded[2] > 0.99 * f32::MAX);
    }

    #[test]
    fn int8_rejects_bad_scales_and_codes() {
        let block = |scale: f32, code: u8| {
            let mut b = 1u32.to_le_bytes().to_vec();
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&scale.to_le_bytes());
            b.push(code);
            b
        };
        assert!(read_int8(&mut Reader::new(&block(0.5, 3)), 1).is_ok());
        for (scale, code) in [(f32::NAN, 1), (f32::INFINITY, 1), (-1.0, 1), (0.5, 0x80)] {
            assert!(read_int8(&mut Reader::new(&block(scale, code)), 1).is_err());
        }
        assert!(read_int8(&mut Reader::new(&block(0.5, 3)), 2).is_err());
    }

    #[test]
    fn fp16_overflow_names_the_coordinate() {
        let err = put_fp16(&mut Vec::new(), &[1.0, 7.0e4], |i| i + 10).unwrap_err();
        assert_eq!(
            err,
            CodecError::Fp16Overflow {
                index: 11,
                value: 7.0e4
            }
        );
    }
}
