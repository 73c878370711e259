//! Hybrid (dynamic-range) kernels as plain loops: float32 activations with int8 constant
//! weights, for FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D, as TFLite's BUILTIN_REF
//! resolver runs them (docs §4). `ops::exec::hybrid` validates the weights and builds the
//! parameters below.
//!
//! Each batch row of the float input is quantized to int8 on the fly (symmetric, or
//! asymmetric with a per-row zero point), the products are accumulated exactly in int32,
//! and the sum is brought back to float with the row's scale times the weight scale.
//! Which quantization and which order of float operations TFLite uses differs per op:
//! * FULLY_CONNECTED (`EvalHybridDense`): asymmetric iff `asymmetric_quantize_inputs`;
//!   out = bias + float(dot − zp·row_sum) · (`w_scale[c]` · s_row) (per channel) or
//!   · (s_row · w_scale) (per tensor, the product taken when the row is quantized).
//! * CONV_2D with differing per-channel scales, or grouped (`HybridConvPerChannel`):
//!   asymmetric; out = (float(acc) · `w_scale[c]`) · s_row + bias.
//! * CONV_2D otherwise (`HybridConv`, also what REF runs): symmetric;
//!   out = float(acc) · (s_row · w_scale) + bias.
//! * DEPTHWISE_CONV_2D (`DepthwiseConvHybridPerChannel`): always asymmetric;
//!   out = float(acc) · (`w_scale[c]` · s_row) + bias.
//!
//! Float multiplication is commutative but not associative, so these groupings are kept
//! exactly. The fused activation is a float clamp applied last.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::common::{apply_vector_activation, clamp_slice};

// ---------------------------------------------------------------------------------------
// Input quantization (portable_tensor_utils.cc)

/// Smallest and largest element, as `std::minmax_element` finds them for non-NaN data.
fn min_max(values: &[f32]) -> (f32, f32) {
    let Some(&first) = values.first() else {
        return (0.0, 0.0);
    };
    values.iter().fold((first, first), |(lo, hi), &v| {
        (if v < lo { v } else { lo }, if v > hi { v } else { hi })
    })
}

/// Mirrors TFLite `SymmetricQuantizeFloats`: scale = max|x|/127, q = round(x·(127/max|x|))
/// clamped to ±127, with the division and rounding (half away from zero) in float. An
/// all-zero row gives scale 1 and zeros. Returns the scale.
pub fn symmetric_quantize(values: &[f32], quantized: &mut [i8]) -> f32 {
    let (lo, hi) = min_max(values);
    let range = lo.abs().max(hi.abs());
    if range == 0.0 {
        quantized.fill(0);
        return 1.0;
    }
    let inverse = 127.0 / range;
    for (q, &v) in quantized.iter_mut().zip(values) {
        *q = ((v * inverse).round() as i32).clamp(-127, 127) as i8;
    }
    range / 127.0
}

/// Mirrors TFLite `AsymmetricQuantizeFloats`: the range [min(0, min x), max(0, max x)] is
/// mapped onto [−128, 127] in double, the zero point is taken from whichever end gives
/// the smaller error and rounded (nudged into range), the scale is narrowed to float, and
/// q = round(zp + x·(1/scale)) in float, clamped. An all-zero row gives scale 1, zero
/// point 0 and zeros. Returns (scale, zero point).
pub fn asymmetric_quantize(values: &[f32], quantized: &mut [i8]) -> (f32, i32) {
    let (lo, hi) = min_max(values);
    let rmin = f64::from(lo.min(0.0));
    let rmax = f64::from(hi.max(0.0));
    if rmin == rmax {
        quantized.fill(0);
        return (1.0, 0);
    }
    let (qmin, qmax) = (-128.0f64, 127.0f64);
    let scale = (rmax - rmin) / (qmax - qmin);
    let zp_from_min = qmin - rmin / scale;
    let zp_from_max = qmax - rmax / scale;
    let error_from_min = qmin.abs() + (rmin / scale).abs();
    let error_from_max = qmax.abs() + (rmax / scale).abs();
    let zp = if error_from_min < error_from_max {
        zp_from_min
    } else {
        zp_from_max
    };
    let zero_point = if zp <= qmin {
        -128
    } else if zp >= qmax {
        127
    } else {
        zp.round() as i32
    };
    let scale = scale as f32;
    let inverse = 1.0f32 / scale;
    let offset = zero_point as f32;
    for (q, &v) in quantized.iter_mut().zip(values) {
        *q = ((offset + v * inverse).round() as i32).clamp(-128, 127) as i8;
    }
    (scale, zero_point)
}

/// Σ a·b in wrapping int32, as the C++ int32 accumulators compute it.
#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}

// ---------------------------------------------------------------------------------------
// FULLY_CONNECTED

/// The constants of a hybrid FULLY_CONNECTED, computed once at prepare.
pub(crate) struct HybridFcParams {
    pub(crate) depth: usize,
    pub(crate) units: usize,
    /// [units, depth].
    pub(crate) weights: Vec<i8>,
    /// Σ of each weight row, for removing the input zero point from the dot products.
    pub(crate) row_sums: Vec<i32>,
    /// One scale per unit, or `None` for a per-tensor `weight_scale`.
    pub(crate) channel_scales: Option<Vec<f32>>,
    pub(crate) weight_scale: f32,
    pub(crate) asymmetric: bool,
    /// TFLite's hybrid FULLY_CONNECTED applies its activation with `ApplyActivationToVector`,
    /// not the clamp of the other kernels (see
    /// [`vector_activation_bounds`](crate::kernels::common::vector_activation_bounds)).
    pub(crate) activation: Option<(f32, f32)>,
}

/// Hybrid FULLY_CONNECTED of `input` ([batches, depth]) into `out` ([batches, units]).
/// The caller has checked the lengths.
pub(crate) fn hybrid_fc(p: &HybridFcParams, input: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
    for row in out.chunks_exact_mut(p.units) {
        match bias {
            Some(b) => row.copy_from_slice(b),
            None => row.fill(0.0),
        }
    }
    // TFLite skips the product when the whole input is zero; the result is the same
    // bias either way, so this only saves work.
    if input.iter().all(|&x| x == 0.0) {
        apply_vector_activation(out, p.activation);
        return;
    }
    let mut quantized = vec![0i8; p.depth];
    for (x, y) in input
        .chunks_exact(p.depth)
        .zip(out.chunks_exact_mut(p.units))
    {
        let (row_scale, zero_point) = if p.asymmetric {
            asymmetric_quantize(x, &mut quantized)
        } else {
            (symmetric_quantize(x, &mut quantized), 0)
        };
        let batch_scale = match p.channel_scales {
            Some(_) => row_scale,
            None => row_scale * p.weight_scale,
        };
        for (u, (w, acc)) in p
            .weights
            .chunks_exact(p.depth)
            .zip(y.iter_mut())
            .enumerate()
        {
            let mut dot = dot_i8(w, &quantized);
            if zero_point != 0 {
                let row_sum = p.row_sums.get(u).copied().unwrap_or(0);
                dot = dot.wrapping_sub(zero_point.wrapping_mul(row_sum));
            }
            let scale = match &p.channel_scales {
                Some(s) => s.get(u).copied().unwrap_or(1.0) * batch_scale,
                None => batch_scale,
            };
            *acc += dot as f32 * scale;
        }
    }
    apply_vector_activation(out, p.activation);
}

// ---------------------------------------------------------------------------------------
// CONV_2D and DEPTHWISE_CONV_2D

/// How the accumulator of one output becomes float.
#[derive(Clone, Debug)]
pub(crate) enum ConvScaling {
    /// `HybridConv`: symmetric input, float(acc) · (s_row · w_scale).
    Symmetric(f32),
    /// `HybridConvPerChannel`: asymmetric input, (float(acc) · w_scale[c]) · s_row.
    ConvPerChannel(Vec<f32>),
    /// `DepthwiseConvHybridPerChannel`: asymmetric input, float(acc) · (w_scale[c] · s_row).
    DepthwisePerChannel(Vec<f32>),
}

/// One spatial axis: output size, stride, dilation and leading padding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    pub(crate) input: usize,
    pub(crate) output: usize,
    pub(crate) filter: usize,
    pub(crate) stride: usize,
    pub(crate) dilation: usize,
    pub(crate) pad: usize,
}

impl Axis {
    /// Input coordinate of filter tap `k` for output position `o`, if inside the input.
    #[inline]
    fn tap(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation)
            .checked_sub(self.pad)
            .filter(|&i| i < self.input)
    }
}

/// The geometry, filter and scaling of a hybrid CONV_2D or DEPTHWISE_CONV_2D.
pub(crate) struct HybridConvParams {
    pub(crate) h: Axis,
    pub(crate) w: Axis,
    pub(crate) in_c: usize,
    pub(crate) out_c: usize,
    /// CONV_2D: input channels per group and output channels per group.
    /// DEPTHWISE: (1, depth multiplier).
    pub(crate) group_in: usize,
    pub(crate) group_out: usize,
    pub(crate) depthwise: bool,
    /// CONV_2D: [out_c, k_h, k_w, group_in]; DEPTHWISE: [k_h, k_w, out_c].
    pub(crate) filter: Vec<i8>,
    pub(crate) scaling: ConvScaling,
    pub(crate) range: (f32, f32),
}

impl HybridConvParams {
    /// Integer accumulators of one output pixel into `acc` (one per output channel), with
    /// the input already shifted by its zero point (`shifted`, one image).
    fn accumulate_pixel(&self, shifted: &[i16], oy: usize, ox: usize, acc: &mut [i32]) {
        acc.fill(0);
        let (k_h, k_w) = (self.h.filter, self.w.filter);
        for ky in 0..k_h {
            let Some(iy) = self.h.tap(oy, ky) else {
                continue;
            };
            for kx in 0..k_w {
                let Some(ix) = self.w.tap(ox, kx) else {
                    continue;
                };
                let pixel = (iy * self.w.input + ix) * self.in_c;
                let Some(x) = shifted.get(pixel..pixel + self.in_c) else {
                    continue;
                };
                if self.depthwise {
                    let tap = (ky * k_w + kx) * self.out_c;
                    let Some(f) = self.filter.get(tap..tap + self.out_c) else {
                        continue;
                    };
                    for (oc, (a, &wv)) in acc.iter_mut().zip(f).enumerate() {
                        let xv = x.get(oc / self.group_out).copied().unwrap_or(0);
                        *a = a.wrapping_add(i32::from(wv) * i32::from(xv));
                    }
                } else {
                    for (oc, a) in acc.iter_mut().enumerate() {
                        let g = oc / self.group_out;
                        let xs = &x[(g * self.group_in).min(x.len())..];
                        let start = ((oc * k_h + ky) * k_w + kx) * self.group_in;
                        let Some(f) = self.filter.get(start..start + self.group_in) else {
                            continue;
                        };
                        let sum = f.iter().zip(xs).fold(0i32, |s, (&wv, &xv)| {
                            s.wrapping_add(i32::from(wv) * i32::from(xv))
                        });
                        *a = a.wrapping_add(sum);
                    }
                }
            }
        }
    }
}

/// Hybrid convolution of NHWC `input` into `out`, image by image. The caller has checked
/// the lengths against the batch.
pub(crate) fn hybrid_conv(
    p: &HybridConvParams,
    input: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let image_in = p.h.input * p.w.input * p.in_c;
    let image_out = p.h.output * p.w.output * p.out_c;
    if image_in == 0 || image_out == 0 {
        return Ok(());
    }
    let mut quantized = vec![0i8; image_in];
    let mut shifted = vec![0i16; image_in];
    let mut acc = vec![0i32; p.out_c];
    for (x, y) in input
        .chunks_exact(image_in)
        .zip(out.chunks_exact_mut(image_out))
    {
        let (row_scale, zero_point) = match p.scaling {
            ConvScaling::Symmetric(_) => (symmetric_quantize(x, &mut quantized), 0),
            _ => asymmetric_quantize(x, &mut quantized),
        };
        for (s, &q) in shifted.iter_mut().zip(&quantized) {
            *s = i16::from(q) - zero_point as i16;
        }
        let symmetric_scale = match p.scaling {
            ConvScaling::Symmetric(w) => row_scale * w,
            _ => row_scale,
        };
        for oy in 0..p.h.output {
            for ox in 0..p.w.output {
                p.accumulate_pixel(&shifted, oy, ox, &mut acc);
                let base = (oy * p.w.output + ox) * p.out_c;
                let Some(dst) = y.get_mut(base..base + p.out_c) else {
                    kbail!("output index out of range");
                };
                for (oc, (d, &a)) in dst.iter_mut().zip(&acc).enumerate() {
                    let a = a as f32;
                    let mut v = match &p.scaling {
                        ConvScaling::Symmetric(_) => a * symmetric_scale,
                        ConvScaling::ConvPerChannel(s) => {
                            a * s.get(oc).copied().unwrap_or(1.0) * row_scale
                        }
                        ConvScaling::DepthwisePerChannel(s) => {
                            a * (s.get(oc).copied().unwrap_or(1.0) * row_scale)
                        }
                    };
                    if let Some(b) = bias {
                        v += b.get(oc).copied().unwrap_or(0.0);
                    }
                    *d = v;
                }
            }
        }
    }
    clamp_slice(out, p.range);
    Ok(())
}
