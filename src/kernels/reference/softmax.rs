//! SOFTMAX over the last dimension as plain row loops: the float definition, and the
//! table algorithm of LiteRT's default 8-bit kernel (the reference 8-bit rows are
//! `fixed_point::SoftmaxParams`).
//!
//! The 8-bit table: SOFTMAX by a table of exponentials: the algorithm of LiteRT's default (optimized)
//! kernel on x86, used where its reference kernel cannot run the model.
//!
//! The reference kernel scales input differences by `beta · input_scale · 2^26`, which
//! it requires to be above 1, and aborts otherwise (`QuantizeMultiplierGreaterThanOne`).
//! Real conversions break that bound: a MobileNetV3-Small with weak activations has
//! logits of scale ~7.8e-9. LiteRT's default resolver never meets the check, because its
//! int8 SOFTMAX computes in float from a 256-entry table of `exp(-beta · input_scale · d)`
//! for d = max − x in 0..=255. ferrolite does the same for such inputs, so it runs every
//! model LiteRT runs, with the bits of the kernel LiteRT actually uses there
//! (fixtures/softmax, made by scripts/gen_softmax_fixtures.py).
//!
//! Arithmetic, all in f32 and in this order: the row's sum of table entries from the first
//! element to the last; `inv = 1 / (sum · output_scale)`; each output is `entry · inv`
//! rounded to nearest (int8: halves away from zero, then + zero point; uint8: `+ 0.5` and
//! truncation, the x86 build's shortcut), then clamped to the type's range.

use crate::kernels::reference::quant_binary::QByte;

/// Float SOFTMAX with TFLite's beta, y = exp((x - max)·beta) / Σ exp((x - max)·beta), for
/// each row of `depth` elements; `x` and `y` have the same length.
pub fn softmax_f32(x: &[f32], y: &mut [f32], depth: usize, beta: f32) {
    if depth == 0 {
        return;
    }
    for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        // Subtracting the row max keeps every exponent ≤ 0, so nothing overflows.
        let max = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        for (y, &x) in yr.iter_mut().zip(xr) {
            *y = ((x - max) * beta).exp();
            sum += *y;
        }
        for y in yr.iter_mut() {
            *y /= sum;
        }
    }
}

/// Whether the reference kernel refuses this input scale while the table kernel runs it:
/// the reference's multiplier `beta · input_scale · 2^26` (in double, as there) is finite,
/// not negative and at most 1.
pub fn needs_table(beta: f32, input_scale: f32) -> bool {
    let multiplier = f64::from(beta) * f64::from(input_scale) * 2f64.powi(26);
    multiplier.is_finite() && (0.0..=1.0).contains(&multiplier)
}

/// `table[255 - d] = exp(-input_scale · beta · d)` for d in 0..=255.
pub fn exp_table(beta: f32, input_scale: f32) -> [f32; 256] {
    let scale = -input_scale * beta;
    let mut table = [0f32; 256];
    for d in 0..=255usize {
        table[255 - d] = (scale * d as f32).exp();
    }
    table
}

/// The rounding each 8-bit type's output gets (see the module comment).
pub trait TableOutput: QByte {
    /// The type's range, widened.
    const MIN: i32;
    const MAX: i32;
    fn quantize(prob: f32, zero_point: i32) -> i32;
}

impl TableOutput for i8 {
    const MIN: i32 = -128;
    const MAX: i32 = 127;
    fn quantize(prob: f32, zero_point: i32) -> i32 {
        prob.round() as i32 + zero_point
    }
}

impl TableOutput for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    fn quantize(prob: f32, _zero_point: i32) -> i32 {
        (prob + 0.5) as i32
    }
}

/// One row: `input` and `output` have the same length.
pub fn softmax_row<T: TableOutput>(
    table: &[f32; 256],
    output_scale: f32,
    output_zero_point: i32,
    input: &[T],
    output: &mut [T],
) {
    let Some(max) = input.iter().map(|v| v.widen()).max() else {
        return;
    };
    // max − x lies in 0..=255 for any 8-bit row, so the index is always in the table.
    let entry = |x: T| table[(255 - (max - x.widen())) as usize];
    let mut sum = 0f32;
    for &x in input {
        sum += entry(x);
    }
    let inv = 1.0 / (sum * output_scale);
    for (y, &x) in output.iter_mut().zip(input) {
        let q = T::quantize(entry(x) * inv, output_zero_point);
        *y = T::narrow(q.clamp(T::MIN, T::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_bound_decides() {
        // 2^-26 / beta is where the reference multiplier crosses 1.
        assert!(needs_table(1.0, 7.8e-9));
        assert!(needs_table(1.0, 1.0 / 67_108_864.0));
        assert!(!needs_table(1.0, 1.6e-8));
        assert!(!needs_table(1.0, 0.1));
        assert!(!needs_table(f32::NAN, 1e-9));
        assert!(!needs_table(-1.0, 1e-9));
    }

    #[test]
    fn equal_inputs_share_the_probability() {
        let table = exp_table(1.0, 1e-9);
        let x = [7i8; 4];
        let mut y = [0i8; 4];
        softmax_row(&table, 1.0 / 256.0, -128, &x, &mut y);
        // 1/4 in steps of 1/256 is 64 steps above -128.
        assert_eq!(y, [-64; 4]);
        let xu = [200u8; 8];
        let mut yu = [0u8; 8];
        softmax_row(&table, 1.0 / 256.0, 0, &xu, &mut yu);
        assert_eq!(yu, [32; 8]);
    }

    #[test]
    fn a_certain_class_saturates_at_the_type_maximum() {
        // A scale of 1: exp(-255) is 0 in f32, so the maximum takes all 256 steps, one
        // more than int8 holds above -128.
        let table = exp_table(1.0, 1.0);
        let mut y = [0i8; 3];
        softmax_row(&table, 1.0 / 256.0, -128, &[-128i8, 127, -128], &mut y);
        assert_eq!(y, [-128, 127, -128]);
    }
}
