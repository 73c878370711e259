//! Float CONV_2D with AVX2 + FMA intrinsics: a register-blocked micro-kernel of `MR`
//! output pixels x 16 output channels (12 accumulators), each step broadcasting one
//! input value per pixel against two vectors of a filter panel row (the filter packed at
//! prepare by `ConvShape::pack_panels`: per 16-channel block, all rows contiguous).
//!
//! A 1x1 stride-1 convolution is a matrix product of all pixels (of every batch element)
//! by the filter, so its tiles run over the flattened image and never meet an edge. A
//! KxK convolution tiles each output row's interior (every tap inside the image) and
//! walks the taps in place, im2col-free: with one group and no horizontal dilation the
//! taps of one filter row read one contiguous run of input, matching the panel
//! rows one for one. Border pixels go one at a time over their in-image taps.
//!
//! Per output value the arithmetic is the reference's: a zero start, one fused
//! multiply-add per (ky, kx, ic) in that order, then the bias, then the clamp; results
//! are bit-identical to the auto-vectorised FMA body. Grouped or horizontally dilated
//! convolutions keep that body.

use std::arch::x86_64::*;

use super::depthwise::{clamp_ps, depthwise_f32_fma, ld, st, tail_mask};
use crate::kernels::reference::conv::{conv_f32_body, ConvShape, DepthwiseShape};

/// Output pixels per micro-kernel call: 6 x 2 accumulators + 2 filter vectors + 1
/// broadcast fill 15 of the 16 ymm registers.
const MR: usize = 6;

/// Input bytes of one pixel chunk of a 1x1 convolution (half of a 32 KiB L1).
const CHUNK_BYTES: usize = 16 * 1024;

/// The filter rows a micro-kernel call multiplies, and where their inputs are.
struct Taps {
    /// Filter rows per filter row group (`ky`), contiguous in input and filter.
    run: usize,
    /// Number of filter row groups.
    rows: usize,
    /// Input elements from one row group to the next.
    in_step: usize,
    /// Filter elements from one row group to the next.
    w_step: usize,
    /// Filter elements from one row to the next (`group_out_padded`).
    w_row: usize,
}

/// `P` pixels x `V` vectors of output channels. `xs[t]` is pixel `t`'s input at its first
/// tap; `w` the packed filter at the first tap row and the block's first column.
///
/// # Safety
/// AVX2 and FMA are present; for every row group `r < k.rows` and `j < k.run`,
/// `xs[t] + r * k.in_step + j` lies in the input and `w + r * k.w_step + j * k.w_row`
/// starts `V * 8` floats inside the packed filter.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn micro<const P: usize, const V: usize>(
    xs: [*const f32; P],
    w: *const f32,
    k: &Taps,
) -> [[__m256; V]; P] {
    let mut acc = [[_mm256_setzero_ps(); V]; P];
    for r in 0..k.rows {
        let mut wp = w.add(r * k.w_step);
        let off = r * k.in_step;
        for j in 0..k.run {
            let mut wv = [_mm256_setzero_ps(); V];
            for (v, wv) in wv.iter_mut().enumerate() {
                *wv = _mm256_loadu_ps(wp.add(v * 8));
            }
            for (t, acc) in acc.iter_mut().enumerate() {
                let x = _mm256_broadcast_ss(&*xs[t].add(off + j));
                for v in 0..V {
                    acc[v] = _mm256_fmadd_ps(x, wv[v], acc[v]);
                }
            }
            wp = wp.add(k.w_row);
        }
    }
    acc
}

/// Where a block of output channels goes and what is added and clamped on the way.
struct Store {
    /// Output pixel stride (`out_c`).
    out_c: usize,
    /// Channels of this block that exist (`<= V * 8`).
    valid: usize,
    bias: Option<*const f32>,
    lo: __m256,
    hi: __m256,
}

/// Adds the bias, clamps and writes `P` pixels starting at `out` (the block's first
/// channel of the first pixel).
///
/// # Safety
/// AVX2 is present; `out + t * st.out_c + j` for `t < P`, `j < st.valid` lies in the output
/// and `bias + j` in the bias.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store<const P: usize, const V: usize>(acc: &[[__m256; V]; P], out: *mut f32, s: &Store) {
    for v in 0..V {
        let lanes = s.valid.saturating_sub(v * 8).min(8);
        if lanes == 0 {
            break;
        }
        let mask = if lanes == 8 {
            _mm256_set1_epi32(-1)
        } else {
            tail_mask(lanes)
        };
        let b = match s.bias {
            Some(b) if lanes == 8 => ld::<false>(mask, b.add(v * 8)),
            Some(b) => ld::<true>(mask, b.add(v * 8)),
            None => _mm256_setzero_ps(),
        };
        for (t, acc) in acc.iter().enumerate() {
            let r = clamp_ps(_mm256_add_ps(acc[v], b), s.lo, s.hi);
            let p = out.add(t * s.out_c + v * 8);
            if lanes == 8 {
                st::<false>(mask, p, r);
            } else {
                st::<true>(mask, p, r);
            }
        }
    }
}

/// One column block over a run of `count` pixels whose inputs start at `x0 + i * step`
/// and outputs at `out + i * out_c`, in tiles of `MR` (the last tile moved back to end
/// at the run's edge, recomputing a few pixels identically) or one by one if shorter.
///
/// # Safety
/// As [`micro`] and [`store`] for every pixel of the run.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_pixels<const V: usize>(
    x0: *const f32,
    step: usize,
    count: usize,
    w: *const f32,
    k: &Taps,
    out: *mut f32,
    s: &Store,
) {
    if count >= MR {
        let mut i = 0;
        while i < count {
            let first = i.min(count - MR);
            let xs: [*const f32; MR] = std::array::from_fn(|t| x0.add((first + t) * step));
            let acc = micro::<MR, V>(xs, w, k);
            store::<MR, V>(&acc, out.add(first * s.out_c), s);
            i = first + MR;
        }
    } else if count >= 3 {
        // Too few for a whole tile: two overlapping tiles of three keep 3 x V
        // accumulator chains in flight instead of one pixel's V.
        for first in [0, count - 3] {
            let xs: [*const f32; 3] = std::array::from_fn(|t| x0.add((first + t) * step));
            let acc = micro::<3, V>(xs, w, k);
            store::<3, V>(&acc, out.add(first * s.out_c), s);
        }
    } else {
        for i in 0..count {
            let acc = micro::<1, V>([x0.add(i * step)], w, k);
            store::<1, V>(&acc, out.add(i * s.out_c), s);
        }
    }
}

/// Float convolution. Falls back to the auto-vectorised body for grouped or horizontally
/// dilated convolutions and for buffers that do not match `s` (which `run` rejects).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn conv_f32_avx2(
    s: &ConvShape,
    input: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    let (in_h, in_w, in_c) = (s.win.h.input, s.win.w.input, s.in_c);
    let (out_h, out_w, out_c) = (s.win.h.output, s.win.w.output, s.out_c);
    let image_len = in_h * in_w * in_c;
    let fits = input.len() == s.win.batch * image_len
        && out.len() == s.win.batch * out_h * out_w * out_c
        && packed.len() == s.packed_len()
        && bias.is_none_or(|b| b.len() == out_c);
    if !s.panels || s.groups != 1 || !s.contiguous_taps || !fits || out.is_empty() || in_c == 0 {
        conv_f32_body::<true>(s, input, packed, bias, out, range);
        return;
    }
    let gop = s.group_out_padded;
    let mut st = Store {
        out_c,
        valid: 0,
        bias: None,
        lo: _mm256_set1_ps(range.0),
        hi: _mm256_set1_ps(range.1),
    };
    let pointwise = s.k_h == 1 && s.k_w == 1 && s.win.h.stride == 1 && s.win.w.stride == 1;
    if pointwise {
        let count = s.win.batch * out_h * out_w;
        // The pixels go in chunks whose inputs stay in L1 while every column block
        // passes over them: one pass per column block over a large image streamed the
        // input from memory once per block and wrote each output line in pieces.
        let per_chunk = (CHUNK_BYTES / (in_c * 4)).max(4 * MR);
        let chunks = count.div_ceil(per_chunk);
        let per_chunk = count.div_ceil(chunks);
        let mut first = 0;
        while first < count {
            let n = per_chunk.min(count - first);
            let mut start = 0;
            while start < out_c {
                let wide = gop - start >= 16;
                st.valid = (out_c - start).min(if wide { 16 } else { 8 });
                st.bias = bias.map(|b| b[start..].as_ptr());
                let width = if wide { 16 } else { 8 };
                let k = Taps {
                    run: in_c,
                    rows: 1,
                    in_step: 0,
                    w_step: 0,
                    w_row: width,
                };
                let w0 = packed[start * in_c..].as_ptr();
                // SAFETY: AVX2 + FMA are enabled on this function, which callers reach
                // only after detecting them. A 1x1 stride-1 window maps output pixel p to
                // input pixel p (the lengths checked above are equal in pixels), pixels
                // first..first+n exist, the block's panel holds in_c rows of `width`
                // columns from start * in_c on, and the store writes only the valid
                // channels.
                unsafe {
                    let x0 = input.as_ptr().add(first * in_c);
                    let o = out.as_mut_ptr().add(first * out_c + start);
                    if wide {
                        run_pixels::<2>(x0, in_c, n, w0, &k, o, &st);
                    } else {
                        run_pixels::<1>(x0, in_c, n, w0, &k, o, &st);
                    }
                }
                start += if wide { 16 } else { 8 };
            }
            first += n;
        }
        return;
    }
    let mut start = 0;
    while start < out_c {
        let wide = gop - start >= 16;
        st.valid = (out_c - start).min(if wide { 16 } else { 8 });
        st.bias = bias.map(|b| b[start..].as_ptr());
        let width = if wide { 16 } else { 8 };
        let w0 = packed[start * s.k_h * s.k_w * in_c..].as_ptr();
        let out0 = out[start..].as_mut_ptr();
        let row_elems = in_w * in_c;
        let k_full = Taps {
            run: s.k_w * in_c,
            rows: 0,
            in_step: s.win.h.dilation * row_elems,
            w_step: s.k_w * in_c * width,
            w_row: width,
        };
        let (full_lo, full_hi) = s.win.w.full;
        for n in 0..s.win.batch {
            for (oy, ty) in s.win.h.taps.iter().enumerate() {
                let in_row = n * image_len + ty.first_input * row_elems;
                let out_row = (n * out_h + oy) * out_w * out_c;
                let w_row = ty.lo * k_full.w_step;
                let k = Taps {
                    rows: ty.hi - ty.lo,
                    ..k_full
                };
                let mut ox = 0;
                while ox < out_w {
                    if ox >= full_lo && ox < full_hi {
                        let col = s.win.w.taps[full_lo].first_input;
                        // SAFETY: AVX2 + FMA as above. Pixels full_lo..full_hi use every
                        // horizontal tap, whose inputs lie in 0..in_w, at column
                        // col + i * stride for pixel full_lo + i; the rows ty.lo..ty.hi
                        // lie in 0..in_h; the filter rows of those taps exist.
                        unsafe {
                            let x0 = input.as_ptr().add(in_row + col * in_c);
                            let o = out0.add(out_row + full_lo * out_c);
                            let step = s.win.w.stride * in_c;
                            let w = w0.add(w_row);
                            let count = full_hi - full_lo;
                            if wide {
                                run_pixels::<2>(x0, step, count, w, &k, o, &st);
                            } else {
                                run_pixels::<1>(x0, step, count, w, &k, o, &st);
                            }
                        }
                        ox = full_hi;
                        continue;
                    }
                    let tx = &s.win.w.taps[ox];
                    let kb = Taps {
                        run: (tx.hi - tx.lo) * in_c,
                        ..k
                    };
                    // SAFETY: AVX2 + FMA as above; this pixel's taps tx.lo..tx.hi read
                    // input columns tx.first_input.. inside the image, and the filter rows
                    // from (ky, tx.lo) on, kb.run of them per ky.
                    unsafe {
                        let x0 = input.as_ptr().add(in_row + tx.first_input * in_c);
                        let o = out0.add(out_row + ox * out_c);
                        let w = w0.add(w_row + tx.lo * in_c * width);
                        if wide {
                            run_pixels::<2>(x0, 0, 1, w, &kb, o, &st);
                        } else {
                            run_pixels::<1>(x0, 0, 1, w, &kb, o, &st);
                        }
                    }
                    ox += 1;
                }
            }
        }
        start += if wide { 16 } else { 8 };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn depthwise_f32_avx2(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    depthwise_f32_fma(s, input, filter, bias, out, range);
}
