//! Float MAX_POOL_2D with AVX2 intrinsics: per output pixel, eight channels per step,
//! the window's in-image taps folded with `max_ps` in tap order. The other poolings
//! compile the reference bodies with AVX2 enabled.
//!
//! TFLite's max is `std::max(acc, x)` from the lowest finite float: the accumulator stays
//! on equal values and on NaN. `_mm256_max_ps(x, acc)` returns `acc` in both cases, so the
//! result is the reference's bit for bit; the clamp lets NaN through as `clamp` does.

use std::arch::x86_64::*;

use super::depthwise::{clamp_ps, ld, st, tail_mask};
use crate::kernels::reference::pool::{pool_f32_body, pool_q8_body, PoolKind, PoolMax, PoolShape};
use crate::kernels::reference::quant_binary::QByte;
use crate::kernels::window::Window2d;

/// Float pooling with AVX2 and FMA: max pooling by the intrinsics below, average pooling
/// by the reference body compiled for these features.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn pool_f32_avx2(s: &PoolShape, input: &[f32], out: &mut [f32], range: (f32, f32)) {
    if s.kind == PoolKind::Max && max_pool_f32_avx2(&s.win, s.channels, input, out, range) {
        return;
    }
    pool_f32_body(s, input, out, range);
}

/// 8-bit pooling: the reference body compiled with AVX2.
#[target_feature(enable = "avx2")]
pub(crate) fn pool_q8_avx2<T: QByte + PoolMax>(
    s: &PoolShape,
    input: &[T],
    out: &mut [T],
    range: (i32, i32),
    scratch: &mut [T],
) {
    pool_q8_body(s, input, out, range, scratch);
}

/// Max pooling of NHWC `input` into `out`. Returns false (and writes nothing) when the
/// buffers do not match the geometry, which the caller has already ruled out.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn max_pool_f32_avx2(
    win: &Window2d,
    c: usize,
    input: &[f32],
    out: &mut [f32],
    range: (f32, f32),
) -> bool {
    let (in_w, out_w) = (win.w.input, win.w.output);
    let image_len = win.h.input * in_w * c;
    if input.len() != win.batch * image_len
        || out.len() != win.batch * win.h.output * out_w * c
        || c == 0
    {
        return false;
    }
    let (lo, hi) = (_mm256_set1_ps(range.0), _mm256_set1_ps(range.1));
    let lowest = _mm256_set1_ps(f32::MIN);
    let all = _mm256_set1_epi32(-1);
    let tail = tail_mask(c % 8);
    let full = c - c % 8;
    let mut at = 0;
    for n in 0..win.batch {
        for ty in &win.h.taps {
            for tx in &win.w.taps {
                let base = n * image_len;
                // SAFETY: AVX2 is enabled on this function, which callers reach only after
                // detecting it. Every tap read is an in-image pixel (the tap ranges) of a
                // checked-length input, each block reads channels cb..cb+8 (or the tail's
                // lanes only) of that pixel, and the output pixel `at` exists.
                unsafe {
                    let mut cb = 0;
                    while cb < c {
                        // With 8 or more channels the last partial block is done as a full
                        // block ending at the last channel: it recomputes a few channels of
                        // the block before (same values) and needs no masked loads or
                        // stores, which are slow on AMD cores.
                        if cb == full && c > 8 {
                            cb = c - 8;
                        }
                        let masked = cb + 8 > c;
                        let mut acc = lowest;
                        for iy in ty.first_input..ty.first_input + (ty.hi - ty.lo) {
                            let row = input.as_ptr().add(base + iy * in_w * c + cb);
                            for ix in tx.first_input..tx.first_input + (tx.hi - tx.lo) {
                                let x = if masked {
                                    ld::<true>(tail, row.add(ix * c))
                                } else {
                                    ld::<false>(all, row.add(ix * c))
                                };
                                acc = _mm256_max_ps(x, acc);
                            }
                        }
                        let r = clamp_ps(acc, lo, hi);
                        let p = out.as_mut_ptr().add(at + cb);
                        if masked {
                            st::<true>(tail, p, r);
                        } else {
                            st::<false>(all, p, r);
                        }
                        cb += 8;
                    }
                }
                at += c;
            }
        }
    }
    true
}
