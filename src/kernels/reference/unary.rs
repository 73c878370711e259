//! Element-wise math of issue 12 as LiteRT's kernels define it: the float functions
//! (which also feed the int8 lookup tables built at prepare) and the per-element integer
//! formulas of the quantized ABS, SQRT and RSQRT; the float, integer and byte-table loops
//! of the one-input ops.
//!
//! Float functions use `f32` arithmetic in the order the C++ evaluates it, so that a
//! table entry rounded from them lands on the same integer as LiteRT's.

use crate::ir::{DType, KernelError};
use crate::kbail;
use crate::kernels::fixed_point::{
    f32_to_i32_truncate_x86, lut_populate_int8, lut_populate_uint8,
    multiply_by_quantized_multiplier, rescale, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
};

/// ELU with alpha 1: `x` for `x >= 0`, `e^x - 1` below (`expm1f`, exact near 0).
pub fn elu(x: f32) -> f32 {
    if x < 0.0 {
        x.exp_m1()
    } else {
        x
    }
}

/// Exact GELU as LiteRT writes it, `0.5 x erfc(-x / sqrt 2)`: the erfc form keeps large
/// negative inputs from cancelling to zero too early.
pub fn gelu(x: f32) -> f32 {
    let minus_sqrt_half = -std::f64::consts::FRAC_1_SQRT_2 as f32;
    0.5 * x * erfc_f32(x * minus_sqrt_half)
}

/// The tanh approximation of GELU, `0.5 x (1 + tanh(sqrt(2/π) (x + 0.044715 x³)))`,
/// with `sqrt(2/π)` rounded once to float as LiteRT's constant is.
pub fn gelu_tanh(x: f32) -> f32 {
    let sqrt_2_over_pi =
        (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
    0.5 * x * (1.0 + (sqrt_2_over_pi * (x + 0.044715 * x * x * x)).tanh())
}

/// `erfc` in float: evaluated in double and rounded once, which is within half an ulp
/// of the true value and so agrees with a correctly rounding `erfcf` almost always.
pub fn erfc_f32(x: f32) -> f32 {
    erfc(f64::from(x)) as f32
}

/// The complementary error function in double precision: the Maclaurin series of erf
/// where 1 - erf keeps its relative accuracy, the Laplace continued fraction in the
/// tail, and `erfc(-x) = 2 - erfc(x)` for negative arguments.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.5 {
        return 1.0 - erf_series(x);
    }
    if x > 27.0 {
        // e^-x² underflows double here.
        return 0.0;
    }
    // erfc(x) = e^-x² / sqrt(π) · 1 / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))),
    // evaluated from the back; 120 terms are far beyond convergence for x >= 2.5.
    let mut tail = x;
    for k in (1..=120).rev() {
        tail = x + f64::from(k) / 2.0 / tail;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / tail
}

/// erf(x) = 2/sqrt(π) Σ (-1)^n x^(2n+1) / (n! (2n+1)), for 0 <= x < 2.5 where the terms
/// stay below ~30 and the sum keeps about 14 significant digits.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x; // (-1)^n x^(2n+1) / n!
    let mut sum = x;
    for n in 1..100 {
        term *= -x2 / f64::from(n);
        let next = term / f64::from(2 * n + 1);
        sum += next;
        if next.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum * std::f64::consts::FRAC_2_SQRT_PI
}

/// `base^exponent` for an integer exponent >= 1 as LiteRT's broadcast POW computes it
/// for a single near-integral exponent: squaring recursively, each product clamped to
/// the finite float range as its MUL does (so an overflow gives ±f32::MAX, not ±inf).
pub fn pow_by_squaring_f32(base: f32, exponent: u32) -> f32 {
    // NaN passes through `clamp`, as through the C++ comparisons.
    let clamp = |v: f32| v.clamp(f32::MIN, f32::MAX);
    if exponent <= 1 {
        return base;
    }
    let half = pow_by_squaring_f32(base, exponent / 2);
    let mut result = clamp(half * half);
    if exponent % 2 == 1 {
        result = clamp(base * result);
    }
    result
}

/// The integer counterpart of [`pow_by_squaring_f32`]: products wrap like the C++'s.
pub fn pow_by_squaring_i32(base: i32, exponent: u32) -> i32 {
    if exponent <= 1 {
        return base;
    }
    let half = pow_by_squaring_i32(base, exponent / 2);
    let result = half.wrapping_mul(half);
    if exponent % 2 == 1 {
        base.wrapping_mul(result)
    } else {
        result
    }
}

/// int32 POW of the plain (non-squaring) path: `std::pow` on the promoted doubles,
/// truncated back to int. Negative exponents are refused before this is reached.
pub fn pow_i32(base: i32, exponent: i32) -> i32 {
    // `as` saturates where the C++ conversion would be undefined.
    f64::from(base).powf(f64::from(exponent)) as i32
}

/// Quantized ABS: `|q - in_zp|`, through the multiplier of `in_s / out_s` unless the
/// scales are equal, plus `out_zp`, clamped to `[qmin, qmax]`.
#[derive(Clone, Copy, Debug)]
pub struct AbsQuant {
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    /// `None` when input and output scales are equal.
    pub rescale: Option<(i32, i32)>,
}

impl AbsQuant {
    pub fn apply(&self, q: i32, qmin: i32, qmax: i32) -> i32 {
        let magnitude = q.wrapping_sub(self.input_zero_point).wrapping_abs();
        let scaled = match self.rescale {
            None => magnitude,
            Some((m, shift)) => multiply_by_quantized_multiplier(magnitude, m, shift),
        };
        scaled
            .wrapping_add(self.output_zero_point)
            .clamp(qmin, qmax)
    }
}

/// Quantized SQRT, computed in float per element: `sqrt(in_s * (q - in_zp))` divided by
/// the output scale, truncated toward zero (not rounded), plus `out_zp`, clamped.
/// `None` for an input below zero, which LiteRT rejects at run time.
pub fn sqrt_quant(
    q: i32,
    input_scale: f32,
    input_zero_point: i32,
    output_scale: f32,
    output_zero_point: i32,
    (qmin, qmax): (i32, i32),
) -> Option<i32> {
    let real = input_scale * q.wrapping_sub(input_zero_point) as f32;
    if real.is_nan() || real < 0.0 {
        return None;
    }
    let truncated = f32_to_i32_truncate_x86(real.sqrt() / output_scale);
    Some(truncated.wrapping_add(output_zero_point).clamp(qmin, qmax))
}

/// Quantized int8 RSQRT: the fixed-point inverse square root of `q - in_zp` (a
/// Newton-Raphson iteration, [`inv_sqrt_multiplier`]) applied to 1 at a 2^20 scale,
/// then the multiplier of `1 / (sqrt(in_s) out_s)`; an input at the zero point gives
/// `qmax`. `None` for an input below the zero point (rejected by LiteRT at run time).
pub fn rsqrt_quant(
    q: i32,
    input_zero_point: i32,
    (multiplier, shift): (i32, i32),
    output_zero_point: i32,
    (qmin, qmax): (i32, i32),
) -> Option<i32> {
    const SHIFT: i32 = 20;
    let value = q.checked_sub(input_zero_point)?;
    if value < 0 {
        return None;
    }
    if value == 0 {
        return Some(qmax);
    }
    let (inv_sqrt, inv_shift) = inv_sqrt_multiplier(value);
    let data = multiply_by_quantized_multiplier(1, inv_sqrt, inv_shift + SHIFT);
    let output = multiply_by_quantized_multiplier(data, multiplier, shift - SHIFT);
    Some(output.wrapping_add(output_zero_point).clamp(qmin, qmax))
}

/// TFLite's `GetInvSqrtQuantizedMultiplierExp` with a left-shift result: `(m, shift)`
/// with `m · 2^(shift - 31) ≈ 1 / sqrt(input)` for `input >= 2` (0 and 1 give
/// `(i32::MAX, 0)`). The input is normalised to `[2^27, 2^29)` by pairs of bits so the
/// square root only moves the exponent by whole bits, five Newton steps
/// `x ← 1.5 x - (input/2) x³` run in Q3.28, and a final factor `sqrt(2)/2` (Q0.31)
/// accounts for the raw value being read as `input / 2`.
pub fn inv_sqrt_multiplier(input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut input = input;
    let mut right_shift: i32 = 11;
    while input >= 1 << 29 {
        input /= 4;
        right_shift += 1;
    }
    // input in [2, 2^29): at least 3 leading zeros, so the pairs count is >= 1.
    let spare_bit_pairs = (input.leading_zeros() as i32 - 1) / 2 - 1;
    right_shift -= spare_bit_pairs;
    input <<= 2 * spare_bit_pairs;
    // Q3.28 values; a product of Qa and Qb is Q(a+b) via the doubling high multiply.
    const ONE_Q3: i32 = 1 << 28;
    const THREE_HALVES_Q3: i32 = (1 << 28) + (1 << 27);
    let q3_input = input >> 1;
    let half_input = rounding_divide_by_pot(q3_input, 1);
    let mul = saturating_rounding_doubling_high_mul;
    let mut x = ONE_Q3;
    for _ in 0..5 {
        let x3 = rescale(mul(mul(x, x), x), 9, 3);
        let update = mul(THREE_HALVES_Q3, x).wrapping_sub(mul(half_input, x3));
        x = rescale(update, 6, 3);
    }
    const HALF_SQRT_2_Q0: i32 = 1_518_500_250;
    let mut m = mul(x, HALF_SQRT_2_Q0);
    if right_shift < 0 {
        m = m.wrapping_shl(right_shift.unsigned_abs());
        right_shift = 0;
    }
    (m, -right_shift)
}

/// Quantized int8 SQUARED_DIFFERENCE: both inputs `(q - zp) << 7` rescaled by
/// `s_i / (2 max(s1, s2))`, their difference squared, then rescaled by
/// `(2 max)² / (2^14 s_out)`; every multiplier "smaller than one".
#[derive(Clone, Copy, Debug)]
pub struct SquaredDifferenceQuant {
    pub input1_zero_point: i32,
    pub input2_zero_point: i32,
    pub output_zero_point: i32,
    pub input1: (i32, i32),
    pub input2: (i32, i32),
    pub output: (i32, i32),
}

impl SquaredDifferenceQuant {
    pub const LEFT_SHIFT: i32 = 7;

    pub fn apply(&self, x: i32, y: i32, qmin: i32, qmax: i32) -> i32 {
        use crate::kernels::fixed_point::multiply_by_quantized_multiplier_smaller_than_one_exp as mbqm_lt1;
        let shifted1 = x.wrapping_sub(self.input1_zero_point) << Self::LEFT_SHIFT;
        let shifted2 = y.wrapping_sub(self.input2_zero_point) << Self::LEFT_SHIFT;
        let scaled1 = mbqm_lt1(shifted1, self.input1.0, self.input1.1);
        let scaled2 = mbqm_lt1(shifted2, self.input2.0, self.input2.1);
        let diff = scaled1.wrapping_sub(scaled2);
        let raw = mbqm_lt1(diff.wrapping_mul(diff), self.output.0, self.output.1);
        raw.wrapping_add(self.output_zero_point).clamp(qmin, qmax)
    }
}

/// The one-input functions of issue 12.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum UnaryFunc {
    Abs,
    Neg,
    Square,
    Sqrt,
    Rsqrt,
    Exp,
    Log,
    Floor,
    Elu,
    Gelu { approximate: bool },
}

impl UnaryFunc {
    /// The float function, as the float kernel computes it.
    pub(crate) fn float(self) -> fn(f32) -> f32 {
        match self {
            UnaryFunc::Abs => f32::abs,
            UnaryFunc::Neg => |x| -x,
            UnaryFunc::Square => |x| x * x,
            UnaryFunc::Sqrt => f32::sqrt,
            UnaryFunc::Rsqrt => |x| 1.0 / x.sqrt(),
            UnaryFunc::Exp => f32::exp,
            UnaryFunc::Log => f32::ln,
            UnaryFunc::Floor => f32::floor,
            UnaryFunc::Elu => elu,
            UnaryFunc::Gelu { approximate: false } => gelu,
            UnaryFunc::Gelu { approximate: true } => gelu_tanh,
        }
    }
}

/// `y[i] = f(x[i])`; the caller has checked the lengths.
pub(crate) fn map_f32(f: fn(f32) -> f32, x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = f(x);
    }
}

/// ABS (`neg` false) or NEG (true) of int32; the C++ overflow at the type's minimum wraps.
pub(crate) fn abs_neg_i32(neg: bool, x: &[i32], y: &mut [i32]) {
    for (y, &x) in y.iter_mut().zip(x.iter()) {
        *y = if neg {
            x.wrapping_neg()
        } else {
            x.wrapping_abs()
        };
    }
}

/// ABS (`neg` false) or NEG (true) of int64; the C++ overflow at the type's minimum wraps.
pub(crate) fn abs_neg_i64(neg: bool, x: &[i64], y: &mut [i64]) {
    for (y, &x) in y.iter_mut().zip(x.iter()) {
        *y = if neg {
            x.wrapping_neg()
        } else {
            x.wrapping_abs()
        };
    }
}

/// An 8-bit op as a table from input byte to output byte (int8 values stored as their
/// two's-complement bytes), with the bytes LiteRT refuses at run time.
pub(crate) struct UnaryTable {
    pub(crate) table: [u8; 256],
    /// `refused[b]`: input byte `b` is outside the op's domain; the message says why.
    pub(crate) refused: Option<([bool; 256], &'static str)>,
}

impl UnaryTable {
    fn lookup<'a>(
        &self,
        bytes: impl Iterator<Item = usize> + Clone,
        out: impl Iterator<Item = &'a mut u8>,
    ) -> Result<(), KernelError> {
        if let Some((refused, message)) = &self.refused {
            if bytes.clone().any(|b| refused[b]) {
                kbail!("{message}");
            }
        }
        for (y, b) in out.zip(bytes) {
            *y = self.table[b];
        }
        Ok(())
    }

    /// `y = table[x]` on int8, or the refusal of an input outside the domain. The caller
    /// has checked the lengths.
    pub(crate) fn run_i8(&self, x: &[i8], y: &mut [i8]) -> Result<(), KernelError> {
        let mut bytes = vec![0u8; y.len()];
        self.lookup(x.iter().map(|&v| usize::from(v as u8)), bytes.iter_mut())?;
        for (y, b) in y.iter_mut().zip(bytes) {
            *y = b as i8;
        }
        Ok(())
    }

    /// `y = table[x]` on uint8, as [`UnaryTable::run_i8`].
    pub(crate) fn run_u8(&self, x: &[u8], y: &mut [u8]) -> Result<(), KernelError> {
        self.lookup(x.iter().map(|&v| usize::from(v)), y.iter_mut())
    }
}

/// The byte table of an 8-bit type from `f(q)`, `q` the byte read as the tensor's type;
/// `None` marks a refused input.
pub(crate) fn byte_table(dtype: DType, f: impl Fn(i32) -> Option<i32>) -> ([u8; 256], [bool; 256]) {
    let mut table = [0u8; 256];
    let mut refused = [false; 256];
    for byte in 0..256usize {
        let q = if dtype == DType::I8 {
            i32::from(byte as u8 as i8)
        } else {
            byte as i32
        };
        match f(q) {
            // Values are clamped into the type's range; the low byte is the encoding.
            Some(v) => table[byte] = v as u8,
            None => refused[byte] = true,
        }
    }
    (table, refused)
}

/// LiteRT's float-built 8-bit table (`LUTPopulate`) as a byte table.
pub(crate) fn lut(
    dtype: DType,
    (in_s, in_zp): (f32, i32),
    (out_s, out_zp): (f32, i32),
    f: impl Fn(f32) -> f32,
) -> [u8; 256] {
    if dtype == DType::I8 {
        let lut = lut_populate_int8(in_s, in_zp, out_s, out_zp, f);
        // Both indexed by the int8 value's byte.
        lut.map(|v| v as u8)
    } else {
        lut_populate_uint8(in_s, in_zp, out_s, out_zp, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs()
    }

    #[test]
    fn erfc_matches_tabulated_values() {
        // Abramowitz & Stegun / any erfc table, to 16 digits.
        let table = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (2.5, 0.000_406_952_017_444_959),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (x, want) in table {
            assert!(close(erfc(x), want, 1e-13), "erfc({x}) = {}", erfc(x));
        }
        assert_eq!(erfc(30.0), 0.0);
        assert_eq!(erfc(-30.0), 2.0);
    }

    #[test]
    fn gelu_forms_at_hand_values() {
        // Exact: x Φ(x); Φ(1) = 0.8413447460685429, Φ(-2) = 0.022750131948179195.
        assert!(close(f64::from(gelu(1.0)), 0.841_344_746, 1e-6));
        assert!(close(f64::from(gelu(-2.0)), -0.045_500_264, 1e-6));
        assert_eq!(gelu(0.0), 0.0);
        // Tanh form at 1: 0.5 (1 + tanh(0.7978845608 · 1.044715)) = 0.8411919906.
        assert!(close(f64::from(gelu_tanh(1.0)), 0.841_191_990_6, 1e-6));
    }

    #[test]
    fn elu_is_expm1_below_zero() {
        assert_eq!(elu(2.5), 2.5);
        assert_eq!(elu(0.0), 0.0);
        assert!(close(f64::from(elu(-1.0)), -0.632_120_558_8, 1e-7));
    }

    #[test]
    fn powers_by_squaring() {
        assert_eq!(pow_by_squaring_f32(1.5, 3), 3.375);
        assert_eq!(pow_by_squaring_f32(-2.0, 5), -32.0);
        assert_eq!(pow_by_squaring_f32(1e30, 2), f32::MAX);
        assert_eq!(pow_by_squaring_i32(3, 4), 81);
        assert_eq!(pow_by_squaring_i32(-2, 3), -8);
        assert_eq!(pow_i32(2, 10), 1024);
        assert_eq!(pow_i32(7, 0), 1);
    }

    #[test]
    fn inv_sqrt_multiplier_approximates_one_over_sqrt() {
        for input in [2, 3, 4, 10, 100, 127, 255, 1 << 20, (1 << 29) + 5, i32::MAX] {
            let (m, shift) = inv_sqrt_multiplier(input);
            let got = f64::from(m) * 2f64.powi(shift - 31);
            let want = 1.0 / f64::from(input).sqrt();
            // Five Newton steps in Q3.28 leave a few parts per million.
            assert!(close(got, want, 1e-5), "{input}: {got} vs {want}");
        }
        assert_eq!(inv_sqrt_multiplier(1), (i32::MAX, 0));
        assert_eq!(inv_sqrt_multiplier(0), (i32::MAX, 0));
    }

    #[test]
    fn quantized_sqrt_truncates() {
        // in (0.5, 0), out (0.125, -128): sqrt(0.5 q) / 0.125 truncated.
        let f = |q| sqrt_quant(q, 0.5, 0, 0.125, -128, (-128, 127));
        // q = 2 → sqrt(1) = 1 → 8 → -120; q = 8 → 2 → 16 → -112;
        // q = 3 → sqrt(1.5) = 1.2247 → 9.798 → 9 → -119; q = 0 → -128.
        assert_eq!(f(2), Some(-120));
        assert_eq!(f(8), Some(-112));
        assert_eq!(f(3), Some(-119));
        assert_eq!(f(0), Some(-128));
        assert_eq!(f(-1), None);
    }

    #[test]
    fn quantized_rsqrt_by_hand() {
        // in (1, 0), out (1/64, 0): multiplier 1 / (1 · 1/64) = 64 = 0.5 · 2^7.
        let m = (1 << 30, 7);
        let f = |q| rsqrt_quant(q, 0, m, 0, (-128, 127));
        // 64 / sqrt(v): v = 4 → 32, v = 16 → 16, v = 64 → 8, v = 2 → 45.25 → 45.
        assert_eq!(f(4), Some(32));
        assert_eq!(f(16), Some(16));
        assert_eq!(f(64), Some(8));
        assert_eq!(f(2), Some(45));
        // v = 1 → 64; the zero point gives the maximum; below it is an error.
        assert_eq!(f(1), Some(64));
        assert_eq!(f(0), Some(127));
        assert_eq!(f(-3), None);
    }

    #[test]
    fn quantized_abs_with_and_without_rescale() {
        let same = AbsQuant {
            input_zero_point: 3,
            output_zero_point: -10,
            rescale: None,
        };
        assert_eq!(same.apply(-5, -128, 127), -2);
        assert_eq!(same.apply(127, -128, 127), 114);
        assert_eq!(same.apply(-128, -128, 127), 121);
        // Output scale twice the input's: multiplier 0.5 = (2^30, 0); ties away from 0.
        let half = AbsQuant {
            input_zero_point: 0,
            output_zero_point: -128,
            rescale: Some((1 << 30, 0)),
        };
        assert_eq!(half.apply(-7, -128, 127), -124);
        assert_eq!(half.apply(100, -128, 127), -78);
        assert_eq!(half.apply(-128, -128, 127), -64);
    }

    #[test]
    fn quantized_squared_difference_by_hand() {
        // s1 = s2 = 1, s_out = 4: twice_max = 2; input multipliers 0.5 = (2^30, 0);
        // output 4 / (2^14 · 4) = 2^-14 = (2^30, -13). So each input becomes
        // (q - zp) · 2^6, and the output is round((d · 64)² / 2^14) = round(d² / 4).
        let p = SquaredDifferenceQuant {
            input1_zero_point: 1,
            input2_zero_point: -1,
            output_zero_point: -128,
            input1: (1 << 30, 0),
            input2: (1 << 30, 0),
            output: (1 << 30, -13),
        };
        // d = (x - 1) - (y + 1): (5, 0) → 3 → 9/4 = 2.25 → 2; (10, -3) → 11 → 30.25 → 30;
        // (0, 0) → -2 → 1; (4, 0) → 2 → 1; (2, 3) → -3 → 2; (7, 0) → 5 → 6.25 → 6.
        let got: Vec<i32> = [(5, 0), (10, -3), (0, 0), (4, 0), (2, 3), (7, 0)]
            .iter()
            .map(|&(x, y)| p.apply(x, y, -128, 127))
            .collect();
        assert_eq!(got, vec![-126, -98, -127, -127, -126, -122]);
    }
}
