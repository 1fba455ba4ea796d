//! A bounds-checked, safe wrapper around `gemm::gemm` (the only `unsafe` in this crate).
//!
//! `gemm` takes raw pointers and strides. Every call here first checks that the last
//! element each matrix can touch lies inside its slice, and that the destination's strides
//! map distinct (row, col) pairs to distinct elements, so the raw call cannot read or write
//! out of bounds or race with itself. The destination is a `&mut` slice, so the borrow checker
//! already rules out aliasing with the inputs.
#![allow(unsafe_code)]

/// A read-only strided matrix view: element (r, c) is `data[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major `rows × cols` matrix at the start of `data`.
    pub fn rm(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major `rows × cols` matrix stored in `data` (a `cols × rows` view).
    pub fn rm_t(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows: cols,
            cols: rows,
            rs: 1,
            cs: cols,
        }
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// `dst (m × n, row stride dst_rs, unit column stride) = [dst +] scale · lhs · rhs`.
///
/// With `accumulate == false` the previous content of `dst` is ignored (not read).
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    scale: f32,
    lhs: Mat,
    rhs: Mat,
) {
    let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
    assert_eq!(rhs.rows, k, "inner dimensions differ");
    lhs.check();
    rhs.check();
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst_rs >= n, "destination rows overlap");
    assert!(
        (m - 1) * dst_rs + n <= dst.len(),
        "destination out of bounds"
    );
    // SAFETY: all three views were bounds-checked above; dst rows don't overlap (dst_rs >= n,
    // unit column stride), and `dst` is uniquely borrowed so it cannot alias lhs/rhs. gemm only
    // touches elements (i, j) with i < m, j < n (and l < k for the inputs).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr(),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &Mat, b: &Mat) -> Vec<f32> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for l in 0..a.cols {
                    out[i * b.cols + j] +=
                        a.data[i * a.rs + l * a.cs] * b.data[l * b.rs + j * b.cs];
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_with_transposes_and_accumulation() {
        let a: Vec<f32> = (0..15).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..20).map(|v| (v as f32 * 0.11).cos()).collect();
        let lhs = Mat::rm(&a, 3, 5);
        let rhs = Mat::rm_t(&b, 4, 5); // 5 × 4
        let want = naive(&lhs, &rhs);
        let mut dst = vec![1.0; 12];
        matmul(&mut dst, 4, false, 1.0, lhs, rhs);
        for (d, w) in dst.iter().zip(&want) {
            assert!((d - w).abs() < 1e-5);
        }
        matmul(&mut dst, 4, true, 0.5, lhs, rhs);
        for (d, w) in dst.iter().zip(&want) {
            assert!((d - 1.5 * w).abs() < 1e-5);
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn rejects_out_of_bounds_views() {
        let a = vec![0.0; 5];
        let mut dst = vec![0.0; 4];
        matmul(
            &mut dst,
            2,
            false,
            1.0,
            Mat::rm(&a, 2, 3),
            Mat::rm(&a, 3, 2),
        );
    }
}
