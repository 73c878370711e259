//! TRANSPOSE_CONV: float32, and int8 (per-channel weights) / uint8 (per-tensor) as
//! LiteRT's reference kernels (`reference_integer_ops::TransposeConv`,
//! `reference_ops::TransposeConv`). The output shape must be known at plan time; the
//! loops are in `kernels::reference::transpose_conv`.

use std::marker::PhantomData;
use std::sync::Mutex;

use super::q8::{channel_scales, optional_i32, q8_input, q8_output, q8_params, Q8};
use super::shape::{checked_elements, const_ints, nhwc};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{Activation, DType, Op, Padding};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{activation_range_f32, positive, window_dim};
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_per_channel, effective_scale_per_tensor,
    quantize_multiplier,
};
use crate::kernels::reference::transpose_conv::{
    transpose_conv_f32, transpose_conv_q8, TransposeConvGeometry, TransposeConvRequant,
};
use crate::ops::exec::TensorInfo;

struct TransposeConvF32 {
    geometry: TransposeConvGeometry,
    range: (f32, f32),
}

impl Kernel for TransposeConvF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(filter), Some(input), Some(out)) =
            (inputs.get(1), inputs.get(2), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        let bias = match inputs.get(3) {
            None | Some(View::Absent) => None,
            Some(b) => Some(b.f32()?),
        };
        transpose_conv_f32(
            &self.geometry,
            input.f32()?,
            filter.f32()?,
            bias,
            self.range,
            out.f32()?,
        )
    }
}

struct TransposeConvQ8<T> {
    geometry: TransposeConvGeometry,
    requant: TransposeConvRequant,
    /// The int32 sums, one per output element: made once at prepare so that a run does
    /// not allocate (the loop zeroes it). `run` takes `&self`, hence the lock, which is
    /// never contended: each thread of a split batch has its own plan.
    scratch: Mutex<Vec<i32>>,
    elem: PhantomData<fn() -> T>,
}

impl<T: Q8> Kernel for TransposeConvQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let filter = q8_input::<T>(inputs, 1)?;
        let input = q8_input::<T>(inputs, 2)?;
        let bias = optional_i32(inputs, 3)?;
        let out = q8_output::<T>(outputs)?;
        let mut scratch = self
            .scratch
            .lock()
            .map_err(|_| KernelError::new("TRANSPOSE_CONV scratch poisoned by a failed run"))?;
        transpose_conv_q8(
            &self.geometry,
            &self.requant,
            input,
            filter,
            bias,
            &mut scratch,
            out,
            T::widen,
            T::narrow,
        )
    }
}

/// TFLite's bounds: strides in 1..=i16::MAX.
fn stride(value: i32, what: &str) -> Result<usize, KernelError> {
    if value > i32::from(i16::MAX) {
        kbail!("{what} {value} is larger than {}", i16::MAX);
    }
    positive(value, what)
}

/// The NHWC input's dims and the OHWI filter's (out channels, height, width), checked
/// positive and agreeing on the input channels (TRANSPOSE_CONV and MediaPipe's
/// Convolution2DTransposeBias).
pub(super) fn input_and_filter_dims(
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<([usize; 4], [usize; 3]), KernelError> {
    let [n, in_h, in_w, in_c] = nhwc(input, "input")?;
    let [f_out, k_h, k_w, f_in] = nhwc(filter, "filter")?;
    if [in_h, in_w, in_c, f_out, k_h, k_w].contains(&0) {
        kbail!(
            "input {:?} and filter {:?} need positive sizes",
            input.shape,
            filter.shape
        );
    }
    if f_in != in_c {
        kbail!("the filter has {f_in} input channels, the input {in_c}");
    }
    Ok(([n, in_h, in_w, in_c], [f_out, k_h, k_w]))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(3, 4, 1)?;
    let Op::TransposeConv {
        padding,
        stride_w,
        stride_h,
        activation,
    } = ctx.op.op
    else {
        kbail!("not a TRANSPOSE_CONV");
    };
    let shape_info = ctx.input(0)?;
    let filter = ctx.input(1)?;
    let input = ctx.input(2)?;
    if shape_info.dtype != DType::I32 {
        kbail!("the output shape must be int32, got {}", shape_info.dtype);
    }
    if shape_info.shape.len() != 1 {
        kbail!(
            "the output shape must be 1-D, has shape {:?}",
            shape_info.shape
        );
    }
    let dims = const_ints(shape_info, "the output shape")?;
    let out_shape: Vec<usize> = dims
        .iter()
        .map(|&d| usize::try_from(d).ok().filter(|&d| d > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| KernelError::new(format!("output shape {dims:?} needs 4 positive sizes")))?;
    let &[out_n, out_h, out_w, out_c] = out_shape.as_slice() else {
        kbail!("output shape {dims:?} must have 4 values");
    };
    checked_elements(&out_shape)?;
    let ([n, in_h, in_w, in_c], [f_out, k_h, k_w]) = input_and_filter_dims(input, filter)?;
    if out_n != n || out_c != f_out {
        kbail!(
            "output shape {out_shape:?} does not match batch {n} and the filter's {f_out} output channels"
        );
    }
    let stride_h = stride(stride_h, "stride_h")?;
    let stride_w = stride(stride_w, "stride_w")?;
    // The output is the input of the CONV_2D this op is the transpose of: that conv
    // must give back the input's size.
    let (expect_h, pad_h) = window_dim(padding, out_h, k_h, stride_h, 1)?;
    let (expect_w, pad_w) = window_dim(padding, out_w, k_w, stride_w, 1)?;
    if (expect_h, expect_w) != (in_h, in_w) {
        kbail!(
            "{} padding of output {out_h}x{out_w} with a {k_h}x{k_w} filter and stride {stride_h}x{stride_w} gives {expect_h}x{expect_w}, the input is {in_h}x{in_w}",
            if padding == Padding::Same { "SAME" } else { "VALID" }
        );
    }
    let geometry = TransposeConvGeometry {
        batch: n,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k_h,
        k_w,
        stride_h,
        stride_w,
        pad_h,
        pad_w,
    };
    let bias_type = match input.dtype {
        DType::F32 => DType::F32,
        _ => DType::I32,
    };
    if let Some(bias) = ctx.opt_input(3) {
        if bias.dtype != bias_type {
            kbail!(
                "bias must be {bias_type} for {} input, got {}",
                input.dtype,
                bias.dtype
            );
        }
        if bias.num_elements() != out_c {
            kbail!(
                "bias has {} elements, the output has {out_c} channels",
                bias.num_elements()
            );
        }
    }
    let output_shapes = vec![out_shape];
    match (input.dtype, filter.dtype) {
        (DType::F32, DType::F32) => {
            expect_output(ctx, DType::F32)?;
            let range = activation_range_f32(activation)?;
            Ok(Prepared::new(
                output_shapes,
                TransposeConvF32 { geometry, range },
            ))
        }
        (DType::I8, DType::I8) => {
            let requant = requant::<i8>(ctx, activation, out_c)?;
            Ok(Prepared::new(
                output_shapes,
                TransposeConvQ8::<i8> {
                    scratch: Mutex::new(vec![0; geometry.output_len()]),
                    geometry,
                    requant,
                    elem: PhantomData,
                },
            ))
        }
        (DType::U8, DType::U8) => {
            let requant = requant::<u8>(ctx, activation, out_c)?;
            Ok(Prepared::new(
                output_shapes,
                TransposeConvQ8::<u8> {
                    scratch: Mutex::new(vec![0; geometry.output_len()]),
                    geometry,
                    requant,
                    elem: PhantomData,
                },
            ))
        }
        (i, f) => kbail!("TRANSPOSE_CONV with {i} input and {f} filter is not supported"),
    }
}

fn expect_output(ctx: &PrepareCtx<'_>, dtype: DType) -> Result<(), KernelError> {
    let declared = ctx.output(0)?.dtype;
    if declared != dtype {
        kbail!("{dtype} input must produce {dtype} output, the model declares {declared}");
    }
    Ok(())
}

/// As TFLite's `PopulateConvolutionQuantizationParams`: int8 gets one multiplier per
/// output channel from `in_s · w_s[c] / out_s` (weights symmetric), uint8 one for all
/// from the per-tensor scales, with the weight zero point as an offset.
fn requant<T: Q8>(
    ctx: &PrepareCtx<'_>,
    activation: Activation,
    out_c: usize,
) -> Result<TransposeConvRequant, KernelError> {
    expect_output(ctx, T::DTYPE)?;
    let input = ctx.input(2)?;
    let filter = ctx.input(1)?;
    let (in_s, in_zp) = q8_params(input.quantization.as_ref(), T::DTYPE, "input")?;
    let (out_s, out_zp) = q8_params(ctx.output(0)?.quantization.as_ref(), T::DTYPE, "output")?;
    let w = channel_scales(filter, out_c, 0, "filter")?;
    let (multipliers, filter_offset) = if T::DTYPE == DType::I8 {
        if let Some(z) = w.zero_points.iter().find(|&&z| z != 0) {
            kbail!("int8 filter zero points must be 0, got {z}");
        }
        let m = w
            .scales
            .iter()
            .map(|&ws| quantize_multiplier(effective_scale_per_channel(in_s, ws, out_s)))
            .collect::<Result<Vec<_>, _>>()?;
        (m, 0)
    } else {
        if w.per_channel {
            kbail!("per-channel filter quantization needs int8 inputs");
        }
        let zp = w.zero_points.first().copied().unwrap_or(0);
        if !(0..=255).contains(&zp) {
            kbail!("uint8 filter zero point {zp} is outside 0..=255");
        }
        let scale = w.scales.first().copied().unwrap_or(0.0);
        let m = quantize_multiplier(effective_scale_per_tensor(in_s, scale, out_s))?;
        (vec![m; out_c], -(zp as i32))
    };
    let range = calculate_activation_range_quantized(activation, out_s, out_zp, T::DTYPE)?;
    Ok(TransposeConvRequant {
        input_offset: -in_zp,
        filter_offset,
        multipliers,
        output_zero_point: out_zp,
        range,
    })
}
