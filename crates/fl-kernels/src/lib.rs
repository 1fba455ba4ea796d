//! Hand-written CPU kernels for local training of the project's reference CNNs.
//!
//! This crate is the hot path of on-device training: forward, backward, per-example
//! gradients and DP-SGD clipping for the two MNIST CNNs ([`Arch::CnnSmall`], the Opacus
//! example, and [`Arch::CnnFedAvg`], McMahan et al. 2017), written directly on im2col + GEMM
//! (the `gemm` crate) with fused bias/activation, cached max-pool indices and rayon
//! parallelism over chunks of the batch. Parameters are one flat `f32` vector in PyTorch
//! `state_dict` order and shapes (see [`NetSpec::layout`]).
//!
//! Entry points: [`NetSpec`] / [`init_params`] describe and initialise a network;
//! [`Network`] runs it ([`Network::forward`], [`Network::evaluate`],
//! [`Network::loss_and_grad`], [`Network::per_example_grads`],
//! [`Network::clipped_grad_sum`] for DP-SGD); [`Sgd`] applies updates; [`ops`] exposes the
//! individual kernels.
//!
//! Design: activations are kept channel-major over a chunk of examples so each convolution
//! is one GEMM per chunk; bias and activation are fused into one pass; tanh is a rational
//! approximation (relative error < 1e-6, see `act.rs`); pooling caches argmax indices; DP
//! clipping uses ghost norms for the dense layers and direct per-example GEMMs for the convs,
//! in a single backward pass. Chunks are spread over the rayon pool with per-group gradient
//! accumulators that are summed in a fixed order, so results do not depend on thread count.
//!
//! ```
//! use fl_kernels::{Activation, Arch, NetSpec, Network, Sgd, init_params};
//! let spec = NetSpec::new(Arch::CnnSmall, Activation::Tanh);
//! let mut params = init_params(&spec, 0);
//! let mut net = Network::new(spec).unwrap();
//! let x = vec![0.1f32; 2 * 28 * 28];
//! let labels = [3u8, 7];
//! let mut grad = vec![0.0; spec.num_params()];
//! let loss = net.loss_and_grad(&params, &x, &labels, &mut grad).unwrap();
//! assert!(loss > 0.0);
//! let mut sgd = Sgd::new(0.05, 0.0, 0.0);
//! sgd.step(&mut params, &grad).unwrap();
//! ```

mod act;
mod chunk;
mod conv;
mod linear;
mod mat;
mod model;
mod net;
pub mod ops;
mod optim;
mod perex;
mod pool;
mod simd;
mod spec;

pub use linear::Linear;
pub use model::Kernels;
pub use net::Network;
pub use optim::Sgd;
pub use spec::{Activation, Arch, ConvCfg, ConvNetConfig, NetSpec, PoolCfg, init_params};

/// Errors from bad arguments (wrong lengths, labels, configurations).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum KernelError {
    /// A slice has the wrong length.
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        /// Which argument.
        what: &'static str,
        /// Required length.
        expected: usize,
        /// Given length.
        got: usize,
    },
    /// A label is not a valid class index.
    #[error("label {label} at index {index} is not below the number of classes {classes}")]
    Label {
        /// Position in the batch.
        index: usize,
        /// The label value.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// The clipping norm is not a positive finite number.
    #[error("max_norm must be positive and finite, got {0}")]
    MaxNorm(f32),
    /// The network configuration has an empty layer or a zero size.
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
}
