//! The arithmetic TensorFlow's converter uses to choose quantization parameters and to
//! quantize constants, reproduced operation by operation (including where it computes
//! in float32 and where in float64) so that scales, zero points and quantized weights
//! come out bit-identical to TensorFlow's files.
//!
//! Sources (docs §2): the MLIR quantizer's `ConvertStatsToQDQs` (range widened to 0),
//! `fakeQuantAttrsToType` followed by `DownCastScale` (the Python path sets
//! `legacy_float_scale`, which recomputes scale and zero point in float32),
//! `ExtractMinMaxFromAttr` (weight ranges), `QuantizeLegacy` with
//! `SymmetricPerChannelQuantizeValues` / `PortableSymmetricQuantizeFloats` (int8
//! weights), `SymmetricBiasQuantize` (int32 biases) and `quantizeF32ToInt8` (other
//! 8-bit constants).

/// Rounds half away from zero (C's `round`), in f32.
fn round_f32(x: f32) -> f32 {
    x.round()
}

/// (scale, zero point) of an asymmetric int8 tensor whose values span [min, max].
///
/// The range is first widened to include 0; the scale is recomputed in float32 from
/// the float32 ends, and the zero point from the minimum (in float64, then narrowed to
/// float32 and rounded half away from zero), clamped to [-128, 127].
pub fn asymmetric_int8(min: f32, max: f32) -> (f32, i64) {
    let rmin = f64::from(min).min(0.0);
    let rmax = f64::from(max).max(0.0);
    if !(rmax - rmin).is_finite() || (rmax - rmin).abs() < f64::EPSILON {
        // An all-zero tensor: TF's fake-quant rule picks scale 1 with the zero point at
        // the bottom of the range; its float recomputation would divide by zero.
        return (1.0, -128);
    }
    let scale = ((rmax as f32) - (rmin as f32)) / 255.0f32;
    let zero_point_from_min = (-128.0f64 - rmin / f64::from(scale)) as f32;
    let zero_point = if zero_point_from_min < -128.0 {
        -128
    } else if zero_point_from_min > 127.0 {
        127
    } else {
        round_f32(zero_point_from_min) as i64
    };
    (scale, zero_point)
}

/// Quantizes values with an asymmetric int8 (scale, zero point) as the MLIR quantizer
/// does for 8-bit constants that are not weights: `round(x / scale + zp)` in float64.
pub fn quantize_asymmetric_int8(values: &[f32], scale: f32, zero_point: i64) -> Vec<i8> {
    let s = f64::from(scale);
    let z = zero_point as f64;
    values
        .iter()
        .map(|&x| (f64::from(x) / s + z).round().clamp(-128.0, 127.0) as i8)
        .collect()
}

/// Symmetric narrow-range scale for a largest magnitude `bound` (float32
/// `(bound - (-bound)) / 254`). A zero bound gets scale 1 (all values are 0; TF's
/// recomputation would produce a zero scale the runtime refuses).
pub fn symmetric_scale(bound: f64) -> f32 {
    let b = bound as f32;
    if b == 0.0 || !b.is_finite() {
        return 1.0;
    }
    (b - (-b)) / 254.0f32
}

/// Per-channel symmetric int8 weights: channel `c` is every element whose index along
/// `axis` is `c`. Returns (scales, quantized values in the original layout).
pub fn symmetric_per_channel(values: &[f32], shape: &[usize], axis: usize) -> (Vec<f32>, Vec<i8>) {
    let channels = shape.get(axis).copied().unwrap_or(1).max(1);
    let inner: usize = shape.iter().skip(axis + 1).product();
    let inner = inner.max(1);
    let channel_of = |i: usize| (i / inner) % channels;
    let mut bound = vec![0.0f64; channels];
    for (i, &x) in values.iter().enumerate() {
        let c = channel_of(i);
        bound[c] = bound[c].max(f64::from(x).abs());
    }
    let scales: Vec<f32> = bound.iter().map(|&b| symmetric_scale(b)).collect();
    // TF multiplies by the float32 inverse of each scale (computed in float64).
    let inverses: Vec<f32> = scales
        .iter()
        .map(|&s| (1.0f64 / f64::from(s)) as f32)
        .collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, &x)| round_f32(x * inverses[channel_of(i)]).clamp(-127.0, 127.0) as i8)
        .collect();
    (scales, q)
}

/// Per-tensor symmetric int8 weights: (scale, values), `round(x · (127 / range))` in
/// float32 as TF's `PortableSymmetricQuantizeFloats`.
pub fn symmetric_per_tensor(values: &[f32]) -> (f32, Vec<i8>) {
    let range = values.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
    if range == 0.0 || !range.is_finite() {
        return (1.0, vec![0; values.len()]);
    }
    let scale = symmetric_scale(f64::from(range));
    let inverse = 127.0f32 / range;
    let q = values
        .iter()
        .map(|&x| round_f32(x * inverse).clamp(-127.0, 127.0) as i8)
        .collect();
    (scale, q)
}

/// Bias scale: input scale × weight scale in float64, narrowed to float32.
pub fn bias_scale(input_scale: f32, weight_scale: f32) -> f32 {
    (f64::from(input_scale) * f64::from(weight_scale)) as f32
}

/// int32 bias: `round(b · (1/scale))` with the inverse narrowed to float32 and the
/// product in float32, saturated to ±(2³¹ − 1).
pub fn quantize_bias(values: &[f32], scales: &[f32]) -> Vec<i32> {
    let inverse = |s: f32| {
        if s == 0.0 {
            0.0f32
        } else {
            (1.0f64 / f64::from(s)) as f32
        }
    };
    values
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let s = if scales.len() == 1 {
                scales[0]
            } else {
                scales.get(i).copied().unwrap_or(0.0)
            };
            let r = round_f32(b * inverse(s));
            // `as` saturates (NaN becomes 0), as TF's SafeCast does.
            (r as i32).clamp(-i32::MAX, i32::MAX)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_range_gives_one_over_255_and_zero_point_minus_128() {
        // [0, 1] is what MNIST pixels span; TF writes 3.921569e-3 / -128.
        let (s, z) = asymmetric_int8(0.0, 1.0);
        assert_eq!(s, 1.0f32 / 255.0);
        assert_eq!(z, -128);
    }

    #[test]
    fn range_is_widened_to_include_zero() {
        assert_eq!(asymmetric_int8(0.5, 1.0), asymmetric_int8(0.0, 1.0));
        let (s, z) = asymmetric_int8(-2.0, -1.0);
        assert_eq!(s, 2.0f32 / 255.0);
        assert_eq!(z, 127);
    }

    #[test]
    fn symmetric_range_has_zero_point_near_the_middle() {
        // [-1, 1]: scale 2/255, zero point -128 + 127.5 = -0.5 rounds away to -1.
        let (s, z) = asymmetric_int8(-1.0, 1.0);
        assert_eq!(s, 2.0f32 / 255.0);
        assert_eq!(z, -1);
    }

    #[test]
    fn per_channel_weights_use_the_channel_maximum() {
        // Two channels along axis 0: [1, -0.5] and [0.25, 0.125].
        let (scales, q) = symmetric_per_channel(&[1.0, -0.5, 0.25, 0.125], &[2, 2], 0);
        assert_eq!(scales, vec![1.0f32 / 127.0, 0.25f32 / 127.0]);
        // -0.5·127 = -63.5 rounds away from zero.
        assert_eq!(q, vec![127, -64, 127, 64]);
        // Along the last axis instead (depthwise layout).
        let (scales, q) = symmetric_per_channel(&[1.0, -0.5, 0.25, 0.125], &[2, 2], 1);
        assert_eq!(scales, vec![1.0f32 / 127.0, 0.5f32 / 127.0]);
        assert_eq!(q, vec![127, -127, 32, 32]);
    }

    #[test]
    fn bias_is_rounded_with_the_product_scale() {
        let s = bias_scale(0.5, 0.25);
        assert_eq!(s, 0.125);
        assert_eq!(
            quantize_bias(&[1.0, -0.0625, 3.0e12], &[s]),
            vec![8, -1, i32::MAX]
        );
    }

    #[test]
    fn constants_round_half_away_in_float64() {
        assert_eq!(
            quantize_asymmetric_int8(&[0.0, 1.0, 0.25], 1.0 / 255.0, -128),
            vec![-128, 127, -64]
        );
    }
}
