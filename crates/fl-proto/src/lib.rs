//! fl-proto: the gRPC protocol of the federation (`package fl.v1`, see
//! `proto/fl/v1/federation.proto` at the repository root) and transport-independent helpers
//! for moving models and updates of any size through it.
//!
//! [`pb`] holds the generated messages and the tonic `FederationClient` / `FederationServer`.
//! Payloads larger than one gRPC message travel as ordered chunks: build them with
//! [`Payload::model_chunks`] / [`Payload::update_chunks`] and rebuild them with
//! [`ModelReassembler`] / [`UpdateReassembler`] (or the async [`receive_model`] /
//! [`receive_update`]), which check order, length bounds and SHA-256 and never allocate more
//! than the declared, bounded total. Stream errors are [`ChunkError`]s, which map to gRPC
//! status codes through [`ChunkError::to_status`].
//!
//! ```
//! use fl_proto::{ChunkError, ModelReassembler, Payload, DEFAULT_CHUNK_SIZE, le_bytes_to_f32s};
//!
//! let model = Payload::from_f32s(&[0.25; 1000]);
//! let mut rx = ModelReassembler::new(1 << 20);
//! for chunk in model.model_chunks(3, DEFAULT_CHUNK_SIZE) {
//!     rx.push(chunk)?;
//! }
//! let got = rx.finish()?;
//! assert_eq!(got.model_version, 3);
//! assert_eq!(le_bytes_to_f32s(&got.bytes)?, vec![0.25; 1000]);
//! # Ok::<(), ChunkError>(())
//! ```

mod checksum;
mod chunk;
mod error;
mod floats;
mod messages;
mod reassembly;
mod receive;

/// Generated protobuf messages and tonic client/server for `package fl.v1`.
///
/// Field documentation comes from the comments in the .proto file.
pub mod pb {
    tonic::include_proto!("fl.v1");
}

pub use checksum::{SHA256_HEX_LEN, parse_sha256_hex, sha256_hex};
pub use chunk::{Chunk, Chunks, Payload, chunk_payload};
pub use error::ChunkError;
pub use floats::{f32s_to_le_bytes, le_bytes_into_f32s, le_bytes_to_f32s};
pub use messages::{DownloadedModel, ModelReassembler, UpdateReassembler};
pub use reassembly::Reassembler;
pub use receive::{
    read_update_body, read_update_body_idle, read_update_header, receive_model, receive_update,
};

/// Protocol version this crate speaks (`RegisterRequest.protocol_version`). Bumped only for
/// changes a v1 peer could misread; additive proto changes keep it.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default data bytes per chunk (1 MiB).
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Largest data bytes per chunk (3 MiB): leaves room for the other fields and framing under
/// tonic's default 4 MiB decode limit, so no server needs to raise it.
pub const MAX_CHUNK_SIZE: usize = 3 << 20;

/// A suggested `max_total_bytes` for reassemblers (256 MiB, about 67 M f32 parameters).
pub const DEFAULT_MAX_PAYLOAD_BYTES: u64 = 256 << 20;
