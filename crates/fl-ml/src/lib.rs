//! # fl-ml: models, local training and evaluation
//!
//! The client side of a federated round: a CNN ([`ModelSpec`]), a local
//! trainer that turns a global model and a private data shard into an update
//! ([`LocalTrainer`]), DP-SGD with per-example clipping and Gaussian noise,
//! evaluation, and safetensors files with PyTorch names.
//!
//! Two interchangeable backends compute gradients:
//! - [`Backend::Native`] (default): `fl-kernels`, hand-written im2col + GEMM
//!   kernels with per-example gradients computed inside the backward pass;
//! - [`Backend::Burn`]: the same networks written with burn 0.22 tensor ops on
//!   the `flex` CPU backend (any burn device works), used as the reference the
//!   native kernels are checked against, and the route to GPU backends.
//!
//! Both see the model as one flat `f32` vector in PyTorch `state_dict` order,
//! which is exactly what `fl-core` aggregates.

pub mod burn_net;
pub mod data;
pub mod dp;
pub mod error;
pub mod model;
pub mod safetensors_io;
pub mod scatter;
pub mod trainer;

pub use data::LocalData;
pub use dp::DpSgd;
pub use error::MlError;
pub use model::ModelSpec;
pub use trainer::{Backend, EvalOutcome, LocalTrainer, TrainOutcome};
