//! Flat parameter vectors with a named layout.
//!
//! Every model in the framework is, on the wire and in aggregation, one flat
//! `f32` vector. A [`Layout`] names the tensors inside it in PyTorch
//! `state_dict` order (`conv1.weight`, `conv1.bias`, …) so that files and
//! per-tensor codecs can recover the structure.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// One named tensor inside a flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// PyTorch-style name, e.g. `conv1.weight`.
    pub name: String,
    /// Shape, outermost dimension first (PyTorch order).
    pub shape: Vec<usize>,
    /// Offset of the first element in the flat vector.
    pub offset: usize,
}

impl TensorSpec {
    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Element range of this tensor in the flat vector.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.numel()
    }
}

/// The named layout of a flat parameter vector: tensors in order, contiguous.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    tensors: Vec<TensorSpec>,
    len: usize,
}

impl Layout {
    /// Builds a contiguous layout from `(name, shape)` pairs in order.
    ///
    /// Fails on an empty list, a duplicate name or a zero-sized tensor.
    pub fn new<S: Into<String>>(
        tensors: impl IntoIterator<Item = (S, Vec<usize>)>,
    ) -> Result<Self, ConfigError> {
        let mut specs: Vec<TensorSpec> = Vec::new();
        let mut offset = 0usize;
        for (name, shape) in tensors {
            let name = name.into();
            if specs.iter().any(|s| s.name == name) {
                return Err(ConfigError::Invalid(format!(
                    "duplicate tensor name `{name}`"
                )));
            }
            let numel: usize = shape.iter().product();
            if numel == 0 {
                return Err(ConfigError::Invalid(format!(
                    "tensor `{name}` has no elements"
                )));
            }
            specs.push(TensorSpec {
                name,
                shape,
                offset,
            });
            offset += numel;
        }
        if specs.is_empty() {
            return Err(ConfigError::Invalid(
                "a layout needs at least one tensor".into(),
            ));
        }
        Ok(Self {
            tensors: specs,
            len: offset,
        })
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a layout has at least one non-empty tensor.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tensors in order.
    pub fn tensors(&self) -> &[TensorSpec] {
        &self.tensors
    }

    /// Looks a tensor up by name.
    pub fn get(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

/// A flat parameter (or update) vector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// The scalars, in [`Layout`] order.
    pub values: Vec<f32>,
}

impl Params {
    /// Wraps a vector.
    pub fn new(values: Vec<f32>) -> Self {
        Self { values }
    }

    /// A zero vector of `len` scalars.
    pub fn zeros(len: usize) -> Self {
        Self {
            values: vec![0.0; len],
        }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are no scalars.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Checks the vector against a layout.
    pub fn check(&self, layout: &Layout) -> Result<(), ConfigError> {
        if self.values.len() != layout.len() {
            return Err(ConfigError::Invalid(format!(
                "parameter vector has {} values, layout expects {}",
                self.values.len(),
                layout.len()
            )));
        }
        Ok(())
    }

    /// L2 norm, accumulated in f64.
    pub fn l2_norm(&self) -> f64 {
        l2_norm(&self.values)
    }
}

/// L2 norm of a slice, accumulated in f64.
pub fn l2_norm(v: &[f32]) -> f64 {
    v.iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_offsets_are_contiguous() {
        let l = Layout::new([("a.weight", vec![2, 3]), ("a.bias", vec![2])]).unwrap();
        assert_eq!(l.len(), 8);
        assert_eq!(l.get("a.bias").unwrap().range(), 6..8);
        assert!(Layout::new([("a", vec![1]), ("a", vec![2])]).is_err());
        assert!(Layout::new([("a", vec![0])]).is_err());
        assert!(Layout::new(Vec::<(String, Vec<usize>)>::new()).is_err());
    }

    #[test]
    fn params_check_and_norm() {
        let l = Layout::new([("w", vec![2])]).unwrap();
        let p = Params::new(vec![3.0, 4.0]);
        assert!(p.check(&l).is_ok());
        assert_eq!(p.l2_norm(), 5.0);
        assert!(Params::zeros(3).check(&l).is_err());
    }
}
