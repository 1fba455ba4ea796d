//! Top-k sparsification (Aji & Heafield 2017, "Sparse Communication for
//! Distributed Gradient Descent"; Stich et al. 2018, "Sparsified SGD with
//! Memory"). Top-k is biased: pair it with [`super::ErrorFeedback`] so the
//! dropped mass is sent in later rounds instead of lost.
//!
//! Payload: `u64` k, then the k kept indices in ascending order as LEB128
//! varints of the gap minus one (the first index as is), then the k values.

use rand::Rng;

use super::quant::{put_f32, put_fp16, put_int8, read_f32, read_fp16, read_int8};
use super::wire::{Reader, put_varint};
use super::{CodecError, ValueCodec};
use crate::params::Layout;

/// Indices of the `k` largest-magnitude values, ascending. Ties are broken
/// arbitrarily. O(n) selection (`select_nth_unstable`) plus O(k log k).
pub fn top_k_indices(x: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(x.len());
    let mut idx: Vec<usize> = (0..x.len()).collect();
    if k == 0 {
        return Vec::new();
    }
    if k < x.len() {
        // Descending magnitude: the first k after partitioning are the largest.
        idx.select_nth_unstable_by(k - 1, |&a, &b| x[b].abs().total_cmp(&x[a].abs()));
        idx.truncate(k);
    }
    idx.sort_unstable();
    idx
}

/// Appends the top-k payload of `update`.
pub(crate) fn put_topk(
    out: &mut Vec<u8>,
    update: &[f32],
    layout: &Layout,
    k: usize,
    values: ValueCodec,
    rng: &mut impl Rng,
) -> Result<(), CodecError> {
    let idx = top_k_indices(update, k);
    out.extend_from_slice(&(idx.len() as u64).to_le_bytes());
    let mut next = 0usize;
    for &i in &idx {
        put_varint(out, (i - next) as u64);
        next = i + 1;
    }
    let kept: Vec<f32> = idx.iter().map(|&i| update[i]).collect();
    match values {
        ValueCodec::None => put_f32(out, &kept),
        ValueCodec::Fp16 => put_fp16(out, &kept, |j| idx[j])?,
        ValueCodec::Int8 => {
            // One int8 scale per tensor, over the values kept in that tensor.
            let mut seg_lens = Vec::with_capacity(layout.tensors().len());
            let mut p = 0;
            for t in layout.tensors() {
                let end = t.range().end;
                let len = idx[p..].iter().take_while(|&&i| i < end).count();
                seg_lens.push(len);
                p += len;
            }
            put_int8(out, &kept, &seg_lens, rng)?;
        }
    }
    Ok(())
}

/// Reads a top-k payload into a dense vector of `n` values.
pub(crate) fn read_topk(
    r: &mut Reader<'_>,
    n: usize,
    values: ValueCodec,
) -> Result<Vec<f32>, CodecError> {
    let k = r.u64()?;
    // Every index takes at least one byte: bound k before allocating.
    if k > n as u64 || k > r.remaining() as u64 {
        return Err(CodecError::Malformed(format!(
            "top-k declares {k} kept values for {n} coordinates and {} bytes",
            r.remaining()
        )));
    }
    let k = k as usize;
    let mut idx = Vec::with_capacity(k);
    let mut next = 0u64;
    for _ in 0..k {
        let i = next
            .checked_add(r.varint()?)
            .filter(|&i| i < n as u64)
            .ok_or_else(|| CodecError::Malformed("top-k index out of range".into()))?;
        idx.push(i as usize);
        next = i + 1;
    }
    let kept = match values {
        ValueCodec::None => read_f32(r, k)?,
        ValueCodec::Fp16 => read_fp16(r, k)?,
        ValueCodec::Int8 => read_int8(r, k)?,
    };
    let mut out = vec![0.0f32; n];
    for (i, v) in idx.into_iter().zip(kept) {
        out[i] = v;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_magnitudes_in_index_order() {
        // Prepare
        let x = [0.1, -5.0, 2.0, 0.0, 3.0, -0.2];
        // Execute / Assert
        assert_eq!(top_k_indices(&x, 3), vec![1, 2, 4]);
        assert_eq!(top_k_indices(&x, 1), vec![1]);
        assert_eq!(top_k_indices(&x, 6), vec![0, 1, 2, 3, 4, 5]);
        assert!(top_k_indices(&x, 0).is_empty());
    }

    #[test]
    fn indices_are_gap_encoded() {
        let layout = Layout::new([("w", vec![300])]).unwrap();
        let mut x = vec![0.0f32; 300];
        x[2] = 1.0;
        x[3] = 1.0;
        x[200] = 1.0;
        let mut out = Vec::new();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        put_topk(&mut out, &x, &layout, 3, ValueCodec::None, &mut rng).unwrap();
        // k, then gaps 2, 0, 196 (two varint bytes), then 3 f32.
        assert_eq!(&out[..8], &3u64.to_le_bytes());
        assert_eq!(&out[8..12], &[2, 0, 0xc4, 0x01]);
        assert_eq!(out.len(), 8 + 4 + 12);
        let back = read_topk(&mut Reader::new(&out), 300, ValueCodec::None).unwrap();
        assert_eq!(back, x);
    }
}
