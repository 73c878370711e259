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
    multiply_by_quantized_multiplier, quantize_multiplier,
};
use crate::kernels::window::{window2d, TapRange, WindowParams};
use crate::ops::exec::TensorInfo;

use crate::kernels::reference::conv::{ConvShape, DepthwiseShape, BLOCK, LANES, TILE};

mod depthwise_f32;
mod depthwise_q8;
mod f32;
#[cfg(test)]
mod f32_tests;
mod madd;
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

/// What every 8-bit conv kernel needs besides its geometry and filter.
#[derive(Clone, Debug)]
struct Requant {
    /// `(multiplier, shift)` per output channel, as `QuantizeMultiplier` encodes them.
    multipliers: Vec<(i32, i32)>,
    input_offset: i32,
    output_zero_point: i32,
    range: (i32, i32),
    /// The multipliers split for [`requant_lanes`] (padded with `BLOCK` idle lanes so
    /// every block reads whole arrays), or None when some channel's is outside what
    /// that form reproduces exactly.
    lanes: Option<LaneTables>,
}

#[derive(Clone, Debug)]
struct LaneTables {
    multiplier: Vec<i32>,
    left: Vec<u32>,
    right: Vec<u32>,
}

impl LaneTables {
    fn new(multipliers: &[(i32, i32)]) -> Option<LaneTables> {
        if !multipliers.iter().all(|&(m, shift)| lane_exact(m, shift)) {
            return None;
        }
        let idle = std::iter::repeat_n((0, 0), BLOCK);
        let padded = || multipliers.iter().copied().chain(idle.clone());
        Some(LaneTables {
            multiplier: padded().map(|(m, _)| m).collect(),
            left: padded().map(|(_, s)| s.max(0).unsigned_abs()).collect(),
            right: padded().map(|(_, s)| s.min(0).unsigned_abs()).collect(),
        })
    }
}

impl Requant {
    /// Bias added, rescaled, offset and clamped, as TFLite finishes each output.
    #[inline(always)]
    fn finish(&self, acc: i32, bias: Option<&[i32]>, channel: usize) -> i32 {
        let bias = bias.map_or(0, |b| b[channel]);
        let (m, shift) = self.multipliers[channel];
        multiply_by_quantized_multiplier(acc.wrapping_add(bias), m, shift)
            .wrapping_add(self.output_zero_point)
            .clamp(self.range.0, self.range.1)
    }
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

/// The requantization of one block of W output channels, laid out lane by lane so all
/// W run at once. `lanes` is None when some channel's multiplier falls outside what
/// [`requant_lanes`] reproduces exactly; those blocks take [`Requant::finish`].
struct BlockFinish<const W: usize> {
    lanes: Option<LaneRequant<W>>,
    bias: Option<[i32; W]>,
    first: usize,
}

struct LaneRequant<const W: usize> {
    bias: [i32; W],
    multiplier: [i32; W],
    left: [u32; W],
    right: [u32; W],
    zero_point: i32,
    range: (i32, i32),
}

impl<const W: usize> BlockFinish<W> {
    /// Output channels `first..first + valid` (lanes beyond `valid` are never stored).
    fn new(r: &Requant, bias: Option<&[i32]>, first: usize, valid: usize) -> BlockFinish<W> {
        let mut block_bias = [0i32; W];
        if let Some(b) = bias {
            block_bias[..valid].copy_from_slice(&b[first..first + valid]);
        }
        // Lanes past `valid` read the next channels' (or idle) entries and are never
        // stored.
        let lanes = r.lanes.as_ref().map(|t| LaneRequant {
            bias: block_bias,
            multiplier: lane_block(&t.multiplier, first),
            left: lane_block(&t.left, first),
            right: lane_block(&t.right, first),
            zero_point: r.output_zero_point,
            range: r.range,
        });
        BlockFinish {
            lanes,
            bias: bias.map(|_| block_bias),
            first,
        }
    }

    /// Requantizes `acc` and writes its first `dst.len()` lanes.
    #[inline(always)]
    fn store<T: Q8>(&self, dst: &mut [T], acc: &[i32; W], r: &Requant) {
        match &self.lanes {
            Some(q) => {
                let values = requant_lanes(acc, q);
                for (d, &v) in dst.iter_mut().zip(&values) {
                    *d = T::narrow(v);
                }
            }
            None => {
                for (l, (d, &a)) in dst.iter_mut().zip(acc).enumerate() {
                    let with_bias = a.wrapping_add(self.bias.map_or(0, |b| b[l]));
                    *d = T::narrow(r.finish(with_bias, None, self.first + l));
                }
            }
        }
    }
}

/// `table[first..first + W]`; the lane tables are padded by `BLOCK >= W` entries.
#[inline(always)]
fn lane_block<X: Copy + Default, const W: usize>(table: &[X], first: usize) -> [X; W] {
    match table.get(first..).and_then(|t| t.first_chunk::<W>()) {
        Some(b) => *b,
        None => [X::default(); W],
    }
}

/// True when [`requant_lanes`] gives exactly `multiply_by_quantized_multiplier`: the
/// left shift fits an i32 lane shift, the right shift is at most 31, and the
/// multiplier is not i32::MIN (the one input SaturatingRoundingDoublingHighMul
/// saturates, together with x = i32::MIN). `QuantizeMultiplier` never produces
/// anything else for the scales real models have.
fn lane_exact(multiplier: i32, shift: i32) -> bool {
    multiplier != i32::MIN && (-31..=30).contains(&shift)
}

/// MultiplyByQuantizedMultiplier, output offset and clamp on W lanes, written with i32
/// lane operations (and one widening multiply) so it vectorizes. Exactness: with
/// p = x·m, gemmlowp's SaturatingRoundingDoublingHighMul is (p + nudge) / 2^31
/// truncated, nudge = 2^30 for p >= 0 and 1 - 2^30 for p < 0; for p < 0 truncation is
/// ceil(a / 2^31) = floor((a + 2^31 - 1) / 2^31) with a = p + 1 - 2^30, i.e.
/// floor((p + 2^30) / 2^31) in both cases, an arithmetic shift (x = m = i32::MIN is
/// excluded by [`lane_exact`]). RoundingDivideByPOT follows gemmlowp's mask/threshold
/// form, valid for exponents up to 31.
#[inline(always)]
fn requant_lanes<const W: usize>(acc: &[i32; W], q: &LaneRequant<W>) -> [i32; W] {
    let mut out = [0i32; W];
    for l in 0..W {
        let x = acc[l].wrapping_add(q.bias[l]).wrapping_shl(q.left[l]);
        let product = i64::from(x) * i64::from(q.multiplier[l]);
        let high = ((product + (1 << 30)) >> 31) as i32;
        let exponent = q.right[l];
        let mask = (1u32.wrapping_shl(exponent).wrapping_sub(1)) as i32;
        let remainder = high & mask;
        let threshold = (mask >> 1) + i32::from(high < 0);
        let rounded = (high >> exponent) + i32::from(remainder > threshold);
        out[l] = rounded
            .wrapping_add(q.zero_point)
            .clamp(q.range.0, q.range.1);
    }
    out
}
