//! DEQUANTIZE (int8/uint8/int16 or float16 → float32) and QUANTIZE (float32 →
//! int8/uint8/int16), per tensor or per slice along `quantized_dimension`.
//!
//! Arithmetic follows TFLite's reference kernels (`reference/dequantize.h`,
//! `reference/integer_ops/dequantize.h`, `reference/quantize.h`):
//!
//! * DEQUANTIZE per tensor: `float(double(scale) * double(q - zp))`. The per-channel
//!   kernel instead multiplies in float: `scale[c] * float(q - zp[c])`. Both round the
//!   exact product once to f32 (it fits in a double: 24-bit mantissa times a 17-bit
//!   integer), so the two give identical results; we still mirror each.
//! * float16 is widened exactly to float32.
//! * QUANTIZE: `clamp(round(x / float(scale)) + zp)`, with the division in **f32**,
//!   `round` half away from zero (`TfLiteRound` = `std::round`), then zp added and the
//!   range clamped in double. A NaN input becomes 0 (the C++ cast is undefined there).
//! * QUANTIZE between integer types (requantization, `reference/requantize.h`):
//!   `(m, s) = QuantizeMultiplier(double(in_s) / double(out_s))`, then
//!   `clamp(MBQM(q - in_zp, m, s) + out_zp)`. When the multiplier is exactly 1 (`(2^30,
//!   1)`) and the conversion is int8 → uint8 with zero points differing by -128 (or
//!   uint8 → int8 by +128) the reference flips the top bit instead; both give the same
//!   bytes, the bit flip is just cheaper. Supported pairs are TFLite's: int8/uint8 →
//!   int8/uint8/int16, int16 → int8/int16/int32, int32 → int8/int16.

use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op, Quantization};
use crate::ir::{View, ViewMut};
use crate::kernels::fixed_point::{
    effective_scale_ratio, quantize_multiplier, quantized_range, requantize_is_xor_0x80,
};
use crate::kernels::reference::quantize::{
    dequantize, dequantize_f16, flip_i8_to_u8, flip_u8_to_i8, quantize, Affine, Requantize,
};
use crate::ops::exec::TensorInfo;

/// The per-tensor `(scale, zero point)` of a quantized activation tensor, checked as
/// the integer kernels rely on it: one finite positive scale and a zero point inside
/// the range of `dtype` (so that `q - zp` never leaves 17 bits). An empty zero-point
/// list counts as 0, as some writers omit it for symmetric tensors.
pub(crate) fn activation_params(
    quantization: Option<&Quantization>,
    dtype: DType,
    what: &str,
) -> Result<(f32, i32), KernelError> {
    let Some(q) = quantization.filter(|q| q.is_quantized()) else {
        crate::kbail!("{what} ({dtype}) has no quantization parameters");
    };
    let (&[scale], zero_point) = (q.scale.as_slice(), q.zero_point.as_slice()) else {
        crate::kbail!(
            "{what} has {} scales; this op needs per-tensor quantization",
            q.scale.len()
        );
    };
    let zero_point = match zero_point {
        [] => 0,
        [z] => *z,
        _ => crate::kbail!("{what} has {} zero points for one scale", zero_point.len()),
    };
    if !(scale.is_finite() && scale > 0.0) {
        crate::kbail!("{what} has scale {scale}; a positive finite scale is needed");
    }
    let (lo, hi) = match dtype {
        DType::I32 => (i64::from(i32::MIN), i64::from(i32::MAX)),
        other => {
            let (lo, hi) = quantized_range(other)?;
            (i64::from(lo), i64::from(hi))
        }
    };
    if zero_point < lo || zero_point > hi {
        crate::kbail!("{what} has zero point {zero_point}, outside the {dtype} range");
    }
    // Checked just above against a range inside i32.
    Ok((scale, zero_point as i32))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    match ctx.op.op {
        Op::Dequantize => prepare_dequantize(ctx),
        Op::Quantize => prepare_quantize(ctx),
        _ => crate::kbail!("{} is not a quantize op", ctx.op.op.name()),
    }
}

/// Reads `q` for a tensor of `shape` as the kernels' [`Affine`] walk; `what` names the
/// tensor in errors.
fn affine_params(
    q: Option<&Quantization>,
    shape: &[usize],
    what: &str,
) -> Result<Affine, KernelError> {
    let Some(q) = q.filter(|q| q.is_quantized()) else {
        crate::kbail!("{what} has no quantization parameters");
    };
    if let Some(s) = q.scale.iter().find(|s| !s.is_finite()) {
        crate::kbail!("{what} has a non-finite scale {s}");
    }
    let zero_points: Vec<i32> = match q.zero_point.len() {
        // Some writers omit zero points for symmetric tensors.
        0 => vec![0; q.scale.len()],
        n if n == q.scale.len() => q
            .zero_point
            .iter()
            .map(|&z| i32::try_from(z))
            .collect::<Result<_, _>>()
            .map_err(|_| KernelError::new(format!("{what} has a zero point outside int32")))?,
        n => crate::kbail!("{what} has {} scales but {n} zero points", q.scale.len()),
    };
    if q.scale.len() == 1 {
        return Ok(Affine {
            scales: q.scale.clone(),
            zero_points,
            inner: shape.iter().product::<usize>().max(1),
            per_tensor: true,
        });
    }
    let axis = q.quantized_dimension;
    let Some(&channels) = shape.get(axis) else {
        crate::kbail!(
            "{what} is quantized along dimension {axis}, but its shape {shape:?} has rank {}",
            shape.len()
        );
    };
    if channels != q.scale.len() {
        crate::kbail!(
            "{what} has {} scales for dimension {axis} of size {channels}",
            q.scale.len()
        );
    }
    Ok(Affine {
        scales: q.scale.clone(),
        zero_points,
        inner: shape[axis + 1..].iter().product::<usize>().max(1),
        per_tensor: false,
    })
}

// ---------------------------------------------------------------------------------
// DEQUANTIZE

fn prepare_dequantize(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let input: &TensorInfo = ctx.input(0)?;
    let output = ctx.output(0)?;
    if output.dtype != DType::F32 {
        crate::kbail!(
            "output type is {}, DEQUANTIZE produces float32",
            output.dtype
        );
    }
    let params = match input.dtype {
        DType::F16 => None,
        DType::I8 | DType::U8 | DType::I16 => Some(affine_params(
            input.quantization.as_ref(),
            &input.shape,
            &format!("input '{}'", input.name),
        )?),
        other => crate::kbail!(
            "input type {other} cannot be dequantized (int8, uint8, int16 or float16)"
        ),
    };
    Ok(Prepared::new(
        vec![input.shape.clone()],
        Dequantize { params },
    ))
}

struct Dequantize {
    /// `None` for float16 input.
    params: Option<Affine>,
}

impl Kernel for Dequantize {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(input), Some(output)) = (inputs.first(), outputs.first_mut()) else {
            crate::kbail!("DEQUANTIZE needs one input and one output");
        };
        let out = output.f32()?;
        match (input, &self.params) {
            (View::F16(x), None) => dequantize_f16(x, out),
            (View::I8(x), Some(a)) => dequantize(a, x, out),
            (View::U8(x), Some(a)) => dequantize(a, x, out),
            (View::I16(x), Some(a)) => dequantize(a, x, out),
            (other, _) => crate::kbail!("unexpected {} input", other.type_name()),
        }
    }
}

// ---------------------------------------------------------------------------------
// QUANTIZE

fn prepare_quantize(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    if !matches!(
        output.dtype,
        DType::I8 | DType::U8 | DType::I16 | DType::I32
    ) {
        crate::kbail!(
            "output type {} is not supported (int8, uint8, int16 or int32)",
            output.dtype
        );
    }
    match input.dtype {
        DType::F32 => {}
        DType::I8 | DType::U8 | DType::I16 | DType::I32 => return prepare_requantize(ctx),
        other => crate::kbail!("input type {other} is not supported (float32)"),
    }
    if output.dtype == DType::I32 {
        crate::kbail!("QUANTIZE from float32 produces int8, uint8 or int16, not int32");
    }
    let params = affine_params(
        output.quantization.as_ref(),
        &input.shape,
        &format!("output '{}'", output.name),
    )?;
    if let Some(s) = params.scales.iter().find(|&&s| s <= 0.0) {
        crate::kbail!(
            "output '{}' has scale {s}; quantizing needs a positive scale",
            output.name
        );
    }
    Ok(Prepared::new(
        vec![input.shape.clone()],
        Quantize { params },
    ))
}

struct Quantize {
    params: Affine,
}

impl Kernel for Quantize {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(input), Some(output)) = (inputs.first(), outputs.first_mut()) else {
            crate::kbail!("QUANTIZE needs one input and one output");
        };
        let x = input.f32()?;
        match output {
            ViewMut::I8(o) => quantize(&self.params, x, o),
            ViewMut::U8(o) => quantize(&self.params, x, o),
            ViewMut::I16(o) => quantize(&self.params, x, o),
            other => crate::kbail!("unexpected {} output", other.type_name()),
        }
    }
}

// ---------------------------------------------------------------------------------
// QUANTIZE between integer types

fn prepare_requantize(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    // The pairs quantize.cc accepts.
    let supported = matches!(
        (input.dtype, output.dtype),
        (DType::I8 | DType::U8, DType::I8 | DType::U8 | DType::I16)
            | (DType::I16, DType::I8 | DType::I16 | DType::I32)
            | (DType::I32, DType::I8 | DType::I16)
    );
    if !supported {
        crate::kbail!(
            "requantizing {} to {} is not supported",
            input.dtype,
            output.dtype
        );
    }
    let (in_scale, in_zp) = activation_params(
        input.quantization.as_ref(),
        input.dtype,
        &format!("input '{}'", input.name),
    )?;
    let (out_scale, out_zp) = activation_params(
        output.quantization.as_ref(),
        output.dtype,
        &format!("output '{}'", output.name),
    )?;
    if input.dtype == DType::I16 && output.dtype == DType::I16 && (in_zp != 0 || out_zp != 0) {
        crate::kbail!("int16 to int16 requantization needs zero points of 0");
    }
    let (multiplier, shift) = quantize_multiplier(effective_scale_ratio(in_scale, out_scale))?;
    let (out_min, out_max) = match output.dtype {
        DType::I32 => (i32::MIN, i32::MAX),
        other => quantized_range(other)?,
    };
    let xor_0x80 =
        requantize_is_xor_0x80(input.dtype, output.dtype, multiplier, shift, in_zp, out_zp);
    Ok(Prepared::new(
        vec![input.shape.clone()],
        RequantizeKernel {
            requantize: Requantize {
                in_zp,
                out_zp,
                multiplier,
                shift,
                out_min,
                out_max,
            },
            xor_0x80,
        },
    ))
}

struct RequantizeKernel {
    requantize: Requantize,
    /// int8 ↔ uint8 at equal scales with zero points 128 apart: flip the top bit.
    xor_0x80: bool,
}

impl Kernel for RequantizeKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(input), Some(output)) = (inputs.first(), outputs.first_mut()) else {
            crate::kbail!("QUANTIZE needs one input and one output");
        };
        match (input, output) {
            (View::I8(x), ViewMut::U8(y)) if self.xor_0x80 => flip_i8_to_u8(x, y),
            (View::U8(x), ViewMut::I8(y)) if self.xor_0x80 => flip_u8_to_i8(x, y),
            (View::I8(x), ViewMut::I8(y)) => self.requantize.run(x, y),
            (View::I8(x), ViewMut::U8(y)) => self.requantize.run(x, y),
            (View::I8(x), ViewMut::I16(y)) => self.requantize.run(x, y),
            (View::U8(x), ViewMut::I8(y)) => self.requantize.run(x, y),
            (View::U8(x), ViewMut::U8(y)) => self.requantize.run(x, y),
            (View::U8(x), ViewMut::I16(y)) => self.requantize.run(x, y),
            (View::I16(x), ViewMut::I8(y)) => self.requantize.run(x, y),
            (View::I16(x), ViewMut::I16(y)) => self.requantize.run(x, y),
            (View::I16(x), ViewMut::I32(y)) => self.requantize.run(x, y),
            (View::I32(x), ViewMut::I8(y)) => self.requantize.run(x, y),
            (View::I32(x), ViewMut::I16(y)) => self.requantize.run(x, y),
            (x, y) => crate::kbail!(
                "unexpected {} input / {} output",
                x.type_name(),
                y.type_name()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::TensorBuf;
    use crate::ir::{Operator, Tensor};
    use half::f16;

    fn quant(scale: &[f32], zp: &[i64], axis: usize) -> Quantization {
        Quantization {
            scale: scale.to_vec(),
            zero_point: zp.to_vec(),
            quantized_dimension: axis,
            ..Default::default()
        }
    }

    /// Prepares `op` for one input and one output tensor and runs it on `data`.
    fn run_op(
        op: Op,
        data: TensorBuf,
        shape: &[usize],
        in_q: Option<Quantization>,
        out_dtype: DType,
        out_q: Option<Quantization>,
    ) -> Result<TensorBuf, KernelError> {
        let input = TensorInfo {
            name: "x".into(),
            dtype: data.dtype(),
            shape: shape.to_vec(),
            quantization: in_q,
            sparsity: None,
            constant: None,
        };
        let mut out_t = Tensor::activation("y", out_dtype, shape.to_vec());
        out_t.quantization = out_q;
        let operator = Operator::new(op, vec![0], vec![1]);
        let ctx = PrepareCtx {
            op: &operator,
            inputs: vec![Some(&input)],
            outputs: vec![&out_t],
            cpu: crate::kernels::cpu::CpuFeatures::detect(),
        };
        let prepared = prepare(&ctx)?;
        assert_eq!(prepared.output_shapes, vec![shape.to_vec()]);
        let mut out = TensorBuf::zeros(out_dtype, shape.iter().product());
        prepared.kernel.run(&[data.view()], &mut [out.view_mut()])?;
        Ok(out)
    }

    fn dequant(data: TensorBuf, shape: &[usize], q: Quantization) -> Vec<f32> {
        match run_op(Op::Dequantize, data, shape, Some(q), DType::F32, None).unwrap() {
            TensorBuf::F32(v) => v,
            other => panic!("{:?}", other.dtype()),
        }
    }

    fn quantize(x: &[f32], shape: &[usize], out: DType, q: Quantization) -> TensorBuf {
        run_op(
            Op::Quantize,
            TensorBuf::F32(x.to_vec()),
            shape,
            None,
            out,
            Some(q),
        )
        .unwrap()
    }

    #[test]
    fn dequantize_per_tensor() {
        // 0.5 * (q + 3)
        let y = dequant(
            TensorBuf::I8(vec![-128, -3, 0, 127]),
            &[4],
            quant(&[0.5], &[-3], 0),
        );
        assert_eq!(y, vec![-62.5, 0.0, 1.5, 65.0]);
        // uint8 with zp 128, scale 2^-7: 0 → -1, 255 → 127/128.
        let y = dequant(
            TensorBuf::U8(vec![0, 128, 255]),
            &[3],
            quant(&[1.0 / 128.0], &[128], 0),
        );
        assert_eq!(y, vec![-1.0, 0.0, 0.9921875]);
        // int16 symmetric, scale 2^-15.
        let y = dequant(
            TensorBuf::I16(vec![-32768, 16384, 1]),
            &[3],
            quant(&[1.0 / 32768.0], &[0], 0),
        );
        assert_eq!(y, vec![-1.0, 0.5, 1.0 / 32768.0]);
        // 0.1f32 · 7 = 0.70000001043… exactly, which rounds to the f32 nearest 0.7.
        let y = dequant(TensorBuf::I8(vec![7]), &[1], quant(&[0.1], &[], 0));
        assert_eq!(y, vec![0.7f32]);
    }

    #[test]
    fn dequantize_per_axis() {
        // Axis 0 of [2,3]: row 0 scale 1 zp 0, row 1 scale 0.5 zp 2.
        let y = dequant(
            TensorBuf::I8(vec![1, 2, 3, 4, 5, 6]),
            &[2, 3],
            quant(&[1.0, 0.5], &[0, 2], 0),
        );
        assert_eq!(y, vec![1.0, 2.0, 3.0, 1.0, 1.5, 2.0]);
        // Last axis of [2,3]: column scales [1,2,4], zps [0,0,1].
        let y = dequant(
            TensorBuf::I8(vec![1, 1, 1, 2, 2, 2]),
            &[2, 3],
            quant(&[1.0, 2.0, 4.0], &[0, 0, 1], 1),
        );
        assert_eq!(y, vec![1.0, 2.0, 0.0, 2.0, 4.0, 4.0]);
        // Middle axis of [2,2,2] (as depthwise-style layouts would use): scales [1, 10].
        let y = dequant(
            TensorBuf::U8(vec![1, 2, 3, 4, 5, 6, 7, 8]),
            &[2, 2, 2],
            quant(&[1.0, 10.0], &[0, 0], 1),
        );
        assert_eq!(y, vec![1.0, 2.0, 30.0, 40.0, 5.0, 6.0, 70.0, 80.0]);
    }

    #[test]
    fn dequantize_float16_is_exact() {
        let halves = [1.0f32, -2.5, 65504.0, 5.960_464_5e-8, 0.333_251_95]
            .iter()
            .map(|&x| f16::from_f32(x))
            .collect::<Vec<_>>();
        let y = match run_op(
            Op::Dequantize,
            TensorBuf::F16(halves),
            &[5],
            None,
            DType::F32,
            None,
        )
        .unwrap()
        {
            TensorBuf::F32(v) => v,
            _ => unreachable!(),
        };
        // 2^-24 is the smallest float16 subnormal; 0.33325195 = 0x3555 exactly.
        assert_eq!(y, vec![1.0, -2.5, 65504.0, 2f32.powi(-24), 0.333_251_95]);
    }

    #[test]
    fn quantize_rounds_half_away_from_zero_and_clamps() {
        let x = [2.5, -2.5, 0.5, -0.5, 1.49, 300.0, -300.0, 0.0];
        let q = quantize(&x, &[8], DType::I8, quant(&[1.0], &[0], 0));
        assert_eq!(q, TensorBuf::I8(vec![3, -3, 1, -1, 1, 127, -128, 0]));
        // uint8 zp 128, scale 0.5: 1.25/0.5 = 2.5 → 3 → 131.
        let q = quantize(
            &[1.25, -100.0, 100.0, -0.25],
            &[4],
            DType::U8,
            quant(&[0.5], &[128], 0),
        );
        assert_eq!(q, TensorBuf::U8(vec![131, 0, 255, 127]));
        let q = quantize(
            &[1.0, -1.0, 0.25],
            &[3],
            DType::I16,
            quant(&[1.0 / 32768.0], &[0], 0),
        );
        assert_eq!(q, TensorBuf::I16(vec![32767, -32768, 8192]));
        // The zero point is added after rounding: (-1.5 → -2) + 5 = 3, not round(3.5) = 4.
        let q = quantize(&[-1.5], &[1], DType::I8, quant(&[1.0], &[5], 0));
        assert_eq!(q, TensorBuf::I8(vec![3]));
    }

    #[test]
    fn quantize_divides_in_f32() {
        // 51.449997f32 / 0.7f32 is exactly 73.4999969…, which f32 division rounds to 73.5
        // (then 74); a double division would give 73.
        let q = quantize(&[51.449_997], &[1], DType::I8, quant(&[0.7], &[0], 0));
        assert_eq!(q, TensorBuf::I8(vec![74]));
    }

    #[test]
    fn quantize_per_axis() {
        let q = quantize(
            &[1.0, 1.0, 3.0, 3.0],
            &[2, 2],
            DType::I8,
            quant(&[1.0, 2.0], &[0, -1], 1),
        );
        // columns: scale 1 zp 0, scale 2 zp -1 → [1, round(0.5)-1 = 0, 3, round(1.5)-1 = 1]
        assert_eq!(q, TensorBuf::I8(vec![1, 0, 3, 1]));
    }

    #[test]
    fn refusals() {
        let err = |r: Result<TensorBuf, KernelError>| r.err().map(|e| e.0).unwrap_or_default();
        // TFLite has no int16 → uint8 requantization.
        let e = err(run_op(
            Op::Quantize,
            TensorBuf::I16(vec![0]),
            &[1],
            Some(quant(&[1.0], &[0], 0)),
            DType::U8,
            Some(quant(&[1.0], &[128], 0)),
        ));
        assert_eq!(e, "requantizing int16 to uint8 is not supported");
        let e = err(run_op(
            Op::Dequantize,
            TensorBuf::I8(vec![0]),
            &[1],
            None,
            DType::F32,
            None,
        ));
        assert!(e.contains("no quantization parameters"), "{e}");
        let e = err(run_op(
            Op::Dequantize,
            TensorBuf::I8(vec![0; 6]),
            &[2, 3],
            Some(quant(&[1.0, 2.0], &[0, 0], 1)),
            DType::F32,
            None,
        ));
        assert!(e.contains("2 scales for dimension 1 of size 3"), "{e}");
        let e = err(run_op(
            Op::Dequantize,
            TensorBuf::I8(vec![0; 2]),
            &[2],
            Some(quant(&[1.0, 2.0], &[0, 0], 3)),
            DType::F32,
            None,
        ));
        assert!(e.contains("rank 1"), "{e}");
        let e = err(run_op(
            Op::Quantize,
            TensorBuf::F32(vec![0.0]),
            &[1],
            None,
            DType::I8,
            Some(quant(&[0.0], &[0], 0)),
        ));
        assert!(e.contains("positive scale"), "{e}");
    }

    fn requant(x: TensorBuf, in_q: (f32, i64), out: DType, out_q: (f32, i64)) -> TensorBuf {
        let n = x.len();
        run_op(
            Op::Quantize,
            x,
            &[n],
            Some(quant(&[in_q.0], &[in_q.1], 0)),
            out,
            Some(quant(&[out_q.0], &[out_q.1], 0)),
        )
        .unwrap()
    }

    #[test]
    fn requantize_int8_to_uint8_is_a_top_bit_flip() {
        // Same scale, zero points -3 and 125 (128 apart): the multiplier of 1.0 is
        // frexp(1) = 0.5·2^1 → (2^30, 1), the fast path. By the formula too:
        // -128 → -125 + 125 = 0, 0 → 3 + 125 = 128, 127 → 130 + 125 = 255.
        let y = requant(
            TensorBuf::I8(vec![-128, -3, 0, 127]),
            (0.5, -3),
            DType::U8,
            (0.5, 125),
        );
        assert_eq!(y, TensorBuf::U8(vec![0, 125, 128, 255]));
        // And back.
        let y = requant(
            TensorBuf::U8(vec![0, 125, 128, 255]),
            (0.5, 125),
            DType::I8,
            (0.5, -3),
        );
        assert_eq!(y, TensorBuf::I8(vec![-128, -3, 0, 127]));
    }

    #[test]
    fn requantize_uint8_to_int8_doubling_saturates() {
        // in_s / out_s = 2 → frexp = 0.5·2^2 → (2^30, 2): MBQM(x) = SRDHM(4x, 2^30) = 2x
        // exactly. out = clamp(2(q - 128), -128, 127).
        let y = requant(
            TensorBuf::U8(vec![128, 129, 200, 60, 100]),
            (1.0, 128),
            DType::I8,
            (0.5, 0),
        );
        assert_eq!(y, TensorBuf::I8(vec![0, 2, 127, -128, -56]));
    }

    #[test]
    fn requantize_int8_to_int8_rounds_twice_like_tflite() {
        // Ratio 1/3: frexp = (2/3)·2^-1, m = round(2/3 · 2^31) = 1431655765, shift -1.
        // MBQM(x) = RDBP(SRDHM(x, m), 1): SRDHM rounds x·2/3 to nearest, then halving
        // rounds half away from zero.
        //   1 → SRDHM 1 (0.667) → RDBP(1,1) = 1   (not round(1/3) = 0)
        //  -1 → SRDHM -1        → RDBP(-1,1) = -1
        //   3 → SRDHM 2         → 1
        //   4 → SRDHM 3 (2.667) → 2               (not round(4/3) = 1)
        //   6 → SRDHM 4         → 2
        // 127 → SRDHM 85 (84.67)→ 43
        //-128 → SRDHM -85 (-85.33) → -43 (-42.5 rounds away from zero)
        // Then + out_zp 5.
        let y = requant(
            TensorBuf::I8(vec![1, -1, 3, 4, 6, 127, -128]),
            (1.0, 0),
            DType::I8,
            (3.0, 5),
        );
        assert_eq!(y, TensorBuf::I8(vec![6, 4, 6, 7, 7, 48, -38]));
    }

    #[test]
    fn requantize_checks_params() {
        let bad = run_op(
            Op::Quantize,
            TensorBuf::I8(vec![0]),
            &[1],
            Some(quant(&[0.0], &[0], 0)),
            DType::I8,
            Some(quant(&[1.0], &[0], 0)),
        );
        assert!(bad.is_err());
        let bad = run_op(
            Op::Quantize,
            TensorBuf::I8(vec![0]),
            &[1],
            Some(quant(&[1.0], &[0], 0)),
            DType::U8,
            Some(quant(&[1.0], &[300], 0)),
        );
        assert!(bad.unwrap_err().0.contains("zero point 300"));
    }
}
