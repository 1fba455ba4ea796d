//! A client's local data, ready for training: normalised images and labels.

use fl_data::Dataset;

use crate::error::MlError;

/// Normalised images (`[n, 1, 28, 28]` flattened) and labels.
#[derive(Clone, Debug, Default)]
pub struct LocalData {
    /// `n · image_len` normalised pixels.
    pub x: Vec<f32>,
    /// `n` labels in `0..10`.
    pub y: Vec<u8>,
    /// Pixels per example.
    pub image_len: usize,
}

impl LocalData {
    /// Normalises a data set (or a client's subset of one).
    pub fn from_dataset(ds: &Dataset) -> Self {
        Self {
            x: ds.normalized_f32(),
            y: ds.labels().to_vec(),
            image_len: ds.image_len(),
        }
    }

    /// Builds from parts, checking the lengths agree.
    pub fn new(x: Vec<f32>, y: Vec<u8>, image_len: usize) -> Result<Self, MlError> {
        if image_len == 0 || x.len() != y.len() * image_len {
            return Err(MlError::Invalid(format!(
                "{} pixels do not make {} images of {image_len}",
                x.len(),
                y.len()
            )));
        }
        Ok(Self { x, y, image_len })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// True when there are no examples.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Copies the examples at `idx` into the reusable buffers `xb`, `yb`.
    pub fn gather(&self, idx: &[usize], xb: &mut Vec<f32>, yb: &mut Vec<u8>) {
        xb.clear();
        yb.clear();
        for &i in idx {
            xb.extend_from_slice(&self.x[i * self.image_len..(i + 1) * self.image_len]);
            yb.push(self.y[i]);
        }
    }

    /// The first `n` examples (or all).
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.len());
        Self {
            x: self.x[..n * self.image_len].to_vec(),
            y: self.y[..n].to_vec(),
            image_len: self.image_len,
        }
    }
}
