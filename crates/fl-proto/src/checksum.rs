//! SHA-256 digests as the lowercase hex strings carried on the wire.

use sha2::{Digest, Sha256};

use crate::ChunkError;

/// Length of a SHA-256 digest in hex characters.
pub const SHA256_HEX_LEN: usize = 64;

/// SHA-256 of `bytes` as 64 lowercase hex characters (the wire form of every checksum).
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes).into())
}

/// Lowercase hex of a 32-byte digest.
pub(crate) fn to_hex(digest: &[u8; 32]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(SHA256_HEX_LEN);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s
}

/// Parses a declared checksum: exactly 64 hex digits (either case accepted).
pub fn parse_sha256_hex(s: &str) -> Result<[u8; 32], ChunkError> {
    let bytes = s.as_bytes();
    if bytes.len() != SHA256_HEX_LEN {
        return Err(ChunkError::Malformed(format!(
            "sha256 must be {SHA256_HEX_LEN} hex characters, got {}",
            bytes.len()
        )));
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Ok(out)
}

fn nibble(c: u8) -> Result<u8, ChunkError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(ChunkError::Malformed(
            "sha256 contains a non-hex character".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vector_and_round_trip() {
        // FIPS 180-2 test vector for "abc".
        let hex = sha256_hex(b"abc");
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(to_hex(&parse_sha256_hex(&hex).unwrap()), hex);
        assert_eq!(
            parse_sha256_hex(&hex.to_uppercase()).unwrap(),
            parse_sha256_hex(&hex).unwrap()
        );
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(matches!(
            parse_sha256_hex(""),
            Err(ChunkError::Malformed(_))
        ));
        assert!(matches!(
            parse_sha256_hex(&"a".repeat(63)),
            Err(ChunkError::Malformed(_))
        ));
        let mut bad = "0".repeat(63);
        bad.push('g');
        assert!(matches!(
            parse_sha256_hex(&bad),
            Err(ChunkError::Malformed(_))
        ));
        // Multi-byte UTF-8 of the right byte length must not panic either.
        assert!(parse_sha256_hex(&"é".repeat(32)).is_err());
    }
}
