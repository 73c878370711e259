//! L2_NORMALIZATION along the last dimension, as LiteRT's reference kernels
//! (`reference_ops::L2Normalization`, `reference_integer_ops::L2Normalization`).
//!
//! Float: the squared norm summed in f32 in order, `sqrt`, floored at 1e-6, then each
//! value divided by it. 8-bit: the squared norm of `x - zp` in int32, its inverse square
//! root as a fixed-point multiplier ([`inv_sqrt_multiplier`], TFLite's
//! `GetInvSqrtQuantizedMultiplierExp`), and each `x - zp` rescaled into the fixed output
//! scale 1/128 (int8: zero point 0; uint8: 128).

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::fixed_point::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_smaller_than_one_exp,
    rescale, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};

/// `1 / sqrt(x)` as `(multiplier, shift)` with the shift already negated into TFLite's
/// left-shift convention: Newton-Raphson in gemmlowp Q3.28 on `x` normalized into
/// [2^27, 2^29), five iterations from 1, times sqrt(2)/2. Inputs 0 and 1 give
/// `(i32::MAX, 0)`, as TFLite special-cases them.
pub fn inv_sqrt_multiplier(input: i32) -> (i32, i32) {
    if input <= 1 {
        return (i32::MAX, 0);
    }
    let mut x = input;
    let mut shift: i32 = 11;
    while x >= 1 << 29 {
        x /= 4;
        shift += 1;
    }
    // x >= 2 here, so it has at most 30 leading zeros and the pair count is >= 0.
    let max_left_shift_bit_pairs = (x.leading_zeros() as i32 - 1) / 2;
    let left_shift_bit_pairs = max_left_shift_bit_pairs - 1;
    shift -= left_shift_bit_pairs;
    x <<= 2 * left_shift_bit_pairs;
    // Q3.28 arithmetic: a product of two Q3 values is Q6, of three Q9.
    const ONE_Q3: i32 = 1 << 28;
    const HALF_THREE_Q3: i32 = (1 << 28) + (1 << 27);
    const HALF_SQRT_2_Q0: i32 = 1_518_500_250;
    let half_input = rounding_divide_by_pot(x >> 1, 1);
    let mut est = ONE_Q3;
    for _ in 0..5 {
        let cube = rescale(
            saturating_rounding_doubling_high_mul(
                saturating_rounding_doubling_high_mul(est, est),
                est,
            ),
            9,
            3,
        );
        let a = saturating_rounding_doubling_high_mul(HALF_THREE_Q3, est);
        let b = saturating_rounding_doubling_high_mul(half_input, cube);
        est = rescale(a.wrapping_sub(b), 6, 3);
    }
    let mut multiplier = saturating_rounding_doubling_high_mul(est, HALF_SQRT_2_Q0);
    if shift < 0 {
        multiplier = multiplier.wrapping_shl(shift.unsigned_abs());
        shift = 0;
    }
    (multiplier, -shift)
}

fn rows(len: usize, depth: usize, out: usize) -> Result<(), KernelError> {
    if depth == 0 || len != out || !len.is_multiple_of(depth) {
        kbail!("L2_NORMALIZATION buffers do not match the planned shapes");
    }
    Ok(())
}

pub fn l2_normalization_f32(
    input: &[f32],
    depth: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    rows(input.len(), depth, out.len())?;
    for (x, y) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let mut squared = 0.0f32;
        for &v in x {
            squared += v * v;
        }
        let norm = squared.sqrt();
        // std::max(norm, epsilon): a NaN norm stays NaN.
        let norm = if norm < 1e-6 { 1e-6 } else { norm };
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v / norm;
        }
    }
    Ok(())
}

/// Int8 rows: `clamp(MBQM(x - zp, m, shift + 7))` into the output scale 1/128.
pub fn l2_normalization_i8(
    input: &[i8],
    zero_point: i32,
    depth: usize,
    out: &mut [i8],
) -> Result<(), KernelError> {
    rows(input.len(), depth, out.len())?;
    for (x, y) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let squared = x.iter().fold(0i32, |acc, &v| {
            let d = i32::from(v) - zero_point;
            acc.wrapping_add(d * d)
        });
        let (m, shift) = inv_sqrt_multiplier(squared);
        for (o, &v) in y.iter_mut().zip(x) {
            let scaled = multiply_by_quantized_multiplier(i32::from(v) - zero_point, m, shift + 7);
            *o = scaled.clamp(-128, 127) as i8;
        }
    }
    Ok(())
}

/// Uint8 rows: `clamp(128 + MBQM<1(128 · (x - zp), m, shift), 0, 255)`.
pub fn l2_normalization_u8(
    input: &[u8],
    zero_point: i32,
    depth: usize,
    out: &mut [u8],
) -> Result<(), KernelError> {
    rows(input.len(), depth, out.len())?;
    for (x, y) in input.chunks_exact(depth).zip(out.chunks_exact_mut(depth)) {
        let squared = x.iter().fold(0i32, |acc, &v| {
            let d = i32::from(v) - zero_point;
            acc.wrapping_add(d * d)
        });
        let (m, shift) = inv_sqrt_multiplier(squared);
        for (o, &v) in y.iter_mut().zip(x) {
            let d = i32::from(v) - zero_point;
            let scaled = multiply_by_quantized_multiplier_smaller_than_one_exp(128 * d, m, shift);
            *o = (128 + scaled).clamp(0, 255) as u8;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real value of `(multiplier, shift)`: m / 2^31 · 2^shift.
    fn real((m, s): (i32, i32)) -> f64 {
        f64::from(m) / 2f64.powi(31) * 2f64.powi(s)
    }

    #[test]
    fn inverse_square_roots_are_close() {
        // Five Newton steps in Q3.28 from 1 leave about 1e-6 relative error.
        for x in [2, 3, 4, 100, 12_345, 1 << 20, 1 << 29, i32::MAX] {
            let want = 1.0 / f64::from(x).sqrt();
            let got = real(inv_sqrt_multiplier(x));
            assert!((got - want).abs() <= want * 1e-5, "{x}: {got} vs {want}");
        }
        assert_eq!(inv_sqrt_multiplier(0), (i32::MAX, 0));
        assert_eq!(inv_sqrt_multiplier(1), (i32::MAX, 0));
    }

    #[test]
    fn rows_are_scaled_to_unit_length() {
        // (3, 4) has norm 5: 0.6, 0.8.
        let mut out = [0.0f32; 4];
        l2_normalization_f32(&[3.0, 4.0, 0.0, 0.0], 2, &mut out).unwrap();
        assert_eq!(out[..2], [0.6, 0.8]);
        // A zero row divides by the 1e-6 floor.
        assert_eq!(out[2..], [0.0, 0.0]);
        // Int8 at output scale 1/128: (3, 4) with zero point 1 is stored as (4, 5) and
        // maps to 0.6·128 = 76.8 → 77 and 0.8·128 = 102.4 → 102.
        let mut q = [0i8; 2];
        l2_normalization_i8(&[4, 5], 1, 2, &mut q).unwrap();
        assert_eq!(q, [77, 102]);
        // Uint8 adds the output zero point 128: 205, 230.
        let mut u = [0u8; 2];
        l2_normalization_u8(&[131, 132], 128, 2, &mut u).unwrap();
        assert_eq!(u, [205, 230]);
    }
}
