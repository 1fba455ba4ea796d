//! Splitting a payload into the chunk messages of `DownloadModel` and `SubmitUpdate`.
//!
//! Chunks are zero-copy slices of one shared [`Bytes`] buffer, so a coordinator can serve the
//! same model to many clients at once without copying it per client.

use prost::bytes::Bytes;

use crate::MAX_CHUNK_SIZE;
use crate::checksum::sha256_hex;
use crate::floats::f32s_to_le_bytes;
use crate::pb::{self, update_chunk::Kind};

/// One slice of a payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of `data` within the payload.
    pub offset: u64,
    /// The bytes (shares the payload's buffer).
    pub data: Bytes,
}

/// Iterator over the chunks of a payload; see [`chunk_payload`].
#[derive(Debug, Clone)]
pub struct Chunks {
    bytes: Bytes,
    pos: usize,
    size: usize,
}

/// Splits `bytes` into consecutive chunks of `chunk_size` bytes (the last may be shorter).
///
/// `chunk_size` is clamped to `1..=MAX_CHUNK_SIZE` so every chunk fits tonic's default 4 MiB
/// message limit. An empty payload yields no chunks.
pub fn chunk_payload(bytes: Bytes, chunk_size: usize) -> Chunks {
    Chunks {
        bytes,
        pos: 0,
        size: chunk_size.clamp(1, MAX_CHUNK_SIZE),
    }
}

impl Iterator for Chunks {
    type Item = Chunk;

    fn next(&mut self) -> Option<Chunk> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let end = self.bytes.len().min(self.pos + self.size);
        let chunk = Chunk {
            offset: self.pos as u64,
            data: self.bytes.slice(self.pos..end),
        };
        self.pos = end;
        Some(chunk)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.bytes.len() - self.pos).div_ceil(self.size);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Chunks {}

/// A payload (model or encoded update) with its SHA-256 computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    bytes: Bytes,
    sha256: String,
}

impl Payload {
    /// Wraps `bytes` and hashes them.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        let sha256 = sha256_hex(&bytes);
        Self { bytes, sha256 }
    }

    /// The raw payload of a model: `params` as little-endian f32.
    pub fn from_f32s(params: &[f32]) -> Self {
        Self::new(f32s_to_le_bytes(params))
    }

    /// The payload bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// Length in bytes (the wire `total_len`).
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// True for a zero-length payload.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// SHA-256 of the payload, lowercase hex (the wire `sha256` / `model_checksum`).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The `DownloadModel` response stream for this payload as model `model_version`.
    ///
    /// Every chunk repeats the version, total length and checksum. An empty payload still
    /// yields one (empty) chunk so the receiver learns the metadata. Wrap it for tonic with
    /// `tokio_stream::iter(payload.model_chunks(v, DEFAULT_CHUNK_SIZE).map(Ok))`.
    pub fn model_chunks(
        &self,
        model_version: u64,
        chunk_size: usize,
    ) -> impl ExactSizeIterator<Item = pb::ModelChunk> + Send + 'static {
        let (total_len, sha256) = (self.len(), self.sha256.clone());
        let empty = self.bytes.is_empty().then(|| Chunk {
            offset: 0,
            data: Bytes::new(),
        });
        let chunks: Vec<Chunk> = empty
            .into_iter()
            .chain(chunk_payload(self.bytes.clone(), chunk_size))
            .collect();
        chunks.into_iter().map(move |c| pb::ModelChunk {
            model_version,
            offset: c.offset,
            total_len,
            data: c.data,
            sha256: sha256.clone(),
        })
    }

    /// The `SubmitUpdate` request stream: `header` first, then the data chunks.
    ///
    /// The header's `total_len` and `sha256` are overwritten with this payload's values; the
    /// caller fills in everything else (session, round, metrics, codec, `num_params`).
    pub fn update_chunks(
        &self,
        mut header: pb::UpdateHeader,
        chunk_size: usize,
    ) -> impl ExactSizeIterator<Item = pb::UpdateChunk> + Send + 'static {
        header.total_len = self.len();
        header.sha256 = self.sha256.clone();
        let first = pb::UpdateChunk {
            kind: Some(Kind::Header(header)),
        };
        let data = chunk_payload(self.bytes.clone(), chunk_size).map(|c| pb::UpdateChunk {
            kind: Some(Kind::Data(pb::DataChunk {
                offset: c.offset,
                data: c.data,
            })),
        });
        let all: Vec<pb::UpdateChunk> = std::iter::once(first).chain(data).collect();
        all.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_payload_contiguously() {
        let bytes = Bytes::from((0..=255u8).cycle().take(1000).collect::<Vec<_>>());
        let chunks: Vec<Chunk> = chunk_payload(bytes.clone(), 300).collect();
        assert_eq!(
            chunks.iter().map(|c| c.data.len()).collect::<Vec<_>>(),
            [300, 300, 300, 100]
        );
        assert_eq!(
            chunks.iter().map(|c| c.offset).collect::<Vec<_>>(),
            [0, 300, 600, 900]
        );
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        assert_eq!(joined, bytes);
        assert_eq!(chunk_payload(bytes.clone(), 300).len(), 4);
    }

    #[test]
    fn chunk_size_is_clamped() {
        let bytes = Bytes::from(vec![7u8; 3]);
        assert_eq!(chunk_payload(bytes.clone(), 0).count(), 3);
        let big = Bytes::from(vec![0u8; MAX_CHUNK_SIZE + 1]);
        let sizes: Vec<usize> = chunk_payload(big, usize::MAX)
            .map(|c| c.data.len())
            .collect();
        assert_eq!(sizes, [MAX_CHUNK_SIZE, 1]);
        assert_eq!(chunk_payload(Bytes::new(), 10).count(), 0);
    }

    #[test]
    fn model_chunks_repeat_metadata() {
        let p = Payload::from_f32s(&[1.0, 2.0, 3.0]);
        let chunks: Vec<_> = p.model_chunks(7, 5).collect();
        assert_eq!(chunks.len(), 3);
        for c in &chunks {
            assert_eq!(
                (c.model_version, c.total_len, c.sha256.as_str()),
                (7, 12, p.sha256())
            );
        }
        let empty: Vec<_> = Payload::new(Vec::new()).model_chunks(1, 5).collect();
        assert_eq!(empty.len(), 1);
        assert!(empty[0].data.is_empty() && empty[0].total_len == 0);
    }

    #[test]
    fn update_chunks_start_with_filled_header() {
        let p = Payload::new(vec![1u8; 10]);
        let header = pb::UpdateHeader {
            round: 3,
            total_len: 999,
            ..Default::default()
        };
        let chunks: Vec<_> = p.update_chunks(header, 4).collect();
        assert_eq!(chunks.len(), 4);
        match &chunks[0].kind {
            Some(Kind::Header(h)) => {
                assert_eq!(
                    (h.round, h.total_len, h.sha256.as_str()),
                    (3, 10, p.sha256())
                );
            }
            other => panic!("first chunk is not a header: {other:?}"),
        }
        assert!(
            chunks[1..]
                .iter()
                .all(|c| matches!(c.kind, Some(Kind::Data(_))))
        );
    }
}
