//! Runtime dispatch to AVX2 code generation for the auto-vectorised loops.
//!
//! The loops are ordinary safe Rust; compiling them inside a `#[target_feature(enable =
//! "avx2")]` function lets LLVM use 8-lane vectors (and `vgatherdps` for table gathers)
//! instead of the SSE2 baseline. Rust never contracts float operations into FMAs, so both
//! paths give bit-identical results.

/// `avx2_dispatch!(pub(crate) fn name(args) => body_fn);` defines `name`, which calls the
/// `#[inline(always)]` function `body_fn` compiled for AVX2 when the CPU supports it, and the
/// baseline build otherwise.
macro_rules! avx2_dispatch {
    ($vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) => $body:path;) => {
        #[allow(unsafe_code)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2, the only requirement of `avx2`, whose
                    // body is safe code.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use avx2_dispatch;

/// `dst[l] = src[tab[l]]`. The `min` keeps every index provably in bounds (so the loop has no
/// per-element branch and can vectorise); tables are built in range, so it never changes a value.
#[inline(always)]
pub(crate) fn gather(dst: &mut [f32], src: &[f32], tab: &[u32]) {
    let last = src.len() - 1;
    for (d, &o) in dst.iter_mut().zip(tab) {
        *d = src[(o as usize).min(last)];
    }
}
