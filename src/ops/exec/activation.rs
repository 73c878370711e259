//! Standalone activations: RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, LOGISTIC, TANH,
//! HARD_SWISH.
//! Float32 follows TFLite's reference kernels element by element.
//!
//! int8 and uint8 follow what `BuiltinRefOpResolver` runs (`kernels/activations.cc`):
//! * RELU / RELU6 / RELU_N1_TO_1 (`QuantizedReluX` → `reference_ops::ReluX`): requantize
//!   with `MBQM(q - in_zp, m, s) + out_zp`, `(m, s)` from `float(in_s / out_s)`, then
//!   clamp to `[max(qmin, out_zp + roundf(lo / out_s)), min(qmax, out_zp + roundf(hi /
//!   out_s))]` with `(lo, hi)` = (0, ∞), (0, 6) or (-1, 1).
//! * LEAKY_RELU (`reference_ops::QuantizeLeakyRelu`): `q - in_zp >= 0` goes through the
//!   identity multiplier `float(in_s / out_s)`, the rest through the alpha multiplier
//!   `float(in_s * alpha / out_s)` (a negative alpha multiplies by `|m|` and negates).
//! * LOGISTIC / TANH: the float-built 256-entry table `LUTPopulate` (LOGISTIC insists
//!   on an output scale of exactly 1/256).
//! * HARD_SWISH (`reference_ops::HardSwish`): 16-bit fixed point, see `HardSwish8`.
//!
//! Each output byte depends only on the input byte, so `prepare` evaluates the
//! reference formula for all 256 inputs and `run` is a table lookup.

use super::quantize::activation_params;
use super::shape::{check_len, expect_output_dtype, f32_in_out};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::clamp;
use crate::kernels::fixed_point::{
    lut_populate_int8, lut_populate_uint8, multiply_by_quantized_multiplier, quantize_multiplier,
    quantized_range, rounding_divide_by_pot,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Relu,
    Relu6,
    ReluN1To1,
    Relu0To1,
    LeakyRelu(f32),
    Logistic,
    Tanh,
    HardSwish,
}

impl Kind {
    #[inline(always)]
    fn apply(self, x: f32) -> f32 {
        match self {
            // Comparisons rather than f32::max so that NaN passes through as in TFLite.
            Kind::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Kind::Relu6 => clamp(x, (0.0, 6.0)),
            Kind::ReluN1To1 => clamp(x, (-1.0, 1.0)),
            Kind::Relu0To1 => clamp(x, (0.0, 1.0)),
            Kind::LeakyRelu(alpha) => {
                if x > 0.0 {
                    x
                } else {
                    x * alpha
                }
            }
            Kind::Logistic => logistic(x),
            Kind::Tanh => x.tanh(),
            Kind::HardSwish => x * clamp(x + 3.0, (0.0, 6.0)) / 6.0,
        }
    }
}

/// 1/(1+e^-x) with TFLite's cut-offs: above ~16.6 the result rounds to 1 in f32, and
/// below -9 e^x alone is within float precision of the true value, which also keeps
/// e^-x from overflowing for very negative x.
#[inline]
fn logistic(x: f32) -> f32 {
    const UPPER: f32 = 16.619_047;
    const LOWER: f32 = -9.0;
    if x > UPPER {
        1.0
    } else if x < LOWER {
        x.exp()
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

struct FloatActivation {
    kind: Kind,
    len: usize,
    /// Build the loop for AVX2 (the CPU has it).
    avx2: bool,
}

#[inline(always)]
fn map(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = f(x);
    }
}

/// One loop per kind, so the cheap ones compile to straight vector code instead of a
/// per-element dispatch.
#[inline(always)]
fn apply_all(kind: Kind, x: &[f32], y: &mut [f32]) {
    match kind {
        Kind::Relu => map(x, y, |v| Kind::Relu.apply(v)),
        Kind::Relu6 => map(x, y, |v| Kind::Relu6.apply(v)),
        Kind::ReluN1To1 => map(x, y, |v| Kind::ReluN1To1.apply(v)),
        Kind::Relu0To1 => map(x, y, |v| Kind::Relu0To1.apply(v)),
        Kind::HardSwish => map(x, y, |v| Kind::HardSwish.apply(v)),
        Kind::LeakyRelu(alpha) => map(x, y, |v| Kind::LeakyRelu(alpha).apply(v)),
        other => map(x, y, |v| other.apply(v)),
    }
}

impl Kernel for FloatActivation {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (x, y) = f32_in_out(inputs, outputs, self.len)?;
        let kind = self.kind;
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is set only when the prepare-time CpuFeatures had AVX2 + FMA.
            unsafe { crate::kernels::x86::elementwise::with_avx2(|| apply_all(kind, x, y)) };
            return Ok(());
        }
        apply_all(kind, x, y);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// int8 / uint8

/// A quantized activation as a table from input byte to output byte (int8 values
/// stored as their two's-complement bytes).
struct ByteTable {
    table: [u8; 256],
    len: usize,
    /// Look up 32 bytes per step with AVX2 (detected at prepare).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    avx2: bool,
}

impl ByteTable {
    fn apply<T: crate::kernels::reference::quant_binary::QByte>(&self, x: &[T], y: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { crate::kernels::x86::lut::lookup(&self.table, x, y) };
            return;
        }
        for (y, &x) in y.iter_mut().zip(x.iter()) {
            *y = T::from_byte(self.table[usize::from(x.byte())]);
        }
    }
}

impl Kernel for ByteTable {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        match (x, y) {
            (View::I8(x), ViewMut::I8(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                self.apply(x, y);
            }
            (View::U8(x), ViewMut::U8(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                self.apply(x, y);
            }
            (x, y) => kbail!(
                "unexpected {} input / {} output",
                x.type_name(),
                y.type_name()
            ),
        }
        Ok(())
    }
}

/// Builds the byte table of an 8-bit type from `f(q)`, an integer already clamped
/// into the type's range.
fn byte_table(dtype: DType, f: impl Fn(i32) -> i32) -> [u8; 256] {
    let mut table = [0u8; 256];
    for (byte, entry) in table.iter_mut().enumerate() {
        // The byte read as the tensor's type.
        let q = if dtype == DType::I8 {
            i32::from(byte as u8 as i8)
        } else {
            byte as i32
        };
        // `f` returns a value inside the type's range; its low byte is the encoding.
        *entry = f(q) as u8;
    }
    table
}

/// `zp + (int)roundf(value / scale)` as `QuantizedReluX` computes its bounds: division
/// and rounding (half away from zero) in float. Saturates where the C++ cast would
/// overflow, which only matters for absurd scales and is clamped away afterwards.
fn relu_bound(value: f32, scale: f32, zero_point: i32) -> i64 {
    let rounded = (value / scale).round();
    i64::from(zero_point) + rounded.clamp(i32::MIN as f32, i32::MAX as f32) as i64
}

/// The 16-bit fixed-point parameters of quantized HARD_SWISH (`HardSwishPrepare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct HardSwish8 {
    input_zero_point: i32,
    output_zero_point: i32,
    /// `in_s / 128 / out_s` as a Q0.15 multiplier and a right shift (exponent <= 0).
    output_multiplier: i16,
    output_exponent: i32,
    /// `in_s / 128 / (3 / 32768)`: maps the input onto a scale where 3.0 is 2^15.
    reluish_multiplier: i16,
    reluish_exponent: i32,
}

/// TFLite `DownScaleInt32ToInt16Multiplier`: the Q0.31 multiplier rounded to Q0.15,
/// saturating at `i16::MAX` near 1.
fn downscale_multiplier_to_i16(multiplier: i32) -> i16 {
    const ROUNDING: i32 = 1 << 15;
    if multiplier >= i32::MAX - ROUNDING {
        return i16::MAX;
    }
    // multiplier >= 0 comes from a positive scale; the sum cannot overflow here.
    ((multiplier + ROUNDING) >> 16) as i16
}

/// gemmlowp `SaturatingRoundingDoublingHighMul<int16_t>`: `a * b / 2^15` rounded to
/// nearest (ties toward +infinity), saturating only for `-32768 * -32768`.
fn srdhm_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    let product = i32::from(a) * i32::from(b);
    let nudge = if product >= 0 { 1 << 14 } else { 1 - (1 << 14) };
    // C++ division truncates toward zero, as Rust's does.
    ((product + nudge) / (1 << 15)) as i16
}

/// TFLite `SaturatingDoublingHighMul` (hard_swish.h): like [`srdhm_i16`] but the
/// quotient is truncated toward zero instead of rounded.
fn sdhm_i16(a: i16, b: i16) -> i16 {
    if a == i16::MIN && b == i16::MIN {
        return i16::MAX;
    }
    ((i32::from(a) * i32::from(b)) / (1 << 15)) as i16
}

/// gemmlowp `RoundingDivideByPOT<int16_t>` with the C++ integer promotions: the mask
/// is `(2^e - 1)` truncated to 16 bits, shifts happen on the value promoted to int.
/// For `e <= 15` this is division by `2^e` rounded half away from zero.
fn rounding_divide_by_pot_i16(x: i16, exponent: u32) -> i16 {
    if exponent <= 15 {
        // Within gemmlowp's intended domain the 32-bit version gives the same value.
        return rounding_divide_by_pot(i32::from(x), exponent) as i16;
    }
    // A 16-bit mask of all ones: remainder = x, threshold = -1 + (x < 0).
    let exponent = exponent.min(31);
    let threshold = -1 + i32::from(x < 0);
    let shifted = i32::from(x) >> exponent;
    (shifted + i32::from(i32::from(x) > threshold)) as i16
}

/// TFLite `SaturatingLeftShift` (hard_swish.h): `value * 2^amount` saturated to int16.
fn saturating_left_shift_i16(value: i16, amount: i32) -> i16 {
    let shifted = i64::from(value) << amount.clamp(0, 40);
    shifted.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16
}

impl HardSwish8 {
    fn new(
        input_scale: f32,
        input_zero_point: i32,
        output_scale: f32,
        output_zero_point: i32,
    ) -> Result<HardSwish8, KernelError> {
        // All in float, as the C++ declares these `const float`.
        let hires_input_scale = (1.0f32 / 128.0) * input_scale;
        let reluish_scale = 3.0f32 / 32768.0;
        let output_multiplier = hires_input_scale / output_scale;
        let reluish_multiplier = hires_input_scale / reluish_scale;
        let (output_m32, output_exponent) = quantize_multiplier(f64::from(output_multiplier))?;
        let (reluish_m32, reluish_exponent) = quantize_multiplier(f64::from(reluish_multiplier))?;
        if output_exponent > 0 {
            kbail!(
                "HARD_SWISH output multiplier {output_multiplier} needs a left shift, which TFLite refuses"
            );
        }
        Ok(HardSwish8 {
            input_zero_point,
            output_zero_point,
            output_multiplier: downscale_multiplier_to_i16(output_m32),
            output_exponent,
            reluish_multiplier: downscale_multiplier_to_i16(reluish_m32),
            reluish_exponent,
        })
    }

    /// One value of `reference_ops::HardSwish<T>`; `(min, max)` is the type's range.
    /// int16 arithmetic wraps where the C++ narrows an int back to `int16_t`.
    fn apply(&self, q: i32, min: i32, max: i32) -> i32 {
        let input_value = q.wrapping_sub(self.input_zero_point) as i16;
        let hires = (i32::from(input_value) * (1 << 7)) as i16;
        let preshift_output = srdhm_i16(hires, self.output_multiplier);
        let mut reluish = hires;
        if self.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, self.reluish_exponent - 1);
        }
        reluish = srdhm_i16(reluish, self.reluish_multiplier);
        if self.reluish_exponent > 0 {
            reluish = saturating_left_shift_i16(reluish, 1);
        }
        if self.reluish_exponent < 0 {
            reluish = rounding_divide_by_pot_i16(reluish, self.reluish_exponent.unsigned_abs());
        }
        // [-1, 1] in Q0.15 to [0, 1]: at most 65535 >> 1, which fits.
        let reluish = ((i32::from(reluish) + (1 << 15)) >> 1) as i16;
        let preshift = sdhm_i16(reluish, preshift_output);
        let output = rounding_divide_by_pot_i16(preshift, self.output_exponent.unsigned_abs());
        let output = (i32::from(output) + self.output_zero_point) as i16;
        i32::from(output).clamp(min, max)
    }
}

fn prepare_quantized(ctx: &PrepareCtx<'_>, kind: Kind) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let dtype = input.dtype;
    let (in_scale, in_zp) = activation_params(input.quantization.as_ref(), dtype, "the input")?;
    let (out_scale, out_zp) = activation_params(output.quantization.as_ref(), dtype, "the output")?;
    let (qmin, qmax) = quantized_range(dtype)?;
    let table = match kind {
        Kind::Relu | Kind::Relu6 | Kind::ReluN1To1 | Kind::Relu0To1 => {
            // ReluPrepare: `double real_multiplier = in_s / out_s` with a float quotient.
            let (m, shift) = quantize_multiplier(f64::from(in_scale / out_scale))?;
            let (bottom, top) = match kind {
                Kind::Relu6 => (0.0, Some(6.0)),
                Kind::ReluN1To1 => (-1.0, Some(1.0)),
                Kind::Relu0To1 => (0.0, Some(1.0)),
                _ => (0.0, None),
            };
            let lo = relu_bound(bottom, out_scale, out_zp).max(i64::from(qmin));
            let hi = match top {
                Some(top) => relu_bound(top, out_scale, out_zp).min(i64::from(qmax)),
                None => i64::from(qmax),
            };
            if lo > hi {
                kbail!("empty activation range [{lo}, {hi}]");
            }
            // Both within [qmin, qmax] now.
            let (lo, hi) = (lo as i32, hi as i32);
            byte_table(dtype, |q| {
                let scaled = multiply_by_quantized_multiplier(q - in_zp, m, shift);
                out_zp.wrapping_add(scaled).clamp(lo, hi)
            })
        }
        Kind::LeakyRelu(alpha) => {
            // Both products and quotients in float, then widened.
            let (alpha_m, alpha_shift) =
                quantize_multiplier(f64::from(in_scale * alpha / out_scale))?;
            let (id_m, id_shift) = quantize_multiplier(f64::from(in_scale / out_scale))?;
            let alpha_negative = alpha_m < 0;
            // |i32::MIN| cannot come out of quantize_multiplier (|m| < 2^31).
            let alpha_abs = alpha_m.wrapping_abs();
            byte_table(dtype, |q| {
                let centered = q - in_zp;
                let scaled = if centered >= 0 {
                    multiply_by_quantized_multiplier(centered, id_m, id_shift)
                } else {
                    let v = multiply_by_quantized_multiplier(centered, alpha_abs, alpha_shift);
                    if alpha_negative {
                        v.wrapping_neg()
                    } else {
                        v
                    }
                };
                out_zp.wrapping_add(scaled).clamp(qmin, qmax)
            })
        }
        Kind::Logistic | Kind::Tanh => {
            let transform: fn(f32) -> f32 = if kind == Kind::Logistic {
                // SigmoidPrepare compares the float scale, widened, with 1./256.
                if f64::from(out_scale) != 1.0 / 256.0 {
                    kbail!("quantized LOGISTIC needs an output scale of 1/256, not {out_scale}");
                }
                crate::kernels::fixed_point::logistic_f32
            } else {
                crate::kernels::fixed_point::tanh_f32
            };
            if dtype == DType::I8 {
                let lut = lut_populate_int8(in_scale, in_zp, out_scale, out_zp, transform);
                byte_table(dtype, |q| {
                    // q is an int8 value here.
                    i32::from(lut[usize::from(q as i8 as u8)])
                })
            } else {
                let lut = lut_populate_uint8(in_scale, in_zp, out_scale, out_zp, transform);
                byte_table(dtype, |q| i32::from(lut[q as u8 as usize]))
            }
        }
        Kind::HardSwish => {
            let params = HardSwish8::new(in_scale, in_zp, out_scale, out_zp)?;
            byte_table(dtype, |q| params.apply(q, qmin, qmax))
        }
    };
    Ok(Prepared::new(
        vec![input.shape.clone()],
        ByteTable {
            table,
            len: input.num_elements(),
            avx2: ctx.cpu.avx2(),
        },
    ))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let kind = match &ctx.op.op {
        Op::Relu => Kind::Relu,
        Op::Relu6 => Kind::Relu6,
        Op::ReluN1To1 => Kind::ReluN1To1,
        Op::Relu0To1 => Kind::Relu0To1,
        Op::LeakyRelu { alpha } => Kind::LeakyRelu(*alpha),
        Op::Logistic => Kind::Logistic,
        Op::Tanh => Kind::Tanh,
        Op::HardSwish => Kind::HardSwish,
        other => kbail!("{} is not an activation", other.name()),
    };
    let input = ctx.input(0)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    match input.dtype {
        DType::F32 => Ok(Prepared::new(
            vec![input.shape.clone()],
            FloatActivation {
                kind,
                len: input.num_elements(),
                avx2: ctx.cpu.fma(),
            },
        )),
        DType::I8 | DType::U8 => prepare_quantized(ctx, kind),
        other => kbail!("{} on {other} tensors is not supported", ctx.op.op.name()),
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn act(op: Op, x: &[f32]) -> Vec<f32> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, vec![x.len()]),
                Tensor::activation("y", DType::F32, vec![x.len()]),
            ],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(op, vec![0], vec![1])],
        };
        let mut interp = Interpreter::new(Model::with_default_signature(graph)).unwrap();
        let out = interp
            .run(&[Value::new(vec![x.len()], TensorBuf::F32(x.to_vec()))])
            .unwrap();
        match &out[0].data {
            TensorBuf::F32(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn relu_family() {
        let x = [-7.0, -0.5, 0.0, 0.5, 6.5];
        assert_eq!(act(Op::Relu, &x), vec![0.0, 0.0, 0.0, 0.5, 6.5]);
        assert_eq!(act(Op::Relu6, &x), vec![0.0, 0.0, 0.0, 0.5, 6.0]);
        assert_eq!(
            act(Op::LeakyRelu { alpha: 0.2 }, &x),
            vec![-1.4, -0.1, 0.0, 0.5, 6.5]
        );
        assert_eq!(act(Op::ReluN1To1, &x), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert!(act(Op::ReluN1To1, &[f32::NAN])[0].is_nan());
        assert_eq!(act(Op::Relu0To1, &x), vec![0.0, 0.0, 0.0, 0.5, 1.0]);
        assert!(act(Op::Relu0To1, &[f32::NAN])[0].is_nan());
    }

    #[test]
    fn relu_n1_to_1_int8_clamps_at_plus_minus_one() {
        // in (0.25, 0) → out (0.125, -8): ratio 2 → MBQM(x) = 2x, out = 2q - 8 clamped to
        // [-8 + roundf(-1/0.125), -8 + roundf(1/0.125)] = [-16, 0].
        let y = act_q(
            Op::ReluN1To1,
            i8s(&[-128, -5, -4, 1, 4, 5, 127]),
            (0.25, 0),
            (0.125, -8),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-16, -16, -16, -6, 0, 0, 0]));
    }

    #[test]
    fn logistic_is_safe_for_large_inputs() {
        // σ(0) = 0.5, σ(ln 3) = 0.75, σ(-ln 3) = 0.25; far tails saturate without NaN.
        let ln3 = 3f32.ln();
        let y = act(Op::Logistic, &[0.0, ln3, -ln3, 100.0, -100.0, -1e30]);
        close(&y[..3], &[0.5, 0.75, 0.25], 1e-6);
        assert_eq!(y[3], 1.0);
        assert!(y[4] >= 0.0 && y[4] < 1e-40);
        assert_eq!(y[5], 0.0);
    }

    #[test]
    fn tanh_and_hard_swish() {
        // tanh(ln 2) = (4-1)/(4+1) = 0.6.
        let y = act(Op::Tanh, &[0.0, 2f32.ln(), -2f32.ln(), 50.0]);
        close(&y, &[0.0, 0.6, -0.6, 1.0], 1e-6);
        // x·relu6(x+3)/6: -4 → 0, -1 → -1·2/6, 1 → 4/6, 4 → 4.
        let y = act(Op::HardSwish, &[-4.0, -1.0, 1.0, 4.0]);
        close(&y, &[0.0, -1.0 / 3.0, 2.0 / 3.0, 4.0], 1e-6);
    }

    /// Runs `op` on an 8-bit tensor quantized `(in_s, in_zp)` into `(out_s, out_zp)`.
    fn act_q(op: Op, x: TensorBuf, inq: (f32, i64), outq: (f32, i64)) -> Result<TensorBuf, String> {
        use crate::ir::Quantization;
        let n = x.len();
        let dtype = x.dtype();
        let mut tx = Tensor::activation("x", dtype, vec![n]);
        tx.quantization = Some(Quantization::per_tensor(inq.0, inq.1));
        let mut ty = Tensor::activation("y", dtype, vec![n]);
        ty.quantization = Some(Quantization::per_tensor(outq.0, outq.1));
        let graph = Graph {
            name: None,
            tensors: vec![tx, ty],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(op, vec![0], vec![1])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(vec![n], x)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0).data)
    }

    fn i8s(v: &[i8]) -> TensorBuf {
        TensorBuf::I8(v.to_vec())
    }

    #[test]
    fn relu_int8_requantizes_then_clamps_at_the_output_zero_point() {
        // in (0.5, -10) → out (0.25, -128): ratio 2 = 0.5·2^2 → (2^30, 2), MBQM(x) = 2x.
        // out = clamp(-128 + 2(q + 10), max(-128, -128 + 0), 127).
        let y = act_q(
            Op::Relu,
            i8s(&[-10, -20, 0, 50, 127]),
            (0.5, -10),
            (0.25, -128),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-128, -128, -108, -8, 127]));
        // RELU6 into (0.05, -128): 0.5f/0.05f rounds to 10.0f = 0.625·2^4 →
        // (1342177280, 4), MBQM(x) = SRDHM(16x, 0.625·2^31) = 10x. Upper bound
        // -128 + roundf(6/0.05f) = -128 + 120 = -8.
        let y = act_q(
            Op::Relu6,
            i8s(&[-10, -5, 0, 1, 2, 3, 127]),
            (0.5, -10),
            (0.05, -128),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-128, -78, -28, -18, -8, -8, -8]));
    }

    #[test]
    fn relu_uint8_identity_params() {
        // Ratio 1: identity; lower bound is the zero point 100.
        let y = act_q(
            Op::Relu,
            TensorBuf::U8(vec![0, 50, 100, 150, 255]),
            (1.0, 100),
            (1.0, 100),
        )
        .unwrap();
        assert_eq!(y, TensorBuf::U8(vec![100, 100, 100, 150, 255]));
    }

    #[test]
    fn leaky_relu_int8_two_multipliers() {
        // Identity branch ratio 1; alpha branch 0.25 = 0.5·2^-1 → (2^30, -1):
        // MBQM(x) = RDBP(SRDHM(x, 2^30), 1), i.e. x/2 rounded half up, then halved
        // rounding half away from zero:
        //   -5 → SRDHM -2 (-2.5 up) → RDBP(-2,1) = -1
        //   -6 → -3 → -2 (-1.5 away from zero)
        //   -2 → -1 → -1;  -1 → 0 (-0.5 up) → 0;  -128 → -64 → -32
        let y = act_q(
            Op::LeakyRelu { alpha: 0.25 },
            i8s(&[-5, -6, -2, -1, -128, 0, 7, 127]),
            (1.0, 0),
            (1.0, 0),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-1, -2, -1, 0, -32, 0, 7, 127]));
        // Zero points: input zp 10 so q = 6 is -4 → -1; output zp -3.
        let y = act_q(
            Op::LeakyRelu { alpha: 0.25 },
            i8s(&[6, 10, 20]),
            (1.0, 10),
            (1.0, -3),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-4, -3, 7]));
    }

    #[test]
    fn leaky_relu_negative_alpha_negates_the_scaled_magnitude() {
        // alpha -0.5: frexp(-0.5) = -0.5·2^0 → m = -2^30. The reference multiplies by
        // |m| and negates: -5 → -SRDHM(-5, 2^30) = -(-2) = 2 (SRDHM(-5, -2^30) would
        // give 3); -3 → -(-1) = 1; -128 → 64.
        let y = act_q(
            Op::LeakyRelu { alpha: -0.5 },
            i8s(&[-5, -3, -128, 4]),
            (1.0, 0),
            (1.0, 0),
        )
        .unwrap();
        assert_eq!(y, i8s(&[2, 1, 64, 4]));
    }

    #[test]
    fn logistic_and_tanh_use_the_float_table() {
        // in 1/16, out (1/256, -128): round(σ(q/16)·256) - 128.
        // σ(0) = .5 → 0; σ(1) = .7310586 → 187.15 → 59; σ(-1) = .2689414 → 68.85 → -59;
        // σ(7.9375)·256 = 255.91 → 256 → clamp 127; σ(-8)·256 = 0.086 → -128.
        let y = act_q(
            Op::Logistic,
            i8s(&[0, 16, -16, 127, -128]),
            (0.0625, 0),
            (1.0 / 256.0, -128),
        )
        .unwrap();
        assert_eq!(y, i8s(&[0, 59, -59, 127, -128]));
        assert!(act_q(Op::Logistic, i8s(&[0]), (0.0625, 0), (1.0 / 255.0, -128)).is_err());
        // uint8 TANH: in (1/32, 128), out (1/128, 128): tanh(1)·128 = 97.48 → 225,
        // tanh(-1) → 31, tanh(3.97)·128 = 127.9 → 256 → 255, tanh(-4)·128 = -127.9 → 0.
        let y = act_q(
            Op::Tanh,
            TensorBuf::U8(vec![128, 160, 96, 255, 0]),
            (1.0 / 32.0, 128),
            (1.0 / 128.0, 128),
        )
        .unwrap();
        assert_eq!(y, TensorBuf::U8(vec![128, 225, 31, 255, 0]));
    }

    #[test]
    fn hard_swish_int8_fixed_point() {
        // in 1/16, out 1/32 (zero points 0). hires scale 2^-11.
        // Output multiplier 2^-11/2^-5 = 2^-6 = 0.5·2^-5 → Q15 16384, exponent -5.
        // Reluish multiplier 2^-11/(3/32768) = 16/3 → 5.3333335f = 0.6667·2^3 →
        // m32 1431655808 → Q15 (m32 + 2^15) >> 16 = 21845, exponent 3.
        // q = 16 (x = 1): hires 2048; preshift out = SRDHM16(2048, 16384) = 1024;
        //   reluish: 2048 << 2 = 8192, SRDHM16(8192, 21845) = 5461 (5461.75 → trunc
        //   after nudge), << 1 = 10922, (10922 + 32768) >> 1 = 21845;
        //   SDHM16(21845, 1024) = 682; RDBP(682, 5) = 21 (x·4/6·32 = 21.33).
        // q = -16: preshift -1024; reluish -8192 → -5461 → -10922 → 10923;
        //   SDHM16(10923, -1024) = -341; RDBP(-341, 5) = -11 (real -10.67).
        // q <= -48 (x <= -3): reluish saturates to -32768 → 0 → output 0.
        // q = 127: x·1 = 7.94 → 254 → clamp 127.
        let y = act_q(
            Op::HardSwish,
            i8s(&[16, -16, -48, -128, 0, 127]),
            (0.0625, 0),
            (1.0 / 32.0, 0),
        )
        .unwrap();
        assert_eq!(y, i8s(&[21, -11, 0, 0, 0, 127]));
    }

    #[test]
    fn hard_swish_pieces() {
        // (2^30 + 2^15) >> 16 = 16384; near 2^31 saturates.
        assert_eq!(super::downscale_multiplier_to_i16(1 << 30), 16384);
        assert_eq!(super::downscale_multiplier_to_i16(i32::MAX - 10), i16::MAX);
        // SRDHM16 rounds (ties up), SDHM16 truncates toward zero.
        assert_eq!(super::srdhm_i16(3, 1 << 14), 2); // 1.5 → 2
        assert_eq!(super::srdhm_i16(-3, 1 << 14), -1); // -1.5 → -1
        assert_eq!(super::sdhm_i16(3, 1 << 14), 1);
        assert_eq!(super::sdhm_i16(-3, 1 << 14), -1);
        assert_eq!(super::srdhm_i16(i16::MIN, i16::MIN), i16::MAX);
        // RDBP16 for e <= 15: half away from zero.
        assert_eq!(super::rounding_divide_by_pot_i16(-3, 1), -2);
        assert_eq!(super::rounding_divide_by_pot_i16(3, 1), 2);
        assert_eq!(super::saturating_left_shift_i16(20000, 1), i16::MAX);
        assert_eq!(super::saturating_left_shift_i16(-20000, 2), i16::MIN);
    }
}
