//! f32 parameters <-> little-endian bytes, the raw payload format of models and updates.

use crate::ChunkError;

/// Encodes `values` as little-endian f32 bytes (4 bytes per value, bit-exact, NaNs included).
pub fn f32s_to_le_bytes(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes little-endian f32 bytes. Fails when the length is not a multiple of 4.
pub fn le_bytes_to_f32s(bytes: &[u8]) -> Result<Vec<f32>, ChunkError> {
    check_multiple_of_4(bytes)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Decodes little-endian f32 bytes into `out`, which must hold exactly `bytes.len() / 4`
/// values (e.g. a model of the length the task announced).
pub fn le_bytes_into_f32s(bytes: &[u8], out: &mut [f32]) -> Result<(), ChunkError> {
    check_multiple_of_4(bytes)?;
    if bytes.len() / 4 != out.len() {
        return Err(ChunkError::Malformed(format!(
            "expected {} f32 values, payload holds {}",
            out.len(),
            bytes.len() / 4
        )));
    }
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
    Ok(())
}

fn check_multiple_of_4(bytes: &[u8]) -> Result<(), ChunkError> {
    if bytes.len().is_multiple_of(4) {
        Ok(())
    } else {
        Err(ChunkError::Malformed(format!(
            "{} bytes is not a whole number of f32 values",
            bytes.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact() {
        let nan = f32::from_bits(0x7fc0_1234);
        let values = [
            0.0,
            -0.0,
            1.5,
            -3.25e-30,
            f32::INFINITY,
            f32::MIN_POSITIVE,
            nan,
        ];
        let bytes = f32s_to_le_bytes(&values);
        assert_eq!(bytes.len(), 4 * values.len());
        // 1.5 = 0x3fc00000, little-endian on the wire.
        assert_eq!(&bytes[8..12], &[0x00, 0x00, 0xc0, 0x3f]);
        let back = le_bytes_to_f32s(&bytes).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&values));
        let mut out = vec![0.0; values.len()];
        le_bytes_into_f32s(&bytes, &mut out).unwrap();
        assert_eq!(bits(&out), bits(&values));
    }

    #[test]
    fn length_checks() {
        assert!(matches!(
            le_bytes_to_f32s(&[0; 7]),
            Err(ChunkError::Malformed(_))
        ));
        assert_eq!(le_bytes_to_f32s(&[]).unwrap(), Vec::<f32>::new());
        let mut out = [0.0f32; 3];
        assert!(matches!(
            le_bytes_into_f32s(&[0; 8], &mut out),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            le_bytes_into_f32s(&[0; 13], &mut out),
            Err(ChunkError::Malformed(_))
        ));
        assert!(le_bytes_into_f32s(&[0; 12], &mut out).is_ok());
    }
}
