//! The standalone activations RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU,
//! LOGISTIC, TANH and HARD_SWISH: the float functions element by element as TFLite's
//! reference kernels compute them, and the 8-bit byte tables.
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
//! Each output byte depends only on the input byte, so prepare evaluates the reference
//! formula for all 256 inputs (`byte_table`) and the run is a table lookup.

use crate::ir::{DType, KernelError};
use crate::kbail;
use crate::kernels::common::clamp;
use crate::kernels::fixed_point::{
    lut_populate_int8, lut_populate_uint8, multiply_by_quantized_multiplier, quantize_multiplier,
    rounding_divide_by_pot,
};
use crate::kernels::reference::quant_binary::QByte;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ActivationKind {
    Relu,
    Relu6,
    ReluN1To1,
    Relu0To1,
    LeakyRelu(f32),
    Logistic,
    Tanh,
    HardSwish,
}

impl ActivationKind {
    #[inline(always)]
    pub(crate) fn apply(self, x: f32) -> f32 {
        match self {
            // Comparisons rather than f32::max so that NaN passes through as in TFLite.
            ActivationKind::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            ActivationKind::Relu6 => clamp(x, (0.0, 6.0)),
            ActivationKind::ReluN1To1 => clamp(x, (-1.0, 1.0)),
            ActivationKind::Relu0To1 => clamp(x, (0.0, 1.0)),
            ActivationKind::LeakyRelu(alpha) => {
                if x > 0.0 {
                    x
                } else {
                    x * alpha
                }
            }
            ActivationKind::Logistic => logistic(x),
            ActivationKind::Tanh => x.tanh(),
            ActivationKind::HardSwish => x * clamp(x + 3.0, (0.0, 6.0)) / 6.0,
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

#[inline(always)]
fn map(x: &[f32], y: &mut [f32], f: impl Fn(f32) -> f32) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = f(x);
    }
}

/// One loop per kind, so the cheap ones compile to straight vector code instead of a
/// per-element dispatch.
#[inline(always)]
fn apply_all(kind: ActivationKind, x: &[f32], y: &mut [f32]) {
    match kind {
        ActivationKind::Relu => map(x, y, |v| ActivationKind::Relu.apply(v)),
        ActivationKind::Relu6 => map(x, y, |v| ActivationKind::Relu6.apply(v)),
        ActivationKind::ReluN1To1 => map(x, y, |v| ActivationKind::ReluN1To1.apply(v)),
        ActivationKind::Relu0To1 => map(x, y, |v| ActivationKind::Relu0To1.apply(v)),
        ActivationKind::HardSwish => map(x, y, |v| ActivationKind::HardSwish.apply(v)),
        ActivationKind::LeakyRelu(alpha) => {
            map(x, y, |v| ActivationKind::LeakyRelu(alpha).apply(v))
        }
        other => map(x, y, |v| other.apply(v)),
    }
}

/// The float activation of `x` into `y` (equal lengths, checked by the caller); `avx2`
/// (true only when the CPU reported AVX2 and FMA) builds the loop for AVX2.
pub(crate) fn activation_f32(kind: ActivationKind, x: &[f32], y: &mut [f32], avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is set only when the prepare-time CpuFeatures had AVX2 + FMA.
        unsafe { crate::kernels::x86::elementwise::with_avx2(|| apply_all(kind, x, y)) };
        return;
    }
    let _ = avx2;
    apply_all(kind, x, y);
}

// ---------------------------------------------------------------------------------
// int8 / uint8

/// `y[i] = table[x[i]]` for an 8-bit type, the table indexed by the element's byte
/// (int8 values stored as their two's-complement bytes). `avx2`: look up 32 bytes per
/// step (true only when the CPU reported AVX2).
pub(crate) fn lookup<T: QByte>(table: &[u8; 256], x: &[T], y: &mut [T], avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
        unsafe { crate::kernels::x86::lut::lookup(table, x, y) };
        return;
    }
    let _ = avx2;
    for (y, &x) in y.iter_mut().zip(x.iter()) {
        *y = T::from_byte(table[usize::from(x.byte())]);
    }
}

/// Builds the byte table of an 8-bit type from `f(q)`, an integer already clamped
/// into the type's range.
pub(crate) fn byte_table(dtype: DType, f: impl Fn(i32) -> i32) -> [u8; 256] {
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
pub(crate) fn relu_bound(value: f32, scale: f32, zero_point: i32) -> i64 {
    let rounded = (value / scale).round();
    i64::from(zero_point) + rounded.clamp(i32::MIN as f32, i32::MAX as f32) as i64
}

/// The 16-bit fixed-point parameters of quantized HARD_SWISH (`HardSwishPrepare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HardSwish8 {
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
    pub(crate) fn new(
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
    pub(crate) fn apply(&self, q: i32, min: i32, max: i32) -> i32 {
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

/// The table of quantized RELU / RELU6 / RELU_N1_TO_1 / RELU_0_TO_1: requantize by
/// `(m, shift)`, offset by the output zero point, clamp to `[lo, hi]` (inside the type's
/// range).
pub(crate) fn relu_table(
    dtype: DType,
    in_zp: i32,
    (m, shift): (i32, i32),
    out_zp: i32,
    (lo, hi): (i32, i32),
) -> [u8; 256] {
    byte_table(dtype, |q| {
        let scaled = multiply_by_quantized_multiplier(q - in_zp, m, shift);
        out_zp.wrapping_add(scaled).clamp(lo, hi)
    })
}

/// The table of quantized LEAKY_RELU: the identity multiplier for `q - in_zp >= 0`, the
/// alpha multiplier (negative for a negative alpha) for the rest; `(qmin, qmax)` is the
/// type's range.
pub(crate) fn leaky_relu_table(
    dtype: DType,
    in_zp: i32,
    out_zp: i32,
    (id_m, id_shift): (i32, i32),
    (alpha_m, alpha_shift): (i32, i32),
    (qmin, qmax): (i32, i32),
) -> [u8; 256] {
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

/// The table of quantized LOGISTIC / TANH: LiteRT's float-built `LUTPopulate` of
/// `transform`.
pub(crate) fn float_lut_table(
    dtype: DType,
    (in_scale, in_zp): (f32, i32),
    (out_scale, out_zp): (f32, i32),
    transform: fn(f32) -> f32,
) -> [u8; 256] {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_swish_pieces() {
        // (2^30 + 2^15) >> 16 = 16384; near 2^31 saturates.
        assert_eq!(downscale_multiplier_to_i16(1 << 30), 16384);
        assert_eq!(downscale_multiplier_to_i16(i32::MAX - 10), i16::MAX);
        // SRDHM16 rounds (ties up), SDHM16 truncates toward zero.
        assert_eq!(srdhm_i16(3, 1 << 14), 2); // 1.5 → 2
        assert_eq!(srdhm_i16(-3, 1 << 14), -1); // -1.5 → -1
        assert_eq!(sdhm_i16(3, 1 << 14), 1);
        assert_eq!(sdhm_i16(-3, 1 << 14), -1);
        assert_eq!(srdhm_i16(i16::MIN, i16::MIN), i16::MAX);
        // RDBP16 for e <= 15: half away from zero.
        assert_eq!(rounding_divide_by_pot_i16(-3, 1), -2);
        assert_eq!(rounding_divide_by_pot_i16(3, 1), 2);
        assert_eq!(saturating_left_shift_i16(20000, 1), i16::MAX);
        assert_eq!(saturating_left_shift_i16(-20000, 2), i16::MIN);
    }
}
