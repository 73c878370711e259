//! 8-bit quantized CONV_2D.
#![allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// 8-bit quantized convolutions (int8 per channel, uint8 per tensor)
//
// Both follow TFLite's reference kernels: acc = Σ (w + w_off)·(x + in_off) over the taps
// inside the image, plus the int32 bias, then MultiplyByQuantizedMultiplier with the
// output channel's multiplier, plus the output zero point, clamped to the fused
// activation's range. Every product fits in i32 and the sums wrap as the compiled C++
// does, so the order of accumulation does not change a single bit of the result.

struct ConvQ8<T> {
    shape: ConvShape,
    /// [groups, k_h, k_w, group_in, group_out_padded], each weight plus the filter
    /// offset (so uint8 weights need no offset in the loop), widened to i16.
    filter: Vec<i16>,
    requant: Requant,
    avx2: bool,
    /// The `vpmaddwd` path for pixels whose window lies inside the image, when AVX2
    /// and the lane requantization are both available.
    madd: Option<madd::MaddPlan>,
    elem: PhantomData<fn() -> T>,
}

pub(super) fn prepare_conv_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let shape = conv_shape(params, input, filter)?;
    check_bias_i32(ctx, shape.out_c)?;
    let (requant, filter_offset) =
        q8_requant::<T>(ctx, input, filter, shape.out_c, 0, params.activation)?;
    let values = q8_constant::<T>(filter, filter.num_elements(), "quantized filter")?;
    let mut packed = vec![0i16; shape.packed_len()];
    // |w + offset| <= 255 fits i16.
    let widen = |w: T| (w.widen() + filter_offset) as i16;
    shape.pack_filter_with(values, &mut packed, widen);
    let avx2 = ctx.cpu.avx2();
    let madd = (avx2 && requant.lanes.is_some()).then(|| {
        let filter: Vec<i16> = values.iter().map(|&w| widen(w)).collect();
        let wide = (ctx.cpu.avx512(), ctx.cpu.vnni());
        madd::MaddPlan::new(&shape, &filter, requant.input_offset, wide)
    });
    let output_shape = vec![
        shape.win.batch,
        shape.win.h.output,
        shape.win.w.output,
        shape.out_c,
    ];
    Ok(Prepared::new(
        vec![output_shape],
        ConvQ8::<T> {
            shape,
            filter: packed,
            requant,
            avx2,
            madd,
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for ConvQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len || out.len() != out_len || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("CONV_2D buffers do not match the planned shapes");
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { conv_q8_avx2(self, input, bias, out) };
            return Ok(());
        }
        conv_q8_body::<T, false>(self, input, bias, out);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn conv_q8_avx2<T: Q8>(k: &ConvQ8<T>, input: &[T], bias: Option<&[i32]>, out: &mut [T]) {
    conv_q8_body::<T, true>(k, input, bias, out);
}

/// The convolution proper, one output row, group and channel block at a time: pixels
/// whose windows lie wholly inside the image horizontally go TILE at a time (each
/// filter block loaded once per tap for all of them), the border pixels one by one
/// over their valid taps. Lengths were checked by `run`; tap ranges keep every read
/// inside the image.
#[inline(always)]
fn conv_q8_body<T: Q8, const SIMD: bool>(
    k: &ConvQ8<T>,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
) {
    let s = &k.shape;
    let image_len = s.win.h.input * s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    let group_filter_len = s.k_h * s.k_w * s.group_in * s.group_out_padded;
    if out_row_len == 0 {
        return;
    }
    // The interior path needs the image widened to i16; only the AVX2 build has it.
    let interior = if SIMD {
        k.madd.as_ref().zip(k.requant.lanes.as_ref())
    } else {
        None
    };
    let mut widened = match interior {
        Some(_) => vec![0i16; madd::MaddPlan::widened_len(s)],
        None => Vec::new(),
    };
    let (full_lo, full_hi) = s.win.w.full;
    let interior_rows = s.win.h.full.0..s.win.h.full.1;
    let out_image_len = s.win.h.output * out_row_len;
    if out_image_len == 0 {
        return;
    }
    for (n, out_image) in out.chunks_exact_mut(out_image_len).enumerate() {
        let image = &input[n * image_len..(n + 1) * image_len];
        let mut skip = (0, 0);
        #[cfg(target_arch = "x86_64")]
        if let Some((plan, lanes)) = interior {
            if full_lo < full_hi && !interior_rows.is_empty() {
                madd::widen(image, &mut widened);
                let job = madd::Interior {
                    shape: s,
                    plan,
                    lanes,
                    output_zero_point: k.requant.output_zero_point,
                    range: k.requant.range,
                    bias,
                    image: &widened,
                    row_taps: &s.win.h.taps,
                    column_taps: &s.win.w.taps,
                    rows: interior_rows.clone(),
                    columns: full_lo..full_hi,
                    out: &mut *out_image,
                };
                // SAFETY: `interior` is only Some in the AVX2 build (SIMD), which runs
                // when the CPU reported AVX2 (and AVX-512 when the plan uses it);
                // `widened` has the plan's length and the plan was made for this shape.
                unsafe { madd::interior(job) };
                skip = (full_lo, full_hi);
            }
        }
        for (oy, (ty, out_row)) in s
            .win
            .h
            .taps
            .iter()
            .zip(out_image.chunks_exact_mut(out_row_len))
            .enumerate()
        {
            let skip = if interior_rows.contains(&oy) {
                skip
            } else {
                (0, 0)
            };
            if skip == (0, s.win.w.output) {
                continue;
            }
            for g in 0..s.groups {
                let mut start = 0;
                while start < s.group_out {
                    let row = RowQ8 {
                        k,
                        image,
                        filter: &k.filter[g * group_filter_len..(g + 1) * group_filter_len],
                        ty,
                        channel0: g * s.group_in,
                        start,
                        out_channel0: g * s.group_out + start,
                    };
                    // Blocks of 16 output channels, then one of 8 (the packed rows are
                    // padded to a multiple of 8, so every block reads inside them).
                    if s.group_out_padded - start >= BLOCK {
                        conv_q8_row::<T, BLOCK>(&row, bias, out_row, skip);
                        start += BLOCK;
                    } else {
                        conv_q8_row::<T, LANES>(&row, bias, out_row, skip);
                        start += LANES;
                    }
                }
            }
        }
    }
}

/// One output row, one group, one block of output channels of an 8-bit conv.
struct RowQ8<'a, T> {
    k: &'a ConvQ8<T>,
    /// The current batch element.
    image: &'a [T],
    /// The current group's packed filter.
    filter: &'a [i16],
    ty: &'a TapRange,
    /// First input channel of the group.
    channel0: usize,
    /// First output channel of the block within the group.
    start: usize,
    /// First output channel of the block within the pixel.
    out_channel0: usize,
}

/// Output columns in `skip.0..skip.1` were written by the interior path and are left
/// alone.
#[inline(always)]
fn conv_q8_row<T: Q8, const W: usize>(
    c: &RowQ8<'_, T>,
    bias: Option<&[i32]>,
    out_row: &mut [T],
    skip: (usize, usize),
) {
    let s = &c.k.shape;
    let valid = (s.group_out - c.start).min(W);
    let finish = BlockFinish::<W>::new(&c.k.requant, bias, c.out_channel0, valid);
    let (full_lo, full_hi) = s.win.w.full;
    let mut ox = 0;
    while ox < s.win.w.output {
        if ox >= skip.0 && ox < skip.1 {
            ox = skip.1;
        } else if ox >= full_lo && ox < full_hi && full_hi - full_lo >= TILE {
            // As in the float kernel, the last interior tile is moved back to end at the
            // edge; the pixels computed twice get identical values.
            let first = ox.min(full_hi - TILE);
            let acc = conv_q8_tile::<T, W>(c, s.win.w.taps[first].first_input);
            for (t, acc) in acc.iter().enumerate() {
                let at = (first + t) * s.out_c + c.out_channel0;
                finish.store(&mut out_row[at..at + valid], acc, &c.k.requant);
            }
            ox = first + TILE;
        } else {
            let acc = conv_q8_pixel::<T, W>(c, &s.win.w.taps[ox]);
            let at = ox * s.out_c + c.out_channel0;
            finish.store(&mut out_row[at..at + valid], &acc, &c.k.requant);
            ox += 1;
        }
    }
}

/// A W-long block of widened packed weights (the packed filter is padded so every block
/// is whole).
#[inline(always)]
pub(super) fn weights_i32<const W: usize>(s: &[i16]) -> [i32; W] {
    match s.first_chunk::<W>() {
        Some(b) => b.map(i32::from),
        None => unreachable!("packed filter blocks are padded to whole lanes"),
    }
}

/// `acc[l] += w[l]·x` in wrapping i32, as the compiled C++ accumulates.
#[inline(always)]
pub(super) fn mac_lanes<const W: usize>(acc: &mut [i32; W], w: &[i32; W], x: i32) {
    for l in 0..W {
        acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(x));
    }
}

/// TILE neighbouring output pixels whose windows lie wholly inside the image
/// horizontally; `first_col` is the input column of the first pixel's first tap.
#[inline(always)]
fn conv_q8_tile<T: Q8, const W: usize>(c: &RowQ8<'_, T>, first_col: usize) -> [[i32; W]; TILE] {
    let s = &c.k.shape;
    let off = c.k.requant.input_offset;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let stride = s.win.w.stride * in_c;
    let dilation = s.win.w.dilation * in_c;
    let tap_len = s.group_in * s.group_out_padded;
    let x0 = first_col * in_c + c.channel0;
    let mut acc = [[0i32; W]; TILE];
    if s.contiguous_taps {
        // One filter row's taps read one contiguous run of the input row, and their
        // packed blocks follow each other: a single loop over (kx, ic).
        let run = s.k_w * in_c;
        let row_filter = run * s.group_out_padded;
        for ky in c.ty.lo..c.ty.hi {
            let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
            let at = iy * in_w * in_c + x0;
            let xs: [&[T]; TILE] =
                std::array::from_fn(|t| &c.image[at + t * stride..at + t * stride + run]);
            let taps = &c.filter[ky * row_filter + c.start..(ky + 1) * row_filter];
            for (j, w) in taps.chunks(s.group_out_padded).enumerate() {
                let w = weights_i32::<W>(w);
                for (acc, xs) in acc.iter_mut().zip(xs) {
                    mac_lanes(acc, &w, xs[j].widen() + off);
                }
            }
        }
        return acc;
    }
    let span = (TILE - 1) * stride + s.group_in;
    for ky in c.ty.lo..c.ty.hi {
        let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
        let row = &c.image[iy * in_w * in_c..(iy + 1) * in_w * in_c];
        for kx in 0..s.k_w {
            let p = x0 + kx * dilation;
            let xs = &row[p..p + span];
            let tap = &c.filter[(ky * s.k_w + kx) * tap_len..(ky * s.k_w + kx + 1) * tap_len];
            for ic in 0..s.group_in {
                let o = ic * s.group_out_padded + c.start;
                let w = weights_i32::<W>(&tap[o..o + W]);
                for (t, acc) in acc.iter_mut().enumerate() {
                    mac_lanes(acc, &w, xs[t * stride + ic].widen() + off);
                }
            }
        }
    }
    acc
}

/// One output pixel, reading only the taps inside the image.
#[inline(always)]
fn conv_q8_pixel<T: Q8, const W: usize>(c: &RowQ8<'_, T>, tx: &TapRange) -> [i32; W] {
    let s = &c.k.shape;
    let off = c.k.requant.input_offset;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let tap_len = s.group_in * s.group_out_padded;
    let mut acc = [0i32; W];
    for ky in c.ty.lo..c.ty.hi {
        let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
        for kx in tx.lo..tx.hi {
            let ix = tx.first_input + (kx - tx.lo) * s.win.w.dilation;
            let px = (iy * in_w + ix) * in_c + c.channel0;
            let pixel = &c.image[px..px + s.group_in];
            let tap = &c.filter[(ky * s.k_w + kx) * tap_len..(ky * s.k_w + kx + 1) * tap_len];
            for (ic, &x) in pixel.iter().enumerate() {
                let o = ic * s.group_out_padded + c.start;
                mac_lanes(&mut acc, &weights_i32::<W>(&tap[o..o + W]), x.widen() + off);
            }
        }
    }
    acc
}
