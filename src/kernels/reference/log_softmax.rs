//! Float LOG_SOFTMAX in the order of TFLite's reference kernel: the row maximum, the sum
//! of `exp(x - max)` from 0 in row order, its log, then `x - max - log_sum`.

/// Each `depth`-long row of `x` into the same row of `y`.
pub fn log_softmax_f32(x: &[f32], y: &mut [f32], depth: usize) {
    if depth == 0 {
        return;
    }
    for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        let max = xr.iter().fold(f32::MIN, |m, &v| if m < v { v } else { m });
        let sum = xr.iter().fold(0.0f32, |s, &v| s + (v - max).exp());
        let log_sum = sum.ln();
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = v - max - log_sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_log_probabilities() {
        // Row [0, ln 2, ln 3]: probabilities 1/6, 2/6, 3/6. Row [1000; 2]: ln(1/2) each,
        // which needs the max shift to avoid overflow.
        let (l2, l3) = (2f32.ln(), 3f32.ln());
        let mut y = [0.0f32; 5];
        log_softmax_f32(&[0.0, l2, l3], &mut y[..3], 3);
        log_softmax_f32(&[1000.0, 1000.0], &mut y[3..], 2);
        let want = [
            (1.0f32 / 6.0).ln(),
            (2.0f32 / 6.0).ln(),
            0.5f32.ln(),
            0.5f32.ln(),
            0.5f32.ln(),
        ];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
    }
}
