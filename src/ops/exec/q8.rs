//! The 8-bit quantized element types and the accessors and quantization checks the
//! int8/uint8 kernels share.

use super::PrepareCtx;
use crate::ir::KernelError;
use crate::ir::{DType, Quantization};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::quantized_range;
use crate::ops::exec::TensorInfo;

/// An 8-bit quantized element type: int8 (the current spec) or uint8 (legacy models).
pub(crate) trait Q8: crate::kernels::reference::quant_binary::QByte {
    const DTYPE: DType;
    fn slice<'a>(view: &View<'a>) -> Result<&'a [Self], KernelError>;
    fn slice_mut<'a>(view: &'a mut ViewMut<'_>) -> Result<&'a mut [Self], KernelError>;
}

impl Q8 for i8 {
    const DTYPE: DType = DType::I8;
    fn slice<'a>(view: &View<'a>) -> Result<&'a [i8], KernelError> {
        view.i8()
    }
    fn slice_mut<'a>(view: &'a mut ViewMut<'_>) -> Result<&'a mut [i8], KernelError> {
        view.i8()
    }
}

impl Q8 for u8 {
    const DTYPE: DType = DType::U8;
    fn slice<'a>(view: &View<'a>) -> Result<&'a [u8], KernelError> {
        view.u8()
    }
    fn slice_mut<'a>(view: &'a mut ViewMut<'_>) -> Result<&'a mut [u8], KernelError> {
        view.u8()
    }
}

/// Input `i` as 8-bit elements.
pub(crate) fn q8_input<'a, T: Q8>(inputs: &[View<'a>], i: usize) -> Result<&'a [T], KernelError> {
    match inputs.get(i) {
        Some(v) => T::slice(v),
        None => kbail!("input {i} is missing"),
    }
}

/// Output 0 as 8-bit elements.
pub(crate) fn q8_output<'a, T: Q8>(
    outputs: &'a mut [ViewMut<'_>],
) -> Result<&'a mut [T], KernelError> {
    match outputs.first_mut() {
        Some(v) => T::slice_mut(v),
        None => kbail!("output 0 is missing"),
    }
}

/// The optional int32 bias (input 2).
pub(crate) fn optional_i32<'a>(
    inputs: &[View<'a>],
    i: usize,
) -> Result<Option<&'a [i32]>, KernelError> {
    match inputs.get(i) {
        None | Some(View::Absent) => Ok(None),
        Some(v) => v.i32().map(Some),
    }
}

/// Per-tensor (scale, zero point) of an 8-bit activation, checked usable: a positive
/// finite scale and a zero point inside the type's range.
pub(crate) fn q8_params(
    quantization: Option<&Quantization>,
    dtype: DType,
    what: &str,
) -> Result<(f32, i32), KernelError> {
    let Some(q) = quantization else {
        kbail!("{what} is {dtype} but has no quantization parameters");
    };
    let (scale, zero_point) = match (q.scale.as_slice(), q.zero_point.as_slice()) {
        ([s], [z]) => (*s, *z),
        ([s], []) => (*s, 0),
        (s, _) => kbail!(
            "{what} must be quantized per tensor, it has {} scales",
            s.len()
        ),
    };
    if !(scale.is_finite() && scale > 0.0) {
        kbail!("{what} has the unusable scale {scale}");
    }
    let (lo, hi) = quantized_range(dtype)?;
    if zero_point < i64::from(lo) || zero_point > i64::from(hi) {
        kbail!("{what} has zero point {zero_point}, outside the {dtype} range");
    }
    Ok((scale, zero_point as i32))
}

/// Quantization of a weight tensor along output channels: one (scale, zero point) per
/// channel, broadcast from a single pair when quantized per tensor. `per_channel` tells
/// which it was. A per-channel table must run along `axis` and have one entry per
/// channel.
pub(crate) struct ChannelScales {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
    pub per_channel: bool,
}

pub(crate) fn channel_scales(
    info: &TensorInfo,
    channels: usize,
    axis: usize,
    what: &str,
) -> Result<ChannelScales, KernelError> {
    let Some(q) = info.quantization.as_ref() else {
        kbail!(
            "{what} is {} but has no quantization parameters",
            info.dtype
        );
    };
    let per_channel = match q.scale.len() {
        0 => kbail!("{what} is {} but has no scales", info.dtype),
        1 => false,
        n if n == channels && q.quantized_dimension == axis => true,
        n => kbail!(
            "{what} has {n} scales along dimension {}, expected 1 or {channels} along dimension {axis}",
            q.quantized_dimension
        ),
    };
    let scales = if per_channel {
        q.scale.clone()
    } else {
        vec![q.scale[0]; channels]
    };
    if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        kbail!("{what} has the unusable scale {bad}");
    }
    let zero_points = match q.zero_point.len() {
        0 => vec![0; channels],
        1 => vec![q.zero_point[0]; channels],
        n if n == channels => q.zero_point.clone(),
        n => kbail!("{what} has {n} zero points for {channels} channels"),
    };
    Ok(ChannelScales {
        scales,
        zero_points,
        per_channel,
    })
}

/// Validates an optional int32 bias of `len` elements.
pub(crate) fn check_bias_i32(ctx: &PrepareCtx<'_>, len: usize) -> Result<(), KernelError> {
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::I32 {
            kbail!(
                "bias must be int32 for 8-bit quantized inputs, got {}",
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

/// The constant contents of an 8-bit weight tensor with exactly `len` elements.
pub(crate) fn q8_constant<'a, T: Q8>(
    info: &'a TensorInfo,
    len: usize,
    what: &str,
) -> Result<&'a [T], KernelError> {
    let values = T::slice(&info.constant_or_err(what)?.view())?;
    if values.len() != len {
        kbail!("{what} has {} values, its shape needs {len}", values.len());
    }
    Ok(values)
}
