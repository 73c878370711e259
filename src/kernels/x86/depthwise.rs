//! Float DEPTHWISE_CONV_2D with AVX2 + FMA intrinsics, for a depth multiplier of 1 (every
//! published depthwise layer we run; other multipliers keep the auto-vectorised body).
//!
//! The reference accumulates into the output pixel tap by tap, which loads and stores
//! the output once per tap. Here the accumulators live in registers: up to `TILE`
//! neighbouring output pixels x 16 channels, so each filter vector loaded for a tap
//! feeds `TILE` multiply-adds. Interior pixels (all taps inside the image) take the
//! tiled path; border pixels run one at a time over their in-image taps only.
//!
//! Per output value the arithmetic is the reference's exactly: a zero start, one fused
//! multiply-add per tap in (ky, kx) order, then the bias, then the clamp; the results are
//! bit-identical to the auto-vectorised FMA body.

use std::arch::x86_64::*;

use crate::kernels::reference::conv::{depthwise_f32_body, DepthwiseShape};
use crate::kernels::window::TapRange;

/// Output pixels of one row computed together in the interior.
const TILE: usize = 4;

/// Everything fixed for one call, as raw pointers whose extents were checked against
/// the shape on entry.
struct Dw {
    c: usize,
    in_w: usize,
    k_w: usize,
    stride_w: usize,
    dil_h: usize,
    dil_w: usize,
    filter: *const f32,
    bias: Option<*const f32>,
    lo: __m256,
    hi: __m256,
}

/// Lanes `0..valid` on (`valid <= 8`), for masked loads and stores of a channel tail:
/// eight words of a sliding window over on-then-off words, one load.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tail_mask(valid: usize) -> __m256i {
    static WORDS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];
    let from = 8 - valid.min(8);
    // SAFETY: from + 8 <= 16 words.
    unsafe { _mm256_loadu_si256(WORDS.as_ptr().add(from).cast::<__m256i>()) }
}

/// TFLite's clamp, NaN passing through: `max_ps(a, b)` returns `b` when either is NaN,
/// so the value goes second.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn clamp_ps(x: __m256, lo: __m256, hi: __m256) -> __m256 {
    _mm256_min_ps(hi, _mm256_max_ps(lo, x))
}

/// Eight lanes at `p`, or only the lanes of `mask`.
///
/// # Safety
/// AVX2 is present and the lanes read lie inside one buffer.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn ld<const MASKED: bool>(mask: __m256i, p: *const f32) -> __m256 {
    if MASKED {
        _mm256_maskload_ps(p, mask)
    } else {
        _mm256_loadu_ps(p)
    }
}

/// Stores the lanes of `mask` (all eight unless `MASKED`; a masked mask is a prefix, as
/// [`tail_mask`] makes). The tail is written in 4-, 2- and 1-lane pieces: `vmaskmovps` to memory
/// is microcoded and slow on AMD cores, and a tail store happens once per pixel.
///
/// # Safety
/// AVX2 is present and the lanes written lie inside one buffer.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn st<const MASKED: bool>(mask: __m256i, p: *mut f32, v: __m256) {
    if MASKED {
        // Four, two, then one lane (a byte loop here would become a memcpy call).
        let mut n = _mm256_movemask_ps(_mm256_castsi256_ps(mask)).count_ones();
        let mut p = p;
        let mut low = _mm256_castps256_ps128(v);
        if n >= 4 {
            _mm_storeu_ps(p, low);
            low = _mm256_extractf128_ps(v, 1);
            p = p.add(4);
            n -= 4;
        }
        if n >= 2 {
            _mm_storel_epi64(p.cast::<__m128i>(), _mm_castps_si128(low));
            low = _mm_movehl_ps(low, low);
            p = p.add(2);
            n -= 2;
        }
        if n == 1 {
            _mm_store_ss(p, low);
        }
    } else {
        _mm256_storeu_ps(p, v)
    }
}

/// `T` output pixels, one block of `V` x 8 channels starting at channel `cb`, over the
/// filter rows `ty` and columns `kx0..kx1`. `row0` points at the input row of tap
/// `ty.lo`, at the column of tap `kx0` of the first pixel and channel `cb`; pixel `t`
/// starts `t * stride_w` columns further. `out` points at the first pixel's channel `cb`.
///
/// # Safety
/// AVX2 and FMA are present; every address formed stays inside the buffers (the caller
/// derived `row0`, the taps and `out` from the checked geometry). With `M`, only the
/// lanes of `mask` are read and written (a channel tail, V == 1).
#[inline]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const T: usize, const V: usize, const M: bool>(
    d: &Dw,
    row0: *const f32,
    ty: &TapRange,
    kx0: usize,
    kx1: usize,
    cb: usize,
    out: *mut f32,
    mask: __m256i,
) {
    let mut acc = [[_mm256_setzero_ps(); V]; T];
    let row_step = d.dil_h * d.in_w * d.c;
    let pixel_step = d.stride_w * d.c;
    let tap_step = d.dil_w * d.c;
    for ky in ty.lo..ty.hi {
        let row = row0.add((ky - ty.lo) * row_step);
        for kx in kx0..kx1 {
            let w = d.filter.add((ky * d.k_w + kx) * d.c + cb);
            let x0 = row.add((kx - kx0) * tap_step);
            for v in 0..V {
                let wv = ld::<M>(mask, w.add(v * 8));
                for (t, acc) in acc.iter_mut().enumerate() {
                    let x = ld::<M>(mask, x0.add(t * pixel_step + v * 8));
                    acc[v] = _mm256_fmadd_ps(x, wv, acc[v]);
                }
            }
        }
    }
    for v in 0..V {
        let b = match d.bias {
            Some(b) => ld::<M>(mask, b.add(cb + v * 8)),
            None => _mm256_setzero_ps(),
        };
        for (t, acc) in acc.iter().enumerate() {
            let r = clamp_ps(_mm256_add_ps(acc[v], b), d.lo, d.hi);
            let p = out.add(t * d.c + v * 8);
            st::<M>(mask, p, r);
        }
    }
}

/// All channel blocks of `T` pixels; arguments as [`block`] with `cb` = 0.
///
/// # Safety
/// As [`block`].
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn pixels<const T: usize>(
    d: &Dw,
    row0: *const f32,
    ty: &TapRange,
    kx0: usize,
    kx1: usize,
    out: *mut f32,
) {
    let all = _mm256_set1_epi32(-1);
    let mut cb = 0;
    if T == 1 {
        // A lone pixel has one accumulator chain per vector: four vectors keep four
        // multiply-adds in flight instead of two.
        while d.c - cb >= 32 {
            block::<T, 4, false>(d, row0.add(cb), ty, kx0, kx1, cb, out.add(cb), all);
            cb += 32;
        }
    }
    while d.c - cb >= 16 {
        block::<T, 2, false>(d, row0.add(cb), ty, kx0, kx1, cb, out.add(cb), all);
        cb += 16;
    }
    if d.c - cb >= 8 {
        block::<T, 1, false>(d, row0.add(cb), ty, kx0, kx1, cb, out.add(cb), all);
        cb += 8;
    }
    if cb < d.c {
        let m = tail_mask(d.c - cb);
        block::<T, 1, true>(d, row0.add(cb), ty, kx0, kx1, cb, out.add(cb), m);
    }
}

/// Float depthwise convolution. Falls back to the auto-vectorised body for a multiplier
/// other than 1 or buffers that do not match `s` (which `run` already rejects).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn depthwise_f32_fma(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    let (in_h, in_w, c) = (s.win.h.input, s.win.w.input, s.in_c);
    let image_len = in_h * in_w * c;
    let out_row_len = s.win.w.output * c;
    let fits = input.len() == s.win.batch * image_len
        && out.len() == s.win.batch * s.win.h.output * out_row_len
        && filter.len() == s.k_h * s.k_w * c
        && bias.is_none_or(|b| b.len() == c);
    if s.multiplier != 1 || s.out_c != c || !fits || c == 0 {
        depthwise_f32_body::<true>(s, input, filter, bias, out, range);
        return;
    }
    let d = Dw {
        c,
        in_w,
        k_w: s.k_w,
        stride_w: s.win.w.stride,
        dil_h: s.win.h.dilation,
        dil_w: s.win.w.dilation,
        filter: filter.as_ptr(),
        bias: bias.map(|b| b.as_ptr()),
        lo: _mm256_set1_ps(range.0),
        hi: _mm256_set1_ps(range.1),
    };
    let (full_lo, full_hi) = s.win.w.full;
    let tiled = full_hi - full_lo >= TILE;
    for n in 0..s.win.batch {
        for (oy, ty) in s.win.h.taps.iter().enumerate() {
            let out_row = (n * s.win.h.output + oy) * out_row_len;
            // A row or pixel with no tap inside the image runs the same code over an
            // empty tap range: its pointers are formed but never read.
            let in_row = n * image_len + ty.first_input * in_w * c;
            let mut ox = 0;
            while ox < s.win.w.output {
                if tiled && ox >= full_lo && ox < full_hi {
                    // The last tile is moved back to end at the interior's edge: the
                    // pixels computed twice get identical values.
                    let first = ox.min(full_hi - TILE);
                    let col = s.win.w.taps[first].first_input;
                    // SAFETY: AVX2 + FMA are enabled on this function, which callers may
                    // only reach after detecting them. Pixels first..first+TILE are in the
                    // interior, so every tap column lies in 0..in_w and every tap row in
                    // ty's range lies in 0..in_h; the buffer lengths were checked above.
                    unsafe {
                        pixels::<TILE>(
                            &d,
                            input.as_ptr().add(in_row + col * c),
                            ty,
                            0,
                            s.k_w,
                            out.as_mut_ptr().add(out_row + first * c),
                        )
                    };
                    ox = first + TILE;
                } else {
                    let tx = &s.win.w.taps[ox];
                    // SAFETY: as above, with this pixel's in-image taps tx.lo..tx.hi.
                    unsafe {
                        pixels::<1>(
                            &d,
                            input.as_ptr().add(in_row + tx.first_input * c),
                            ty,
                            tx.lo,
                            tx.hi,
                            out.as_mut_ptr().add(out_row + ox * c),
                        )
                    };
                    ox += 1;
                }
            }
        }
    }
}
