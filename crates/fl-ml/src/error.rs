//! Errors of model, training and file operations.

use thiserror::Error;

/// Something the ML layer could not do.
#[derive(Debug, Error)]
pub enum MlError {
    /// A bad argument or configuration; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The kernels refused their inputs.
    #[error("kernel error: {0}")]
    Kernel(#[from] fl_kernels::KernelError),
    /// A safetensors file could not be read or written.
    #[error("model file {path}: {message}")]
    File {
        /// File path.
        path: String,
        /// What went wrong.
        message: String,
    },
}
