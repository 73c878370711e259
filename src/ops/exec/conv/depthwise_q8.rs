//! 8-bit quantized DEPTHWISE_CONV_2D.

#![allow(unused_imports)]
use super::q8::{mac_lanes, weights_i32};
use super::*;

struct DepthwiseQ8<T> {
    shape: DepthwiseShape,
    /// [k_h, k_w, out_c]: each weight plus the filter offset, widened to i16.
    filter: Vec<i16>,
    requant: Requant,
    avx2: bool,
    /// The AVX2 loop over a zero-bordered i16 copy of the image (depth multiplier 1,
    /// lane-exact multipliers), with that copy; made at prepare.
    #[cfg(target_arch = "x86_64")]
    fast: Option<(
        crate::kernels::x86::depthwise_q8::DepthwisePlan,
        Mutex<Vec<i16>>,
    )>,
    elem: PhantomData<fn() -> T>,
}

/// The window axis as the bordered-image loop sees it, if its tap ranges are exactly
/// those of a window starting `pad` before the image (checked output by output).
#[cfg(target_arch = "x86_64")]
fn bordered_axis(
    a: &crate::kernels::window::WindowAxis,
    kernel: usize,
) -> Option<crate::kernels::x86::depthwise_q8::Axis> {
    let t0 = a.taps.first()?;
    let pad = (t0.lo * a.dilation).checked_sub(t0.first_input)?;
    for (o, t) in a.taps.iter().enumerate() {
        // Taps k with 0 <= o*stride - pad + k*dilation < input, as the reference skips.
        let start = (o * a.stride) as i64 - pad as i64;
        let valid: Vec<usize> = (0..kernel)
            .filter(|&k| {
                let i = start + (k * a.dilation) as i64;
                i >= 0 && i < a.input as i64
            })
            .collect();
        let (lo, hi) = match (valid.first(), valid.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi + 1),
            _ => return None,
        };
        let first = (start + (lo * a.dilation) as i64) as usize;
        if (t.lo, t.hi, t.first_input) != (lo, hi, first) || valid.len() != hi - lo {
            return None;
        }
    }
    Some(crate::kernels::x86::depthwise_q8::Axis {
        input: a.input,
        output: a.output,
        stride: a.stride,
        dilation: a.dilation,
        kernel,
        pad,
    })
}

pub(super) fn prepare_depthwise_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let shape = depthwise_shape(params, input, filter)?;
    check_bias_i32(ctx, shape.out_c)?;
    let (requant, filter_offset) =
        q8_requant::<T>(ctx, input, filter, shape.out_c, 3, params.activation)?;
    let values = q8_constant::<T>(filter, filter.num_elements(), "quantized filter")?;
    let packed: Vec<i16> = values
        .iter()
        .map(|&w| (w.widen() + filter_offset) as i16)
        .collect();
    let output_shape = shape.output_shape();
    #[cfg(target_arch = "x86_64")]
    let fast = if ctx.cpu.avx2() && shape.multiplier == 1 && requant.lanes.is_some() {
        let h = bordered_axis(&shape.win.h, shape.k_h);
        let w = bordered_axis(&shape.win.w, shape.k_w);
        h.zip(w)
            .and_then(|(h, w)| {
                crate::kernels::x86::depthwise_q8::DepthwisePlan::new(
                    shape.win.batch,
                    h,
                    w,
                    shape.out_c,
                    &packed,
                    &requant.multipliers,
                    requant.output_zero_point,
                    requant.range,
                )
            })
            .map(|plan| {
                let scratch = vec![0i16; plan.scratch_len()];
                (plan, Mutex::new(scratch))
            })
    } else {
        None
    };
    Ok(Prepared::new(
        vec![output_shape],
        DepthwiseQ8::<T> {
            shape,
            filter: packed,
            requant,
            avx2: ctx.cpu.avx2(),
            #[cfg(target_arch = "x86_64")]
            fast,
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for DepthwiseQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        if input.len() != in_len
            || out.len() != s.output_shape().iter().product::<usize>()
            || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("DEPTHWISE_CONV_2D buffers do not match the planned shapes");
        }
        #[cfg(target_arch = "x86_64")]
        if let Some((plan, scratch)) = &self.fast {
            let mut scratch = scratch.lock().map_err(|_| {
                KernelError::new("DEPTHWISE_CONV_2D scratch was poisoned by an earlier panic")
            })?;
            let offset = self.requant.input_offset;
            // SAFETY: `fast` is only made when the CPU reported AVX2 at prepare.
            if unsafe {
                crate::kernels::x86::depthwise_q8::depthwise_q8(
                    plan,
                    input,
                    offset,
                    bias,
                    &mut scratch,
                    out,
                )
            } {
                return Ok(());
            }
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { depthwise_q8_avx2(self, input, bias, out) };
            return Ok(());
        }
        depthwise_q8_body(self, input, bias, out);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn depthwise_q8_avx2<T: Q8>(k: &DepthwiseQ8<T>, input: &[T], bias: Option<&[i32]>, out: &mut [T]) {
    depthwise_q8_body(k, input, bias, out);
}

/// One output row and channel block at a time. With a depth multiplier of 1 the
/// interior pixels go TILE at a time (input, filter and output channels all
/// contiguous); otherwise, and at the borders, pixel by pixel over the valid taps.
/// Lengths were checked by `run`; tap ranges keep every read inside the image.
#[inline(always)]
fn depthwise_q8_body<T: Q8>(k: &DepthwiseQ8<T>, input: &[T], bias: Option<&[i32]>, out: &mut [T]) {
    let s = &k.shape;
    let image_len = s.win.h.input * s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    if out_row_len == 0 {
        return;
    }
    let mut rows = out.chunks_exact_mut(out_row_len);
    for n in 0..s.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &s.win.h.taps {
            let Some(out_row) = rows.next() else { return };
            let mut c = 0;
            while c < s.out_c {
                let at = DepthwiseAt { k, image, ty, c };
                c += match s.out_c - c {
                    r if r >= BLOCK => depthwise_q8_row::<T, BLOCK>(&at, bias, out_row),
                    r if r >= LANES => depthwise_q8_row::<T, LANES>(&at, bias, out_row),
                    _ => depthwise_q8_row::<T, 1>(&at, bias, out_row),
                };
            }
        }
    }
}

struct DepthwiseAt<'a, T> {
    k: &'a DepthwiseQ8<T>,
    image: &'a [T],
    ty: &'a TapRange,
    /// First output channel of the block.
    c: usize,
}

/// Output channels `c..c+W` (the caller guarantees they exist) of one output row.
/// Returns W.
#[inline(always)]
fn depthwise_q8_row<T: Q8, const W: usize>(
    at: &DepthwiseAt<'_, T>,
    bias: Option<&[i32]>,
    out_row: &mut [T],
) -> usize {
    let s = &at.k.shape;
    let r = &at.k.requant;
    let finish = BlockFinish::<W>::new(r, bias, at.c, W);
    let (full_lo, full_hi) = s.win.w.full;
    let tiles = s.multiplier == 1 && full_hi - full_lo >= TILE;
    let mut ox = 0;
    while ox < s.win.w.output {
        if tiles && ox >= full_lo && ox < full_hi {
            let first = ox.min(full_hi - TILE);
            let acc = depthwise_q8_tile::<T, W>(at, s.win.w.taps[first].first_input);
            for (t, acc) in acc.iter().enumerate() {
                let o = (first + t) * s.out_c + at.c;
                finish.store(&mut out_row[o..o + W], acc, r);
            }
            ox = first + TILE;
        } else {
            let acc = depthwise_q8_pixel::<T, W>(at, &s.win.w.taps[ox]);
            let o = ox * s.out_c + at.c;
            finish.store(&mut out_row[o..o + W], &acc, r);
            ox += 1;
        }
    }
    W
}

/// TILE neighbouring interior pixels with a depth multiplier of 1, so output channel c
/// reads input channel c. `first_col` is the input column of the first pixel's first
/// tap.
#[inline(always)]
fn depthwise_q8_tile<T: Q8, const W: usize>(
    at: &DepthwiseAt<'_, T>,
    first_col: usize,
) -> [[i32; W]; TILE] {
    let s = &at.k.shape;
    let off = at.k.requant.input_offset;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let stride = s.win.w.stride * in_c;
    let dilation = s.win.w.dilation * in_c;
    let x0 = first_col * in_c + at.c;
    let mut acc = [[0i32; W]; TILE];
    for ky in at.ty.lo..at.ty.hi {
        let iy = at.ty.first_input + (ky - at.ty.lo) * s.win.h.dilation;
        let row = &at.image[iy * in_w * in_c..(iy + 1) * in_w * in_c];
        for kx in 0..s.k_w {
            let tap = (ky * s.k_w + kx) * s.out_c + at.c;
            let w = weights_i32::<W>(&at.k.filter[tap..tap + W]);
            let p = x0 + kx * dilation;
            for (t, acc) in acc.iter_mut().enumerate() {
                let Some(x) = row[p + t * stride..].first_chunk::<W>() else {
                    unreachable!("interior windows lie inside the input row");
                };
                for l in 0..W {
                    let xv = x[l].widen() + off;
                    acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(xv));
                }
            }
        }
    }
    acc
}

/// Output channels `c..c+W` of one pixel, over the taps inside the image.
#[inline(always)]
fn depthwise_q8_pixel<T: Q8, const W: usize>(at: &DepthwiseAt<'_, T>, tx: &TapRange) -> [i32; W] {
    let s = &at.k.shape;
    let (in_w, m) = (s.win.w.input, s.multiplier);
    let off = at.k.requant.input_offset;
    let mut acc = [0i32; W];
    for ky in at.ty.lo..at.ty.hi {
        let iy = at.ty.first_input + (ky - at.ty.lo) * s.win.h.dilation;
        for kx in tx.lo..tx.hi {
            let ix = tx.first_input + (kx - tx.lo) * s.win.w.dilation;
            let px = (iy * in_w + ix) * s.in_c;
            let x = &at.image[px..px + s.in_c];
            let tap = (ky * s.k_w + kx) * s.out_c + at.c;
            let w = weights_i32::<W>(&at.k.filter[tap..tap + W]);
            if m == 1 {
                let Some(x) = x[at.c..].first_chunk::<W>() else {
                    unreachable!("the block's channels exist");
                };
                for l in 0..W {
                    acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(x[l].widen() + off));
                }
            } else {
                for l in 0..W {
                    let xv = x[(at.c + l) / m].widen() + off;
                    acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(xv));
                }
            }
        }
    }
    acc
}
