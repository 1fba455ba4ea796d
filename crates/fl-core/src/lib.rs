//! # fl-core: the sans-IO heart of the federation
//!
//! `fl-core` holds everything about a federated run that can be decided without
//! touching a network, a disk, a clock or a tensor framework: flat parameter
//! vectors with a named layout, aggregation strategies, the round state machine,
//! update codecs and differential-privacy accounting. It performs **no I/O** and
//! reads **no clock**: time is an argument, randomness is injected.
//!
//! The simulator (`fl-sim`) and the gRPC coordinator (`fl-coordinator`) drive the
//! same [`engine::RoundEngine`]; they differ only in how updates reach it.

pub mod adapt;
pub mod codec;
pub mod engine;
pub mod error;
pub mod params;
pub mod privacy;
pub mod report;
pub mod robust;
pub mod sampling;
pub mod strategies;
pub mod strategy;

pub use error::{AggregateError, ConfigError, UpdateRejected};
pub use params::{Layout, Params, TensorSpec};
