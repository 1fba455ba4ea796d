//! Model selection: which network (a reference CNN and its activation, or the scattering
//! linear model).

use std::fmt;
use std::str::FromStr;

use fl_core::Layout;
use fl_kernels::{Activation, Arch, NetSpec};

use crate::data::LocalData;
use crate::error::MlError;
use crate::scatter;

/// A model the framework can train.
///
/// - `cnn-small` (default): the CNN of Opacus' MNIST example, 26,010 parameters.
/// - `cnn-fedavg`: the CNN of McMahan et al. 2017, 1,663,370 parameters.
/// - `scatter-linear`: fixed scattering features (Kymatio `Scattering2D(J=2, L=8)`, 81×7×7,
///   group-normalised) and one linear layer, 39,700 parameters: Tramer & Boneh 2021's model
///   for DP-SGD, which needs far fewer noisy steps than a CNN (see [`crate::scatter`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// One of the reference CNNs on raw pixels, with its activation.
    Cnn(NetSpec),
    /// Scattering features of 28×28 images and a linear classifier (no activation).
    ScatterLinear,
}

/// Side of the images `scatter-linear` takes.
pub const SCATTER_SIDE: usize = 28;
/// Classes every model predicts.
pub const CLASSES: usize = 10;

impl ModelSpec {
    /// Builds a spec from a model name and an activation name (the activation must be
    /// valid; `scatter-linear` has none and ignores it).
    pub fn parse(model: &str, activation: &str) -> Result<Self, MlError> {
        let act = match activation {
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            other => {
                return Err(MlError::Invalid(format!(
                    "unknown activation `{other}` (expected tanh or relu)"
                )));
            }
        };
        let arch = match model {
            "cnn-small" => Arch::CnnSmall,
            "cnn-fedavg" => Arch::CnnFedAvg,
            "scatter-linear" => return Ok(Self::ScatterLinear),
            other => {
                return Err(MlError::Invalid(format!(
                    "unknown model `{other}` (expected cnn-small, cnn-fedavg or scatter-linear)"
                )));
            }
        };
        Ok(Self::Cnn(NetSpec::new(arch, act)))
    }

    /// The CNN's kernel-level description (None for `scatter-linear`).
    pub fn net(&self) -> Option<NetSpec> {
        match self {
            Self::Cnn(n) => Some(*n),
            Self::ScatterLinear => None,
        }
    }

    /// The model's name (`cnn-small`, `cnn-fedavg`, `scatter-linear`).
    pub fn model_name(&self) -> &'static str {
        match self {
            Self::Cnn(n) => match n.arch {
                Arch::CnnSmall => "cnn-small",
                Arch::CnnFedAvg => "cnn-fedavg",
                Arch::Custom(_) => "custom",
            },
            Self::ScatterLinear => "scatter-linear",
        }
    }

    /// The activation's name (`none` for the linear model).
    pub fn activation_name(&self) -> &'static str {
        match self {
            Self::Cnn(n) => match n.activation {
                Activation::Tanh => "tanh",
                Activation::Relu => "relu",
            },
            Self::ScatterLinear => "none",
        }
    }

    fn linear() -> fl_kernels::Linear {
        let side = scatter::out_side(SCATTER_SIDE);
        fl_kernels::Linear::new(scatter::CHANNELS * side * side, CLASSES)
            .expect("scatter-linear sizes are valid")
    }

    /// Named layout of the flat parameter vector (PyTorch `state_dict` order).
    pub fn layout(&self) -> Layout {
        let tensors = match self {
            Self::Cnn(n) => n.layout(),
            Self::ScatterLinear => Self::linear().layout(),
        };
        Layout::new(tensors).expect("model layouts are valid")
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Self::Cnn(n) => n.num_params(),
            Self::ScatterLinear => Self::linear().num_params(),
        }
    }

    /// Floats per example the trainer takes: pixels for a CNN, features for `scatter-linear`.
    pub fn input_len(&self) -> usize {
        match self {
            Self::Cnn(n) => n.input_len(),
            Self::ScatterLinear => Self::linear().inputs(),
        }
    }

    /// Freshly initialised parameters, seeded: PyTorch's default uniform init for the CNNs,
    /// zeros for the linear model (a convex problem; the usual start for DP linear models).
    pub fn init(&self, seed: u64) -> Vec<f32> {
        match self {
            Self::Cnn(n) => fl_kernels::init_params(n, seed),
            Self::ScatterLinear => vec![0.0; self.num_params()],
        }
    }

    /// Turns loaded images into what the model trains on: the identity for a CNN, the
    /// scattering features for `scatter-linear`. A fixed per-example function of each image,
    /// so it changes no privacy guarantee. Call once per data set, before training or
    /// evaluating.
    pub fn prepare(&self, data: LocalData) -> Result<LocalData, MlError> {
        match self {
            Self::Cnn(_) => Ok(data),
            Self::ScatterLinear => {
                if data.image_len != SCATTER_SIDE * SCATTER_SIDE {
                    return Err(MlError::Invalid(format!(
                        "scatter-linear takes {SCATTER_SIDE}×{SCATTER_SIDE} images, got {} pixels per example",
                        data.image_len
                    )));
                }
                scatter::scatter_features(&data)
            }
        }
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self::Cnn(NetSpec::new(Arch::CnnSmall, Activation::Tanh))
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cnn(_) => write!(f, "{} ({})", self.model_name(), self.activation_name()),
            Self::ScatterLinear => f.write_str(self.model_name()),
        }
    }
}

impl FromStr for ModelSpec {
    type Err = MlError;
    /// Parses `cnn-small`, `cnn-fedavg`, `scatter-linear`, optionally `:relu` / `:tanh`
    /// (default tanh).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (m, a) = s.split_once(':').unwrap_or((s, "tanh"));
        Self::parse(m, a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_counts_match_the_papers() {
        assert_eq!(
            ModelSpec::parse("cnn-small", "tanh").unwrap().num_params(),
            26_010
        );
        assert_eq!(
            ModelSpec::parse("cnn-fedavg", "relu").unwrap().num_params(),
            1_663_370
        );
        assert_eq!(
            "cnn-small:relu"
                .parse::<ModelSpec>()
                .unwrap()
                .activation_name(),
            "relu"
        );
        assert!("resnet".parse::<ModelSpec>().is_err());
        let s: ModelSpec = "scatter-linear".parse().unwrap();
        assert_eq!(s.num_params(), 81 * 49 * 10 + 10);
        assert_eq!(s.input_len(), 3969);
        assert_eq!(s.layout().len(), 39_700);
        assert!(s.net().is_none());
        assert!(ModelSpec::parse("cnn-small", "gelu").is_err());
    }
}
