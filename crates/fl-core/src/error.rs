//! Error types of the core. Each variant says when it happens.

use thiserror::Error;

/// A configuration or argument that cannot be used.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConfigError {
    /// A value is out of range or inconsistent; the message names it.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Why the engine refused a client's update. Rejections are outcomes, not bugs:
/// the driver maps them to a transport status and counts them by [`UpdateRejected::reason`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum UpdateRejected {
    /// No round is collecting updates right now.
    #[error("no round is open for updates")]
    NoOpenRound,
    /// The update names another round than the open one.
    #[error("stale update: it is for round {got}, the open round is {expected}")]
    WrongRound {
        /// The open round.
        expected: u64,
        /// The round the update names.
        got: u64,
    },
    /// The update was trained on another model version than the current one.
    #[error("stale update: it was trained on model version {got}, current is {expected}")]
    WrongModelVersion {
        /// The current version.
        expected: u64,
        /// The version the update names.
        got: u64,
    },
    /// The client was not selected for this round.
    #[error("client `{0}` was not selected for this round")]
    NotSelected(String),
    /// The client already submitted in this round.
    #[error("client `{0}` already submitted an update in this round")]
    Duplicate(String),
    /// The update's length does not match the model layout.
    #[error("update has {got} values, the model has {expected}")]
    WrongLength {
        /// Model length.
        expected: usize,
        /// Update length.
        got: usize,
    },
    /// The update contains NaN or infinity.
    #[error("update contains a non-finite value at index {0}")]
    NonFinite(usize),
    /// The update's L2 norm exceeds the configured bound.
    #[error("update L2 norm {norm:.3} exceeds the bound {bound:.3}")]
    NormTooLarge {
        /// Measured norm.
        norm: f64,
        /// Configured bound.
        bound: f64,
    },
    /// The update claims no training examples.
    #[error("update claims zero training examples")]
    NoExamples,
    /// The round's deadline has passed.
    #[error("the round's deadline has passed")]
    TooLate,
}

impl UpdateRejected {
    /// A short, stable label for metrics (`reason` label).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoOpenRound => "no_open_round",
            Self::WrongRound { .. } => "wrong_round",
            Self::WrongModelVersion { .. } => "wrong_model_version",
            Self::NotSelected(_) => "not_selected",
            Self::Duplicate(_) => "duplicate",
            Self::WrongLength { .. } => "wrong_length",
            Self::NonFinite(_) => "non_finite",
            Self::NormTooLarge { .. } => "norm_too_large",
            Self::NoExamples => "no_examples",
            Self::TooLate => "too_late",
        }
    }
}

/// Aggregation could not produce a model.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AggregateError {
    /// Nothing to aggregate.
    #[error("no updates to aggregate")]
    Empty,
    /// The strategy needs more updates than it got (e.g. Krum needs n > 2f + 2).
    #[error("{strategy} needs at least {needed} updates, got {got}")]
    TooFew {
        /// Strategy name.
        strategy: &'static str,
        /// Minimum count.
        needed: usize,
        /// Count received.
        got: usize,
    },
    /// Updates of different lengths.
    #[error("update length {got} differs from {expected}")]
    LengthMismatch {
        /// Expected length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// A parameter is out of range (message names it).
    #[error("invalid aggregation parameter: {0}")]
    Invalid(String),
}
