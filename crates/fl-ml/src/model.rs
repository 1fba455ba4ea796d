//! Model selection: which CNN, which activation.

use std::fmt;
use std::str::FromStr;

use fl_core::Layout;
use fl_kernels::{Activation, Arch, NetSpec};

use crate::error::MlError;

/// A model the framework can train: one of the reference CNNs and an activation.
///
/// - `cnn-small` (default): the CNN of Opacus' MNIST example, 26,010 parameters.
/// - `cnn-fedavg`: the CNN of McMahan et al. 2017, 1,663,370 parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// Kernel-level description (architecture + activation).
    pub net: NetSpec,
}

impl ModelSpec {
    /// Builds a spec from a model name and an activation name.
    pub fn parse(model: &str, activation: &str) -> Result<Self, MlError> {
        let arch = match model {
            "cnn-small" => Arch::CnnSmall,
            "cnn-fedavg" => Arch::CnnFedAvg,
            other => {
                return Err(MlError::Invalid(format!(
                    "unknown model `{other}` (expected cnn-small or cnn-fedavg)"
                )));
            }
        };
        let act = match activation {
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            other => {
                return Err(MlError::Invalid(format!(
                    "unknown activation `{other}` (expected tanh or relu)"
                )));
            }
        };
        Ok(Self {
            net: NetSpec::new(arch, act),
        })
    }

    /// The model's name (`cnn-small`, `cnn-fedavg`).
    pub fn model_name(&self) -> &'static str {
        match self.net.arch {
            Arch::CnnSmall => "cnn-small",
            Arch::CnnFedAvg => "cnn-fedavg",
            Arch::Custom(_) => "custom",
        }
    }

    /// The activation's name.
    pub fn activation_name(&self) -> &'static str {
        match self.net.activation {
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        }
    }

    /// Named layout of the flat parameter vector (PyTorch `state_dict` order).
    pub fn layout(&self) -> Layout {
        Layout::new(self.net.layout()).expect("reference CNN layouts are valid")
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.net.num_params()
    }

    /// Freshly initialised parameters (PyTorch's default uniform init), seeded.
    pub fn init(&self, seed: u64) -> Vec<f32> {
        fl_kernels::init_params(&self.net, seed)
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        Self {
            net: NetSpec::new(Arch::CnnSmall, Activation::Tanh),
        }
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.model_name(), self.activation_name())
    }
}

impl FromStr for ModelSpec {
    type Err = MlError;
    /// Parses `cnn-small`, `cnn-fedavg`, optionally `:relu` / `:tanh` (default tanh).
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
        assert!(ModelSpec::parse("cnn-small", "gelu").is_err());
    }
}
