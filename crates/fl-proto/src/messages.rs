//! Reassemblers for the two chunked RPCs, on top of [`Reassembler`].

use crate::pb::{self, update_chunk::Kind};
use crate::{ChunkError, Reassembler};

/// Server side of `SubmitUpdate`: feeds [`pb::UpdateChunk`]s, enforcing header-first.
#[derive(Debug, Clone)]
pub struct UpdateReassembler {
    header: Option<pb::UpdateHeader>,
    inner: Reassembler,
}

impl UpdateReassembler {
    /// Refuses updates whose header declares more than `max_total_bytes`.
    pub fn new(max_total_bytes: u64) -> Self {
        Self {
            header: None,
            inner: Reassembler::new(max_total_bytes),
        }
    }

    /// Consumes one message of the stream.
    pub fn push(&mut self, chunk: pb::UpdateChunk) -> Result<(), ChunkError> {
        match chunk.kind {
            None => Err(ChunkError::Malformed(
                "update chunk with neither header nor data".into(),
            )),
            Some(Kind::Header(h)) => {
                self.inner.begin(h.total_len, &h.sha256)?;
                self.header = Some(h);
                Ok(())
            }
            Some(Kind::Data(d)) => self.inner.push(d.offset, &d.data),
        }
    }

    /// The header, once received: check session, round and codec here before the data arrives.
    pub fn header(&self) -> Option<&pb::UpdateHeader> {
        self.header.as_ref()
    }

    /// True once the header and all declared bytes arrived.
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// Bytes of payload received so far.
    pub fn received(&self) -> u64 {
        self.inner.received()
    }

    /// At the end of the stream: the header and the verified payload.
    pub fn finish(self) -> Result<(pb::UpdateHeader, Vec<u8>), ChunkError> {
        let header = self.header.ok_or(ChunkError::MissingHeader)?;
        Ok((header, self.inner.finish()?))
    }
}

/// A model received through `DownloadModel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadedModel {
    /// Version carried by the chunks.
    pub model_version: u64,
    /// SHA-256 (lowercase hex) declared by the chunks and verified against the bytes;
    /// compare it with the task's `model_checksum`.
    pub sha256: String,
    /// The payload: little-endian f32 parameters (see [`crate::le_bytes_to_f32s`]).
    pub bytes: Vec<u8>,
}

/// Client side of `DownloadModel`: the first chunk acts as the header, and every later chunk
/// must repeat its version, total length and checksum.
#[derive(Debug, Clone)]
pub struct ModelReassembler {
    first: Option<(u64, u64, String)>,
    inner: Reassembler,
}

impl ModelReassembler {
    /// Refuses models declared longer than `max_total_bytes`.
    pub fn new(max_total_bytes: u64) -> Self {
        Self {
            first: None,
            inner: Reassembler::new(max_total_bytes),
        }
    }

    /// Consumes one chunk.
    pub fn push(&mut self, chunk: pb::ModelChunk) -> Result<(), ChunkError> {
        match &self.first {
            None => {
                if chunk.offset != 0 {
                    return Err(ChunkError::OutOfOrder {
                        expected: 0,
                        got: chunk.offset,
                    });
                }
                self.inner.begin(chunk.total_len, &chunk.sha256)?;
                self.first = Some((chunk.model_version, chunk.total_len, chunk.sha256));
                // The single, empty chunk of an empty model carries metadata only.
                if chunk.total_len == 0 && chunk.data.is_empty() {
                    return Ok(());
                }
            }
            Some((version, total, sha)) => {
                if chunk.model_version != *version
                    || chunk.total_len != *total
                    || &chunk.sha256 != sha
                {
                    return Err(ChunkError::Malformed(format!(
                        "chunk at offset {} changes the model version, length or checksum",
                        chunk.offset
                    )));
                }
            }
        }
        self.inner.push(chunk.offset, &chunk.data)
    }

    /// True once all declared bytes arrived.
    pub fn is_complete(&self) -> bool {
        self.inner.is_complete()
    }

    /// At the end of the stream: the verified model.
    pub fn finish(self) -> Result<DownloadedModel, ChunkError> {
        let (model_version, _, sha256) = self.first.ok_or(ChunkError::MissingHeader)?;
        Ok(DownloadedModel {
            model_version,
            sha256,
            bytes: self.inner.finish()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;

    fn data(offset: u64, bytes: &'static [u8]) -> pb::UpdateChunk {
        pb::UpdateChunk {
            kind: Some(Kind::Data(pb::DataChunk {
                offset,
                data: bytes.into(),
            })),
        }
    }

    #[test]
    fn update_round_trip_and_header_rules() {
        let payload = Payload::new(vec![5u8; 25]);
        let header = pb::UpdateHeader {
            client_id: "c1".into(),
            ..Default::default()
        };
        let mut r = UpdateReassembler::new(100);
        let mut chunks = payload.update_chunks(header, 10);
        let first = chunks.next().unwrap();
        r.push(first.clone()).unwrap();
        assert_eq!(r.header().map(|h| h.client_id.as_str()), Some("c1"));
        assert_eq!(r.push(first), Err(ChunkError::DuplicateHeader));
        for c in chunks {
            r.push(c).unwrap();
        }
        assert!(r.is_complete());
        let (h, bytes) = r.finish().unwrap();
        assert_eq!((h.total_len, bytes), (25, vec![5u8; 25]));
    }

    #[test]
    fn update_errors() {
        let mut r = UpdateReassembler::new(100);
        assert_eq!(r.push(data(0, b"abc")), Err(ChunkError::MissingHeader));
        assert!(matches!(
            r.push(pb::UpdateChunk { kind: None }),
            Err(ChunkError::Malformed(_))
        ));
        assert_eq!(r.finish(), Err(ChunkError::MissingHeader));
    }

    #[test]
    fn model_round_trip() {
        let payload = Payload::from_f32s(&[0.5; 100]);
        let mut r = ModelReassembler::new(1 << 20);
        for c in payload.model_chunks(4, 64) {
            r.push(c).unwrap();
        }
        let m = r.finish().unwrap();
        assert_eq!((m.model_version, m.sha256.as_str()), (4, payload.sha256()));
        assert_eq!(m.bytes.as_slice(), payload.bytes().as_ref());

        let mut r = ModelReassembler::new(0);
        for c in Payload::new(Vec::new()).model_chunks(1, 64) {
            r.push(c).unwrap();
        }
        assert!(r.finish().unwrap().bytes.is_empty());
    }

    #[test]
    fn model_errors() {
        let payload = Payload::new(vec![1u8; 30]);
        let chunks: Vec<_> = payload.model_chunks(2, 10).collect();
        let mut r = ModelReassembler::new(100);
        assert_eq!(
            r.push(chunks[1].clone()),
            Err(ChunkError::OutOfOrder {
                expected: 0,
                got: 10
            })
        );
        r.push(chunks[0].clone()).unwrap();
        let mut changed = chunks[1].clone();
        changed.model_version = 3;
        assert!(matches!(r.push(changed), Err(ChunkError::Malformed(_))));
        assert_eq!(
            ModelReassembler::new(29).push(chunks[0].clone()),
            Err(ChunkError::TooLarge {
                declared: 30,
                max: 29
            })
        );
        assert_eq!(
            ModelReassembler::new(100).finish(),
            Err(ChunkError::MissingHeader)
        );
        r.push(chunks[1].clone()).unwrap();
        assert_eq!(
            r.finish(),
            Err(ChunkError::Truncated {
                received: 20,
                declared: 30
            })
        );
    }
}
