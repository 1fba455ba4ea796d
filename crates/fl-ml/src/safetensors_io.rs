//! Model files: safetensors with PyTorch `state_dict` names.
//!
//! A file written here loads in PyTorch with
//! `model.load_state_dict(safetensors.torch.load_file(path))` for the same
//! architecture: names `conv1.weight`, `conv1.bias`, …, shapes in PyTorch
//! order, dtype F32.

use std::collections::HashMap;
use std::path::Path;

use fl_core::Layout;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::MlError;

/// Serialises a flat parameter vector to safetensors bytes, with `metadata`
/// (e.g. model name, round) in the header.
pub fn to_bytes(
    layout: &Layout,
    params: &[f32],
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, MlError> {
    if params.len() != layout.len() {
        return Err(MlError::Invalid(format!(
            "{} values for a layout of {}",
            params.len(),
            layout.len()
        )));
    }
    let bytes: &[u8] = bytemuck::cast_slice(params);
    let views: Vec<(String, TensorView<'_>)> = layout
        .tensors()
        .iter()
        .map(|t| {
            let r = t.range();
            let view = TensorView::new(Dtype::F32, t.shape.clone(), &bytes[r.start * 4..r.end * 4])
                .map_err(|e| MlError::Invalid(format!("tensor {}: {e}", t.name)))?;
            Ok((t.name.clone(), view))
        })
        .collect::<Result<_, MlError>>()?;
    safetensors::serialize(views, metadata).map_err(|e| MlError::Invalid(format!("serialize: {e}")))
}

/// Parses safetensors bytes into a flat vector in `layout` order. Every tensor
/// of the layout must be present with the right shape and dtype F32; extra
/// tensors are an error too (a different architecture).
pub fn from_bytes(layout: &Layout, bytes: &[u8]) -> Result<Vec<f32>, MlError> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| MlError::Invalid(format!("not a safetensors file: {e}")))?;
    let mut out = vec![0.0f32; layout.len()];
    for t in layout.tensors() {
        let view = st
            .tensor(&t.name)
            .map_err(|_| MlError::Invalid(format!("missing tensor `{}`", t.name)))?;
        if view.dtype() != Dtype::F32 {
            return Err(MlError::Invalid(format!(
                "tensor `{}` is {:?}, expected F32",
                t.name,
                view.dtype()
            )));
        }
        if view.shape() != t.shape.as_slice() {
            return Err(MlError::Invalid(format!(
                "tensor `{}` has shape {:?}, expected {:?}",
                t.name,
                view.shape(),
                t.shape
            )));
        }
        let dst = &mut out[t.range()];
        for (d, c) in dst.iter_mut().zip(view.data().chunks_exact(4)) {
            *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
    }
    if st.len() != layout.tensors().len() {
        let extra: Vec<String> = st
            .names()
            .into_iter()
            .filter(|n| layout.get(n).is_none())
            .map(str::to_string)
            .collect();
        return Err(MlError::Invalid(format!("unexpected tensors {extra:?}")));
    }
    Ok(out)
}

/// Writes a model file (atomically: temp file + rename).
pub fn save(
    path: &Path,
    layout: &Layout,
    params: &[f32],
    metadata: Option<HashMap<String, String>>,
) -> Result<(), MlError> {
    let bytes = to_bytes(layout, params, metadata)?;
    let err = |e: std::io::Error| MlError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// Reads a model file.
pub fn load(path: &Path, layout: &Layout) -> Result<Vec<f32>, MlError> {
    let bytes = std::fs::read(path).map_err(|e| MlError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    from_bytes(layout, &bytes).map_err(|e| MlError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
