//! Max pooling (no padding, floor mode) with cached argmax for the backward scatter.

/// Shape of one pooling layer applied to `planes` independent `h × w` planes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolShape {
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
    pub oh: usize,
    pub ow: usize,
}

/// `out[p, oy, ox] = max` over the window; `idx` records the flat index into `input` of the
/// first maximal element (PyTorch's tie rule). A NaN only propagates when it is the window's
/// first element (PyTorch propagates any NaN; training has diverged by then either way).
pub(crate) fn maxpool_forward(input: &[f32], g: &PoolShape, out: &mut [f32], idx: &mut [u32]) {
    let (hw, ol) = (g.h * g.w, g.oh * g.ow);
    let planes = out.len() / ol;
    for p in 0..planes {
        let src = &input[p * hw..(p + 1) * hw];
        let dst = &mut out[p * ol..(p + 1) * ol];
        let dix = &mut idx[p * ol..(p + 1) * ol];
        if g.k == 2 && g.s == 1 {
            pool2x2_s1(src, g, p * hw, dst, dix);
            continue;
        }
        for oy in 0..g.oh {
            for ox in 0..g.ow {
                let (y0, x0) = (oy * g.s, ox * g.s);
                let mut best = y0 * g.w + x0;
                let mut m = src[best];
                for dy in 0..g.k {
                    for dx in 0..g.k {
                        let j = (y0 + dy) * g.w + x0 + dx;
                        let v = src[j];
                        if v > m {
                            m = v;
                            best = j;
                        }
                    }
                }
                dst[oy * g.ow + ox] = m;
                dix[oy * g.ow + ox] = (p * hw + best) as u32;
            }
        }
    }
}

/// The 2×2 stride-1 window of the Opacus CNN. Branch-free selects over pre-sliced rows so the
/// loop vectorises; same first-max tie rule as the generic loop.
#[inline]
fn pool2x2_s1(src: &[f32], g: &PoolShape, base: usize, dst: &mut [f32], dix: &mut [u32]) {
    let (w, ow) = (g.w, g.ow);
    let (wu, w1) = (w as u32, w as u32 + 1);
    for oy in 0..g.oh {
        let (r0, r1) = (
            &src[oy * w..oy * w + ow + 1],
            &src[(oy + 1) * w..(oy + 1) * w + ow + 1],
        );
        let (a0, a1, b0, b1) = (&r0[..ow], &r0[1..], &r1[..ow], &r1[1..]);
        let d = &mut dst[oy * ow..(oy + 1) * ow];
        let ix = &mut dix[oy * ow..(oy + 1) * ow];
        let row = (base + oy * w) as u32;
        for ox in 0..ow {
            let (mut m, mut k) = (a0[ox], 0u32);
            if a1[ox] > m {
                (m, k) = (a1[ox], 1);
            }
            if b0[ox] > m {
                (m, k) = (b0[ox], wu);
            }
            if b1[ox] > m {
                (m, k) = (b1[ox], w1);
            }
            d[ox] = m;
            ix[ox] = row + ox as u32 + k;
        }
    }
}

/// `dinput[idx[j]] += dout[j]`; `dinput` must be zeroed by the caller.
pub(crate) fn maxpool_backward(dout: &[f32], idx: &[u32], dinput: &mut [f32]) {
    for (&d, &i) in dout.iter().zip(idx) {
        dinput[i as usize] += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_and_unrolled_paths_agree_and_pick_first_max() {
        let (h, w) = (5, 6);
        let x: Vec<f32> = (0..2 * h * w)
            .map(|v| ((v * 7 % 11) as f32).round())
            .collect();
        let g = PoolShape {
            h,
            w,
            k: 2,
            s: 1,
            oh: 4,
            ow: 5,
        };
        let (mut o1, mut i1) = (vec![0.0; 40], vec![0u32; 40]);
        maxpool_forward(&x, &g, &mut o1, &mut i1);
        for p in 0..2 {
            for oy in 0..4 {
                for ox in 0..5 {
                    let j = p * 20 + oy * 5 + ox;
                    let at = |dy: usize, dx: usize| p * 30 + (oy + dy) * w + ox + dx;
                    let win = [at(0, 0), at(0, 1), at(1, 0), at(1, 1)];
                    let m = win.iter().map(|&k| x[k]).fold(f32::MIN, f32::max);
                    assert_eq!(o1[j], m);
                    let first = *win.iter().find(|&&k| x[k] == m).unwrap();
                    assert_eq!(i1[j] as usize, first);
                }
            }
        }
        let mut d = vec![0.0; x.len()];
        maxpool_backward(&[1.0; 40], &i1, &mut d);
        assert_eq!(d.iter().sum::<f32>(), 40.0);
    }

    #[test]
    fn stride_two_pool() {
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let g = PoolShape {
            h: 4,
            w: 4,
            k: 2,
            s: 2,
            oh: 2,
            ow: 2,
        };
        let (mut o, mut i) = (vec![0.0; 4], vec![0u32; 4]);
        maxpool_forward(&x, &g, &mut o, &mut i);
        assert_eq!(o, vec![5.0, 7.0, 13.0, 15.0]);
        assert_eq!(i, vec![5, 7, 13, 15]);
    }
}
