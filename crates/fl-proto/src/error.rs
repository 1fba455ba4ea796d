//! The one error type of chunk streams, and its mapping to gRPC status codes.

use tonic::{Code, Status};

/// Why a chunk stream (or a byte buffer) was rejected.
///
/// Every variant is caused by the peer's bytes, never by a bug here, so servers return it to
/// the client through [`ChunkError::to_status`]. The messages name offsets and lengths only,
/// never internals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A message or buffer that cannot be interpreted (bad checksum syntax, empty chunk, a
    /// chunk over [`crate::MAX_CHUNK_SIZE`], metadata changing mid-stream, a byte length that
    /// is not a whole number of f32s...).
    #[error("malformed chunk stream: {0}")]
    Malformed(String),
    /// The declared total length is above the receiver's limit (or cannot be allocated).
    #[error("payload of {declared} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Declared total length in bytes.
        declared: u64,
        /// The receiver's limit in bytes.
        max: u64,
    },
    /// Data beyond the declared total length, including any chunk after the payload is complete.
    #[error(
        "chunk at offset {offset} with {len} bytes goes past the declared total of {total} bytes"
    )]
    Overflow {
        /// Offset of the offending chunk.
        offset: u64,
        /// Its length in bytes.
        len: u64,
        /// Declared total length in bytes.
        total: u64,
    },
    /// The stream ended before the declared total length arrived.
    #[error("stream ended after {received} of {declared} bytes")]
    Truncated {
        /// Bytes received.
        received: u64,
        /// Declared total length in bytes.
        declared: u64,
    },
    /// The SHA-256 of the received payload differs from the declared one.
    #[error("SHA-256 mismatch: declared {declared}, received payload has {computed}")]
    ChecksumMismatch {
        /// Declared digest (lowercase hex).
        declared: String,
        /// Digest of the bytes received (lowercase hex).
        computed: String,
    },
    /// Data arrived before the header, or the stream ended without one.
    #[error("stream has no header before its data")]
    MissingHeader,
    /// A second header in the same stream.
    #[error("stream has more than one header")]
    DuplicateHeader,
    /// A chunk whose offset is not where the previous one ended.
    #[error("chunk at offset {got}, expected offset {expected}")]
    OutOfOrder {
        /// The offset the next chunk must have.
        expected: u64,
        /// The offset it had.
        got: u64,
    },
}

impl ChunkError {
    /// The gRPC status code for this error (see the table on `SubmitUpdate` in the .proto).
    pub fn code(&self) -> Code {
        match self {
            Self::Malformed(_) | Self::OutOfOrder { .. } => Code::InvalidArgument,
            Self::MissingHeader | Self::DuplicateHeader => Code::FailedPrecondition,
            Self::TooLarge { .. } => Code::ResourceExhausted,
            Self::Overflow { .. } => Code::OutOfRange,
            Self::Truncated { .. } | Self::ChecksumMismatch { .. } => Code::DataLoss,
        }
    }

    /// The status a server returns for this error: [`Self::code`] plus the error's message.
    pub fn to_status(&self) -> Status {
        Status::new(self.code(), self.to_string())
    }
}

impl From<ChunkError> for Status {
    fn from(e: ChunkError) -> Self {
        e.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_documented_code() {
        let cases = [
            (ChunkError::Malformed("x".into()), Code::InvalidArgument),
            (
                ChunkError::OutOfOrder {
                    expected: 4,
                    got: 8,
                },
                Code::InvalidArgument,
            ),
            (ChunkError::MissingHeader, Code::FailedPrecondition),
            (ChunkError::DuplicateHeader, Code::FailedPrecondition),
            (
                ChunkError::TooLarge {
                    declared: 9,
                    max: 8,
                },
                Code::ResourceExhausted,
            ),
            (
                ChunkError::Overflow {
                    offset: 8,
                    len: 1,
                    total: 8,
                },
                Code::OutOfRange,
            ),
            (
                ChunkError::Truncated {
                    received: 1,
                    declared: 2,
                },
                Code::DataLoss,
            ),
            (
                ChunkError::ChecksumMismatch {
                    declared: "a".into(),
                    computed: "b".into(),
                },
                Code::DataLoss,
            ),
        ];
        for (err, code) in cases {
            let status = Status::from(err.clone());
            assert_eq!(status.code(), code, "{err}");
            assert_eq!(status.message(), err.to_string());
        }
    }
}
