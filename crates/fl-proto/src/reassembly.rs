//! Rebuilding a payload from its chunks, with every check a receiver must make.
//!
//! Memory is bounded: nothing is allocated before a header declares a total length at most
//! `max_total_bytes`, and the buffer then grows with the data received (doubling, never past
//! the declared total), so a peer that declares a large payload and sends little costs little.

use sha2::{Digest, Sha256};

use crate::checksum::{parse_sha256_hex, to_hex};
use crate::{ChunkError, MAX_CHUNK_SIZE};

/// Reassembles one payload: [`begin`](Self::begin) once with the declared length and checksum,
/// [`push`](Self::push) each data chunk in order, then [`finish`](Self::finish).
///
/// On an error the stream should be abandoned; the reassembler's state is left unchanged by
/// the failing call.
#[derive(Debug, Clone)]
pub struct Reassembler {
    max_total: u64,
    declared: Option<Declared>,
    buf: Vec<u8>,
    hasher: Sha256,
}

#[derive(Debug, Clone)]
struct Declared {
    total: u64,
    sha256: [u8; 32],
}

impl Reassembler {
    /// A reassembler that refuses payloads declared longer than `max_total_bytes`.
    pub fn new(max_total_bytes: u64) -> Self {
        Self {
            max_total: max_total_bytes,
            declared: None,
            buf: Vec::new(),
            hasher: Sha256::new(),
        }
    }

    /// The limit given to [`Self::new`].
    pub fn max_total_bytes(&self) -> u64 {
        self.max_total
    }

    /// Declared total length, once [`Self::begin`] succeeded.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared.as_ref().map(|d| d.total)
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.buf.len() as u64
    }

    /// True once the header was seen and all declared bytes arrived.
    pub fn is_complete(&self) -> bool {
        self.declared_len() == Some(self.received())
    }

    /// Records the header: total length in bytes and SHA-256 (64 hex digits) of the payload.
    pub fn begin(&mut self, total_len: u64, sha256_hex: &str) -> Result<(), ChunkError> {
        if self.declared.is_some() {
            return Err(ChunkError::DuplicateHeader);
        }
        let sha256 = parse_sha256_hex(sha256_hex)?;
        if total_len > self.max_total || usize::try_from(total_len).is_err() {
            return Err(ChunkError::TooLarge {
                declared: total_len,
                max: self.max_total,
            });
        }
        self.declared = Some(Declared {
            total: total_len,
            sha256,
        });
        Ok(())
    }

    /// Appends the chunk that starts at byte `offset`.
    pub fn push(&mut self, offset: u64, data: &[u8]) -> Result<(), ChunkError> {
        let Some(declared) = &self.declared else {
            return Err(ChunkError::MissingHeader);
        };
        let (total, received, len) = (declared.total, self.received(), data.len() as u64);
        if received == total {
            return Err(ChunkError::Overflow { offset, len, total });
        }
        if data.is_empty() {
            return Err(ChunkError::Malformed(format!(
                "empty data chunk at offset {offset}"
            )));
        }
        if data.len() > MAX_CHUNK_SIZE {
            return Err(ChunkError::Malformed(format!(
                "chunk of {len} bytes exceeds the {MAX_CHUNK_SIZE}-byte chunk limit"
            )));
        }
        if offset != received {
            return Err(ChunkError::OutOfOrder {
                expected: received,
                got: offset,
            });
        }
        if len > total - received {
            return Err(ChunkError::Overflow { offset, len, total });
        }
        self.reserve(data.len(), total)?;
        self.buf.extend_from_slice(data);
        self.hasher.update(data);
        Ok(())
    }

    /// Grows the buffer for `additional` more bytes: doubling for amortized O(n) copies, but
    /// never past the declared total (checked to fit usize in `begin`).
    fn reserve(&mut self, additional: usize, total: u64) -> Result<(), ChunkError> {
        let needed = self.buf.len() + additional;
        if needed <= self.buf.capacity() {
            return Ok(());
        }
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let target = needed.max(self.buf.capacity().saturating_mul(2)).min(total);
        self.buf
            .try_reserve_exact(target - self.buf.len())
            .map_err(|_| ChunkError::TooLarge {
                declared: total as u64,
                max: self.max_total,
            })
    }

    /// Checks completeness and the checksum, and returns the payload.
    pub fn finish(self) -> Result<Vec<u8>, ChunkError> {
        let Some(declared) = self.declared else {
            return Err(ChunkError::MissingHeader);
        };
        if self.buf.len() as u64 != declared.total {
            return Err(ChunkError::Truncated {
                received: self.buf.len() as u64,
                declared: declared.total,
            });
        }
        let computed: [u8; 32] = self.hasher.finalize().into();
        if computed != declared.sha256 {
            return Err(ChunkError::ChecksumMismatch {
                declared: to_hex(&declared.sha256),
                computed: to_hex(&computed),
            });
        }
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::sha256_hex;

    fn started(payload: &[u8], max: u64) -> Reassembler {
        let mut r = Reassembler::new(max);
        r.begin(payload.len() as u64, &sha256_hex(payload)).unwrap();
        r
    }

    #[test]
    fn reassembles_in_order() {
        let payload: Vec<u8> = (0..100u8).collect();
        let mut r = started(&payload, 1000);
        for (i, c) in payload.chunks(30).enumerate() {
            assert!(!r.is_complete());
            r.push(30 * i as u64, c).unwrap();
        }
        assert!(r.is_complete());
        assert!(
            r.buf.capacity() <= payload.len(),
            "capacity past the declared total"
        );
        assert_eq!(r.finish().unwrap(), payload);
    }

    #[test]
    fn empty_payload_is_complete_at_once() {
        let r = started(&[], 0);
        assert!(r.is_complete());
        assert_eq!(r.finish().unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn header_rules() {
        let mut r = Reassembler::new(10);
        assert_eq!(r.push(0, b"x"), Err(ChunkError::MissingHeader));
        assert_eq!(
            Reassembler::new(10).finish(),
            Err(ChunkError::MissingHeader)
        );
        let sha = sha256_hex(b"0123456789a");
        assert_eq!(
            r.begin(11, &sha),
            Err(ChunkError::TooLarge {
                declared: 11,
                max: 10
            })
        );
        assert!(matches!(
            r.begin(1, "nothex"),
            Err(ChunkError::Malformed(_))
        ));
        r.begin(1, &sha256_hex(b"x")).unwrap();
        assert_eq!(
            r.begin(1, &sha256_hex(b"x")),
            Err(ChunkError::DuplicateHeader)
        );
    }

    #[test]
    fn data_rules() {
        let payload = b"abcdefgh";
        let mut r = started(payload, 100);
        assert!(matches!(r.push(0, b""), Err(ChunkError::Malformed(_))));
        assert_eq!(
            r.push(1, b"bc"),
            Err(ChunkError::OutOfOrder {
                expected: 0,
                got: 1
            })
        );
        r.push(0, b"abcd").unwrap();
        assert_eq!(
            r.push(0, b"abcd"),
            Err(ChunkError::OutOfOrder {
                expected: 4,
                got: 0
            })
        );
        assert_eq!(
            r.push(4, b"efghi"),
            Err(ChunkError::Overflow {
                offset: 4,
                len: 5,
                total: 8
            })
        );
        assert_eq!(
            r.clone().finish(),
            Err(ChunkError::Truncated {
                received: 4,
                declared: 8
            })
        );
        r.push(4, b"efgh").unwrap();
        assert_eq!(
            r.push(8, b"i"),
            Err(ChunkError::Overflow {
                offset: 8,
                len: 1,
                total: 8
            })
        );
        assert_eq!(r.finish().unwrap(), payload);
    }

    #[test]
    fn oversized_chunk_is_refused() {
        let payload = vec![0u8; MAX_CHUNK_SIZE + 1];
        let mut r = started(&payload, u64::MAX);
        assert!(matches!(r.push(0, &payload), Err(ChunkError::Malformed(_))));
        assert_eq!(r.received(), 0);
    }

    #[test]
    fn checksum_mismatch() {
        let mut r = Reassembler::new(100);
        r.begin(3, &sha256_hex(b"abd")).unwrap();
        r.push(0, b"abc").unwrap();
        match r.finish() {
            Err(ChunkError::ChecksumMismatch { declared, computed }) => {
                assert_eq!(declared, sha256_hex(b"abd"));
                assert_eq!(computed, sha256_hex(b"abc"));
            }
            other => panic!("expected a checksum mismatch, got {other:?}"),
        }
    }

    #[test]
    fn huge_declaration_allocates_nothing_up_front() {
        let mut r = Reassembler::new(u64::MAX);
        r.begin(u64::MAX >> 2, &sha256_hex(b""))
            .unwrap_or_else(|e| {
                // 32-bit targets refuse it as too large, which is also fine.
                assert!(matches!(e, ChunkError::TooLarge { .. }));
            });
        if r.declared_len().is_some() {
            r.push(0, b"abc").unwrap();
            assert!(r.buf.capacity() < 1 << 20);
        }
    }
}
