//! CONV_2D and DEPTHWISE_CONV_2D.
//!
//! `prepare` dispatches on the (input, filter) element types so integer variants can sit
//! beside the float ones. Everything that depends only on shapes is resolved there: the
//! output size, the filter taps that land inside the image for every output row and
//! column (so inner loops need no bounds tests and padding costs nothing), and a copy of
//! the conv filter repacked so the innermost loop runs over contiguous output channels.

use std::marker::PhantomData;
use std::sync::Mutex;

use super::q8::*;
use super::shape::nhwc;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{Activation, DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::activation_range_f32;
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_per_channel, effective_scale_per_tensor,
    quantize_multiplier,
};
use crate::kernels::window::{window2d, WindowParams};
use crate::ops::exec::TensorInfo;

use crate::kernels::reference::conv::{ConvShape, DepthwiseShape, LANES};
use crate::kernels::reference::conv_q8::{LaneTables, Requant};

mod depthwise_f32;
mod depthwise_q8;
mod f32;
#[cfg(test)]
mod f32_tests;
mod q8;
#[cfg(test)]
mod q8_tests;

use depthwise_f32::prepare_depthwise_f32;
use depthwise_q8::prepare_depthwise_q8;
use f32::prepare_conv_f32;
use q8::prepare_conv_q8;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    if super::hybrid::applies(ctx) {
        return super::hybrid::prepare_conv(ctx);
    }
    match &ctx.op.op {
        Op::Conv2d(o) => {
            let params = WindowParams {
                padding: o.padding,
                stride_h: o.stride_h,
                stride_w: o.stride_w,
                dilation_h: o.dilation_h,
                dilation_w: o.dilation_w,
                activation: o.activation,
            };
            prepare_conv(ctx, &params)
        }
        // The depth multiplier option is redundant with the shapes and TFLite itself
        // derives it from them, so the option is not consulted.
        Op::DepthwiseConv2d(o) => {
            let params = WindowParams {
                padding: o.padding,
                stride_h: o.stride_h,
                stride_w: o.stride_w,
                dilation_h: o.dilation_h,
                dilation_w: o.dilation_w,
                activation: o.activation,
            };
            prepare_depthwise(ctx, &params)
        }
        other => kbail!("the convolution kernel cannot run {}", other.name()),
    }
}

/// Checks a float output is declared float32 (the float kernels write nothing else).
fn expect_f32_output(ctx: &PrepareCtx<'_>, input: DType, filter: DType) -> Result<(), KernelError> {
    let out = ctx.output(0)?.dtype;
    if out != DType::F32 {
        kbail!("{input} input with {filter} filter must produce float32 output, the model declares {out}");
    }
    Ok(())
}

/// Validates an optional float bias of `len` elements.
fn check_bias(ctx: &PrepareCtx<'_>, len: usize) -> Result<(), KernelError> {
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::F32 {
            kbail!(
                "bias must be float32 for float convolution, got {}",
                bias.dtype
            );
        }
        if bias.num_elements() != len {
            kbail!(
                "bias has {} elements, the output has {len} channels",
                bias.num_elements()
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// CONV_2D

pub(super) fn prepare_conv(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    match (input.dtype, filter.dtype) {
        (DType::F32, DType::F32) => prepare_conv_f32(ctx, params, input, filter),
        (DType::I8, DType::I8) => prepare_conv_q8::<i8>(ctx, params, input, filter),
        (DType::U8, DType::U8) => prepare_conv_q8::<u8>(ctx, params, input, filter),
        (i, f) => kbail!("CONV_2D with {i} input and {f} filter is not supported"),
    }
}

enum PackedFilter {
    /// Packed once at prepare from a constant filter.
    Constant(Vec<f32>),
    /// The filter arrives at run time; it is packed into this buffer (sized at
    /// prepare) on every run.
    Runtime(Mutex<Vec<f32>>),
}

/// Validates a CONV_2D input and filter and resolves the geometry both element types use.
fn conv_shape(
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<ConvShape, KernelError> {
    let [n, in_h, in_w, in_c] = nhwc(input, "input")?;
    let [out_c, k_h, k_w, group_in] = nhwc(filter, "filter")?;
    if group_in == 0 || !in_c.is_multiple_of(group_in) {
        kbail!(
            "input has {in_c} channels, not a multiple of the filter's {group_in} input channels"
        );
    }
    let groups = in_c / group_in;
    if groups == 0 || !out_c.is_multiple_of(groups) {
        kbail!("{out_c} output channels cannot be split into {groups} groups");
    }
    let win = window2d(params, n, in_h, in_w, k_h, k_w)?;
    let group_out = out_c / groups;
    Ok(ConvShape {
        in_c,
        group_in,
        groups,
        out_c,
        group_out,
        group_out_padded: group_out.div_ceil(LANES) * LANES,
        k_h,
        k_w,
        contiguous_taps: groups == 1 && win.w.dilation == 1,
        panels: false,
        win,
    })
}

fn input_f32<'a>(inputs: &[View<'a>], i: usize) -> Result<&'a [f32], KernelError> {
    match inputs.get(i) {
        Some(v) => v.f32(),
        None => kbail!("input {i} is missing"),
    }
}

fn optional_f32<'a>(inputs: &[View<'a>], i: usize) -> Result<Option<&'a [f32]>, KernelError> {
    match inputs.get(i) {
        None | Some(View::Absent) => Ok(None),
        Some(v) => v.f32().map(Some),
    }
}

fn output_f32<'a, 'b>(outputs: &'a mut [ViewMut<'b>]) -> Result<&'a mut [f32], KernelError> {
    match outputs.first_mut() {
        Some(v) => v.f32(),
        None => kbail!("output 0 is missing"),
    }
}

// ---------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D

pub(super) fn prepare_depthwise(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    match (input.dtype, filter.dtype) {
        (DType::F32, DType::F32) => prepare_depthwise_f32(ctx, params, input, filter),
        (DType::I8, DType::I8) => prepare_depthwise_q8::<i8>(ctx, params, input, filter),
        (DType::U8, DType::U8) => prepare_depthwise_q8::<u8>(ctx, params, input, filter),
        (i, f) => kbail!("DEPTHWISE_CONV_2D with {i} input and {f} filter is not supported"),
    }
}

/// Validates a DEPTHWISE_CONV_2D input and filter and resolves the geometry.
fn depthwise_shape(
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<DepthwiseShape, KernelError> {
    let [n, in_h, in_w, in_c] = nhwc(input, "input")?;
    let [one, k_h, k_w, out_c] = nhwc(filter, "filter")?;
    if one != 1 {
        kbail!(
            "depthwise filter must have shape [1, KH, KW, C], got {:?}",
            filter.shape
        );
    }
    if in_c == 0 || !out_c.is_multiple_of(in_c) {
        kbail!("filter has {out_c} output channels, not a multiple of the input's {in_c} channels");
    }
    let win = window2d(params, n, in_h, in_w, k_h, k_w)?;
    Ok(DepthwiseShape {
        win,
        in_c,
        multiplier: out_c / in_c,
        out_c,
        k_h,
        k_w,
    })
}

/// Quantization parameters of an 8-bit conv: per-channel multipliers for int8 (as
/// `PopulateConvolutionQuantizationParams` computes them, a per-tensor filter scale
/// being broadcast), the legacy per-tensor multiplier for uint8
/// (`GetQuantizedConvolutionMultipler`, which takes the scale product in float).
/// Returns the filter offset too (always 0 for int8, whose zero points must be 0).
fn q8_requant<T: Q8>(
    ctx: &PrepareCtx<'_>,
    input: &TensorInfo,
    filter: &TensorInfo,
    out_c: usize,
    filter_axis: usize,
    activation: Activation,
) -> Result<(Requant, i32), KernelError> {
    let output = ctx.output(0)?;
    if output.dtype != T::DTYPE {
        kbail!(
            "{} input must produce {} output, the model declares {}",
            T::DTYPE,
            T::DTYPE,
            output.dtype
        );
    }
    let (in_s, in_zp) = q8_params(input.quantization.as_ref(), T::DTYPE, "input")?;
    let (out_s, out_zp) = q8_params(output.quantization.as_ref(), T::DTYPE, "output")?;
    let w = channel_scales(filter, out_c, filter_axis, "filter")?;
    let (multipliers, filter_offset) = match T::DTYPE {
        DType::I8 => {
            if let Some(z) = w.zero_points.iter().find(|&&z| z != 0) {
                kbail!("int8 filter zero points must be 0, got {z}");
            }
            let m = w
                .scales
                .iter()
                .map(|&ws| quantize_multiplier(effective_scale_per_channel(in_s, ws, out_s)))
                .collect::<Result<Vec<_>, _>>()?;
            (m, 0)
        }
        _ => {
            if w.per_channel {
                kbail!("per-channel filter quantization needs int8 inputs");
            }
            let zp = w.zero_points[0];
            if !(0..=255).contains(&zp) {
                kbail!("uint8 filter zero point {zp} is outside 0..=255");
            }
            let real = effective_scale_per_tensor(in_s, w.scales[0], out_s);
            (vec![quantize_multiplier(real)?; out_c], -(zp as i32))
        }
    };
    let range = calculate_activation_range_quantized(activation, out_s, out_zp, T::DTYPE)?;
    Ok((
        Requant {
            lanes: LaneTables::new(&multipliers),
            multipliers,
            input_offset: -in_zp,
            output_zero_point: out_zp,
            range,
        },
        filter_offset,
    ))
}
