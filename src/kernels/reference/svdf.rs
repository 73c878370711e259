//! SVDF, the low-rank "singular value decomposition filter" of keyword-spotting models:
//! one time step per call, over a state that remembers the last `memory` feature
//! activations of every filter. The order of operations is TFLite's reference kernel's
//! (`reference_ops::EvalFloatSVDF`, `EvalIntegerSVDF`), which the integer path must
//! follow exactly:
//!
//! 1. feature: the newest state column of filter `f` becomes `input · weights_feature[f]`
//!    (int8: rescaled by the first multiplier into int16 and saturated);
//! 2. time: `scratch[f] = state[f] · weights_time[f]` over the memory;
//! 3. output unit `u` = `bias[u]` + the sum of the `rank` scratch values of its filters
//!    (float: then the fused activation; int8: rescaled by the second multiplier, plus the
//!    output zero point, saturated to int8 — the reference applies no activation there);
//! 4. every filter's memory shifts one step to the past, the newest column becoming 0.
//!
//! The state is laid out `[batch][filter][memory]`, oldest first.

use crate::kernels::common::apply_vector_activation;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;

/// The sizes of one SVDF: `filters = units * rank`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvdfDims {
    pub batch: usize,
    pub input_size: usize,
    pub filters: usize,
    pub rank: usize,
    pub memory: usize,
}

impl SvdfDims {
    pub fn units(&self) -> usize {
        self.filters / self.rank
    }

    pub fn state_len(&self) -> usize {
        self.batch * self.filters * self.memory
    }
}

/// One float time step. `scratch` holds `batch * filters` values; `activation` is the
/// clamp of TFLite's `ApplyActivationToVector` (`None` for no activation).
#[allow(clippy::too_many_arguments)]
pub fn svdf_f32(
    d: SvdfDims,
    input: &[f32],
    weights_feature: &[f32],
    weights_time: &[f32],
    bias: Option<&[f32]>,
    activation: Option<(f32, f32)>,
    state: &mut [f32],
    scratch: &mut [f32],
    output: &mut [f32],
) {
    let (units, m) = (d.units(), d.memory);
    for b in 0..d.batch {
        let x = &input[b * d.input_size..][..d.input_size];
        for f in 0..d.filters {
            let w = &weights_feature[f * d.input_size..][..d.input_size];
            let mut dot = 0.0f32;
            for (wi, xi) in w.iter().zip(x) {
                dot += wi * xi;
            }
            // The reference clears the newest column, then accumulates into it.
            state[(b * d.filters + f) * m + m - 1] = 0.0 + dot;
        }
    }
    time_dot(d, weights_time, state, scratch, |a: f32, b: f32| a * b, 0.0);
    for b in 0..d.batch {
        let out = &mut output[b * units..][..units];
        for (u, o) in out.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for r in 0..d.rank {
                sum += scratch[b * d.filters + u * d.rank + r];
            }
            *o = bias.map_or(0.0, |bias| bias[u]) + sum;
        }
        apply_vector_activation(out, activation);
    }
    shift_left(d, state, 0.0);
}

/// The integer parameters of an int8 SVDF (`EvalIntegerSVDF`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SvdfInt8 {
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    /// input scale × feature-weight scale / state scale.
    pub feature_multiplier: (i32, i32),
    /// state scale × time-weight scale / output scale.
    pub output_multiplier: (i32, i32),
}

/// One int8 time step with an int16 state and int16 time weights. `scratch` holds
/// `batch * filters` values.
#[allow(clippy::too_many_arguments)]
pub fn svdf_i8(
    d: SvdfDims,
    q: SvdfInt8,
    input: &[i8],
    weights_feature: &[i8],
    weights_time: &[i16],
    bias: Option<&[i32]>,
    state: &mut [i16],
    scratch: &mut [i32],
    output: &mut [i8],
) {
    let (units, m) = (d.units(), d.memory);
    for b in 0..d.batch {
        let x = &input[b * d.input_size..][..d.input_size];
        for f in 0..d.filters {
            let w = &weights_feature[f * d.input_size..][..d.input_size];
            let mut dot = 0i32;
            for (&wi, &xi) in w.iter().zip(x) {
                dot = dot.wrapping_add(i32::from(wi) * (i32::from(xi) - q.input_zero_point));
            }
            let (mult, shift) = q.feature_multiplier;
            let v = multiply_by_quantized_multiplier(dot, mult, shift)
                .clamp(i32::from(i16::MIN), i32::from(i16::MAX));
            // The state is symmetric (zero point 0), so the new column is the value itself.
            state[(b * d.filters + f) * m + m - 1] = v as i16;
        }
    }
    time_dot(
        d,
        weights_time,
        state,
        scratch,
        |a: i16, b: i16| i32::from(a) * i32::from(b),
        0i32,
    );
    let (mult, shift) = q.output_multiplier;
    for b in 0..d.batch {
        for u in 0..units {
            let mut acc = bias.map_or(0, |bias| bias[u]);
            let mut sum = 0i32;
            for r in 0..d.rank {
                sum = sum.wrapping_add(scratch[b * d.filters + u * d.rank + r]);
            }
            acc = acc.wrapping_add(sum);
            let v = multiply_by_quantized_multiplier(acc, mult, shift) + q.output_zero_point;
            output[b * units + u] = v.clamp(i32::from(i8::MIN), i32::from(i8::MAX)) as i8;
        }
    }
    shift_left(d, state, 0);
}

/// `scratch[b][f] = state[b][f] · weights_time[f]`, accumulated from `zero` in memory
/// order (`BatchVectorBatchVectorDotProduct`).
fn time_dot<S: Copy, A: Copy + std::ops::Add<Output = A>>(
    d: SvdfDims,
    weights_time: &[S],
    state: &[S],
    scratch: &mut [A],
    mul: impl Fn(S, S) -> A,
    zero: A,
) {
    let m = d.memory;
    for b in 0..d.batch {
        for f in 0..d.filters {
            let s = &state[(b * d.filters + f) * m..][..m];
            let w = &weights_time[f * m..][..m];
            let mut acc = zero;
            for (&wi, &si) in w.iter().zip(s) {
                acc = acc + mul(wi, si);
            }
            scratch[b * d.filters + f] = acc;
        }
    }
}

/// Moves every filter's memory one step into the past; the newest column becomes `zero`.
fn shift_left<S: Copy>(d: SvdfDims, state: &mut [S], zero: S) {
    for row in state.chunks_exact_mut(d.memory) {
        row.copy_within(1.., 0);
        if let Some(last) = row.last_mut() {
            *last = zero;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One filter per unit (rank 1), memory 3, input of 2: values worked out by hand.
    #[test]
    fn float_steps_remember_the_last_three_feature_values() {
        let d = SvdfDims {
            batch: 1,
            input_size: 2,
            filters: 2,
            rank: 1,
            memory: 3,
        };
        // Filter 0 sums the input, filter 1 takes the first element twice.
        let wf = [1.0, 1.0, 2.0, 0.0];
        // Filter 0 weighs its memory oldest..newest 1, 10, 100; filter 1 all ones.
        let wt = [1.0, 10.0, 100.0, 1.0, 1.0, 1.0];
        let bias = [0.5, -1.0];
        let mut state = vec![0.0; d.state_len()];
        let mut scratch = vec![0.0; 2];
        let mut out = vec![0.0; 2];
        let mut step = |x: [f32; 2], state: &mut Vec<f32>| {
            svdf_f32(
                d,
                &x,
                &wf,
                &wt,
                Some(&bias),
                None,
                state,
                &mut scratch,
                &mut out,
            );
            out.clone()
        };
        // t0: features (3, 2): unit 0 = 100*3 + 0.5, unit 1 = 2 - 1.
        assert_eq!(step([1.0, 2.0], &mut state), vec![300.5, 1.0]);
        // The memory shifted: newest column free again.
        assert_eq!(state, vec![0.0, 3.0, 0.0, 0.0, 2.0, 0.0]);
        // t1: features (1, 1): unit 0 = 10*3 + 100*1 + 0.5, unit 1 = 2 + 1 - 1.
        assert_eq!(step([0.5, 0.5], &mut state), vec![130.5, 2.0]);
        // t2: features (0, 0): unit 0 = 1*3 + 10*1 + 0.5, unit 1 = 2 + 1 - 1.
        assert_eq!(step([0.0, 0.0], &mut state), vec![13.5, 2.0]);
        // t3: the first step has left the memory.
        assert_eq!(step([0.0, 0.0], &mut state), vec![1.5, 0.0]);
    }

    /// Rank 2: two filters feed one unit; RELU clamps.
    #[test]
    fn rank_sums_filters_into_units_and_the_activation_clamps() {
        let d = SvdfDims {
            batch: 2,
            input_size: 1,
            filters: 2,
            rank: 2,
            memory: 1,
        };
        let mut state = vec![0.0; d.state_len()];
        let mut scratch = vec![0.0; 4];
        let mut out = vec![0.0; 2];
        svdf_f32(
            d,
            &[2.0, -3.0],
            &[1.0, 4.0],
            &[1.0, 1.0],
            None,
            Some((0.0, f32::INFINITY)),
            &mut state,
            &mut scratch,
            &mut out,
        );
        // Batch 0: 2 + 8 = 10; batch 1: -3 - 12 = -15 → 0.
        assert_eq!(out, vec![10.0, 0.0]);
    }

    /// int8 with unit multipliers (2^30 with shift 1 is exactly 1.0): the arithmetic is
    /// then plain integer sums, saturated where the types end.
    #[test]
    fn int8_step_rescales_saturates_and_shifts() {
        let d = SvdfDims {
            batch: 1,
            input_size: 2,
            filters: 1,
            rank: 1,
            memory: 2,
        };
        let one = (1 << 30, 1);
        let q = SvdfInt8 {
            input_zero_point: -1,
            output_zero_point: 3,
            feature_multiplier: one,
            output_multiplier: one,
        };
        let mut state = vec![0i16; 2];
        let mut scratch = vec![0i32; 1];
        let mut out = vec![0i8; 1];
        // feature = 2*(4+1) + 3*(-2+1) = 7; time weights (5, 1): 7; + bias 10 + zp 3 = 20.
        svdf_i8(
            d,
            q,
            &[4, -2],
            &[2, 3],
            &[5, 1],
            Some(&[10]),
            &mut state,
            &mut scratch,
            &mut out,
        );
        assert_eq!((out[0], state.clone()), (20, vec![7, 0]));
        // feature = 100*(127+1)*2 = 25600; time: 5*7 + 25600 = 25635 → saturates at 127.
        svdf_i8(
            d,
            q,
            &[127, 127],
            &[100, 100],
            &[5, 1],
            Some(&[10]),
            &mut state,
            &mut scratch,
            &mut out,
        );
        assert_eq!((out[0], state.clone()), (127, vec![25600, 0]));
        // A feature past i16 saturates in the state: 127*128*2 = 32512 fits, so scale up
        // with a multiplier of 2 (2^30, shift 2).
        let q2 = SvdfInt8 {
            feature_multiplier: (1 << 30, 2),
            ..q
        };
        svdf_i8(
            d,
            q2,
            &[127, 127],
            &[127, 127],
            &[0, 0],
            None,
            &mut state,
            &mut scratch,
            &mut out,
        );
        assert_eq!((out[0], state), (3, vec![i16::MAX, 0]));
    }
}
