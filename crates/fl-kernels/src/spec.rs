//! Network descriptions: architectures, activations, parameter layout and initialisation.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::KernelError;

/// Hidden-layer activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// Hyperbolic tangent (the Opacus MNIST example's choice).
    Tanh,
    /// Rectified linear unit `max(0, x)`.
    Relu,
}

/// One convolution layer (square kernel, symmetric zero padding, no dilation, one group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvCfg {
    /// Number of output channels.
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
}

/// One max-pooling layer (square window, no padding, floor mode like PyTorch's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolCfg {
    /// Window height and width.
    pub kernel: usize,
    /// Stride in both directions.
    pub stride: usize,
}

/// The shape family both reference CNNs share:
/// `conv1 → act → pool1 → conv2 → act → pool2 → flatten → fc1 → act → fc2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConvNetConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// First convolution.
    pub conv1: ConvCfg,
    /// First pooling.
    pub pool1: PoolCfg,
    /// Second convolution.
    pub conv2: ConvCfg,
    /// Second pooling.
    pub pool2: PoolCfg,
    /// Width of the hidden fully connected layer.
    pub hidden: usize,
    /// Number of classes (logits).
    pub classes: usize,
}

/// Which network to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// The Opacus MNIST example CNN (26,010 parameters).
    CnnSmall,
    /// The CNN of McMahan et al. 2017, "Communication-Efficient Learning of Deep
    /// Networks from Decentralized Data" (1,663,370 parameters).
    CnnFedAvg,
    /// Any network of the same shape family (used by tests to exercise layers on small sizes).
    Custom(ConvNetConfig),
}

impl Arch {
    /// The layer configuration of this architecture.
    pub fn config(&self) -> ConvNetConfig {
        match *self {
            Arch::CnnSmall => ConvNetConfig {
                in_channels: 1,
                in_h: 28,
                in_w: 28,
                conv1: ConvCfg {
                    out_channels: 16,
                    kernel: 8,
                    stride: 2,
                    padding: 3,
                },
                pool1: PoolCfg {
                    kernel: 2,
                    stride: 1,
                },
                conv2: ConvCfg {
                    out_channels: 32,
                    kernel: 4,
                    stride: 2,
                    padding: 0,
                },
                pool2: PoolCfg {
                    kernel: 2,
                    stride: 1,
                },
                hidden: 32,
                classes: 10,
            },
            Arch::CnnFedAvg => ConvNetConfig {
                in_channels: 1,
                in_h: 28,
                in_w: 28,
                conv1: ConvCfg {
                    out_channels: 32,
                    kernel: 5,
                    stride: 1,
                    padding: 2,
                },
                pool1: PoolCfg {
                    kernel: 2,
                    stride: 2,
                },
                conv2: ConvCfg {
                    out_channels: 64,
                    kernel: 5,
                    stride: 1,
                    padding: 2,
                },
                pool2: PoolCfg {
                    kernel: 2,
                    stride: 2,
                },
                hidden: 512,
                classes: 10,
            },
            Arch::Custom(c) => c,
        }
    }
}

/// A network: architecture plus activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetSpec {
    /// Layer shapes.
    pub arch: Arch,
    /// Activation after conv1, conv2 and fc1.
    pub activation: Activation,
}

impl NetSpec {
    /// A spec from its parts.
    pub fn new(arch: Arch, activation: Activation) -> Self {
        Self { arch, activation }
    }

    /// Checks that every layer has a non-empty output; returns the derived shapes.
    pub(crate) fn geometry(&self) -> Result<Geometry, KernelError> {
        Geometry::new(&self.arch.config())
    }

    /// Parameter tensors in PyTorch `state_dict` order with their shapes (row-major).
    pub fn layout(&self) -> Vec<(String, Vec<usize>)> {
        let c = self.arch.config();
        let flat = Geometry::new(&c).map(|g| g.flat).unwrap_or(0);
        let cin2 = c.conv1.out_channels;
        vec![
            (
                "conv1.weight".into(),
                vec![
                    c.conv1.out_channels,
                    c.in_channels,
                    c.conv1.kernel,
                    c.conv1.kernel,
                ],
            ),
            ("conv1.bias".into(), vec![c.conv1.out_channels]),
            (
                "conv2.weight".into(),
                vec![c.conv2.out_channels, cin2, c.conv2.kernel, c.conv2.kernel],
            ),
            ("conv2.bias".into(), vec![c.conv2.out_channels]),
            ("fc1.weight".into(), vec![c.hidden, flat]),
            ("fc1.bias".into(), vec![c.hidden]),
            ("fc2.weight".into(), vec![c.classes, c.hidden]),
            ("fc2.bias".into(), vec![c.classes]),
        ]
    }

    /// Total number of parameters (length of the flat parameter vector).
    pub fn num_params(&self) -> usize {
        self.layout()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }

    /// Number of input floats per example (`C·H·W`).
    pub fn input_len(&self) -> usize {
        let c = self.arch.config();
        c.in_channels * c.in_h * c.in_w
    }

    /// Number of classes (logits per example).
    pub fn classes(&self) -> usize {
        self.arch.config().classes
    }
}

/// PyTorch's default initialisation: every weight and bias of a layer with fan-in `f` is drawn
/// from U(-1/√f, 1/√f) (kaiming-uniform with a = √5 gives exactly this bound for weights).
/// Deterministic for a given `seed` (ChaCha8), but not bit-identical to PyTorch's generator.
pub fn init_params(spec: &NetSpec, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(spec.num_params());
    let layout = spec.layout();
    // Layers come in (weight, bias) pairs; the fan-in is the weight's size per output unit.
    for pair in layout.chunks(2) {
        let w = &pair[0].1;
        let fan_in: usize = w[1..].iter().product();
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        for (_, shape) in pair {
            let len: usize = shape.iter().product();
            out.extend((0..len).map(|_| rng.random_range(-bound..=bound)));
        }
    }
    out
}

/// Output size of a convolution or pooling along one axis (floor mode), `None` if empty.
fn out_len(input: usize, kernel: usize, stride: usize, padding: usize) -> Option<usize> {
    let padded = input + 2 * padding;
    if kernel == 0 || stride == 0 || padded < kernel {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

/// Shapes derived from a [`ConvNetConfig`] plus the parameter offsets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub cfg: ConvNetConfig,
    /// Input channels / height / width.
    pub c0: usize,
    pub h0: usize,
    pub w0: usize,
    /// conv1 output.
    pub c1: usize,
    pub h1: usize,
    pub w1: usize,
    /// pool1 output.
    pub h1p: usize,
    pub w1p: usize,
    /// conv2 output.
    pub c2: usize,
    pub h2: usize,
    pub w2: usize,
    /// pool2 output.
    pub h2p: usize,
    pub w2p: usize,
    /// Flattened features, hidden width, classes.
    pub flat: usize,
    pub hidden: usize,
    pub classes: usize,
    /// Offsets into the flat parameter vector.
    pub off: Offsets,
}

/// Start of each parameter tensor in the flat vector (PyTorch state_dict order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offsets {
    pub conv1_w: usize,
    pub conv1_b: usize,
    pub conv2_w: usize,
    pub conv2_b: usize,
    pub fc1_w: usize,
    pub fc1_b: usize,
    pub fc2_w: usize,
    pub fc2_b: usize,
    pub total: usize,
}

impl Geometry {
    pub fn new(c: &ConvNetConfig) -> Result<Self, KernelError> {
        let bad = |what: &str| KernelError::InvalidConfig(format!("{what} is empty or invalid"));
        if c.in_channels == 0 || c.conv1.out_channels == 0 || c.conv2.out_channels == 0 {
            return Err(bad("a channel count"));
        }
        if c.hidden == 0 || c.classes == 0 {
            return Err(bad("a fully connected width"));
        }
        let (k1, s1, p1) = (c.conv1.kernel, c.conv1.stride, c.conv1.padding);
        let h1 = out_len(c.in_h, k1, s1, p1).ok_or_else(|| bad("conv1 output"))?;
        let w1 = out_len(c.in_w, k1, s1, p1).ok_or_else(|| bad("conv1 output"))?;
        let h1p =
            out_len(h1, c.pool1.kernel, c.pool1.stride, 0).ok_or_else(|| bad("pool1 output"))?;
        let w1p =
            out_len(w1, c.pool1.kernel, c.pool1.stride, 0).ok_or_else(|| bad("pool1 output"))?;
        let (k2, s2, p2) = (c.conv2.kernel, c.conv2.stride, c.conv2.padding);
        let h2 = out_len(h1p, k2, s2, p2).ok_or_else(|| bad("conv2 output"))?;
        let w2 = out_len(w1p, k2, s2, p2).ok_or_else(|| bad("conv2 output"))?;
        let h2p =
            out_len(h2, c.pool2.kernel, c.pool2.stride, 0).ok_or_else(|| bad("pool2 output"))?;
        let w2p =
            out_len(w2, c.pool2.kernel, c.pool2.stride, 0).ok_or_else(|| bad("pool2 output"))?;
        let (c0, c1, c2) = (c.in_channels, c.conv1.out_channels, c.conv2.out_channels);
        let flat = c2 * h2p * w2p;
        let mut off = Offsets {
            conv1_w: 0,
            conv1_b: c1 * c0 * k1 * k1,
            conv2_w: 0,
            conv2_b: 0,
            fc1_w: 0,
            fc1_b: 0,
            fc2_w: 0,
            fc2_b: 0,
            total: 0,
        };
        off.conv2_w = off.conv1_b + c1;
        off.conv2_b = off.conv2_w + c2 * c1 * k2 * k2;
        off.fc1_w = off.conv2_b + c2;
        off.fc1_b = off.fc1_w + c.hidden * flat;
        off.fc2_w = off.fc1_b + c.hidden;
        off.fc2_b = off.fc2_w + c.classes * c.hidden;
        off.total = off.fc2_b + c.classes;
        Ok(Self {
            cfg: *c,
            c0,
            h0: c.in_h,
            w0: c.in_w,
            c1,
            h1,
            w1,
            h1p,
            w1p,
            c2,
            h2,
            w2,
            h2p,
            w2p,
            flat,
            hidden: c.hidden,
            classes: c.classes,
            off,
        })
    }

    /// Floats per input example.
    pub fn input_len(&self) -> usize {
        self.c0 * self.h0 * self.w0
    }

    /// Spatial sizes of the conv outputs and pool outputs.
    pub fn l1(&self) -> usize {
        self.h1 * self.w1
    }

    pub fn l1p(&self) -> usize {
        self.h1p * self.w1p
    }

    pub fn l2(&self) -> usize {
        self.h2 * self.w2
    }

    pub fn l2p(&self) -> usize {
        self.h2p * self.w2p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_pytorch() {
        let small = NetSpec::new(Arch::CnnSmall, Activation::Tanh);
        assert_eq!(small.num_params(), 26_010);
        let g = small.geometry().unwrap();
        assert_eq!((g.h1, g.h1p, g.h2, g.h2p, g.flat), (14, 13, 5, 4, 512));
        assert_eq!(g.off.total, 26_010);
        let fedavg = NetSpec::new(Arch::CnnFedAvg, Activation::Relu);
        assert_eq!(fedavg.num_params(), 1_663_370);
        assert_eq!(fedavg.geometry().unwrap().flat, 3136);
    }

    #[test]
    fn init_is_deterministic_and_bounded() {
        let spec = NetSpec::new(Arch::CnnSmall, Activation::Tanh);
        let a = init_params(&spec, 7);
        assert_eq!(a, init_params(&spec, 7));
        assert_ne!(a, init_params(&spec, 8));
        // conv1 fan-in 64 → bound 1/8; fc2 fan-in 32 → bound 1/√32.
        let g = spec.geometry().unwrap();
        assert!(a[..g.off.conv2_w].iter().all(|v| v.abs() <= 0.125));
        assert!(a[..g.off.conv2_w].iter().any(|v| v.abs() > 0.1));
        let b2 = 1.0 / 32f32.sqrt();
        assert!(a[g.off.fc2_w..].iter().all(|v| v.abs() <= b2));
    }

    #[test]
    fn empty_layers_are_rejected() {
        let mut c = Arch::CnnSmall.config();
        c.conv2.kernel = 20;
        assert!(matches!(
            Geometry::new(&c),
            Err(KernelError::InvalidConfig(_))
        ));
        c = Arch::CnnSmall.config();
        c.pool1.stride = 0;
        assert!(Geometry::new(&c).is_err());
    }
}
