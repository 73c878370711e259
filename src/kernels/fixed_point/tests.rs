//! Checks against independent models (exact wide-integer arithmetic) and hand-worked
//! values. None of the expected numbers below was printed by the code under test.

use super::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------
// Independent models
// ---------------------------------------------------------------------------------------

/// `n / 2^e` rounded to nearest, ties away from zero, on exact integers.
fn model_round_half_away_pow2(n: i128, e: u32) -> i128 {
    let divisor = 1i128 << e;
    let magnitude = (n.abs() + divisor / 2) / divisor;
    if n < 0 {
        -magnitude
    } else {
        magnitude
    }
}

/// SRDHM as real arithmetic: `a * b / 2^31` rounded to nearest with ties toward
/// +infinity, i.e. `floor(a*b / 2^31 + 1/2)`; the one unrepresentable result
/// (`MIN * MIN`, +1.0) saturates.
fn model_srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let exact = i128::from(a) * i128::from(b);
    let rounded = (exact + (1 << 30)).div_euclid(1 << 31);
    i32::try_from(rounded).expect("SRDHM result fits")
}

/// MBQM by the spec: exact left shift, SRDHM rounding, then a division by `2^right`
/// rounded half away from zero.
fn model_mbqm(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left = shift.max(0) as u32;
    let right = (-shift).max(0) as u32;
    let shifted = i32::try_from(i128::from(x) << left).expect("caller keeps x << left in i32");
    let high = model_srdhm(shifted, multiplier);
    i32::try_from(model_round_half_away_pow2(i128::from(high), right)).expect("fits")
}

/// QuantizeMultiplier from the exact binary expansion of `d`: `d = mantissa * 2^e2`,
/// normalize to `[2^30, 2^31]` with an exact integer rounding, carry, flush.
fn model_quantize_multiplier(d: f64) -> (i32, i32) {
    if d == 0.0 {
        return (0, 0);
    }
    let bits = d.to_bits();
    let negative = bits >> 63 == 1;
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = i128::from(bits & ((1u64 << 52) - 1));
    let (mantissa, exponent2) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1 << 52), biased - 1075)
    };
    let bit_length = 128 - mantissa.leading_zeros() as i32;
    // 2^(shift-1) <= |d| < 2^shift.
    let mut shift = exponent2 + bit_length;
    let scale_up = 31 - bit_length;
    let mut q = if scale_up >= 0 {
        mantissa << scale_up
    } else {
        model_round_half_away_pow2(mantissa, (-scale_up) as u32)
    };
    if q == 1 << 31 {
        q = 1 << 30;
        shift += 1;
    }
    if shift < -31 {
        return (0, 0);
    }
    let q = if negative { -q } else { q };
    (i32::try_from(q).expect("fits"), shift)
}

/// i32 values with the extremes well represented.
fn any_i32() -> impl Strategy<Value = i32> {
    prop_oneof![
        4 => any::<i32>(),
        1 => Just(i32::MIN),
        1 => Just(i32::MAX),
        1 => Just(i32::MIN + 1),
        1 => -3i32..=3,
        1 => (0u32..31).prop_map(|e| 1i32 << e),
        1 => (0u32..31).prop_map(|e| -(1i32 << e)),
    ]
}

/// Multipliers as QuantizeMultiplier produces them (0 or `[2^30, 2^31)`), plus the rest
/// of the non-negative range.
fn any_multiplier() -> impl Strategy<Value = i32> {
    prop_oneof![
        3 => (1i32 << 30)..=i32::MAX,
        1 => 0..=i32::MAX,
        1 => Just(i32::MAX),
        1 => Just(1i32 << 30),
        1 => Just(0),
    ]
}

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn srdhm_matches_exact_model(a in any_i32(), b in any_i32()) {
        prop_assert_eq!(saturating_rounding_doubling_high_mul(a, b), model_srdhm(a, b));
    }

    #[test]
    fn rounding_divide_by_pot_matches_exact_model(x in any_i32(), exponent in 0u32..=31) {
        let expected = model_round_half_away_pow2(i128::from(x), exponent);
        prop_assert_eq!(i128::from(rounding_divide_by_pot(x, exponent)), expected);
    }

    #[test]
    fn rounding_divide_by_pot_beyond_31_is_still_correctly_rounded(
        x in any_i32(),
        exponent in 32u32..=200,
    ) {
        let expected = model_round_half_away_pow2(i128::from(x), exponent.min(100));
        prop_assert_eq!(i128::from(rounding_divide_by_pot(x, exponent)), expected);
    }

    #[test]
    fn mbqm_matches_exact_model(
        x in any_i32(),
        multiplier in any_multiplier(),
        shift in -31i32..=30,
    ) {
        // Keep x << shift inside i32, TFLite's precondition.
        let x = if shift > 0 { x >> shift } else { x };
        prop_assert_eq!(
            multiply_by_quantized_multiplier(x, multiplier, shift),
            model_mbqm(x, multiplier, shift)
        );
    }

    #[test]
    fn mbqm_is_within_one_of_the_real_product(
        x in any_i32(),
        multiplier in any_multiplier(),
        shift in -31i32..=30,
    ) {
        let x = if shift > 0 { x >> shift } else { x };
        let got = f64::from(multiply_by_quantized_multiplier(x, multiplier, shift));
        // Exact in f64 up to 2^-53 relative: the product has at most 62 significant bits,
        // so compare with a little slack on top of the two half-unit roundings.
        let real = f64::from(x) * f64::from(multiplier) * 2f64.powi(shift - 31);
        prop_assert!((got - real).abs() <= 1.0 + real.abs() * 1e-15, "{got} vs {real}");
    }

    #[test]
    fn mbqm_variants_agree_with_mbqm_on_their_domains(
        x in any_i32(),
        multiplier in any_multiplier(),
        shift in 0i32..=30,
    ) {
        prop_assert_eq!(
            multiply_by_quantized_multiplier_smaller_than_one_exp(x, multiplier, -shift),
            model_mbqm(x, multiplier, -shift)
        );
        let x = x >> shift;
        prop_assert_eq!(
            multiply_by_quantized_multiplier_greater_than_one(x, multiplier, shift),
            model_mbqm(x, multiplier, shift)
        );
    }

    #[test]
    fn mbqm_i64_matches_exact_model(
        x in -(1i64 << 47)..(1i64 << 47),
        multiplier in any_multiplier(),
        shift in -31i32..=7,
    ) {
        // 16-bit multiplier: nearest, ties up, saturating at 0x7FFF.
        let m16 = ((i128::from(multiplier) * 2 + (1 << 16)).div_euclid(1 << 17)).min(0x7FFF);
        // floor(x * m16 / 2^(15 - shift) + 1/2).
        let denominator = 1i128 << (15 - shift);
        let expected = (2 * i128::from(x) * m16 + denominator).div_euclid(2 * denominator);
        if let Ok(expected) = i32::try_from(expected) {
            prop_assert_eq!(multiply_by_quantized_multiplier_i64(x, multiplier, shift), expected);
        }
    }

    #[test]
    fn quantize_multiplier_matches_exact_model_on_any_double(bits in any::<u64>()) {
        let d = f64::from_bits(bits);
        prop_assume!(d.is_finite());
        prop_assert_eq!(quantize_multiplier(d).unwrap(), model_quantize_multiplier(d));
    }

    #[test]
    fn quantize_multiplier_rounds_exact_ties_away_from_zero(
        k in (1i64 << 30)..(1i64 << 31),
        exponent in -20i32..=20,
        negative in any::<bool>(),
    ) {
        // (2k + 1) / 2^32 * 2^exponent: the mantissa times 2^31 is exactly k + 1/2.
        let magnitude = (2 * k + 1) as f64 * 2f64.powi(exponent - 32);
        let d = if negative { -magnitude } else { magnitude };
        prop_assert_eq!(quantize_multiplier(d).unwrap(), model_quantize_multiplier(d));
    }

    #[test]
    fn quantize_multiplier_matches_exact_model_on_scales(
        mantissa in 0.5f64..1.0,
        exponent in -40i32..=40,
    ) {
        let d = mantissa * 2f64.powi(exponent);
        let (m, s) = quantize_multiplier(d).unwrap();
        prop_assert_eq!((m, s), model_quantize_multiplier(d));
        if s >= -31 && m != 0 {
            prop_assert!((1 << 30..=i32::MAX).contains(&m));
            // Half a unit of the 31-bit mantissa at most.
            let encoded = f64::from(m) * 2f64.powi(s - 31);
            prop_assert!((encoded - d).abs() <= 2f64.powi(s - 32), "{encoded} vs {d}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Hand-checked values
// ---------------------------------------------------------------------------------------

#[test]
fn quantize_multiplier_hand_values() {
    assert_eq!(quantize_multiplier(0.5).unwrap(), (1 << 30, 0));
    assert_eq!(quantize_multiplier(1.0).unwrap(), (1 << 30, 1));
    assert_eq!(quantize_multiplier(0.75).unwrap(), (3 << 29, 0));
    assert_eq!(quantize_multiplier(-0.75).unwrap(), (-(3 << 29), 0));
    assert_eq!(quantize_multiplier(0.0).unwrap(), (0, 0));
    // 2^30 + 0.5 before rounding: half away from zero gives 2^30 + 1 (banker's: 2^30).
    let tie = (2f64.powi(31) + 1.0) / 2f64.powi(32);
    assert_eq!(quantize_multiplier(tie).unwrap(), ((1 << 30) + 1, 0));
    assert_eq!(quantize_multiplier(-tie).unwrap(), (-(1 << 30) - 1, 0));
    // Rounds up to 2^31: carried into the exponent.
    assert_eq!(
        quantize_multiplier(1.0 - 2f64.powi(-40)).unwrap(),
        (1 << 30, 1)
    );
    // 2^-32 = 0.5 * 2^-31 is the smallest kept; 2^-33 is flushed.
    assert_eq!(quantize_multiplier(2f64.powi(-32)).unwrap(), (1 << 30, -31));
    assert_eq!(quantize_multiplier(2f64.powi(-33)).unwrap(), (0, 0));
    assert_eq!(
        quantize_multiplier(f64::MIN_POSITIVE / 4.0).unwrap(),
        (0, 0)
    );
    // No single-rounding clamp: 2^40 keeps its shift.
    assert_eq!(quantize_multiplier(2f64.powi(40)).unwrap(), (1 << 30, 41));
    assert!(quantize_multiplier(f64::NAN).is_err());
    assert!(quantize_multiplier(f64::INFINITY).is_err());
}

#[test]
fn quantize_multiplier_range_variants() {
    assert_eq!(
        quantize_multiplier_smaller_than_one_exp(0.25).unwrap(),
        (1 << 30, -1)
    );
    assert_eq!(
        quantize_multiplier_smaller_than_one_exp(0.0).unwrap(),
        (0, 0)
    );
    assert!(quantize_multiplier_smaller_than_one_exp(1.0).is_err());
    assert!(quantize_multiplier_smaller_than_one_exp(-0.1).is_err());
    assert!(quantize_multiplier_smaller_than_one_exp(f64::NAN).is_err());
    assert_eq!(
        quantize_multiplier_greater_than_one(3.0).unwrap(),
        (3 << 29, 2)
    );
    assert!(quantize_multiplier_greater_than_one(1.0).is_err());
    assert!(quantize_multiplier_greater_than_one(f64::NAN).is_err());
}

#[test]
fn effective_scale_promotions() {
    // 0.1f32 * 0.3f32 rounds differently in float than in double.
    let (a, b, c) = (0.1f32, 0.3f32, 0.7f32);
    let per_channel = f64::from(a) * f64::from(b) / f64::from(c);
    let per_tensor = f64::from(a * b) / f64::from(c);
    assert_eq!(effective_scale_per_channel(a, b, c), per_channel);
    assert_eq!(effective_scale_per_tensor(a, b, c), per_tensor);
    assert_ne!(
        per_channel, per_tensor,
        "the test values must tell the promotions apart"
    );
    assert_eq!(effective_scale_mul(a, b, c), f64::from(a * b / c));
    assert_eq!(effective_scale_ratio(a, c), f64::from(a) / f64::from(c));
}

#[test]
fn srdhm_hand_values() {
    let srdhm = saturating_rounding_doubling_high_mul;
    assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
    assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29); // 0.5 * 0.5
    assert_eq!(srdhm(1, 1 << 30), 1); // +0.5 rounds up
    assert_eq!(srdhm(-1, 1 << 30), 0); // -0.5 rounds up too (toward +inf)
    assert_eq!(srdhm(3, 1 << 30), 2); // 1.5
    assert_eq!(srdhm(-3, 1 << 30), -1); // -1.5
    assert_eq!(srdhm(i32::MIN, i32::MAX), -i32::MAX); // exact
    assert_eq!(srdhm(i32::MAX, i32::MAX), i32::MAX - 1); // (2^31-1)^2/2^31 = 2^31 - 2 + 2^-31
}

#[test]
fn rounding_divide_by_pot_hand_values() {
    assert_eq!(rounding_divide_by_pot(-5, 1), -3);
    assert_eq!(rounding_divide_by_pot(5, 1), 3);
    assert_eq!(rounding_divide_by_pot(-4, 1), -2);
    assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5
    assert_eq!(rounding_divide_by_pot(-7, 2), -2); // -1.75
    assert_eq!(rounding_divide_by_pot(7, 0), 7);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
    assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    assert_eq!(rounding_divide_by_pot(i32::MIN, 32), -1); // -0.5, away from zero
    assert_eq!(rounding_divide_by_pot(i32::MIN, 33), 0);
}

#[test]
fn mbqm_hand_values() {
    let mbqm = multiply_by_quantized_multiplier;
    assert_eq!(mbqm(100, 1 << 30, 0), 50);
    // Double rounding: 5 * 0.25 = 1.25 exactly, but SRDHM gives 2.5 -> 3, then 3/2 -> 2.
    assert_eq!(mbqm(5, 1 << 30, -1), 2);
    // -5 * 0.5 = -2.5 -> -2 (tie toward +inf), then -2/2 = -1.
    assert_eq!(mbqm(-5, 1 << 30, -1), -1);
    // -3 * 0.5 = -1.5 -> -1, then -1/2 = -0.5 -> -1 (away from zero).
    assert_eq!(mbqm(-3, 1 << 30, -1), -1);
    // Scale ratio 1: (2^30, 1) is the identity.
    for x in [-1000, -1, 0, 1, 77, 1 << 29] {
        assert_eq!(mbqm(x, 1 << 30, 1), x);
    }
    assert_eq!(mbqm(i32::MAX, i32::MAX, -31), 1); // ~0.99999999 rounds to 1
    assert_eq!(mbqm(7, 0, 5), 0);
}

#[test]
fn mbqm_i64_hand_values() {
    // m16 = (2^30 + 2^15) >> 16 = 2^14; total shift 15: x * 2^14 / 2^15 = x / 2.
    assert_eq!(multiply_by_quantized_multiplier_i64(10, 1 << 30, 0), 5);
    assert_eq!(multiply_by_quantized_multiplier_i64(5, 1 << 30, 0), 3); // 2.5 up
    assert_eq!(multiply_by_quantized_multiplier_i64(-5, 1 << 30, 0), -2); // -2.5 up
                                                                          // Saturated 16-bit multiplier: 0x7FFF0000 and above become 0x7FFF.
    assert_eq!(
        multiply_by_quantized_multiplier_i64(1 << 20, i32::MAX, 0),
        0x7FFF << 5
    );
}

#[test]
fn saturating_rounding_multiply_by_pot_hand_values() {
    let srmpot = saturating_rounding_multiply_by_pot;
    assert_eq!(srmpot(3, 2), 12);
    assert_eq!(srmpot(1 << 29, 1), 1 << 30);
    assert_eq!(srmpot(1 << 30, 1), i32::MAX);
    assert_eq!(srmpot(-(1 << 30), 1), i32::MIN);
    assert_eq!(srmpot(-(1 << 30) + 1, 1), i32::MIN + 2);
    assert_eq!(srmpot(5, -1), 3);
    assert_eq!(srmpot(-5, -1), -3);
    assert_eq!(srmpot(1, 31), i32::MAX);
    assert_eq!(srmpot(0, 40), 0);
    assert_eq!(rescale(1 << 26, 5, 0), i32::MAX); // 1.0 in Q5.26 saturates in Q0.31
    assert_eq!(rescale(i32::MAX, 0, 12), 1 << 19); // ~1.0 in Q0.31 is 2^19 in Q12.19
}

// ---------------------------------------------------------------------------------------
// gemmlowp functions against f64 math
// ---------------------------------------------------------------------------------------

const TWO_POW_31: f64 = 2_147_483_648.0;

#[test]
fn exp_on_negative_values_of_zero_is_one() {
    assert_eq!(exp_on_negative_values::<5>(0), Q0_31_ONE);
    assert_eq!(exp_on_negative_values::<0>(0), Q0_31_ONE);
    assert_eq!(exp_on_negative_values::<12>(0), Q0_31_ONE);
}

/// The Taylor step's truncation error is at most (1/8)^5 / 5! ~ 2.5e-7, and each of the
/// at most eight Q0.31 multiplications adds about 2^-31; 1e-6 leaves a margin of four.
const EXP_TOLERANCE: f64 = 1e-6;

#[test]
fn exp_on_negative_values_matches_f64_in_q5_26() {
    // Every 2^-12 step over [-32, 0], plus the most negative raw value.
    let mut raw: i32 = 0;
    loop {
        let x = f64::from(raw) / 2f64.powi(26);
        let got = f64::from(exp_on_negative_values::<5>(raw)) / TWO_POW_31;
        assert!(
            (got - x.exp()).abs() < EXP_TOLERANCE,
            "exp({x}) = {got}, expected {}",
            x.exp()
        );
        match raw.checked_sub(1 << 14) {
            Some(next) => raw = next,
            None => break,
        }
    }
    let got = f64::from(exp_on_negative_values::<5>(i32::MIN)) / TWO_POW_31;
    assert!(got < EXP_TOLERANCE, "exp(-32) = {got}");
}

#[test]
fn exp_on_negative_values_other_formats() {
    // Q0.31 inputs in [-1, 0) and Q10.21 inputs in [-1024, 0], the latter clamped to 0
    // below -32.
    for k in 1..=1000 {
        let raw_q0 = -(k * (i32::MAX / 1000));
        let x = f64::from(raw_q0) / TWO_POW_31;
        let got = f64::from(exp_on_negative_values::<0>(raw_q0)) / TWO_POW_31;
        assert!(
            (got - x.exp()).abs() < EXP_TOLERANCE,
            "Q0.31 exp({x}) = {got}"
        );

        let raw_q10 = -(k * (1 << 21) / 25);
        let x = f64::from(raw_q10) / 2f64.powi(21);
        let got = f64::from(exp_on_negative_values::<10>(raw_q10)) / TWO_POW_31;
        assert!(
            (got - x.exp()).abs() < EXP_TOLERANCE,
            "Q10.21 exp({x}) = {got}"
        );
    }
    assert_eq!(exp_on_negative_values::<10>(-(33 << 21)), 0);
}

#[test]
fn fixed_point_constants_are_their_rounded_reals() {
    // gemmlowp's GEMMLOWP_CHECKED_FIXEDPOINT_CONSTANT rule: raw == round(real * 2^frac).
    let q0_31 = |real: f64| (real * TWO_POW_31).round() as i32;
    for (exponent, multiplier) in EXP_BARREL_SHIFTER {
        assert_eq!(
            multiplier,
            q0_31((-2f64.powi(exponent)).exp()),
            "exp(-2^{exponent})"
        );
    }
    assert_eq!(EXP_MINUS_ONE_EIGHTH_Q0_31, q0_31((-1.0f64 / 8.0).exp()));
    assert_eq!(ONE_THIRD_Q0_31, q0_31(1.0 / 3.0));
    let q2_29 = |real: f64| (real * 2f64.powi(29)).round() as i32;
    assert_eq!(FORTY_EIGHT_OVER_SEVENTEEN_Q2_29, q2_29(48.0 / 17.0));
    assert_eq!(MINUS_THIRTY_TWO_OVER_SEVENTEEN_Q2_29, q2_29(-32.0 / 17.0));
}

#[test]
fn exp_on_interval_matches_f64() {
    for k in 1..=1024 {
        // a in [-1/4, 0): -k/4096.
        let raw = -(k << 19);
        let a = f64::from(raw) / TWO_POW_31;
        let got = f64::from(exp_on_interval_between_negative_one_quarter_and_0_excl(raw));
        assert!(
            (got / TWO_POW_31 - a.exp()).abs() < EXP_TOLERANCE,
            "exp({a}) = {}",
            got / TWO_POW_31
        );
    }
}

/// Newton-Raphson from 48/17 - 32/17 d has converged to ~1e-10 after three steps; what
/// remains is Q2.29 rounding (2^-29 ~ 1.9e-9 per operation, a few per step).
const RECIPROCAL_TOLERANCE: f64 = 2e-8;

#[test]
fn one_over_one_plus_x_matches_f64() {
    for k in 0..=4096i64 {
        let raw = i32::try_from(k * (i64::from(i32::MAX) / 4096)).unwrap();
        let x = f64::from(raw) / TWO_POW_31;
        let got = f64::from(one_over_one_plus_x_for_x_in_0_1(raw)) / TWO_POW_31;
        assert!(
            (got - 1.0 / (1.0 + x)).abs() < RECIPROCAL_TOLERANCE,
            "1/(1+{x}) = {got}"
        );
    }
}

#[test]
fn get_reciprocal_matches_f64() {
    // Q12.19 values from 1.0 up to almost 4096, as softmax sums range.
    let mut raw: i64 = 1 << 19;
    while raw <= i64::from(i32::MAX) {
        let raw32 = i32::try_from(raw).unwrap();
        let (reciprocal, num_bits_over_unit) = get_reciprocal(raw32, 12);
        assert!(reciprocal > 1 << 30, "reciprocal of {raw} is {reciprocal}");
        let got = f64::from(reciprocal) / TWO_POW_31 / 2f64.powi(num_bits_over_unit);
        let expected = 2f64.powi(19) / raw as f64;
        assert!(
            ((got - expected) / expected).abs() < 2.0 * RECIPROCAL_TOLERANCE,
            "1/{} = {got}, expected {expected}",
            raw as f64 / 2f64.powi(19)
        );
        raw = raw * 13 / 11 + 7;
    }
    // 1.0 exactly: normalized to 1 + 0, no bits over unit.
    let (reciprocal, bits) = get_reciprocal(1 << 19, 12);
    assert_eq!(bits, 0);
    assert!(f64::from(reciprocal) / TWO_POW_31 > 1.0 - RECIPROCAL_TOLERANCE);
    // 3.0: normalized to 1.5 with one bit over unit.
    let (reciprocal, bits) = get_reciprocal(3 << 19, 12);
    assert_eq!(bits, 1);
    assert!((f64::from(reciprocal) / TWO_POW_31 - 2.0 / 3.0).abs() < RECIPROCAL_TOLERANCE);
}

// ---------------------------------------------------------------------------------------
// SOFTMAX
// ---------------------------------------------------------------------------------------

#[test]
fn softmax_scaling_hand_values() {
    // beta * 1/16 * 2^26 = 2^22 = 0.5 * 2^23.
    assert_eq!(
        preprocess_softmax_scaling(1.0, 1.0 / 16.0, 5).unwrap(),
        (1 << 30, 23)
    );
    // radius = floor(31 * 2^26 / 2^23) = 248.
    assert_eq!(calculate_input_radius(5, 23, 31), 248);
    assert_eq!(
        SoftmaxParams::new(1.0, 1.0 / 16.0).unwrap(),
        SoftmaxParams {
            input_multiplier: 1 << 30,
            input_left_shift: 23,
            diff_min: -248
        }
    );
    // 0.1f32 = 13421773 / 2^27, so 0.1f32 * 2^26 = 6710886.5 = (6710886.5 / 2^23) * 2^23
    // and the mantissa times 2^31 is 6710886.5 * 2^8 = 1717986944 exactly.
    assert_eq!(
        SoftmaxParams::new(1.0, 0.1).unwrap(),
        SoftmaxParams {
            input_multiplier: 1_717_986_944,
            input_left_shift: 23,
            diff_min: -248
        }
    );
    // Capped at 2^31 - 1: frexp gives (1 - 2^-31, 31).
    assert_eq!(
        preprocess_softmax_scaling(1.0, 1000.0, 5).unwrap(),
        (i32::MAX, 31)
    );
    // Not above 1: TFLite's CHECK fails.
    assert!(preprocess_softmax_scaling(1.0, 1e-9, 5).is_err());
    assert!(preprocess_softmax_scaling(f64::NAN, 0.1, 5).is_err());
}

#[test]
fn softmax_cutoff_is_negligible() {
    // The radius is 31 * (mantissa in [0.5, 1)) real units before the floor, which loses
    // less than one input step: diff_min sits at least 15.5 - beta*s real units below
    // the row maximum. (scale 1: exactly 15.5 -> 15 steps.)
    for scale in [1e-6f32, 0.003, 0.05, 0.1, 0.37, 1.0, 4.0] {
        let params = SoftmaxParams::new(1.0, scale).unwrap();
        let real_cutoff = f64::from(params.diff_min) * f64::from(scale);
        assert!(
            real_cutoff <= -15.5 + f64::from(scale),
            "scale {scale}: cutoff {real_cutoff}"
        );
    }
    assert_eq!(SoftmaxParams::new(1.0, 1.0).unwrap().diff_min, -15);
}

fn softmax_int8(beta: f32, scale: f32, row: &[i8]) -> Vec<i8> {
    let params = SoftmaxParams::new(beta, scale).unwrap();
    let mut out = vec![0i8; row.len()];
    params.softmax_row_int8(row, &mut out).unwrap();
    out
}

#[test]
fn softmax_uniform_rows() {
    // Equal inputs: each probability is 1/n, i.e. round(256/n) - 128 (127 at most).
    assert_eq!(softmax_int8(1.0, 0.1, &[5]), [127]);
    assert_eq!(softmax_int8(1.0, 0.1, &[-7, -7]), [0, 0]);
    assert_eq!(softmax_int8(1.0, 0.1, &[3; 3]), [-43; 3]); // 85.33
    assert_eq!(softmax_int8(1.0, 0.1, &[3; 4]), [-64; 4]);
    assert_eq!(softmax_int8(1.0, 0.1, &[3; 10]), [-102; 10]); // 25.6 -> 26
    assert_eq!(softmax_int8(1.0, 0.1, &[0; 256]), [-127; 256]);
    let mut empty: [i8; 0] = [];
    let params = SoftmaxParams::new(1.0, 0.1).unwrap();
    params.softmax_row_int8(&[], &mut empty).unwrap();
    assert!(params.softmax_row_int8(&[1, 2], &mut [0]).is_err());
}

#[test]
fn softmax_two_element_rows_match_f64() {
    // Row [k, 0]: p0 = 1/(1 + exp(-beta*s*k)), p1 = 1 - p0; expected round(256 p) - 128.
    // The fixed-point error is below 1e-3 output units, so wherever the exact value is
    // not within 0.01 of a rounding tie the bytes must match exactly.
    let mut compared = 0;
    for (beta, scale) in [(1.0f32, 1.0f32 / 16.0), (1.0, 0.1), (2.0, 0.05), (0.5, 0.3)] {
        for k in 0..=127i8 {
            let out = softmax_int8(beta, scale, &[k, 0]);
            let real_diff = f64::from(beta) * f64::from(scale) * f64::from(k);
            let p0 = 1.0 / (1.0 + (-real_diff).exp());
            for (got, p) in out.iter().zip([p0, 1.0 - p0]) {
                let units = 256.0 * p;
                if (units.fract() - 0.5).abs() < 0.01 {
                    continue;
                }
                let expected = (units.round() - 128.0).clamp(-128.0, 127.0);
                assert_eq!(f64::from(*got), expected, "beta {beta} s {scale} k {k}");
                compared += 1;
            }
        }
    }
    assert!(compared > 900);
}

#[test]
fn softmax_uint8_row_is_offset_by_128() {
    let params = SoftmaxParams::new(1.0, 0.1).unwrap();
    let input_i8 = [10i8, -3, 0, 7, -100];
    let input_u8 = input_i8.map(|v| (i16::from(v) + 128) as u8);
    let mut out_i8 = [0i8; 5];
    let mut out_u8 = [0u8; 5];
    params.softmax_row_int8(&input_i8, &mut out_i8).unwrap();
    params.softmax_row_uint8(&input_u8, &mut out_u8).unwrap();
    // Only differences matter, and the uint8 output offset is 0 instead of -128.
    for (a, b) in out_i8.iter().zip(out_u8) {
        assert_eq!(i16::from(*a) + 128, i16::from(b));
    }
}

// ---------------------------------------------------------------------------------------
// Activation ranges, LUTs, requantization, MEAN, ADD
// ---------------------------------------------------------------------------------------

#[test]
fn activation_range_hand_values() {
    let range = calculate_activation_range_quantized;
    // 6 / 0.05f32 = 119.9999982 rounds to 120.0 in float.
    assert_eq!(
        range(Activation::Relu6, 0.05, -10, DType::I8).unwrap(),
        (-10, 110)
    );
    assert_eq!(
        range(Activation::Relu, 0.05, -10, DType::I8).unwrap(),
        (-10, 127)
    );
    assert_eq!(
        range(Activation::None, 0.05, -10, DType::I8).unwrap(),
        (-128, 127)
    );
    // Ties: -1/2 and 1/2 round half away from zero (banker's rounding would give 0, 0).
    assert_eq!(
        range(Activation::ReluN1To1, 2.0, 0, DType::I8).unwrap(),
        (-1, 1)
    );
    // The type bounds win.
    assert_eq!(
        range(Activation::Relu6, 0.001, 0, DType::I8).unwrap(),
        (0, 127)
    );
    assert_eq!(
        range(Activation::Relu, 0.1, -128, DType::I8).unwrap(),
        (-128, 127)
    );
    assert_eq!(
        range(Activation::Relu6, 0.1, 0, DType::U8).unwrap(),
        (0, 60)
    );
    assert_eq!(
        range(Activation::None, 0.1, 0, DType::I16).unwrap(),
        (-32768, 32767)
    );
    // TFLite's fallthrough: not a clamp.
    assert_eq!(
        range(Activation::Tanh, 0.1, 3, DType::I8).unwrap(),
        (-128, 127)
    );
    assert!(range(Activation::Relu, 0.1, 0, DType::F32).is_err());
    // Zero point outside the type: TFLite's min would exceed its max.
    assert!(range(Activation::Relu, 0.1, 300, DType::I8).is_err());
    // 6 / 1e-30 overflows int32.
    assert!(range(Activation::Relu6, 1e-30, 0, DType::I8).is_err());
    assert!(range(Activation::Relu, f32::NAN, 0, DType::I8).is_err());
}

/// Expected LUT entry in f64, or None when the exact value is too close to a rounding
/// tie for f32 and f64 to be guaranteed to agree.
fn expected_lut_entry(
    x: i32,
    input: (f32, i32),
    output: (f32, i32),
    range: (i32, i32),
    f: fn(f64) -> f64,
) -> Option<i32> {
    let real = f64::from(input.0) * f64::from(x - input.1);
    let units = f(real) / f64::from(output.0);
    if (units.abs().fract() - 0.5).abs() < 1e-3 {
        return None;
    }
    Some((units.round() as i32 + output.1).clamp(range.0, range.1))
}

#[test]
fn logistic_lut_int8() {
    let lut = lut_populate_int8(1.0 / 16.0, 0, 1.0 / 256.0, -128, logistic_f32);
    let at = |x: i8| lut[usize::from(x as u8)];
    assert_eq!(at(0), 0); // 0.5 * 256 - 128
    assert_eq!(at(16), 59); // sigmoid(1) * 256 = 187.15
    assert_eq!(at(-16), -59); // 68.85
    assert_eq!(at(127), 127); // 255.9 -> 256, clamped
    assert_eq!(at(-128), -128); // sigmoid(-8) * 256 = 0.086
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    for x in i8::MIN..=i8::MAX {
        let expected = expected_lut_entry(
            i32::from(x),
            (1.0 / 16.0, 0),
            (1.0 / 256.0, -128),
            (-128, 127),
            sigmoid,
        );
        if let Some(expected) = expected {
            assert_eq!(i32::from(at(x)), expected, "x = {x}");
        }
    }
}

#[test]
fn tanh_lut_int8_with_zero_points() {
    let lut = lut_populate_int8(1.0 / 32.0, 0, 1.0 / 128.0, 0, tanh_f32);
    let at = |x: i8| lut[usize::from(x as u8)];
    assert_eq!(at(0), 0);
    assert_eq!(at(32), 97); // tanh(1) * 128 = 97.48
    assert_eq!(at(-32), -97);
    assert_eq!(at(127), 127); // 127.9 -> 128, clamped
    assert_eq!(at(-128), -128); // -127.9
                                // Nonzero zero points on both sides.
    let (input, output) = ((0.045f32, 7), (0.0081f32, -3));
    let lut = lut_populate_int8(input.0, input.1, output.0, output.1, tanh_f32);
    for x in i8::MIN..=i8::MAX {
        if let Some(expected) =
            expected_lut_entry(i32::from(x), input, output, (-128, 127), f64::tanh)
        {
            assert_eq!(i32::from(lut[usize::from(x as u8)]), expected, "x = {x}");
        }
    }
}

#[test]
fn lut_rounds_half_away_from_zero() {
    fn identity(v: f32) -> f32 {
        v
    }
    // Input scale 1/2: odd inputs land exactly on ties.
    let lut = lut_populate_int8(0.5, 0, 1.0, 0, identity);
    let at = |x: i8| lut[usize::from(x as u8)];
    assert_eq!([at(1), at(-1), at(3), at(-3), at(4)], [1, -1, 2, -2, 2]);
    let lut = lut_populate_uint8(0.5, 100, 1.0, 10, identity);
    assert_eq!(lut[101], 11); // 0.5 -> 1, + 10
    assert_eq!(lut[99], 9); // -0.5 -> -1, + 10
    assert_eq!(lut[0], 0); // -50 + 10, clamped to 0
    assert_eq!(lut[255], 88); // 77.5 -> 78, + 10
}

#[test]
fn logistic_lut_uint8() {
    let lut = lut_populate_uint8(1.0 / 16.0, 128, 1.0 / 256.0, 0, logistic_f32);
    assert_eq!(lut[128], 128);
    assert_eq!(lut[144], 187);
    assert_eq!(lut[112], 69);
    assert_eq!(lut[255], 255);
    assert_eq!(lut[0], 0);
}

#[test]
fn requantize_xor_fast_path() {
    let identity = (1 << 30, 1);
    assert_eq!(
        quantize_multiplier(effective_scale_ratio(0.02, 0.02)).unwrap(),
        identity
    );
    assert!(requantize_is_xor_0x80(
        DType::I8,
        DType::U8,
        identity.0,
        identity.1,
        -5,
        123
    ));
    assert!(requantize_is_xor_0x80(
        DType::U8,
        DType::I8,
        identity.0,
        identity.1,
        123,
        -5
    ));
    assert!(!requantize_is_xor_0x80(
        DType::U8,
        DType::I8,
        identity.0,
        identity.1,
        -5,
        123
    ));
    assert!(!requantize_is_xor_0x80(
        DType::I8,
        DType::U8,
        identity.0,
        identity.1,
        0,
        0
    ));
    assert!(!requantize_is_xor_0x80(
        DType::I8,
        DType::I8,
        identity.0,
        identity.1,
        -5,
        123
    ));
    assert!(!requantize_is_xor_0x80(
        DType::I8,
        DType::U8,
        identity.0,
        2,
        -5,
        123
    ));
    assert!(!requantize_is_xor_0x80(
        DType::I8,
        DType::U8,
        (1 << 30) + 1,
        1,
        -5,
        123
    ));
    // The general path gives the same bytes as the XOR whenever the test passes.
    for x in i8::MIN..=i8::MAX {
        let general =
            multiply_by_quantized_multiplier(i32::from(x) + 5, identity.0, identity.1) + 123;
        assert_eq!(general, i32::from(x as u8 ^ 0x80));
    }
}

#[test]
fn mean_divisor_folding_hand_values() {
    // 0.5 / 4: shift = floor(log2 4) = 2, (2^30 * 4) / 4, shift 0 - 2.
    assert_eq!(fold_mean_divisor(1 << 30, 0, 4).unwrap(), (1 << 30, -2));
    // 0.5 / 3: shift 1, 2^31 / 3 = 715827882.67 truncated.
    assert_eq!(fold_mean_divisor(1 << 30, 0, 3).unwrap(), (715_827_882, -1));
    // Limited by 31 + shift: min(3, 32, 1) = 1.
    assert_eq!(fold_mean_divisor(1 << 30, -30, 8).unwrap(), (1 << 28, -31));
    // Limited by 32: min(40, 32, 36) = 32, 2^62 / 2^40.
    assert_eq!(
        fold_mean_divisor(1 << 30, 5, 1 << 40).unwrap(),
        (1 << 22, -27)
    );
    assert_eq!(fold_mean_divisor(i32::MAX, 0, 1).unwrap(), (i32::MAX, 0));
    assert!(fold_mean_divisor(1 << 30, 0, 0).is_err());
    assert!(fold_mean_divisor(1 << 30, -40, 4).is_err());
}

#[test]
fn add_rescale_hand_values() {
    let add = AddRescale::new(1.0, 1.0, 1.0, 20).unwrap();
    // 1/2 each; output 2 / 2^20 = 2^-19 = 0.5 * 2^-18.
    assert_eq!(add.input1, (1 << 30, 0));
    assert_eq!(add.input2, (1 << 30, 0));
    assert_eq!(add.output, (1 << 30, -18));
    // 10 + 20 with all scales 1 and zero points 0 must be 30.
    let scaled = |x: i32, (m, s): (i32, i32)| {
        multiply_by_quantized_multiplier_smaller_than_one_exp(x << add.left_shift, m, s)
    };
    let sum = scaled(10, add.input1) + scaled(20, add.input2);
    assert_eq!(
        multiply_by_quantized_multiplier_smaller_than_one_exp(sum, add.output.0, add.output.1),
        30
    );
    // Input scale 0.5 and 1 into output 0.25: 4 * (0.5 * 3) + 4 * (1 * -2) = -2.
    let add = AddRescale::new(0.5, 1.0, 0.25, 20).unwrap();
    assert_eq!(add.input1, (1 << 30, -1)); // 0.25
    assert_eq!(add.input2, (1 << 30, 0)); // 0.5
    let sum = scaled(3, add.input1) + scaled(-2, add.input2);
    assert_eq!(
        multiply_by_quantized_multiplier_smaller_than_one_exp(sum, add.output.0, add.output.1),
        -2
    );
    // Output multiplier not below 1: TFLite's CHECK fails.
    assert!(AddRescale::new(1.0, 1.0, 1e-9, 20).is_err());
}

// ---------------------------------------------------------------------------------------
// TensorFlow-made fixture: the int8 MNIST MLP ends in SOFTMAX
// ---------------------------------------------------------------------------------------

mod mnist_mlp_int8 {
    use super::*;
    use crate::tflite::schema_generated::tflite as fb;
    use ndarray::{Array2, Array3};

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tflite/");

    struct QuantizedTensor {
        bytes: Vec<u8>,
        scales: Vec<f32>,
        zero_points: Vec<i64>,
    }

    fn tensor(model: &fb::Model<'_>, index: i32) -> QuantizedTensor {
        let subgraph = model.subgraphs().unwrap().get(0);
        let tensor = subgraph.tensors().unwrap().get(index as usize);
        let bytes = model
            .buffers()
            .unwrap()
            .get(tensor.buffer() as usize)
            .data()
            .map(|d| d.bytes().to_vec())
            .unwrap_or_default();
        let quantization = tensor.quantization().unwrap();
        QuantizedTensor {
            bytes,
            scales: quantization.scale().unwrap().iter().collect(),
            zero_points: quantization.zero_point().unwrap().iter().collect(),
        }
    }

    /// How the FULLY_CONNECTED reference requantizes its int32 accumulator.
    #[derive(Clone, Copy, Debug)]
    enum FcRequant {
        /// Older TF / tflite-micro: MultiplyByQuantizedMultiplier per channel.
        Mbqm,
        /// LiteRT BUILTIN_REF since 2025: round(double(acc) * in_s * w_s / out_s).
        Float,
    }

    /// The per-channel int8 FULLY_CONNECTED reference, written out for this test.
    fn fully_connected(
        input: &[i32],
        input_t: &QuantizedTensor,
        weights: &QuantizedTensor,
        bias: &QuantizedTensor,
        output_t: &QuantizedTensor,
        activation: Activation,
        requant: FcRequant,
    ) -> Vec<i32> {
        let units = bias.bytes.len() / 4;
        let depth = input.len();
        let input_zp = input_t.zero_points[0] as i32;
        let (output_scale, output_zp) = (output_t.scales[0], output_t.zero_points[0] as i32);
        let (act_min, act_max) =
            calculate_activation_range_quantized(activation, output_scale, output_zp, DType::I8)
                .unwrap();
        (0..units)
            .map(|unit| {
                let row = &weights.bytes[unit * depth..(unit + 1) * depth];
                let bias_bytes: [u8; 4] = bias.bytes[unit * 4..unit * 4 + 4].try_into().unwrap();
                let acc: i32 = row
                    .iter()
                    .zip(input)
                    .map(|(&w, &x)| i32::from(w as i8) * (x - input_zp))
                    .sum::<i32>()
                    + i32::from_le_bytes(bias_bytes);
                let real = effective_scale_per_channel(
                    input_t.scales[0],
                    weights.scales[unit],
                    output_scale,
                );
                let scaled = match requant {
                    FcRequant::Mbqm => {
                        let (m, s) = quantize_multiplier(real).unwrap();
                        multiply_by_quantized_multiplier(acc, m, s)
                    }
                    FcRequant::Float => (f64::from(acc) * real).round() as i32,
                };
                (scaled + output_zp).clamp(act_min, act_max)
            })
            .collect()
    }

    #[test]
    fn softmax_reproduces_the_reference_outputs() {
        let bytes = std::fs::read(format!("{DIR}mnist_mlp_int8.tflite")).unwrap();
        let model = fb::root_as_model(&bytes).unwrap();
        let operators = model.subgraphs().unwrap().get(0).operators().unwrap();
        let fcs: Vec<_> = operators
            .iter()
            .filter(|op| op.builtin_options_as_fully_connected_options().is_some())
            .collect();
        let softmax = operators
            .iter()
            .find(|op| op.builtin_options_as_softmax_options().is_some())
            .unwrap();
        assert_eq!(fcs.len(), 2);
        let activation = |op: &fb::Operator<'_>| match op
            .builtin_options_as_fully_connected_options()
            .unwrap()
            .fused_activation_function()
        {
            fb::ActivationFunctionType::RELU => Activation::Relu,
            fb::ActivationFunctionType::NONE => Activation::None,
            other => panic!("unexpected activation {other:?}"),
        };
        let io = |op: &fb::Operator<'_>, slot: usize| op.inputs().unwrap().get(slot);
        let softmax_input = tensor(&model, io(&softmax, 0));
        let beta = softmax.builtin_options_as_softmax_options().unwrap().beta();
        let params = SoftmaxParams::new(beta, softmax_input.scales[0]).unwrap();

        let images: Array3<i8> =
            ndarray_npy::read_npy(format!("{DIR}mnist_mlp_int8.input.npy")).unwrap();
        let reference: Array2<i8> =
            ndarray_npy::read_npy(format!("{DIR}mnist_mlp_int8.output.ref.npy")).unwrap();

        // The manifest records that LiteRT's reference and optimized FCs differ by one
        // step somewhere inside this model; both requantizations are tried, and with
        // either one every softmax byte must match the reference.
        for requant in [FcRequant::Float, FcRequant::Mbqm] {
            for (row, (image, expected)) in
                images.outer_iter().zip(reference.outer_iter()).enumerate()
            {
                let mut values: Vec<i32> = image.iter().map(|&v| i32::from(v)).collect();
                for fc in &fcs {
                    let output_index = fc.outputs().unwrap().get(0);
                    values = fully_connected(
                        &values,
                        &tensor(&model, io(fc, 0)),
                        &tensor(&model, io(fc, 1)),
                        &tensor(&model, io(fc, 2)),
                        &tensor(&model, output_index),
                        activation(fc),
                        requant,
                    );
                }
                // Clamped to the int8 activation range by the FC.
                let logits: Vec<i8> = values.iter().map(|&v| v as i8).collect();
                let mut probabilities = vec![0i8; logits.len()];
                params
                    .softmax_row_int8(&logits, &mut probabilities)
                    .unwrap();
                assert_eq!(
                    probabilities.as_slice(),
                    expected.as_slice().unwrap(),
                    "row {row} with {requant:?} FC requantization, logits {logits:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// int8 LOG_SOFTMAX
// ---------------------------------------------------------------------------------------

proptest! {
    /// The fixed-point log against f64 `ln` over the whole Q12.19 range above 1 that a
    /// softmax sum can take: within 2^-20 (the approximation's error is far below the
    /// 1/16 output step).
    #[test]
    fn log_x_tracks_the_real_logarithm(raw in (1i32 << 19)..=i32::MAX) {
        let got = log_x_for_x_greater_than_or_equal_to_1(raw, 12, 5);
        let x = f64::from(raw) / f64::from(1 << 19);
        let want = x.ln();
        let got = f64::from(got) / f64::from(1 << 26);
        prop_assert!((got - want).abs() < 2f64.powi(-20), "ln({x}) = {want}, got {got}");
    }
}

#[test]
fn log_x_of_one_is_zero_and_of_e_is_one() {
    assert_eq!(log_x_for_x_greater_than_or_equal_to_1(1 << 19, 12, 5), 0);
    let e_q12 = (std::f64::consts::E * f64::from(1 << 19)).round() as i32;
    let one_q5 = log_x_for_x_greater_than_or_equal_to_1(e_q12, 12, 5);
    assert!((one_q5 - (1 << 26)).abs() < 64, "ln(e) in Q5.26 = {one_q5}");
}

#[test]
fn log_softmax_rows_by_hand() {
    // Input scale 1/8. Two equal values: ln(1/2) = -0.693 → -0.693·16 = -11.09 → 116.
    let params = LogSoftmaxParams::new(0.125).unwrap();
    let mut out = [0i8; 2];
    params.log_softmax_row_int8(&[40, 40], &mut out).unwrap();
    assert_eq!(out, [116, 116]);
    // Values 0 and -8 steps (= -1.0): ln(1/(1+e^-1)) = -0.3133 → -5.01 → 122, and
    // -1.3133 → -21.01 → 106.
    params.log_softmax_row_int8(&[5, -3], &mut out).unwrap();
    assert_eq!(out, [122, 106]);
    // A value 255 steps (-31.9) below the maximum is past the representable range: the
    // minimum; the maximum's log-probability rounds to 0 → 127.
    params.log_softmax_row_int8(&[127, -128], &mut out).unwrap();
    assert_eq!(out, [127, -128]);
    // Mismatched lengths are an error, not a panic.
    assert!(params.log_softmax_row_int8(&[1, 2, 3], &mut out).is_err());
}
