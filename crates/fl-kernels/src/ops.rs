//! The building blocks behind [`Network`](crate::Network), exposed with checked arguments for
//! benchmarks and for callers that assemble other layer stacks.

use crate::KernelError;
use crate::act::tanh_fast;
use crate::conv::{ColScratch, ConvShape};
use crate::mat::Mat;
use crate::pool::PoolShape;

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), KernelError> {
    if got != expected {
        return Err(KernelError::Length {
            what,
            expected,
            got,
        });
    }
    Ok(())
}

/// `v[i] = tanh(v[i])` with the crate's rational approximation (relative error < 1e-6).
pub fn tanh_inplace(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = tanh_fast(*x));
}

/// Row-major `c[m×n] = a[m×k] · b[k×n]` through the same `gemm` call the layers use.
pub fn matmul(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) -> Result<(), KernelError> {
    check_len("a", a.len(), m * k)?;
    check_len("b", b.len(), k * n)?;
    check_len("c", c.len(), m * n)?;
    crate::mat::matmul(c, n, false, 1.0, Mat::rm(a, m, k), Mat::rm(b, k, n));
    Ok(())
}

/// Shape of a square-kernel convolution over `[n, cin, h, w]` inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dShape {
    /// Input channels.
    pub cin: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding per side.
    pub padding: usize,
}

impl Conv2dShape {
    fn inner(&self) -> Result<ConvShape, KernelError> {
        let out = |x: usize| {
            let padded = x + 2 * self.padding;
            (self.kernel > 0 && self.stride > 0 && padded >= self.kernel)
                .then(|| (padded - self.kernel) / self.stride + 1)
        };
        let (Some(oh), Some(ow)) = (out(self.h), out(self.w)) else {
            return Err(KernelError::InvalidConfig(format!(
                "empty convolution output for {self:?}"
            )));
        };
        Ok(ConvShape {
            cin: self.cin,
            h: self.h,
            w: self.w,
            k: self.kernel,
            s: self.stride,
            p: self.padding,
            oh,
            ow,
        })
    }

    /// Output (height, width), or an error when the output would be empty.
    pub fn output(&self) -> Result<(usize, usize), KernelError> {
        self.inner().map(|g| (g.oh, g.ow))
    }
}

/// im2col of `n` NCHW examples into `col[cin·k², n·OH·OW]` (column = example-major position).
pub fn im2col(
    input: &[f32],
    n: usize,
    shape: &Conv2dShape,
    col: &mut [f32],
) -> Result<(), KernelError> {
    let g = shape.inner()?;
    let il = g.cin * g.h * g.w;
    check_len("input", input.len(), n * il)?;
    check_len("col", col.len(), g.kk() * n * g.l())?;
    crate::conv::im2col(input, g.h * g.w, il, n, &g, &mut ColScratch::default(), col);
    Ok(())
}

/// Max pooling (window `kernel`, `stride`, no padding) of `planes` planes of `h × w`, with the
/// flat input index of each maximum. Returns the output (height, width).
pub fn maxpool(
    input: &[f32],
    (h, w): (usize, usize),
    kernel: usize,
    stride: usize,
    out: &mut [f32],
    argmax: &mut [u32],
) -> Result<(usize, usize), KernelError> {
    if kernel == 0 || stride == 0 || h < kernel || w < kernel || h * w == 0 {
        return Err(KernelError::InvalidConfig("empty pooling output".into()));
    }
    if input.len() >= u32::MAX as usize {
        return Err(KernelError::InvalidConfig(
            "input too large for u32 indices".into(),
        ));
    }
    let (oh, ow) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
    let planes = input.len() / (h * w);
    check_len("input", input.len(), planes * h * w)?;
    check_len("out", out.len(), planes * oh * ow)?;
    check_len("argmax", argmax.len(), planes * oh * ow)?;
    let g = PoolShape {
        h,
        w,
        k: kernel,
        s: stride,
        oh,
        ow,
    };
    crate::pool::maxpool_forward(input, &g, out, argmax);
    Ok((oh, ow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_wrappers_validate_and_compute() {
        let mut c = vec![0.0; 4];
        matmul(
            2,
            3,
            2,
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
            &mut c,
        )
        .unwrap();
        assert_eq!(c, vec![4.0, 5.0, 10.0, 11.0]);
        assert!(matmul(2, 3, 2, &[0.0; 5], &[0.0; 6], &mut c).is_err());

        let shape = Conv2dShape {
            cin: 1,
            h: 3,
            w: 3,
            kernel: 2,
            stride: 1,
            padding: 0,
        };
        assert_eq!(shape.output().unwrap(), (2, 2));
        let x: Vec<f32> = (0..9).map(|v| v as f32).collect();
        let mut col = vec![0.0; 4 * 4];
        im2col(&x, 1, &shape, &mut col).unwrap();
        // Row (ky=0, kx=0) holds the top-left corner of each window.
        assert_eq!(&col[..4], &[0.0, 1.0, 3.0, 4.0]);
        assert!(im2col(&x, 2, &shape, &mut col).is_err());
        let bad = Conv2dShape { kernel: 5, ..shape };
        assert!(bad.output().is_err());

        let mut v = vec![0.0, 1.0, -20.0];
        tanh_inplace(&mut v);
        assert!(v[0] == 0.0 && (v[1] - 1f32.tanh()).abs() < 1e-6 && v[2] == -1.0);

        let (mut out, mut idx) = (vec![0.0; 4], vec![0u32; 4]);
        assert_eq!(
            maxpool(&x, (3, 3), 2, 1, &mut out, &mut idx).unwrap(),
            (2, 2)
        );
        assert_eq!(out, vec![4.0, 5.0, 7.0, 8.0]);
        assert!(maxpool(&x, (3, 3), 4, 1, &mut out, &mut idx).is_err());
    }
}
