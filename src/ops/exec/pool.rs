//! MAX_POOL_2D and AVERAGE_POOL_2D: validation, window geometry and the kernels that
//! hand slices to `kernels::reference::pool`.
//!
//! `prepare` dispatches on the input element type so integer variants can sit beside
//! the float ones. The window taps that fall inside the image are resolved per output
//! row and column at prepare (shared with the convolutions), so `run` has no bounds
//! tests and an average divides by the number of in-image taps, as TFLite does.

use crate::kernels::common::{activation_range_f32, positive};
use std::sync::Mutex;

use super::q8::{q8_input, q8_output, q8_params, Q8};
use super::shape::nhwc;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op, Pool2dOptions};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::calculate_activation_range_quantized;
use crate::kernels::reference::pool::{pool_f32, pool_q8, PoolKind, PoolMax, PoolShape};
use crate::kernels::window::{Window2d, WindowAxis};

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let (kind, options) = match &ctx.op.op {
        Op::MaxPool2d(o) => (PoolKind::Max, o),
        Op::AveragePool2d(o) => (PoolKind::Average, o),
        other => kbail!("the pooling kernel cannot run {}", other.name()),
    };
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    match (input.dtype, output.dtype) {
        (DType::F32, DType::F32) => {
            let [n, h, w, c] = nhwc(input, "input")?;
            let win = pool_window(options, n, h, w)?;
            let range = activation_range_f32(options.activation)?;
            let shape = vec![n, win.h.output, win.w.output, c];
            Ok(Prepared::new(
                vec![shape],
                PoolF32 {
                    shape: PoolShape {
                        kind,
                        win,
                        channels: c,
                    },
                    range,
                    avx2: ctx.cpu.fma(),
                },
            ))
        }
        (DType::I8, DType::I8) => prepare_q8::<i8>(ctx, kind, options),
        (DType::U8, DType::U8) => prepare_q8::<u8>(ctx, kind, options),
        (i, o) => kbail!("{} from {i} to {o} is not supported", kind.name()),
    }
}

fn pool_window(
    o: &Pool2dOptions,
    batch: usize,
    h: usize,
    w: usize,
) -> Result<Window2d, KernelError> {
    let filter_h = positive(o.filter_h, "filter_height")?;
    let filter_w = positive(o.filter_w, "filter_width")?;
    let stride_h = positive(o.stride_h, "stride_h")?;
    let stride_w = positive(o.stride_w, "stride_w")?;
    Ok(Window2d {
        batch,
        h: WindowAxis::new(o.padding, h, filter_h, stride_h, 1)?,
        w: WindowAxis::new(o.padding, w, filter_w, stride_w, 1)?,
    })
}

struct PoolF32 {
    shape: PoolShape,
    range: (f32, f32),
    avx2: bool,
}

impl Kernel for PoolF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = match inputs.first() {
            Some(v) => v.f32()?,
            None => kbail!("input 0 is missing"),
        };
        let out = match outputs.first_mut() {
            Some(v) => v.f32()?,
            None => kbail!("output 0 is missing"),
        };
        let s = &self.shape;
        if input.len() != s.input_len() || out.len() != s.output_len() {
            kbail!("{} buffers do not match the planned shapes", s.kind.name());
        }
        if out.is_empty() {
            return Ok(());
        }
        pool_f32(s, input, out, self.range, self.avx2);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// 8-bit quantized pooling (TFLite `reference_integer_ops` MaxPool / AveragePool)
//
// No zero-point arithmetic: TFLite expects the output to share the input's scale and
// zero point and works on the stored integers directly.

struct PoolQ8<T> {
    shape: PoolShape,
    range: (i32, i32),
    avx2: bool,
    /// The kernel's scratch row, made at prepare so that a run does not allocate; locked
    /// because `run` takes `&self`, never contended since every thread of a split batch
    /// has its own plan.
    scratch: Mutex<Vec<T>>,
}

fn prepare_q8<T: Q8 + PoolMax>(
    ctx: &PrepareCtx<'_>,
    kind: PoolKind,
    options: &Pool2dOptions,
) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let [n, h, w, c] = nhwc(input, "input")?;
    let win = pool_window(options, n, h, w)?;
    // TFLite only debug-checks that input and output share their parameters, so a
    // mismatch is not an error; the output's own parameters set the clamp.
    q8_params(input.quantization.as_ref(), T::DTYPE, "input")?;
    let (out_s, out_zp) = q8_params(output.quantization.as_ref(), T::DTYPE, "output")?;
    let range = calculate_activation_range_quantized(options.activation, out_s, out_zp, T::DTYPE)?;
    // TFLite's average fails at run time on a window with no tap inside the image.
    let empty = |axis: &WindowAxis| axis.taps.iter().any(|t| t.lo >= t.hi);
    if kind == PoolKind::Average && n * c > 0 && (empty(&win.h) || empty(&win.w)) {
        kbail!("AVERAGE_POOL_2D has an output window with no input inside the image");
    }
    let shape = vec![n, win.h.output, win.w.output, c];
    let pool = PoolShape {
        kind,
        win,
        channels: c,
    };
    let scratch = Mutex::new(vec![T::from_byte(0); pool.q8_scratch_len()]);
    Ok(Prepared::new(
        vec![shape],
        PoolQ8::<T> {
            shape: pool,
            range,
            avx2: ctx.cpu.avx2(),
            scratch,
        },
    ))
}

impl<T: Q8 + PoolMax> Kernel for PoolQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = q8_input::<T>(inputs, 0)?;
        let out = q8_output::<T>(outputs)?;
        let s = &self.shape;
        if input.len() != s.input_len() || out.len() != s.output_len() {
            kbail!("{} buffers do not match the planned shapes", s.kind.name());
        }
        if out.is_empty() {
            return Ok(());
        }
        let mut scratch = self.scratch.lock().map_err(|_| {
            KernelError::new(format!(
                "{} scratch was poisoned by a failed run",
                s.kind.name()
            ))
        })?;
        pool_q8(s, input, out, self.range, self.avx2, &mut scratch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_close, cpu_variant, run_f32, run_f32_on, var, Rng};
    use super::*;
    use crate::ir::{Activation, Padding};
    use crate::kernels::common::window_dim;

    fn pool_op(
        max: bool,
        padding: Padding,
        filter: (i32, i32),
        stride: (i32, i32),
        activation: Activation,
    ) -> Op {
        let o = Pool2dOptions {
            padding,
            stride_h: stride.0,
            stride_w: stride.1,
            filter_h: filter.0,
            filter_w: filter.1,
            activation,
        };
        if max {
            Op::MaxPool2d(o)
        } else {
            Op::AveragePool2d(o)
        }
    }

    fn iota(n: usize) -> Vec<f32> {
        (1..=n).map(|v| v as f32).collect()
    }

    #[test]
    fn max_pool_2x2_stride_2() {
        // 4x4 image 1..16: each 2x2 block's maximum is its bottom-right value.
        let (shape, out) = run_f32(
            pool_op(true, Padding::Valid, (2, 2), (2, 2), Activation::None),
            &[var(&[1, 4, 4, 1], iota(16))],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 2, 2, 1]);
        assert_eq!(out, vec![6., 8., 14., 16.]);
    }

    #[test]
    fn max_pool_channels_batch_and_relu6() {
        // Two pixels side by side, 2 channels, 2 images; 1x2 window over the row.
        // Image 0: ch0 max(-3, -1) = -1 → RELU6 0; ch1 max(7, 2) = 7 → 6.
        // Image 1: ch0 max(4, 5) = 5; ch1 max(-8, -9) = -8 → 0.
        let (shape, out) = run_f32(
            pool_op(true, Padding::Valid, (1, 2), (1, 2), Activation::Relu6),
            &[var(&[2, 1, 2, 2], vec![-3., 7., -1., 2., 4., -8., 5., -9.])],
        )
        .unwrap();
        assert_eq!(shape, vec![2, 1, 1, 2]);
        assert_eq!(out, vec![0., 6., 5., 0.]);
    }

    #[test]
    fn average_pool_same_counts_only_image_taps() {
        // 3x3 window, stride 1, SAME over 1..9: a corner averages its 4 in-image taps
        // ((1+2+4+5)/4 = 3), an edge its 6 (21/6 = 3.5), the centre all 9 (45/9 = 5).
        let (shape, out) = run_f32(
            pool_op(false, Padding::Same, (3, 3), (1, 1), Activation::None),
            &[var(&[1, 3, 3, 1], iota(9))],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 3, 3, 1]);
        assert_eq!(out, vec![3., 3.5, 4., 4.5, 5., 5.5, 6., 6.5, 7.]);
    }

    #[test]
    fn average_pool_stride_2_same_trailing_border() {
        // 2x2 window, stride 2, SAME over a 3x3 image: padding 1 goes after the image.
        // (1+2+4+5)/4 = 3; (3+6)/2 = 4.5; (7+8)/2 = 7.5; 9/1 = 9.
        let (shape, out) = run_f32(
            pool_op(false, Padding::Same, (2, 2), (2, 2), Activation::None),
            &[var(&[1, 3, 3, 1], iota(9))],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 2, 2, 1]);
        assert_eq!(out, vec![3., 4.5, 7.5, 9.]);
        // RELU_N1_TO_1 clamps the same averages to 1.
        let (_, out) = run_f32(
            pool_op(false, Padding::Same, (2, 2), (2, 2), Activation::ReluN1To1),
            &[var(&[1, 3, 3, 1], iota(9))],
        )
        .unwrap();
        assert_eq!(out, vec![1.; 4]);
    }

    #[test]
    fn pool_rejects_bad_options() {
        let input = || var(&[1, 3, 3, 1], iota(9));
        assert!(run_f32(
            pool_op(true, Padding::Valid, (0, 2), (1, 1), Activation::None),
            &[input()]
        )
        .is_err());
        assert!(run_f32(
            pool_op(true, Padding::Valid, (2, 2), (1, -1), Activation::None),
            &[input()]
        )
        .is_err());
        assert!(run_f32(
            pool_op(false, Padding::Valid, (2, 2), (1, 1), Activation::Tanh),
            &[input()]
        )
        .is_err());
        assert!(run_f32(
            pool_op(false, Padding::Valid, (2, 2), (1, 1), Activation::None),
            &[var(&[3, 3, 1], iota(9))]
        )
        .is_err());
    }

    /// The specification: TFLite's reference pooling, one output at a time.
    fn reference_pool(
        max: bool,
        input: &[f32],
        [n, h, w, c]: [usize; 4],
        padding: Padding,
        (fh, fw): (usize, usize),
        (sh, sw): (usize, usize),
        range: (f32, f32),
    ) -> Vec<f32> {
        let (oh, pt) = window_dim(padding, h, fh, sh, 1).unwrap();
        let (ow, pl) = window_dim(padding, w, fw, sw, 1).unwrap();
        let mut out = Vec::new();
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let mut acc = if max { f32::MIN } else { 0.0 };
                        let mut count = 0;
                        for ky in 0..fh {
                            for kx in 0..fw {
                                let iy = (oy * sh + ky) as isize - pt as isize;
                                let ix = (ox * sw + kx) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let x = input[((b * h + iy as usize) * w + ix as usize) * c + ch];
                                acc = if max { acc.max(x) } else { acc + x };
                                count += 1;
                            }
                        }
                        let v = if max { acc } else { acc / count as f32 };
                        out.push(v.max(range.0).min(range.1));
                    }
                }
            }
        }
        out
    }

    /// TFLite's reference max pool with its exact float semantics: the accumulator
    /// starts at the lowest finite float, `std::max(acc, x)` takes x only when
    /// acc < x, and the activation is `std::min(std::max(v, lo), hi)`.
    fn reference_max_exact(
        input: &[f32],
        [n, h, w, c]: [usize; 4],
        padding: Padding,
        (fh, fw): (usize, usize),
        (sh, sw): (usize, usize),
        (lo, hi): (f32, f32),
    ) -> Vec<f32> {
        let (oh, pt) = window_dim(padding, h, fh, sh, 1).unwrap();
        let (ow, pl) = window_dim(padding, w, fw, sw, 1).unwrap();
        let std_max = |a: f32, b: f32| if a < b { b } else { a };
        let std_min = |a: f32, b: f32| if b < a { b } else { a };
        let mut out = Vec::new();
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let mut acc = f32::MIN;
                        for ky in 0..fh {
                            for kx in 0..fw {
                                let iy = (oy * sh + ky) as isize - pt as isize;
                                let ix = (ox * sw + kx) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let x = input[((b * h + iy as usize) * w + ix as usize) * c + ch];
                                acc = std_max(acc, x);
                            }
                        }
                        out.push(std_min(std_max(acc, lo), hi));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn max_pool_keeps_the_first_of_equal_values_and_skips_nan() {
        // Values from a small set, so windows hold ties of 0.0 and -0.0, NaN, and
        // values at or below the starting lowest float; compared bit for bit.
        let palette = [
            0.0,
            -0.0,
            f32::NAN,
            f32::MIN,
            f32::NEG_INFINITY,
            1.0,
            -1.0,
            7.5,
        ];
        let mut rng = Rng(0x0dd_f00d_5eed);
        for case in 0..600 {
            let cpu = cpu_variant(case % 2 == 1);
            let padding = if rng.range(0, 1) == 0 {
                Padding::Same
            } else {
                Padding::Valid
            };
            let dims = [
                rng.range(1, 2),
                rng.range(1, 8),
                rng.range(1, 8),
                rng.range(1, 20),
            ];
            let filter = (rng.range(1, 3), rng.range(1, 3));
            let stride = (rng.range(1, 3), rng.range(1, 3));
            let act = [Activation::None, Activation::Relu, Activation::Relu6][rng.range(0, 2)];
            let len = dims.iter().product();
            let input: Vec<f32> = (0..len)
                .map(|_| palette[rng.range(0, palette.len() - 1)])
                .collect();
            let (_, got) = run_f32_on(
                cpu,
                pool_op(
                    true,
                    padding,
                    (filter.0 as i32, filter.1 as i32),
                    (stride.0 as i32, stride.1 as i32),
                    act,
                ),
                &[var(&dims, input.clone())],
            )
            .unwrap();
            let range = activation_range_f32(act).unwrap();
            let want = reference_max_exact(&input, dims, padding, filter, stride, range);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&got),
                bits(&want),
                "case {case} {dims:?} {padding:?} {filter:?} {stride:?}"
            );
        }
    }

    #[test]
    fn pools_match_reference_on_random_configurations() {
        let mut rng = Rng(0x5eed_0000_0000_0001);
        for case in 0..800 {
            let cpu = cpu_variant(case % 2 == 1);
            let max = rng.range(0, 1) == 0;
            let padding = if rng.range(0, 1) == 0 {
                Padding::Same
            } else {
                Padding::Valid
            };
            let (n, h, w, c) = (
                rng.range(1, 3),
                rng.range(1, 9),
                rng.range(1, 9),
                rng.range(1, 13),
            );
            let filter = (rng.range(1, 4), rng.range(1, 4));
            let stride = (rng.range(1, 3), rng.range(1, 3));
            let act = [
                Activation::None,
                Activation::Relu,
                Activation::Relu6,
                Activation::ReluN1To1,
            ][rng.range(0, 3)];
            let input = rng.vec(n * h * w * c);
            let (shape, got) = run_f32_on(
                cpu,
                pool_op(
                    max,
                    padding,
                    (filter.0 as i32, filter.1 as i32),
                    (stride.0 as i32, stride.1 as i32),
                    act,
                ),
                &[var(&[n, h, w, c], input.clone())],
            )
            .unwrap();
            let range = activation_range_f32(act).unwrap();
            let want = reference_pool(max, &input, [n, h, w, c], padding, filter, stride, range);
            assert_eq!(shape.iter().product::<usize>(), want.len(), "case {case}");
            assert_close(&got, &want, 1e-6, &format!("pool case {case}"));
        }
    }
}

#[cfg(test)]
mod q8_tests {
    use super::super::test_support::cpu_variant;
    use super::super::test_support::q8::{per_tensor, run_q8, run_q8_on};
    use super::super::test_support::Rng;
    use super::*;
    use crate::ir::{Activation, Padding};
    use crate::kernels::common::window_dim;

    fn op(max: bool, padding: Padding, filter: usize, stride: usize, act: Activation) -> Op {
        let o = Pool2dOptions {
            padding,
            stride_h: stride as i32,
            stride_w: stride as i32,
            filter_h: filter as i32,
            filter_w: filter as i32,
            activation: act,
        };
        if max {
            Op::MaxPool2d(o)
        } else {
            Op::AveragePool2d(o)
        }
    }

    fn pool_1x2(max: bool, dtype: DType, values: Vec<i32>, zp: i64, act: Activation) -> Vec<i32> {
        // [1, 1, 2, C] pooled by a 1x2 window: each channel reduces its two values.
        let c = values.len() / 2;
        let o = Pool2dOptions {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 2,
            filter_h: 1,
            filter_w: 2,
            activation: act,
        };
        let op = if max {
            Op::MaxPool2d(o)
        } else {
            Op::AveragePool2d(o)
        };
        let x = per_tensor(dtype, &[1, 1, 2, c], values, 1.0, zp);
        let (shape, y) = run_q8(op, &[Some(x)], dtype, 1.0, zp).unwrap();
        assert_eq!(shape, vec![1, 1, 1, c]);
        y
    }

    #[test]
    fn average_rounds_exact_halves_away_from_zero() {
        // Pairs per channel: (1,2) 1.5 -> 2; (-1,-2) -1.5 -> -2; (-1,2) 0.5 -> 1;
        // (1,-2) -0.5 -> -1; (3,4) 3.5 -> 4; (-128,-127) -127.5 -> -128; (5,5) 5.
        let first = [1, -1, -1, 1, 3, -128, 5];
        let second = [2, -2, 2, -2, 4, -127, 5];
        let values: Vec<i32> = first.iter().chain(&second).copied().collect();
        let y = pool_1x2(false, DType::I8, values, 0, Activation::None);
        assert_eq!(y, vec![2, -2, 1, -1, 4, -128, 5]);
        // uint8: (0,1) -> 1; (254,255) -> 255 (509/2 = 254.5 rounds up).
        let y = pool_1x2(false, DType::U8, vec![0, 254, 1, 255], 0, Activation::None);
        assert_eq!(y, vec![1, 255]);
    }

    #[test]
    fn average_divides_by_in_image_taps_only() {
        // 2x2 SAME window, stride 2, on a 1x3 row: the last window holds one pixel.
        let x = per_tensor(DType::I8, &[1, 1, 3, 1], vec![10, 13, -7], 1.0, 0);
        let (shape, y) = run_q8(
            op(false, Padding::Same, 2, 2, Activation::None),
            &[Some(x)],
            DType::I8,
            1.0,
            0,
        )
        .unwrap();
        // (10 + 13)/2 = 11.5 -> 12; -7 alone.
        assert_eq!((shape, y), (vec![1, 1, 2, 1], vec![12, -7]));
    }

    #[test]
    fn max_then_fused_activation_clamp() {
        // RELU6 at scale 0.5, zp -5: clamp to [-5, -5 + 12] = [-5, 7].
        let x = per_tensor(
            DType::I8,
            &[1, 1, 2, 3],
            vec![-100, 3, 50, -90, 6, 20],
            0.5,
            -5,
        );
        let (_, y) = run_q8(
            op(true, Padding::Valid, 1, 1, Activation::None),
            &[Some(x.clone())],
            DType::I8,
            0.5,
            -5,
        )
        .unwrap();
        assert_eq!(y, vec![-100, 3, 50, -90, 6, 20]);
        let o = Pool2dOptions {
            padding: Padding::Valid,
            stride_h: 1,
            stride_w: 2,
            filter_h: 1,
            filter_w: 2,
            activation: Activation::Relu6,
        };
        let (_, y) = run_q8(Op::MaxPool2d(o), &[Some(x)], DType::I8, 0.5, -5).unwrap();
        // max(-100,-90) = -90 -> -5; max(3,6) = 6; max(50,20) = 50 -> 7.
        assert_eq!(y, vec![-5, 6, 7]);
    }

    /// TFLite's reference pooling loop.
    fn reference(
        max: bool,
        x: &[i32],
        [n, h, w, c]: [usize; 4],
        k: usize,
        s: usize,
        p: Padding,
        range: (i32, i32),
    ) -> Vec<i32> {
        let (oh, ph) = window_dim(p, h, k, s, 1).unwrap();
        let (ow, pw) = window_dim(p, w, k, s, 1).unwrap();
        let mut out = vec![];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let (mut acc, mut count) = (if max { i32::MIN } else { 0 }, 0);
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * s + ky) as i64 - ph as i64;
                                let ix = (ox * s + kx) as i64 - pw as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                    continue;
                                }
                                let v = x[((b * h + iy as usize) * w + ix as usize) * c + ch];
                                acc = if max { acc.max(v) } else { acc + v };
                                count += 1;
                            }
                        }
                        if !max {
                            acc = if acc > 0 {
                                (acc + count / 2) / count
                            } else {
                                (acc - count / 2) / count
                            };
                        }
                        out.push(acc.clamp(range.0, range.1));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn random_pools_match_the_reference_loop() {
        let mut rng = Rng(42);
        for _ in 0..300 {
            let unsigned = rng.range(0, 1) == 1;
            let (dtype, lo) = if unsigned {
                (DType::U8, 0)
            } else {
                (DType::I8, -128)
            };
            let dims = [
                rng.range(1, 2),
                rng.range(1, 9),
                rng.range(1, 9),
                rng.range(1, 40),
            ];
            let len = dims.iter().product();
            let values: Vec<i32> = (0..len).map(|_| lo + rng.range(0, 255) as i32).collect();
            let max = rng.range(0, 1) == 1;
            let (k, s) = (rng.range(1, 4), rng.range(1, 3));
            let padding = if rng.range(0, 1) == 1 {
                Padding::Same
            } else {
                Padding::Valid
            };
            let act = [Activation::None, Activation::Relu, Activation::Relu6][rng.range(0, 2)];
            let zp = lo as i64 + rng.range(0, 255) as i64;
            let x = per_tensor(dtype, &dims, values.clone(), 0.1, zp);
            let range = calculate_activation_range_quantized(act, 0.1, zp as i32, dtype).unwrap();
            let want = reference(max, &values, dims, k, s, padding, range);
            for portable in [false, true] {
                let cpu = cpu_variant(portable);
                let got = run_q8_on(
                    cpu,
                    op(max, padding, k, s, act),
                    &[Some(x.clone())],
                    dtype,
                    0.1,
                    zp,
                );
                assert_eq!(
                    got.unwrap().1,
                    want,
                    "{dims:?} k {k} s {s} {padding:?} max {max} portable {portable}"
                );
            }
        }
    }
}
