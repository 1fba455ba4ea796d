//! The trait the coordinator implements to serve the API.

use std::future::Future;
use std::pin::Pin;

use crate::error::ApiError;
use crate::types::{ClientInfo, Command, ModelInfo, PrivacyOverview, RoundInfo, RunStatus};

/// Future returned by [`ControlPlane::model_file`]: the safetensors bytes of a stored model,
/// `Ok(None)` when no model exists for that round.
pub type ModelFileFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>, ApiError>> + Send + 'a>>;

/// What the REST API reads from and sends to the running coordinator.
///
/// Synchronous so that it is dyn-compatible (the router holds an `Arc<dyn ControlPlane>`);
/// implementations answer from in-memory state and must not block. The one method that may
/// need I/O, [`model_file`](Self::model_file), returns a boxed future.
pub trait ControlPlane: Send + Sync + 'static {
    /// Readiness: the store is connected and the round engine is running.
    fn ready(&self) -> bool;
    /// State of the current run.
    fn status(&self) -> RunStatus;
    /// Completed rounds, oldest first.
    fn rounds(&self) -> Vec<RoundInfo>;
    /// One completed round; `None` if it does not exist (yet).
    fn round(&self, round: u64) -> Option<RoundInfo>;
    /// Registered clients.
    fn clients(&self) -> Vec<ClientInfo>;
    /// One client; `None` if unknown.
    fn client(&self, id: &str) -> Option<ClientInfo>;
    /// Differential-privacy configuration and per-client spend.
    fn privacy(&self) -> PrivacyOverview;
    /// Stored global models, oldest first.
    fn models(&self) -> Vec<ModelInfo>;
    /// The safetensors file of the model produced by `round`.
    fn model_file(&self, round: u64) -> ModelFileFuture<'_>;
    /// Applies an operator command and returns the new status.
    ///
    /// # Errors
    /// [`ApiError::Conflict`] when the command is not allowed in the current state (e.g.
    /// `resume` while running, any command once `finished`); other variants for
    /// internal failures.
    fn command(&self, cmd: Command) -> Result<RunStatus, ApiError>;
}
