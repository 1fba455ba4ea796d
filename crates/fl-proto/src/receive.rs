//! Draining tonic streams into verified payloads (the async glue around the reassemblers).

use tonic::{Status, Streaming};

use crate::pb;
use crate::{ChunkError, DownloadedModel, ModelReassembler, UpdateReassembler};

/// Reads the first message of a `SubmitUpdate` stream, which must be the header.
///
/// Check the returned [`UpdateReassembler::header`] (session, round, codec, `num_params`)
/// before calling [`read_update_body`], so a bad update is refused before its data is read.
pub async fn read_update_header(
    stream: &mut Streaming<pb::UpdateChunk>,
    max_total_bytes: u64,
) -> Result<UpdateReassembler, Status> {
    let mut r = UpdateReassembler::new(max_total_bytes);
    match stream.message().await? {
        Some(chunk) => r.push(chunk)?,
        None => return Err(ChunkError::MissingHeader.into()),
    }
    if r.header().is_none() {
        // A data chunk came first; push already refused it, but be explicit.
        return Err(ChunkError::MissingHeader.into());
    }
    Ok(r)
}

/// Reads the rest of a `SubmitUpdate` stream and returns the header and verified payload.
pub async fn read_update_body(
    stream: &mut Streaming<pb::UpdateChunk>,
    mut r: UpdateReassembler,
) -> Result<(pb::UpdateHeader, Vec<u8>), Status> {
    while let Some(chunk) = stream.message().await? {
        r.push(chunk)?;
    }
    Ok(r.finish()?)
}

/// [`read_update_body`] where every chunk must arrive within `idle` of the previous one.
///
/// The outer `Err(Elapsed)` means the peer went quiet (a slow-loris stream holding a
/// connection and buffers); the inner result is [`read_update_body`]'s.
pub async fn read_update_body_idle(
    stream: &mut Streaming<pb::UpdateChunk>,
    mut r: UpdateReassembler,
    idle: std::time::Duration,
) -> Result<Result<(pb::UpdateHeader, Vec<u8>), Status>, tokio::time::error::Elapsed> {
    loop {
        match tokio::time::timeout(idle, stream.message()).await? {
            Ok(Some(chunk)) => {
                if let Err(e) = r.push(chunk) {
                    return Ok(Err(e.into()));
                }
            }
            Ok(None) => break,
            Err(s) => return Ok(Err(s)),
        }
    }
    Ok(r.finish().map_err(Into::into))
}

/// [`read_update_header`] then [`read_update_body`], for servers that check the header later.
pub async fn receive_update(
    stream: &mut Streaming<pb::UpdateChunk>,
    max_total_bytes: u64,
) -> Result<(pb::UpdateHeader, Vec<u8>), Status> {
    let r = read_update_header(stream, max_total_bytes).await?;
    read_update_body(stream, r).await
}

/// Reads a whole `DownloadModel` response stream and verifies it.
pub async fn receive_model(
    stream: &mut Streaming<pb::ModelChunk>,
    max_total_bytes: u64,
) -> Result<DownloadedModel, Status> {
    let mut r = ModelReassembler::new(max_total_bytes);
    while let Some(chunk) = stream.message().await? {
        r.push(chunk)?;
    }
    Ok(r.finish()?)
}
