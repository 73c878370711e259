//! Integer arithmetic of TFLite's reference kernels, reproduced bit for bit.
//!
//! The int8 kernels call these functions instead of doing their own rounding, so that
//! every output byte matches `tf.lite.Interpreter(...,
//! experimental_op_resolver_type=BUILTIN_REF)`. Sources: TFLite
//! `kernels/internal/{common.h,common.cc,quantization_util.cc}`,
//! `kernels/kernel_util.cc`, `kernels/activations.cc`, `reference/{softmax,reduce,
//! requantize}.h`, and gemmlowp `fixedpoint/fixedpoint.h`.
//!
//! Build flavour: TFLite's default *double rounding* (`TFLITE_SINGLE_ROUNDING` unset),
//! which is what the reference kernels of the pip wheels use.
//!
//! Conventions:
//! * A "multiplier" is a pair `(m, shift)` meaning `m * 2^(shift - 31)`; positive shifts
//!   are left shifts.
//! * Raw fixed-point values are plain `i32`s; "Qm.n" in a name or doc means `m` integer
//!   bits and `n = 31 - m` fractional bits (gemmlowp's `FixedPoint<int32_t, m>`).
//! * Where the C++ relies on signed overflow wrapping (gemmlowp's plain `Add`/`Sub`,
//!   `x * (1 << shift)`), we wrap too, which is what the compiled C++ does on the
//!   two's-complement targets TFLite ships for.
//! * What TFLite guards with `TFLITE_CHECK` (aborting the process) is an `Err` here.

use crate::ir::KernelError;
use crate::ir::{Activation, DType};
use crate::kbail;

/// 1.0 in Q0.31, which gemmlowp saturates to the largest raw value.
pub const Q0_31_ONE: i32 = i32::MAX;

// ---------------------------------------------------------------------------------------
// Multipliers
// ---------------------------------------------------------------------------------------

/// Splits a finite nonzero `x` into `(fraction, exponent)` with `x = fraction * 2^exponent`
/// and `0.5 <= |fraction| < 1`, exactly like C's `frexp` (subnormals included).
fn frexp(x: f64) -> (f64, i32) {
    const EXPONENT_BITS: u64 = 0x7ff << 52;
    let bits = x.to_bits();
    let biased = ((bits & EXPONENT_BITS) >> 52) as i32;
    if biased == 0 {
        // Subnormal: scale into the normal range first; 2^64 is exact.
        let (fraction, exponent) = frexp(x * 18_446_744_073_709_551_616.0);
        return (fraction, exponent - 64);
    }
    // Force the biased exponent to 1022, i.e. a magnitude in [0.5, 1).
    let fraction = f64::from_bits((bits & !EXPONENT_BITS) | (1022 << 52));
    (fraction, biased - 1022)
}

/// Mirrors TFLite `QuantizeMultiplier(double, int32_t*, int*)` (quantization_util.cc):
/// `frexp`, then the mantissa times 2^31 rounded half away from zero (`TfLiteRound`),
/// a carry to the next power of two when rounding reaches 2^31, and multipliers below
/// about 2^-31 flushed to `(0, 0)`. Double-rounding build: no clamp of shifts above 30.
///
/// Negative inputs are accepted as TFLite accepts them (they never come from valid
/// scales). NaN and infinities make TFLite abort; here they are an error.
pub fn quantize_multiplier(real: f64) -> Result<(i32, i32), KernelError> {
    if real == 0.0 {
        return Ok((0, 0));
    }
    if !real.is_finite() {
        kbail!("cannot quantize the non-finite multiplier {real}");
    }
    let (fraction, mut shift) = frexp(real);
    // Exact: scaling by a power of two; `round` is half away from zero like std::round.
    let mut q_fixed = (fraction * 2_147_483_648.0).round() as i64;
    if q_fixed == 1 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Ok((0, 0));
    }
    // |fraction| < 1 and the carry above keep q_fixed within [-2^31, 2^31 - 1].
    Ok((q_fixed as i32, shift))
}

/// Mirrors TFLite `QuantizeMultiplierSmallerThanOneExp`: [`quantize_multiplier`] for a
/// real multiplier in `[0, 1)`, returning a shift `<= 0` (a right shift of `-shift`).
/// Used by ADD for its input and output rescalings.
pub fn quantize_multiplier_smaller_than_one_exp(real: f64) -> Result<(i32, i32), KernelError> {
    if !(0.0..1.0).contains(&real) {
        kbail!("multiplier {real} must lie in [0, 1)");
    }
    let (multiplier, shift) = quantize_multiplier(real)?;
    if shift > 0 {
        kbail!("multiplier {real} produced the positive shift {shift}");
    }
    Ok((multiplier, shift))
}

/// Mirrors TFLite `QuantizeMultiplierGreaterThanOne`: [`quantize_multiplier`] for a real
/// multiplier above 1, returning a left shift `>= 0`. Used by SOFTMAX's input scaling.
pub fn quantize_multiplier_greater_than_one(real: f64) -> Result<(i32, i32), KernelError> {
    // NaN fails too, as TFLITE_CHECK_GT(real, 1.) does.
    if real.is_nan() || real <= 1.0 {
        kbail!("multiplier {real} must be greater than 1");
    }
    let (multiplier, shift) = quantize_multiplier(real)?;
    if shift < 0 {
        kbail!("multiplier {real} produced the negative shift {shift}");
    }
    Ok((multiplier, shift))
}

/// The real multiplier of per-channel CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED,
/// promoted as `PopulateConvolutionQuantizationParams` does:
/// `double(in_s) * double(w_s) / double(out_s)`.
pub fn effective_scale_per_channel(input_scale: f32, weight_scale: f32, output_scale: f32) -> f64 {
    f64::from(input_scale) * f64::from(weight_scale) / f64::from(output_scale)
}

/// The real multiplier of per-tensor FULLY_CONNECTED, promoted as
/// `GetQuantizedConvolutionMultipler` does: the product in float, then
/// `double(float(in_s * w_s)) / double(out_s)`.
pub fn effective_scale_per_tensor(input_scale: f32, weight_scale: f32, output_scale: f32) -> f64 {
    f64::from(input_scale * weight_scale) / f64::from(output_scale)
}

/// The real multiplier of int8 MUL: `in1_s * in2_s / out_s` evaluated entirely in float
/// (mul.cc), then widened.
pub fn effective_scale_mul(input1_scale: f32, input2_scale: f32, output_scale: f32) -> f64 {
    f64::from(input1_scale * input2_scale / output_scale)
}

/// The real multiplier of a pure rescale (requantizing QUANTIZE, MEAN, LEAKY_RELU's
/// identity branch): `double(in_s) / double(out_s)`.
pub fn effective_scale_ratio(input_scale: f32, output_scale: f32) -> f64 {
    f64::from(input_scale) / f64::from(output_scale)
}

// ---------------------------------------------------------------------------------------
// Integer primitives
// ---------------------------------------------------------------------------------------

/// Mirrors gemmlowp `SaturatingRoundingDoublingHighMul<int32_t>` (ARM `VQRDMULH`):
/// `a * b / 2^31` rounded to nearest with ties toward +infinity (the nudge is `2^30`
/// for non-negative products and `1 - 2^30` for negative ones, followed by a division
/// that truncates toward zero). Saturates only for `a = b = i32::MIN`.
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let product = i64::from(a) * i64::from(b);
    let nudge: i64 = if product >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // |product| <= 2^62 so the sum cannot overflow, and the quotient fits in i32.
    ((product + nudge) / (1i64 << 31)) as i32
}

/// Mirrors gemmlowp `RoundingDivideByPOT<int32_t>`: `x / 2^exponent` rounded to nearest,
/// ties away from zero. gemmlowp only defines exponents up to 31; larger ones give the
/// same correctly rounded quotient here (0 or -1 for `i32::MIN` at 32).
pub fn rounding_divide_by_pot(x: i32, exponent: u32) -> i32 {
    // Beyond 32 every quotient is already 0; 62 keeps the mask computable.
    let exponent = exponent.min(62);
    let x = i64::from(x);
    let mask = (1i64 << exponent) - 1;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    let rounded = (x >> exponent) + i64::from(remainder > threshold);
    // A quotient of an i32 by a power of two, so it fits.
    rounded as i32
}

/// Mirrors gemmlowp's scalar `SaturatingRoundingMultiplyByPOT<Exponent>` and TFLite's
/// `SaturatingRoundingMultiplyByPOTParam`: for a positive exponent, a left shift that
/// saturates to `i32::MIN`/`i32::MAX`; for a negative one, [`rounding_divide_by_pot`].
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    match exponent {
        0 => x,
        e if e < 0 => rounding_divide_by_pot(x, e.unsigned_abs()),
        e => {
            // gemmlowp's threshold (1 << (31 - e)) - 1; for e >= 31 every nonzero value
            // saturates, which the i64 form expresses without an over-wide shift.
            let threshold = (1i64 << (31 - e.min(31))) - 1;
            let x64 = i64::from(x);
            if x64 > threshold {
                i32::MAX
            } else if x64 < -threshold {
                i32::MIN
            } else {
                // In range: |x| <= 2^(31-e) - 1, so the shift is exact.
                (x64 << e.min(31)) as i32
            }
        }
    }
}

/// gemmlowp `Rescale<dst_integer_bits>` of a value with `src_integer_bits`: a saturating
/// rounding multiplication by `2^(src - dst)`.
pub fn rescale(x: i32, src_integer_bits: i32, dst_integer_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)
}

/// `x * (1 << left_shift)` as the compiled C++ computes it: wrapping multiplication,
/// with the shift count taken modulo 32 as x86 and ARM shifters do for the (undefined)
/// shifts of 32 and more.
fn shift_left_wrapping(x: i32, left_shift: u32) -> i32 {
    x.wrapping_mul(1i32.wrapping_shl(left_shift))
}

/// Mirrors TFLite `MultiplyByQuantizedMultiplier(int32_t x, int32_t m, int shift)` in its
/// double-rounding form (common.cc): left-shift by `max(shift, 0)`, then
/// [`saturating_rounding_doubling_high_mul`], then [`rounding_divide_by_pot`] by
/// `max(-shift, 0)`. The valid domain is `shift` in `[-31, 30]` with `x << shift`
/// fitting in i32; outside it the C++ overflows and this wraps like the compiled code.
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = shift.max(0).unsigned_abs();
    let right_shift = shift.min(0).unsigned_abs();
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(shift_left_wrapping(x, left_shift), multiplier),
        right_shift,
    )
}

/// Mirrors TFLite `MultiplyByQuantizedMultiplierSmallerThanOneExp` (double rounding):
/// `RoundingDivideByPOT(SRDHM(x, m), -left_shift)` for `left_shift <= 0`. ADD uses it.
/// A positive `left_shift` (outside TFLite's contract) is treated as 0.
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, multiplier),
        left_shift.min(0).unsigned_abs(),
    )
}

/// Mirrors TFLite `MultiplyByQuantizedMultiplierGreaterThanOne` (double rounding):
/// `SRDHM(x * (1 << left_shift), m)` for `left_shift >= 0`. SOFTMAX uses it to bring
/// input differences into Q5.26. A negative `left_shift` is treated as 0.
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    left_shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(
        shift_left_wrapping(x, left_shift.max(0).unsigned_abs()),
        multiplier,
    )
}

/// Mirrors TFLite's int64-input `MultiplyByQuantizedMultiplier(int64_t x, int32_t m,
/// int shift)` (double-rounding build; used by int16 kernels with int64 bias): the
/// multiplier is first rounded to 16 bits, `(m + 2^15) >> 16` (0x7FFF from 0x7FFF0000
/// up), then `(x * m16 + 2^(14 - shift)) >> (15 - shift)`, an arithmetic shift, so ties
/// round toward +infinity. TFLite's domain: `m >= 0`, `shift` in `[-31, 7]`,
/// `|x| < 2^47`; outside it this wraps instead of invoking undefined behaviour.
pub fn multiply_by_quantized_multiplier_i64(x: i64, multiplier: i32, shift: i32) -> i32 {
    let reduced_multiplier: i64 = if multiplier < 0x7FFF_0000 {
        (i64::from(multiplier) + (1 << 15)) >> 16
    } else {
        0x7FFF
    };
    let total_shift = (15i64 - i64::from(shift)).clamp(1, 63) as u32;
    let rounding = 1i64 << (total_shift - 1);
    let sum = x.wrapping_mul(reduced_multiplier).wrapping_add(rounding);
    // The C++ truncates the int64 to int32_t.
    (sum >> total_shift) as i32
}

// ---------------------------------------------------------------------------------------
// gemmlowp fixed-point functions used by the int8 SOFTMAX reference
// ---------------------------------------------------------------------------------------

/// gemmlowp `RoundingHalfSum<int32_t>`: `(a + b) / 2` with the sum computed in 64 bits
/// and rounded half away from zero.
fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = i64::from(a) + i64::from(b);
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// `exp(-1/8)` in Q0.31, gemmlowp's constant.
const EXP_MINUS_ONE_EIGHTH_Q0_31: i32 = 1_895_147_668;
/// `1/3` in Q0.31, gemmlowp's constant.
const ONE_THIRD_Q0_31: i32 = 715_827_883;

/// Mirrors gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl` for
/// `int32_t`: `exp(a)` for `a` in `[-1/4, 0)`, both Q0.31, by a 4th-order Taylor
/// expansion around -1/8. Additions wrap as gemmlowp's plain `Add` does.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    let mul = saturating_rounding_doubling_high_mul;
    // x = a + 1/8, where 1/8 is 1 << 28 in Q0.31.
    let x = a.wrapping_add(1 << 28);
    let x2 = mul(x, x);
    let x3 = mul(x2, x);
    let x4 = mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    let x4_over_24_plus_x3_over_6_plus_x2_over_2 = saturating_rounding_multiply_by_pot(
        mul(x4_over_4.wrapping_add(x3), ONE_THIRD_Q0_31).wrapping_add(x2),
        -1,
    );
    // gemmlowp's AddSaturatingIf16Bit is a plain addition for 32-bit raws.
    EXP_MINUS_ONE_EIGHTH_Q0_31.wrapping_add(mul(
        EXP_MINUS_ONE_EIGHTH_Q0_31,
        x.wrapping_add(x4_over_24_plus_x3_over_6_plus_x2_over_2),
    ))
}

/// gemmlowp's barrel shifter for `exp_on_negative_values`: for each power of two `2^k`
/// in the input's integer range, `exp(-2^k)` in Q0.31.
const EXP_BARREL_SHIFTER: [(i32, i32); 7] = [
    (-2, 1_672_461_947),
    (-1, 1_302_514_674),
    (0, 790_015_084),
    (1, 290_630_308),
    (2, 39_332_535),
    (3, 720_401),
    (4, 242),
];

/// Mirrors gemmlowp `exp_on_negative_values<int32_t, INTEGER_BITS>`: `exp(a)` for `a <= 0`
/// given in Q`INTEGER_BITS`.(31-`INTEGER_BITS`), returned in Q0.31 (`exp(0)` is
/// [`Q0_31_ONE`]). The int8 SOFTMAX reference uses `INTEGER_BITS = 5` (Q5.26).
///
/// `a` is split into `(a mod 1/4) - 1/4`, in `[-1/4, 0)`, for the Taylor expansion, and
/// a non-negative remainder whose set bits `2^k` each multiply the result by
/// `exp(-2^k)`. Inputs below -32 give 0 when `INTEGER_BITS > 5`, as in gemmlowp.
pub fn exp_on_negative_values<const INTEGER_BITS: i32>(a: i32) -> i32 {
    const {
        assert!(
            INTEGER_BITS >= 0 && INTEGER_BITS <= 29,
            "ConstantPOT<-2> must be representable"
        );
    }
    let fractional_bits = 31 - INTEGER_BITS;
    let one_quarter = 1i32 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        INTEGER_BITS,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    for (exponent, multiplier) in EXP_BARREL_SHIFTER {
        if INTEGER_BITS > exponent {
            let bit = 1i32 << (fractional_bits + exponent);
            if remainder & bit != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }
    if INTEGER_BITS > 5 {
        // -32 in the input format.
        let clamp = -(1i32 << (36 - INTEGER_BITS));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = Q0_31_ONE;
    }
    result
}

/// `48/17` in Q2.29, gemmlowp's Newton-Raphson starting constant.
const FORTY_EIGHT_OVER_SEVENTEEN_Q2_29: i32 = 1_515_870_810;
/// `-32/17` in Q2.29.
const MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2_29: i32 = -1_010_580_540;
/// 1.0 in Q2.29.
const ONE_Q2_29: i32 = 1 << 29;

/// Mirrors gemmlowp `one_over_one_plus_x_for_x_in_0_1<int32_t>`: `1 / (1 + a)` for `a` in
/// `[0, 1)`, both Q0.31, by three Newton-Raphson steps in Q2.29.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    let mul = saturating_rounding_doubling_high_mul;
    let half_denominator = rounding_half_sum(a, Q0_31_ONE);
    let mut x = FORTY_EIGHT_OVER_SEVENTEEN_Q2_29
        .wrapping_add(mul(half_denominator, MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2_29));
    for _ in 0..3 {
        let half_denominator_times_x = mul(half_denominator, x);
        let one_minus_half_denominator_times_x = ONE_Q2_29.wrapping_sub(half_denominator_times_x);
        // Q2.29 * Q2.29 is Q4.27; bring it back to Q2.29.
        x = x.wrapping_add(rescale(mul(x, one_minus_half_denominator_times_x), 4, 2));
    }
    // ExactMulByPot<-1> relabels Q2.29 as Q1.30 (halving), then Rescale<0>.
    rescale(x, 1, 0)
}

/// Mirrors TFLite `GetReciprocal(x, x_integer_digits, &num_bits_over_unit)` (common.h):
/// for a positive `x` in Q`x_integer_digits`, returns `(reciprocal, num_bits_over_unit)`
/// with `1 / x ~= reciprocal / 2^31 / 2^num_bits_over_unit` and `reciprocal` in Q0.31
/// (in `(0.5, 1]`). It normalizes `x` to `[1, 2)` with a count of leading zeros and calls
/// [`one_over_one_plus_x_for_x_in_0_1`].
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_digits - headroom_plus_one as i32;
    // Only x == 0 shifts by 32 (undefined in C++; softmax sums are never 0); 0 keeps
    // the function total.
    let normalized = (x as u32).checked_shl(headroom_plus_one).unwrap_or(0);
    let shifted_sum_minus_one = normalized.wrapping_sub(1 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one),
        num_bits_over_unit,
    )
}

/// Mirrors TFLite `CalculateInputRadius(input_integer_bits, input_left_shift,
/// total_signed_bits)` in its floating-point form: the largest input difference whose
/// rescaled value still fits, `floor((2^ib - 1) * 2^(total - ib) / 2^left_shift)`
/// computed in double. SOFTMAX uses `total_signed_bits = 31`.
pub fn calculate_input_radius(
    input_integer_bits: i32,
    input_left_shift: i32,
    total_signed_bits: i32,
) -> i32 {
    // Powers of two are exact in double, as the C++ integer shifts are.
    let max_input_rescaled = (2f64.powi(input_integer_bits) - 1.0)
        * 2f64.powi(total_signed_bits - input_integer_bits)
        / 2f64.powi(input_left_shift);
    max_input_rescaled.floor() as i32
}

/// Mirrors TFLite `PreprocessSoftmaxScaling(beta, input_scale, input_integer_bits)`
/// (double-rounding build): the multiplier of `beta * input_scale * 2^(31 - ib)`,
/// evaluated in double in that order, capped at `2^31 - 1`, encoded with
/// [`quantize_multiplier_greater_than_one`]. Returns `(multiplier, left_shift)`.
/// Fails where TFLite aborts: when the product is not above 1 (input scales below about
/// `1.5e-8 / beta`) or not a number.
pub fn preprocess_softmax_scaling(
    beta: f64,
    input_scale: f64,
    input_integer_bits: i32,
) -> Result<(i32, i32), KernelError> {
    let max_real_multiplier = 2f64.powi(31) - 1.0;
    let unbounded = beta * input_scale * 2f64.powi(31 - input_integer_bits);
    // std::min<double>(NaN, max) is NaN, which the greater-than-one check rejects.
    let real = if max_real_multiplier < unbounded {
        max_real_multiplier
    } else {
        unbounded
    };
    quantize_multiplier_greater_than_one(real)
}

/// Integer bits of the scaled input differences in the int8 SOFTMAX reference (Q5.26).
pub const SOFTMAX_SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exponentials in the int8 SOFTMAX reference (Q12.19).
pub const SOFTMAX_ACCUMULATION_INTEGER_BITS: i32 = 12;

/// What `SoftmaxPrepare` (activations.cc, reference kernel) stores for 8-bit inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxParams {
    pub input_multiplier: i32,
    pub input_left_shift: i32,
    /// Input differences from the row maximum below this contribute nothing and output
    /// the minimum value.
    pub diff_min: i32,
}

impl SoftmaxParams {
    /// `SoftmaxPrepare` for int8/uint8 inputs with the reference kernel: beta and the
    /// input scale are floats widened to double, the integer bits are 5, and
    /// `diff_min = -CalculateInputRadius(5, left_shift)` (31 total bits).
    pub fn new(beta: f32, input_scale: f32) -> Result<SoftmaxParams, KernelError> {
        let (input_multiplier, input_left_shift) = preprocess_softmax_scaling(
            f64::from(beta),
            f64::from(input_scale),
            SOFTMAX_SCALED_DIFF_INTEGER_BITS,
        )?;
        let diff_min =
            -calculate_input_radius(SOFTMAX_SCALED_DIFF_INTEGER_BITS, input_left_shift, 31);
        Ok(SoftmaxParams {
            input_multiplier,
            input_left_shift,
            diff_min,
        })
    }

    /// `exp(beta * input_scale * diff)` in Q0.31 for an input difference `diff <= 0`
    /// that is at least `diff_min`, as the reference computes it.
    fn exp_of_diff(&self, diff: i32) -> i32 {
        let scaled_diff_q5_26 = multiply_by_quantized_multiplier_greater_than_one(
            diff,
            self.input_multiplier,
            self.input_left_shift,
        );
        exp_on_negative_values::<SOFTMAX_SCALED_DIFF_INTEGER_BITS>(scaled_diff_q5_26)
    }

    /// One row of TFLite `reference_ops::Softmax<InputT, OutputT>`: `input` holds the
    /// row's 8-bit values, `output_bits` is the width of the output type (8 or 16) and
    /// `output_min`/`output_max` its range (-128/127 for int8, 0/255 for uint8,
    /// -32768/32767 for int16). The output is the probability in units of
    /// 2^-output_bits plus `output_min`.
    fn row_quantized<T: Copy + Into<i32> + Ord>(
        &self,
        input: &[T],
        output_bits: i32,
        (output_min, output_max): (i32, i32),
        mut emit: impl FnMut(usize, i32),
    ) -> Result<(), KernelError> {
        let Some(&max_in_row) = input.iter().max() else {
            return Ok(());
        };
        let max_in_row: i32 = max_in_row.into();
        let mut sum_of_exps_q12_19: i32 = 0;
        for &value in input {
            let diff = value.into() - max_in_row;
            if diff >= self.diff_min {
                let exp_q0_31 = self.exp_of_diff(diff);
                sum_of_exps_q12_19 = sum_of_exps_q12_19.wrapping_add(rescale(
                    exp_q0_31,
                    0,
                    SOFTMAX_ACCUMULATION_INTEGER_BITS,
                ));
            }
        }
        let (reciprocal_q0_31, num_bits_over_unit) =
            get_reciprocal(sum_of_exps_q12_19, SOFTMAX_ACCUMULATION_INTEGER_BITS);
        let exponent = num_bits_over_unit + 31 - output_bits;
        // TFLite CHECKs 0 <= exponent <= 31; only a wrapped (overflowed) sum breaks it.
        let exponent = match u32::try_from(exponent) {
            Ok(exponent) if exponent <= 31 => exponent,
            _ => kbail!("softmax row sum overflowed its Q12.19 accumulator"),
        };
        for (index, &value) in input.iter().enumerate() {
            let diff = value.into() - max_in_row;
            let quantized = if diff >= self.diff_min {
                let exp_q0_31 = self.exp_of_diff(diff);
                let unsaturated = rounding_divide_by_pot(
                    saturating_rounding_doubling_high_mul(reciprocal_q0_31, exp_q0_31),
                    exponent,
                );
                (unsaturated + output_min).clamp(output_min, output_max)
            } else {
                output_min
            };
            emit(index, quantized);
        }
        Ok(())
    }

    /// One row (the innermost axis) of the int8 -> int8 SOFTMAX reference kernel.
    pub fn softmax_row_int8(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        if input.len() != output.len() {
            kbail!(
                "softmax row of {} inputs into {} outputs",
                input.len(),
                output.len()
            );
        }
        // Values were clamped to [-128, 127] just before.
        self.row_quantized(input, 8, (-128, 127), |index, value| {
            output[index] = value as i8
        })
    }

    /// One row of the uint8 -> uint8 SOFTMAX reference kernel (output offset 0).
    pub fn softmax_row_uint8(&self, input: &[u8], output: &mut [u8]) -> Result<(), KernelError> {
        if input.len() != output.len() {
            kbail!(
                "softmax row of {} inputs into {} outputs",
                input.len(),
                output.len()
            );
        }
        self.row_quantized(input, 8, (0, 255), |index, value| {
            output[index] = value as u8
        })
    }

    /// One row of the int8 -> int16 SOFTMAX reference kernel (probabilities in steps of
    /// 1/65536 from -32768), which keyword-spotting models end with.
    pub fn softmax_row_int8_to_int16(
        &self,
        input: &[i8],
        output: &mut [i16],
    ) -> Result<(), KernelError> {
        if input.len() != output.len() {
            kbail!(
                "softmax row of {} inputs into {} outputs",
                input.len(),
                output.len()
            );
        }
        self.row_quantized(input, 16, (-32768, 32767), |index, value| {
            output[index] = value as i16
        })
    }
}

// ---------------------------------------------------------------------------------------
// gemmlowp-style natural logarithm used by the int8 LOG_SOFTMAX reference
// ---------------------------------------------------------------------------------------

/// gemmlowp's `ln 2` in Q0.31.
const LN_2_Q0_31: i32 = 1_488_522_236;
/// `sqrt(sqrt(1/2))` in Q0.31.
const SQRT_SQRT_HALF_Q0_31: i32 = 1_805_811_301;
/// `sqrt(1/2)` in Q0.31.
const SQRT_HALF_Q0_31: i32 = 1_518_500_250;
/// `1/4` in Q0.31.
const ONE_QUARTER_Q0_31: i32 = 536_870_912;
/// The rational approximation's coefficients (TFLite common.h), Q0.31:
/// `11/240 * 2^(1/4)`, `1/20 * 2^(1/4)`, `2 / 2^(1/4) - 2^(1/4)` and `1/4 * 2^(1/4)`.
const LOG_ALPHA_N: i32 = 117_049_297;
const LOG_ALPHA_D: i32 = 127_690_142;
const LOG_ALPHA_I: i32 = 1_057_819_769;
const LOG_ALPHA_F: i32 = 638_450_708;

/// TFLite's `SaturatingAddNonGemmlowp` / `SaturatingSub` for int32: the exact sum or
/// difference clamped to the int32 range.
fn saturate_i64(x: i64) -> i32 {
    x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Mirrors TFLite `log_x_for_x_greater_than_or_equal_to_1_impl<OutputIntegerBits,
/// InputIntegerBits>` (common.h): `ln(x)` for `x >= 1` given in Q`input_integer_bits`,
/// returned in Q`output_integer_bits`. The input is normalised to `[1/sqrt 2, sqrt 2)`
/// twice (directly and after a multiplication by `sqrt(1/2)`), the better of the two
/// power-of-two estimates is kept, and the remaining factor goes through a rational
/// approximation around `2^(-1/4)`. Products are gemmlowp's rounding doubling high
/// multiplications and plain additions wrap, as the compiled C++ does.
pub fn log_x_for_x_greater_than_or_equal_to_1(
    input: i32,
    input_integer_bits: i32,
    output_integer_bits: i32,
) -> i32 {
    let mul = saturating_rounding_doubling_high_mul;
    // One integer bit of headroom over the output's, as TFLite's accumulator has.
    let accum_integer_bits = output_integer_bits + 1;
    let shifted_quarter = rescale(ONE_QUARTER_Q0_31, 0, accum_integer_bits);

    // The input's raw bits read as Q0.31; the shifts below find its binary exponent.
    let z_a = input;
    let z_a_headroom_plus_1 = (z_a as u32).leading_zeros() as i32;
    let r_a_tmp = saturating_rounding_multiply_by_pot(z_a, z_a_headroom_plus_1 - 1);
    let r_a = saturating_rounding_multiply_by_pot(mul(r_a_tmp, SQRT_HALF_Q0_31), 1);
    let z_a_pow_2_adj = saturate_i64(
        i64::from(saturating_rounding_multiply_by_pot(
            input_integer_bits - z_a_headroom_plus_1,
            31 - accum_integer_bits,
        )) + i64::from(shifted_quarter),
    );

    let z_b = mul(z_a, SQRT_HALF_Q0_31);
    let z_b_headroom = (z_b as u32).leading_zeros() as i32 - 1;
    let r_b = saturating_rounding_multiply_by_pot(z_a, z_b_headroom);
    let z_b_pow_2_adj = saturate_i64(
        i64::from(saturating_rounding_multiply_by_pot(
            input_integer_bits - z_b_headroom,
            31 - accum_integer_bits,
        )) - i64::from(shifted_quarter),
    );

    let r = r_a.min(r_b);
    let z_pow_2_adj = z_a_pow_2_adj.max(z_b_pow_2_adj);

    let p = rounding_half_sum(r, SQRT_SQRT_HALF_Q0_31);
    let q = r.wrapping_sub(SQRT_SQRT_HALF_Q0_31);
    let q = q.wrapping_add(q);
    let common_sq = mul(q, q);
    let num = mul(q, r).wrapping_add(mul(mul(q, common_sq), LOG_ALPHA_N));
    let denom_minus_one = mul(
        p,
        LOG_ALPHA_I
            .wrapping_add(q)
            .wrapping_add(mul(LOG_ALPHA_D, common_sq)),
    )
    .wrapping_add(mul(LOG_ALPHA_F, q));
    let recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one);
    let num_scaled = rescale(num, 0, accum_integer_bits);
    rescale(
        mul(z_pow_2_adj, LN_2_Q0_31).wrapping_add(mul(num_scaled, recip_denom)),
        accum_integer_bits,
        output_integer_bits,
    )
}

/// Integer bits of the int8 LOG_SOFTMAX output before the final shift (Q4.27): its
/// range [-16, 0] is what the fixed output scale 16/256 covers.
const LOG_SOFTMAX_OUTPUT_INTEGER_BITS: i32 = 4;
/// The int8 LOG_SOFTMAX output zero point TFLite requires (scale 16/256).
pub const LOG_SOFTMAX_OUTPUT_ZERO_POINT: i32 = 127;
/// The int8 LOG_SOFTMAX output scale TFLite requires.
pub const LOG_SOFTMAX_OUTPUT_SCALE: f32 = 16.0 / 256.0;

/// What `LogSoftmaxPrepare` (activations.cc, reference kernel) stores for int8 inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSoftmaxParams {
    softmax: SoftmaxParams,
    /// Multiplier and (non-positive) left shift that take a Q5.26 value back to input
    /// steps: the inverse of the input scaling.
    reverse_multiplier: i32,
    reverse_left_shift: i32,
}

impl LogSoftmaxParams {
    /// `PreprocessLogSoftmaxScalingExp(beta = 1, input_scale, 5)`: the softmax input
    /// scaling, and `2^(31 - left_shift) / multiplier` encoded below one.
    pub fn new(input_scale: f32) -> Result<LogSoftmaxParams, KernelError> {
        let softmax = SoftmaxParams::new(1.0, input_scale)?;
        let reverse =
            2f64.powi(31 - softmax.input_left_shift) / f64::from(softmax.input_multiplier);
        let (reverse_multiplier, reverse_left_shift) =
            quantize_multiplier_smaller_than_one_exp(reverse)?;
        Ok(LogSoftmaxParams {
            softmax,
            reverse_multiplier,
            reverse_left_shift,
        })
    }

    /// One row of TFLite `reference_integer_ops::LogSoftmax`: `x - max - ln(sum of
    /// exp(x - max))` in Q5.26, written with scale 1/16 and zero point 127; inputs too
    /// far below the row maximum (or below what the log sum leaves representable) give
    /// -128.
    pub fn log_softmax_row_int8(&self, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        if input.len() != output.len() {
            kbail!(
                "log_softmax row of {} inputs into {} outputs",
                input.len(),
                output.len()
            );
        }
        let Some(&max_in_row) = input.iter().max() else {
            return Ok(());
        };
        let max_in_row = i32::from(max_in_row);
        let params = &self.softmax;
        let mut sum_of_exps_q12_19: i32 = 0;
        for &value in input {
            let diff = i32::from(value) - max_in_row;
            if diff >= params.diff_min {
                sum_of_exps_q12_19 = sum_of_exps_q12_19.wrapping_add(rescale(
                    params.exp_of_diff(diff),
                    0,
                    SOFTMAX_ACCUMULATION_INTEGER_BITS,
                ));
            }
        }
        let log_sum_q5_26 = log_x_for_x_greater_than_or_equal_to_1(
            sum_of_exps_q12_19,
            SOFTMAX_ACCUMULATION_INTEGER_BITS,
            SOFTMAX_SCALED_DIFF_INTEGER_BITS,
        );
        // The most negative Q5.26 value plus the log sum, brought back to input steps:
        // differences at or below it would underflow the subtraction below.
        let shifted_log_sum = log_sum_q5_26.wrapping_add(i32::MIN);
        let adjusted_diff_min = (params.diff_min - 1).max(multiply_by_quantized_multiplier(
            shifted_log_sum,
            self.reverse_multiplier,
            self.reverse_left_shift,
        ));
        let final_shift =
            (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS - LOG_SOFTMAX_OUTPUT_INTEGER_BITS) as u32;
        for (o, &value) in output.iter_mut().zip(input) {
            let diff = i32::from(value) - max_in_row;
            *o = if diff > adjusted_diff_min {
                let diff_q5_26 = multiply_by_quantized_multiplier(
                    diff,
                    params.input_multiplier,
                    params.input_left_shift,
                );
                let q = rounding_divide_by_pot(diff_q5_26.wrapping_sub(log_sum_q5_26), final_shift)
                    + LOG_SOFTMAX_OUTPUT_ZERO_POINT;
                q.clamp(-128, 127) as i8
            } else {
                -128
            };
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Kernel preparation helpers
// ---------------------------------------------------------------------------------------

/// The integer range of a quantized type, as `CalculateActivationRangeQuantized` picks it.
pub fn quantized_range(dtype: DType) -> Result<(i32, i32), KernelError> {
    Ok(match dtype {
        DType::U8 => (0, 255),
        DType::I8 => (-128, 127),
        DType::I16 => (-32768, 32767),
        other => kbail!("{} is not a quantized activation type", other.name()),
    })
}

/// TFLite's private `Quantize` helper in kernel_util.cc: `zp + (int)round(f / scale)`
/// with the division and the rounding (half away from zero) in float; fails when the
/// rounded value is outside the int32 range or not a number.
fn quantize_activation_bound(value: f32, scale: f32, zero_point: i32) -> Result<i64, KernelError> {
    let rounded = (value / scale).round();
    // Same comparison as the C++: int32 limits converted to float, NaN fails both.
    if !(rounded >= i32::MIN as f32 && rounded <= i32::MAX as f32) {
        kbail!("activation bound {value} overflows int32 at output scale {scale}");
    }
    // `rounded` may be 2^31 exactly, where the C++ cast is undefined; i64 keeps it.
    Ok(i64::from(zero_point) + rounded as i64)
}

/// Mirrors TFLite `CalculateActivationRangeQuantized` (kernel_util.cc): the clamp bounds
/// of a fused activation on a quantized output, starting from the type's range.
/// RELU: min = max(qmin, zp + round(0/s)); RELU6 also max = min(qmax, zp + round(6/s));
/// RELU_N1_TO_1 uses -1 and +1. Divisions and rounding are in float, half away from
/// zero. Any other activation (NONE, and TANH/SIGN_BIT as TFLite's fallthrough does)
/// leaves the full range.
pub fn calculate_activation_range_quantized(
    activation: Activation,
    scale: f32,
    zero_point: i32,
    dtype: DType,
) -> Result<(i32, i32), KernelError> {
    let (qmin, qmax) = quantized_range(dtype)?;
    let (qmin64, qmax64) = (i64::from(qmin), i64::from(qmax));
    let bound = |value: f32| quantize_activation_bound(value, scale, zero_point);
    let (min, max) = match activation {
        Activation::Relu => (bound(0.0)?.max(qmin64), qmax64),
        Activation::Relu6 => (bound(0.0)?.max(qmin64), bound(6.0)?.min(qmax64)),
        Activation::ReluN1To1 => (bound(-1.0)?.max(qmin64), bound(1.0)?.min(qmax64)),
        Activation::None | Activation::Tanh | Activation::SignBit => (qmin64, qmax64),
    };
    // TFLite would go on with min > max (only reachable with a zero point outside the
    // type's range or a negative scale); refusing keeps `clamp` in kernels safe.
    if min > max {
        kbail!(
            "{} on scale {scale}, zero point {zero_point} gives the empty range [{min}, {max}]",
            activation.name()
        );
    }
    // qmin <= min <= max <= qmax, so both fit in i32.
    Ok((min as i32, max as i32))
}

/// `static_cast<int32_t>(float)` as x86-64's `cvttss2si` executes it: truncation toward
/// zero, and the "integer indefinite" value `i32::MIN` for NaN and out-of-range inputs
/// (where C++ is undefined; ARM would saturate instead).
pub fn f32_to_i32_truncate_x86(value: f32) -> i32 {
    // 2^31 as f32 is exact.
    const LIMIT: f32 = 2_147_483_648.0;
    if value.is_nan() || !(-LIMIT..LIMIT).contains(&value) {
        i32::MIN
    } else {
        value as i32
    }
}

/// The float parameters of TFLite's 8-bit LUT (`LUTPopulateInt8`, common.h).
struct LutRecipe<F> {
    input_scale: f32,
    input_zero_point: i32,
    inverse_output_scale: f32,
    output_zero_point: i32,
    transform: F,
}

impl<F: Fn(f32) -> f32> LutRecipe<F> {
    fn new(
        input_scale: f32,
        input_zero_point: i32,
        output_scale: f32,
        output_zero_point: i32,
        transform: F,
    ) -> LutRecipe<F> {
        LutRecipe {
            input_scale,
            input_zero_point,
            // `1 / output_scale` in float, computed once as TFLite does.
            inverse_output_scale: 1.0f32 / output_scale,
            output_zero_point,
            transform,
        }
    }

    /// The entry for input `value`, all in float: `dequantized = in_s * float(value -
    /// in_zp)`, `rescaled = roundf(f(dequantized) * inverse_scale)` (half away from
    /// zero), then `int(rescaled + float(out_zp))`, clamped to `[min, max]`.
    fn entry(&self, value: i32, min: i32, max: i32) -> i32 {
        let dequantized = self.input_scale * value.wrapping_sub(self.input_zero_point) as f32;
        let rescaled = ((self.transform)(dequantized) * self.inverse_output_scale).round();
        let quantized = f32_to_i32_truncate_x86(rescaled + self.output_zero_point as f32);
        quantized.clamp(min, max)
    }
}

/// Mirrors TFLite `LUTPopulate<int8_t>` (common.h), which int8 LOGISTIC and TANH build
/// at prepare time in both the reference and the default kernels. Index the table with
/// the input's bit pattern: `lut[x as u8 as usize]` is the output for input `x`
/// (TFLite's ordering 0, 1, ..., 127, -128, ..., -1). Each entry is computed in float:
/// `roundf(f(in_s * float(x - in_zp)) * (1.0f / out_s))` rounded half away from zero,
/// plus `float(out_zp)`, truncated to int and clamped. `transform` should itself be the
/// float function TFLite uses ([`logistic_f32`], [`tanh_f32`]).
pub fn lut_populate_int8(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    transform: impl Fn(f32) -> f32,
) -> [i8; 256] {
    let recipe = LutRecipe::new(
        input_scale,
        input_zero_point,
        output_scale,
        output_zero_point,
        transform,
    );
    let mut lut = [0i8; 256];
    for value in i8::MIN..=i8::MAX {
        // Clamped to the int8 range by `entry`.
        lut[usize::from(value as u8)] = recipe.entry(i32::from(value), -128, 127) as i8;
    }
    lut
}

/// Mirrors TFLite `LUTPopulate<uint8_t>`: as [`lut_populate_int8`] for uint8 tensors,
/// indexed directly by the input value.
pub fn lut_populate_uint8(
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    transform: impl Fn(f32) -> f32,
) -> [u8; 256] {
    let recipe = LutRecipe::new(
        input_scale,
        input_zero_point,
        output_scale,
        output_zero_point,
        transform,
    );
    let mut lut = [0u8; 256];
    for value in u8::MIN..=u8::MAX {
        lut[usize::from(value)] = recipe.entry(i32::from(value), 0, 255) as u8;
    }
    lut
}

/// The float logistic TFLite tabulates for 8-bit LOGISTIC:
/// `1.0f / (1.0f + std::exp(-value))` with `expf` (float throughout).
pub fn logistic_f32(value: f32) -> f32 {
    1.0 / (1.0 + (-value).exp())
}

/// The float tanh TFLite tabulates for 8-bit TANH: `std::tanh(float)`, i.e. `tanhf`.
pub fn tanh_f32(value: f32) -> f32 {
    value.tanh()
}

/// Whether TFLite's `reference_ops::Requantize` (used by the requantizing QUANTIZE)
/// takes its fast path `out = in ^ 0x80`: the multiplier is exactly `(2^30, 1)` (scale
/// ratio 1) and the conversion is int8 -> uint8 with `in_zp - out_zp == -128` or
/// uint8 -> int8 with `in_zp - out_zp == 128`. The general path gives the same bytes in
/// that case; the test exists so kernels can skip the arithmetic.
pub fn requantize_is_xor_0x80(
    input_dtype: DType,
    output_dtype: DType,
    multiplier: i32,
    shift: i32,
    input_zero_point: i32,
    output_zero_point: i32,
) -> bool {
    if multiplier != 1 << 30 || shift != 1 {
        return false;
    }
    let zero_point_diff = i64::from(input_zero_point) - i64::from(output_zero_point);
    matches!(
        (input_dtype, output_dtype, zero_point_diff),
        (DType::I8, DType::U8, -128) | (DType::U8, DType::I8, 128)
    )
}

/// Mirrors the 1/n folding in TFLite `reference_ops::QuantizedMeanOrSum` (reduce.h) for
/// MEAN: with `shift = min(floor(log2 n), 32, 31 + output_shift)`, returns
/// `((output_multiplier << shift) / n, output_shift - shift)` (int64 arithmetic, division
/// truncating toward zero). `output_multiplier, output_shift` come from
/// [`quantize_multiplier`] of [`effective_scale_ratio`]. `n` is the number of elements
/// reduced into each output and must be positive (TFLite skips the rescale for 0).
pub fn fold_mean_divisor(
    output_multiplier: i32,
    output_shift: i32,
    num_elements_in_axis: i64,
) -> Result<(i32, i32), KernelError> {
    if num_elements_in_axis <= 0 {
        kbail!("MEAN over {num_elements_in_axis} elements");
    }
    let floor_log2 = 63 - (num_elements_in_axis as u64).leading_zeros() as i32;
    let shift = floor_log2.min(32).min(31 + output_shift);
    let shift_bits = match u32::try_from(shift) {
        Ok(bits) => bits,
        Err(_) => kbail!("MEAN output shift {output_shift} is below -31"),
    };
    // |multiplier| < 2^31 and shift <= 32, so the shifted value fits in i64; the
    // quotient is at most |multiplier| because 2^shift <= n.
    let folded = (i64::from(output_multiplier) << shift_bits) / num_elements_in_axis;
    Ok((folded as i32, output_shift - shift))
}

/// The rescaling constants of int8/uint8 ADD (add.cc `Prepare`): inputs are shifted left
/// by `left_shift` (20 for 8-bit), each rescaled by its multiplier, summed, and the sum
/// rescaled by the output multiplier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddRescale {
    pub left_shift: i32,
    pub input1: (i32, i32),
    pub input2: (i32, i32),
    pub output: (i32, i32),
}

impl AddRescale {
    /// Promotions as in add.cc: `twice_max = 2 * max(s1, s2)` in float then widened,
    /// `m_i = double(s_i) / twice_max`, `m_out = twice_max / double((1 << left_shift) *
    /// s_out)` with that product in float; each encoded with
    /// [`quantize_multiplier_smaller_than_one_exp`].
    pub fn new(
        input1_scale: f32,
        input2_scale: f32,
        output_scale: f32,
        left_shift: i32,
    ) -> Result<AddRescale, KernelError> {
        if !(0..=30).contains(&left_shift) {
            kbail!("ADD left shift {left_shift} out of range");
        }
        let twice_max_input_scale = f64::from(2.0 * input1_scale.max(input2_scale));
        let real_input1 = f64::from(input1_scale) / twice_max_input_scale;
        let real_input2 = f64::from(input2_scale) / twice_max_input_scale;
        let real_output =
            twice_max_input_scale / f64::from((1i32 << left_shift) as f32 * output_scale);
        Ok(AddRescale {
            left_shift,
            input1: quantize_multiplier_smaller_than_one_exp(real_input1)?,
            input2: quantize_multiplier_smaller_than_one_exp(real_input2)?,
            output: quantize_multiplier_smaller_than_one_exp(real_output)?,
        })
    }
}

#[cfg(test)]
mod tests;
