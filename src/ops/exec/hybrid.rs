//! Hybrid (dynamic-range) kernels: float32 activations with int8 constant weights, for
//! FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D, as TFLite's BUILTIN_REF resolver runs
//! them (docs §4).
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

use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, FullyConnectedOptions, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{
    activation_range_f32, apply_vector_activation, clamp_slice, positive, vector_activation_bounds,
    window_dim,
};
use crate::ops::exec::TensorInfo;

/// True when the op is a hybrid one: float32 input and int8 weights.
pub fn applies(ctx: &PrepareCtx<'_>) -> bool {
    let input = ctx.inputs.first().copied().flatten();
    let weights = ctx.inputs.get(1).copied().flatten();
    matches!((input, weights), (Some(i), Some(w)) if i.dtype == DType::F32 && w.dtype == DType::I8)
}

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

// ---------------------------------------------------------------------------------------
// Shared validation

/// The int8 weights of a hybrid op: constant values and their scales.
struct HybridWeights {
    values: Vec<i8>,
    scales: Vec<f32>,
}

/// Reads constant int8 weights with symmetric scales (one, or one per channel along
/// `channel_dim`, which must hold `channels` entries).
fn hybrid_weights(
    weights: &TensorInfo,
    channel_dim: usize,
    channels: usize,
) -> Result<HybridWeights, KernelError> {
    let Some(buf) = weights.constant.as_deref() else {
        kbail!(
            "hybrid kernels need constant int8 weights; '{}' is computed at run time",
            weights.name
        );
    };
    let View::I8(values) = buf.view() else {
        kbail!("weights ('{}') are not int8 data", weights.name);
    };
    if values.len() != weights.num_elements() {
        kbail!(
            "weights have {} values, their shape {:?} needs {}",
            values.len(),
            weights.shape,
            weights.num_elements()
        );
    }
    let Some(q) = weights.quantization.as_ref() else {
        kbail!(
            "int8 weights ('{}') have no quantization parameters",
            weights.name
        );
    };
    // Hybrid kernels never read a weight zero point; a nonzero one would be ignored by
    // TFLite and give wrong results silently, so it is refused.
    if q.zero_point.iter().any(|&z| z != 0) {
        kbail!("hybrid int8 weights must be symmetric (zero point 0)");
    }
    match q.scale.len() {
        1 => {}
        n if n == channels && q.quantized_dimension == channel_dim => {}
        n => kbail!(
            "weights have {n} scales along dim {}; expected 1 or {channels} along dim {channel_dim}",
            q.quantized_dimension
        ),
    }
    if q.scale.iter().any(|s| !s.is_finite() || *s <= 0.0) {
        kbail!("weight scales must be positive and finite");
    }
    Ok(HybridWeights {
        values: values.to_vec(),
        scales: q.scale.clone(),
    })
}

/// Validates an optional float bias of `len` elements.
fn check_bias(ctx: &PrepareCtx<'_>, len: usize) -> Result<(), KernelError> {
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::F32 {
            kbail!("hybrid ops take a float32 bias, got {}", bias.dtype);
        }
        if bias.num_elements() != len {
            kbail!("bias has {} elements, expected {len}", bias.num_elements());
        }
    }
    Ok(())
}

fn expect_f32_output(ctx: &PrepareCtx<'_>) -> Result<(), KernelError> {
    let out = ctx.output(0)?.dtype;
    if out != DType::F32 {
        kbail!("hybrid ops produce float32, the model declares {out}");
    }
    Ok(())
}

/// Input, optional bias and output of a float hybrid kernel.
type HybridIo<'a, 'b> = (&'a [f32], Option<&'a [f32]>, &'b mut [f32]);

fn run_io<'a, 'b>(
    inputs: &[View<'a>],
    outputs: &'b mut [ViewMut<'_>],
) -> Result<HybridIo<'a, 'b>, KernelError> {
    let input = match inputs.first() {
        Some(v) => v.f32()?,
        None => kbail!("input 0 is missing"),
    };
    let bias = match inputs.get(2) {
        None | Some(View::Absent) => None,
        Some(v) => Some(v.f32()?),
    };
    let out = match outputs.first_mut() {
        Some(v) => v.f32()?,
        None => kbail!("output 0 is missing"),
    };
    Ok((input, bias, out))
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

/// Batches, depth, units and output shape of a FULLY_CONNECTED, as TFLite derives them.
pub(crate) struct FcGeometry {
    pub batches: usize,
    pub depth: usize,
    pub units: usize,
    pub output: Vec<usize>,
}

pub(crate) fn fc_geometry(
    options: &FullyConnectedOptions,
    input: &TensorInfo,
    weights: &TensorInfo,
) -> Result<FcGeometry, KernelError> {
    let (units, depth) = match weights.shape.as_slice() {
        &[units, depth] => (units, depth),
        s => kbail!("weights must be 2-D [units, depth], got shape {s:?}"),
    };
    if depth == 0 {
        kbail!("weights have depth 0");
    }
    let Some(&last) = input.shape.last() else {
        kbail!("input must have rank at least 1, got a scalar");
    };
    let elements = input.num_elements();
    if !elements.is_multiple_of(depth) {
        kbail!(
            "input shape {:?} has {elements} elements, not a multiple of the weights' depth {depth}",
            input.shape
        );
    }
    let batches = elements / depth;
    let output = if options.keep_num_dims {
        if last != depth {
            kbail!("with keep_num_dims the input's last dim ({last}) must equal the weights' depth ({depth})");
        }
        let mut shape = input.shape.clone();
        if let Some(l) = shape.last_mut() {
            *l = units;
        }
        shape
    } else {
        vec![batches, units]
    };
    Ok(FcGeometry {
        batches,
        depth,
        units,
        output,
    })
}

struct HybridFc {
    batches: usize,
    depth: usize,
    units: usize,
    /// [units, depth].
    weights: Vec<i8>,
    /// Σ of each weight row, for removing the input zero point from the dot products.
    row_sums: Vec<i32>,
    /// One scale per unit, or `None` for a per-tensor `weight_scale`.
    channel_scales: Option<Vec<f32>>,
    weight_scale: f32,
    asymmetric: bool,
    /// TFLite's hybrid FULLY_CONNECTED applies its activation with `ApplyActivationToVector`,
    /// not the clamp of the other kernels (see [`vector_activation_bounds`]).
    activation: Option<(f32, f32)>,
}

/// Prepares a hybrid FULLY_CONNECTED (dense int8 weights).
pub fn prepare_fully_connected(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::FullyConnected(options) = &ctx.op.op else {
        kbail!("not a FULLY_CONNECTED: {}", ctx.op.op.name());
    };
    if options.shuffled_weights {
        kbail!("weights in the shuffled SHUFFLED4x16INT8 format are not supported");
    }
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let weights = ctx.input(1)?;
    if weights.sparsity.is_some() {
        kbail!("sparse int8 weights with float input (sparse hybrid FULLY_CONNECTED) are not supported");
    }
    expect_f32_output(ctx)?;
    let geometry = fc_geometry(options, input, weights)?;
    check_bias(ctx, geometry.units)?;
    let activation = vector_activation_bounds(options.activation)?;
    let w = hybrid_weights(weights, 0, geometry.units)?;
    let row_sums = w
        .values
        .chunks_exact(geometry.depth)
        .map(|row| row.iter().fold(0i32, |s, &x| s.wrapping_add(i32::from(x))))
        .collect();
    // TFLite treats any scale vector longer than one as per channel.
    let (channel_scales, weight_scale) = if w.scales.len() > 1 {
        (Some(w.scales), 1.0)
    } else {
        (None, w.scales.first().copied().unwrap_or(1.0))
    };
    Ok(Prepared::new(
        vec![geometry.output],
        HybridFc {
            batches: geometry.batches,
            depth: geometry.depth,
            units: geometry.units,
            weights: w.values,
            row_sums,
            channel_scales,
            weight_scale,
            asymmetric: options.asymmetric_quantize_inputs,
            activation,
        },
    ))
}

impl Kernel for HybridFc {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (input, bias, out) = run_io(inputs, outputs)?;
        if input.len() != self.batches * self.depth
            || out.len() != self.batches * self.units
            || bias.is_some_and(|b| b.len() != self.units)
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        for row in out.chunks_exact_mut(self.units) {
            match bias {
                Some(b) => row.copy_from_slice(b),
                None => row.fill(0.0),
            }
        }
        // TFLite skips the product when the whole input is zero; the result is the same
        // bias either way, so this only saves work.
        if input.iter().all(|&x| x == 0.0) {
            apply_vector_activation(out, self.activation);
            return Ok(());
        }
        let mut quantized = vec![0i8; self.depth];
        for (x, y) in input
            .chunks_exact(self.depth)
            .zip(out.chunks_exact_mut(self.units))
        {
            let (row_scale, zero_point) = if self.asymmetric {
                asymmetric_quantize(x, &mut quantized)
            } else {
                (symmetric_quantize(x, &mut quantized), 0)
            };
            let batch_scale = match self.channel_scales {
                Some(_) => row_scale,
                None => row_scale * self.weight_scale,
            };
            for (u, (w, acc)) in self
                .weights
                .chunks_exact(self.depth)
                .zip(y.iter_mut())
                .enumerate()
            {
                let mut dot = dot_i8(w, &quantized);
                if zero_point != 0 {
                    let row_sum = self.row_sums.get(u).copied().unwrap_or(0);
                    dot = dot.wrapping_sub(zero_point.wrapping_mul(row_sum));
                }
                let scale = match &self.channel_scales {
                    Some(s) => s.get(u).copied().unwrap_or(1.0) * batch_scale,
                    None => batch_scale,
                };
                *acc += dot as f32 * scale;
            }
        }
        apply_vector_activation(out, self.activation);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// CONV_2D and DEPTHWISE_CONV_2D

/// How the accumulator of one output becomes float.
#[derive(Clone, Debug)]
enum ConvScaling {
    /// `HybridConv`: symmetric input, float(acc) · (s_row · w_scale).
    Symmetric(f32),
    /// `HybridConvPerChannel`: asymmetric input, (float(acc) · w_scale[c]) · s_row.
    ConvPerChannel(Vec<f32>),
    /// `DepthwiseConvHybridPerChannel`: asymmetric input, float(acc) · (w_scale[c] · s_row).
    DepthwisePerChannel(Vec<f32>),
}

/// One spatial axis: output size, stride, dilation and leading padding.
#[derive(Clone, Copy, Debug)]
struct Axis {
    input: usize,
    output: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
    pad: usize,
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

struct HybridConv {
    batch: usize,
    h: Axis,
    w: Axis,
    in_c: usize,
    out_c: usize,
    /// CONV_2D: input channels per group and output channels per group.
    /// DEPTHWISE: (1, depth multiplier).
    group_in: usize,
    group_out: usize,
    depthwise: bool,
    /// CONV_2D: [out_c, k_h, k_w, group_in]; DEPTHWISE: [k_h, k_w, out_c].
    filter: Vec<i8>,
    scaling: ConvScaling,
    range: (f32, f32),
}

/// Prepares a hybrid CONV_2D or DEPTHWISE_CONV_2D.
pub fn prepare_conv(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    struct Params {
        padding: crate::ir::Padding,
        stride: (i32, i32),
        dilation: (i32, i32),
        activation: crate::ir::Activation,
        depthwise: bool,
    }
    let p = match &ctx.op.op {
        Op::Conv2d(o) => Params {
            padding: o.padding,
            stride: (o.stride_h, o.stride_w),
            dilation: (o.dilation_h, o.dilation_w),
            activation: o.activation,
            depthwise: false,
        },
        Op::DepthwiseConv2d(o) => Params {
            padding: o.padding,
            stride: (o.stride_h, o.stride_w),
            dilation: (o.dilation_h, o.dilation_w),
            activation: o.activation,
            depthwise: true,
        },
        other => kbail!("not a convolution: {}", other.name()),
    };
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    expect_f32_output(ctx)?;
    let [n, in_h, in_w, in_c] = four_d(input, "input")?;
    let [f0, k_h, k_w, f3] = four_d(filter, "filter")?;
    let (out_c, group_in, group_out, channel_dim) = if p.depthwise {
        if f0 != 1 {
            kbail!(
                "depthwise filter must have shape [1, KH, KW, C], got {:?}",
                filter.shape
            );
        }
        if in_c == 0 || !f3.is_multiple_of(in_c) {
            kbail!("filter has {f3} output channels, not a multiple of the input's {in_c}");
        }
        (f3, 1, f3 / in_c, 3)
    } else {
        if f3 == 0 || !in_c.is_multiple_of(f3) {
            kbail!("input has {in_c} channels, not a multiple of the filter's {f3} input channels");
        }
        let groups = in_c / f3;
        if groups == 0 || !f0.is_multiple_of(groups) {
            kbail!("{f0} output channels cannot be split into {groups} groups");
        }
        (f0, f3, f0 / groups, 0)
    };
    check_bias(ctx, out_c)?;
    let range = activation_range_f32(p.activation)?;
    let axis = |padding, input, filter, stride: i32, dilation: i32, what: &str| {
        let stride = positive(stride, &format!("stride_{what}"))?;
        let dilation = positive(dilation, &format!("dilation_{what}"))?;
        let (output, pad) = window_dim(padding, input, filter, stride, dilation)?;
        Ok::<Axis, KernelError>(Axis {
            input,
            output,
            filter,
            stride,
            dilation,
            pad,
        })
    };
    let h = axis(p.padding, in_h, k_h, p.stride.0, p.dilation.0, "h")?;
    let w = axis(p.padding, in_w, k_w, p.stride.1, p.dilation.1, "w")?;
    let weights = hybrid_weights(filter, channel_dim, out_c)?;
    let per_channel = |scales: &[f32]| -> Vec<f32> {
        match scales {
            [one] => vec![*one; out_c],
            many => many.to_vec(),
        }
    };
    let scaling = if p.depthwise {
        ConvScaling::DepthwisePerChannel(per_channel(&weights.scales))
    } else {
        let first = weights.scales.first().copied().unwrap_or(1.0);
        let differ = weights.scales.iter().any(|&s| s != first);
        // TFLite also sends grouped convolutions down the per-channel path.
        if differ || group_in != in_c {
            ConvScaling::ConvPerChannel(per_channel(&weights.scales))
        } else {
            ConvScaling::Symmetric(first)
        }
    };
    // A depthwise [1, k_h, k_w, out_c] filter is already laid out as [k_h, k_w, out_c].
    let filter_values = weights.values;
    let output_shape = vec![n, h.output, w.output, out_c];
    Ok(Prepared::new(
        vec![output_shape],
        HybridConv {
            batch: n,
            h,
            w,
            in_c,
            out_c,
            group_in,
            group_out,
            depthwise: p.depthwise,
            filter: filter_values,
            scaling,
            range,
        },
    ))
}

fn four_d(info: &TensorInfo, what: &str) -> Result<[usize; 4], KernelError> {
    match info.shape.as_slice() {
        &[a, b, c, d] => Ok([a, b, c, d]),
        s => kbail!("{what} must be 4-D, got shape {s:?}"),
    }
}

impl HybridConv {
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

impl Kernel for HybridConv {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (input, bias, out) = run_io(inputs, outputs)?;
        let image_in = self.h.input * self.w.input * self.in_c;
        let image_out = self.h.output * self.w.output * self.out_c;
        if input.len() != self.batch * image_in
            || out.len() != self.batch * image_out
            || bias.is_some_and(|b| b.len() != self.out_c)
        {
            kbail!("convolution buffers do not match the planned shapes");
        }
        if image_in == 0 || image_out == 0 {
            return Ok(());
        }
        let mut quantized = vec![0i8; image_in];
        let mut shifted = vec![0i16; image_in];
        let mut acc = vec![0i32; self.out_c];
        for (x, y) in input
            .chunks_exact(image_in)
            .zip(out.chunks_exact_mut(image_out))
        {
            let (row_scale, zero_point) = match self.scaling {
                ConvScaling::Symmetric(_) => (symmetric_quantize(x, &mut quantized), 0),
                _ => asymmetric_quantize(x, &mut quantized),
            };
            for (s, &q) in shifted.iter_mut().zip(&quantized) {
                *s = i16::from(q) - zero_point as i16;
            }
            let symmetric_scale = match self.scaling {
                ConvScaling::Symmetric(w) => row_scale * w,
                _ => row_scale,
            };
            for oy in 0..self.h.output {
                for ox in 0..self.w.output {
                    self.accumulate_pixel(&shifted, oy, ox, &mut acc);
                    let base = (oy * self.w.output + ox) * self.out_c;
                    let Some(dst) = y.get_mut(base..base + self.out_c) else {
                        kbail!("output index out of range");
                    };
                    for (oc, (d, &a)) in dst.iter_mut().zip(&acc).enumerate() {
                        let a = a as f32;
                        let mut v = match &self.scaling {
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
        clamp_slice(out, self.range);
        Ok(())
    }
}
