//! The coordinator's error type.

use thiserror::Error;

/// Why the coordinator could not start or had to stop.
#[derive(Debug, Error)]
pub enum CoordinatorError {
    /// Bad configuration or arguments; the message names the key.
    #[error("configuration error: {0}")]
    Config(String),
    /// Database or session store failure.
    #[error("storage error: {0}")]
    Store(String),
    /// Evaluation data could not be loaded.
    #[error("data error: {0}")]
    Data(String),
    /// Socket or file failure.
    #[error("I/O error: {0}")]
    Io(String),
    /// A stored checkpoint does not fit this run.
    #[error("cannot resume: {0}")]
    Resume(String),
}

impl From<fl_store::StoreError> for CoordinatorError {
    fn from(e: fl_store::StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<fl_store::SessionError> for CoordinatorError {
    fn from(e: fl_store::SessionError) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<std::io::Error> for CoordinatorError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
}
