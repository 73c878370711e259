//! Float DEPTHWISE_CONV_2D.

#![allow(unused_imports)]
use super::*;

struct DepthwiseF32 {
    shape: DepthwiseShape,
    range: (f32, f32),
    fused: bool,
}

pub(super) fn prepare_depthwise_f32(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    expect_f32_output(ctx, input.dtype, filter.dtype)?;
    let shape = depthwise_shape(params, input, filter)?;
    check_bias(ctx, shape.out_c)?;
    let range = activation_range_f32(params.activation)?;
    let output_shape = shape.output_shape();
    Ok(Prepared::new(
        vec![output_shape],
        DepthwiseF32 {
            shape,
            range,
            fused: ctx.cpu.fma(),
        },
    ))
}

impl Kernel for DepthwiseF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = input_f32(inputs, 0)?;
        let filter = input_f32(inputs, 1)?;
        let bias = optional_f32(inputs, 2)?;
        let out = output_f32(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len
            || out.len() != out_len
            || filter.len() != s.k_h * s.k_w * s.out_c
            || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("DEPTHWISE_CONV_2D buffers do not match the planned shapes");
        }
        if out.is_empty() {
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if self.fused {
            // SAFETY: `fused` is only true when the CpuFeatures given to prepare had AVX2 and FMA.
            unsafe { depthwise_f32_avx2(s, input, filter, bias, out, self.range) };
            return Ok(());
        }
        depthwise_f32_body::<false>(s, input, filter, bias, out, self.range);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn depthwise_f32_avx2(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    depthwise_f32_body::<true>(s, input, filter, bias, out, range);
}

/// Accumulates straight into the output pixel, one tap at a time, so the loop over
/// channels is contiguous in input, filter and output. Lengths were checked by `run`.
#[inline(always)]
fn depthwise_f32_body<const FUSED: bool>(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    let (in_h, in_w) = (s.win.h.input, s.win.w.input);
    let (dil_h, dil_w) = (s.win.h.dilation, s.win.w.dilation);
    let image_len = in_h * in_w * s.in_c;
    let mut out_pixels = out.chunks_exact_mut(s.out_c);
    for n in 0..s.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &s.win.h.taps {
            for tx in &s.win.w.taps {
                let Some(pixel) = out_pixels.next() else {
                    return;
                };
                pixel.fill(0.0);
                for ky in ty.lo..ty.hi {
                    let iy = ty.first_input + (ky - ty.lo) * dil_h;
                    for kx in tx.lo..tx.hi {
                        let ix = tx.first_input + (kx - tx.lo) * dil_w;
                        let px = (iy * in_w + ix) * s.in_c;
                        let x = &image[px..px + s.in_c];
                        let w =
                            &filter[(ky * s.k_w + kx) * s.out_c..(ky * s.k_w + kx + 1) * s.out_c];
                        if s.multiplier == 1 {
                            for ((o, &x), &w) in pixel.iter_mut().zip(x).zip(w) {
                                *o = madd::<FUSED>(*o, x, w);
                            }
                        } else {
                            let m = s.multiplier;
                            for ((o, &x), w) in
                                pixel.chunks_exact_mut(m).zip(x).zip(w.chunks_exact(m))
                            {
                                for (o, &w) in o.iter_mut().zip(w) {
                                    *o = madd::<FUSED>(*o, x, w);
                                }
                            }
                        }
                    }
                }
                match bias {
                    Some(b) => {
                        for (o, &b) in pixel.iter_mut().zip(b) {
                            *o = clamp(*o + b, range);
                        }
                    }
                    None => {
                        for o in pixel.iter_mut() {
                            *o = clamp(*o, range);
                        }
                    }
                }
            }
        }
    }
}
