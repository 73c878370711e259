//! Hybrid (dynamic-range) FULLY_CONNECTED, CONV_2D and DEPTHWISE_CONV_2D: float32
//! activations with int8 constant weights. This file validates the weights and prepares
//! the ops; the arithmetic, and which of TFLite's orderings each op follows, is in
//! `kernels::reference::hybrid`.

use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, FullyConnectedOptions, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{
    activation_range_f32, positive, vector_activation_bounds, window_dim,
};
use crate::kernels::reference::hybrid::{
    hybrid_conv, hybrid_fc, Axis, ConvScaling, HybridConvParams, HybridFcParams,
};
use crate::ops::exec::TensorInfo;

/// True when the op is a hybrid one: float32 input and int8 weights.
pub fn applies(ctx: &PrepareCtx<'_>) -> bool {
    let input = ctx.inputs.first().copied().flatten();
    let weights = ctx.inputs.get(1).copied().flatten();
    matches!((input, weights), (Some(i), Some(w)) if i.dtype == DType::F32 && w.dtype == DType::I8)
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
    params: HybridFcParams,
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
            params: HybridFcParams {
                depth: geometry.depth,
                units: geometry.units,
                weights: w.values,
                row_sums,
                channel_scales,
                weight_scale,
                asymmetric: options.asymmetric_quantize_inputs,
                activation,
            },
        },
    ))
}

impl Kernel for HybridFc {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (input, bias, out) = run_io(inputs, outputs)?;
        let p = &self.params;
        if input.len() != self.batches * p.depth
            || out.len() != self.batches * p.units
            || bias.is_some_and(|b| b.len() != p.units)
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        hybrid_fc(p, input, bias, out);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// CONV_2D and DEPTHWISE_CONV_2D

struct HybridConv {
    batch: usize,
    params: HybridConvParams,
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
            params: HybridConvParams {
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
        },
    ))
}

fn four_d(info: &TensorInfo, what: &str) -> Result<[usize; 4], KernelError> {
    match info.shape.as_slice() {
        &[a, b, c, d] => Ok([a, b, c, d]),
        s => kbail!("{what} must be 4-D, got shape {s:?}"),
    }
}

impl Kernel for HybridConv {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (input, bias, out) = run_io(inputs, outputs)?;
        let p = &self.params;
        let image_in = p.h.input * p.w.input * p.in_c;
        let image_out = p.h.output * p.w.output * p.out_c;
        if input.len() != self.batch * image_in
            || out.len() != self.batch * image_out
            || bias.is_some_and(|b| b.len() != p.out_c)
        {
            kbail!("convolution buffers do not match the planned shapes");
        }
        hybrid_conv(p, input, bias, out)
    }
}
