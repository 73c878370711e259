use super::*;
use crate::ir::{Conv2dOptions, DepthwiseConv2dOptions, Padding};
use crate::kernels::common::window_dim;
use crate::kernels::cpu::CpuFeatures;
use crate::kernels::fixed_point::{multiply_by_quantized_multiplier, quantize_multiplier};
use crate::ops::exec::test_support::q8::{bias, per_channel, per_tensor, run_q8, run_q8_on, Q};
use crate::ops::exec::test_support::Rng;

fn conv_op(padding: Padding, stride: usize, dilation: usize, act: Activation) -> Op {
    Op::Conv2d(Conv2dOptions {
        padding,
        stride_h: stride as i32,
        stride_w: stride as i32,
        dilation_h: dilation as i32,
        dilation_w: dilation as i32,
        activation: act,
    })
}

fn dw_op(padding: Padding, stride: usize, dilation: usize, act: Activation) -> Op {
    Op::DepthwiseConv2d(DepthwiseConv2dOptions {
        padding,
        stride_h: stride as i32,
        stride_w: stride as i32,
        dilation_h: dilation as i32,
        dilation_w: dilation as i32,
        depth_multiplier: 0,
        activation: act,
    })
}

#[test]
fn one_channel_conv_by_hand() {
    // x - in_zp = [2, 4, 0, 6]; acc = 1·2 + 2·4 + 3·0 + 4·6 = 34. The multiplier is
    // 0.5·0.25/1 = 0.125 = 2^30·2^(-2-31): (M, shift) = (2^30, -2).
    let x = per_tensor(DType::I8, &[1, 2, 2, 1], vec![1, 3, -1, 5], 0.5, -1);
    let w = per_channel(&[1, 2, 2, 1], vec![1, 2, 3, 4], vec![0.25], 0);
    let run = |b: i32, act| {
        run_q8(
            conv_op(Padding::Valid, 1, 1, act),
            &[Some(x.clone()), Some(w.clone()), Some(bias(vec![b]))],
            DType::I8,
            1.0,
            3,
        )
        .unwrap()
    };
    // 34 + 10 = 44; 44/8 = 5.5 rounds away from zero to 6; plus out_zp 3.
    assert_eq!(run(10, Activation::None), (vec![1, 1, 1, 1], vec![9]));
    // 34 - 54 = -20; -2.5 rounds to -3; plus 3 is 0, and RELU clamps at zp = 3.
    assert_eq!(run(-54, Activation::None).1, vec![0]);
    assert_eq!(run(-54, Activation::Relu).1, vec![3]);
    // Saturation at the int8 range: 34 + 2000 = 2034 -> 254.25 -> 254 + 3 -> 127.
    assert_eq!(run(2000, Activation::None).1, vec![127]);
    assert_eq!(quantize_multiplier(0.125).unwrap(), (1 << 30, -2));
}

#[test]
fn padded_taps_are_skipped_not_zero_point_filled() {
    // SAME 3x3 on a 1x1 image: only the centre tap is inside. With x = in_zp the
    // output is the bias alone, whatever the other taps weigh.
    let x = per_tensor(DType::I8, &[1, 1, 1, 1], vec![-7], 1.0, -7);
    let w = per_channel(&[1, 3, 3, 1], vec![100; 9], vec![1.0], 0);
    let (shape, y) = run_q8(
        conv_op(Padding::Same, 1, 1, Activation::None),
        &[Some(x), Some(w), Some(bias(vec![5]))],
        DType::I8,
        1.0,
        0,
    )
    .unwrap();
    assert_eq!((shape, y), (vec![1, 1, 1, 1], vec![5]));
}

#[test]
fn depthwise_with_multiplier_by_hand() {
    // H=2, W=1, one input channel, depth multiplier 2, per-channel scales 1 and 0.5.
    // oc0: 1·3 + 2·(-2) = -1; oc1: 4·3 + (-3)·(-2) = 18, + bias 1 = 19, ·0.5 = 9.5 -> 10.
    let x = per_tensor(DType::I8, &[1, 2, 1, 1], vec![3, -2], 1.0, 0);
    let w = per_channel(&[1, 2, 1, 2], vec![1, 4, 2, -3], vec![1.0, 0.5], 3);
    let (shape, y) = run_q8(
        dw_op(Padding::Valid, 1, 1, Activation::None),
        &[Some(x), Some(w), Some(bias(vec![0, 1]))],
        DType::I8,
        1.0,
        0,
    )
    .unwrap();
    assert_eq!((shape, y), (vec![1, 1, 1, 2], vec![-1, 10]));
}

#[test]
fn uint8_conv_applies_the_filter_zero_point() {
    // (w - 128)·(x - 100): w = [130, 126] -> [2, -2]; x = [110, 90] -> [10, -10];
    // acc = 20 + 20 = 40; scale 0.5·0.5/1 = 0.25 -> 10; + out_zp 128 = 138.
    let x = per_tensor(DType::U8, &[1, 1, 2, 1], vec![110, 90], 0.5, 100);
    let w = per_tensor(DType::U8, &[1, 1, 2, 1], vec![130, 126], 0.5, 128).constant();
    let (_, y) = run_q8(
        conv_op(Padding::Valid, 1, 1, Activation::None),
        &[Some(x), Some(w), None],
        DType::U8,
        1.0,
        128,
    )
    .unwrap();
    assert_eq!(y, vec![138]);
}

#[test]
fn bad_quantization_is_an_error() {
    let x = per_tensor(DType::I8, &[1, 2, 2, 1], vec![0; 4], 1.0, 0);
    let mut w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 0);
    let op = || conv_op(Padding::Valid, 1, 1, Activation::None);
    // Nonzero int8 filter zero point.
    if let Some(q) = w.quant.as_mut() {
        q.zero_point = vec![0, 3];
    }
    assert!(run_q8(
        op(),
        &[Some(x.clone()), Some(w.clone()), None],
        DType::I8,
        1.0,
        0
    )
    .is_err());
    // Per-channel table along the wrong axis.
    let w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 3);
    assert!(run_q8(op(), &[Some(x.clone()), Some(w), None], DType::I8, 1.0, 0).is_err());
    // Runtime (non-constant) filter, and a float bias.
    let mut w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 0);
    w.constant = false;
    assert!(run_q8(op(), &[Some(x.clone()), Some(w), None], DType::I8, 1.0, 0).is_err());
    // Output dtype differs from the input's.
    let w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 0);
    assert!(run_q8(op(), &[Some(x), Some(w), None], DType::U8, 1.0, 0).is_err());
}

/// TFLite's reference loop for CONV_2D (groups allowed) and DEPTHWISE_CONV_2D
/// (`depthwise = true`, filter [1, kh, kw, out_c]), on widened values.
#[allow(clippy::too_many_arguments)]
fn reference(
    depthwise: bool,
    x: &Q,
    w: &Q,
    b: Option<&[i32]>,
    stride: usize,
    dilation: usize,
    padding: Padding,
    mults: &[(i32, i32)],
    (in_off, w_off, out_zp): (i32, i32, i32),
    range: (i32, i32),
) -> Vec<i32> {
    let [n, h, wd, c] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let (kh, kw) = (w.shape[1], w.shape[2]);
    let (oc_n, gin) = if depthwise {
        (w.shape[3], 1)
    } else {
        (w.shape[0], w.shape[3])
    };
    let (oh, ph) = window_dim(padding, h, kh, stride, dilation).unwrap();
    let (ow, pw) = window_dim(padding, wd, kw, stride, dilation).unwrap();
    let mut out = Vec::new();
    for b_i in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..oc_n {
                    let mut acc = 0i32;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * stride + ky * dilation) as i64 - ph as i64;
                            let ix = (ox * stride + kx * dilation) as i64 - pw as i64;
                            if iy < 0 || ix < 0 || iy >= h as i64 || ix >= wd as i64 {
                                continue;
                            }
                            let (iy, ix) = (iy as usize, ix as usize);
                            for i in 0..gin {
                                let (ic, wi) = if depthwise {
                                    (oc / (oc_n / c), (ky * kw + kx) * oc_n + oc)
                                } else {
                                    let group = oc / (oc_n / (c / gin));
                                    (group * gin + i, ((oc * kh + ky) * kw + kx) * gin + i)
                                };
                                let xv = x.values[((b_i * h + iy) * wd + ix) * c + ic];
                                acc = acc.wrapping_add((w.values[wi] + w_off) * (xv + in_off));
                            }
                        }
                    }
                    acc = acc.wrapping_add(b.map_or(0, |b| b[oc]));
                    let (m, s) = mults[oc];
                    let v = multiply_by_quantized_multiplier(acc, m, s) + out_zp;
                    out.push(v.clamp(range.0, range.1));
                }
            }
        }
    }
    out
}

fn random_case(rng: &mut Rng, depthwise: bool, unsigned: bool) {
    let (lo, hi) = if unsigned { (0, 255) } else { (-128, 127) };
    let dtype = if unsigned { DType::U8 } else { DType::I8 };
    let vals = |n: usize, rng: &mut Rng| -> Vec<i32> {
        (0..n)
            .map(|_| lo + rng.range(0, (hi - lo) as usize) as i32)
            .collect()
    };
    let n = rng.range(1, 2);
    let h = rng.range(1, 9);
    // Wide enough rows that the interior tiles (and their moved-back last tile) run.
    let w = rng.range(1, 17);
    let kh = rng.range(1, 5);
    let kw = rng.range(1, 5);
    let stride = rng.range(1, 3);
    let dilation = rng.range(1, 2);
    let padding = if rng.range(0, 1) == 0 {
        Padding::Same
    } else {
        Padding::Valid
    };
    let act = [Activation::None, Activation::Relu, Activation::Relu6][rng.range(0, 2)];
    let (c, filter_shape, out_c) = if depthwise {
        // Up to 40 channels: two 16-channel blocks of the AVX2 loop plus a partial one;
        // multiplier 1 (that loop's case) half the time.
        let c = rng.range(1, 40);
        let m = [1, 1, 2, 3][rng.range(0, 3)];
        (c, vec![1, kh, kw, c * m], c * m)
    } else {
        // Up to 9 input channels per group (odd ones pad the pairs of the interior
        // path), up to 40 output channels per group (several vector blocks plus a
        // partial one).
        let groups = rng.range(1, 2);
        let gin = rng.range(1, 9);
        let out_c = groups * rng.range(1, 40);
        (groups * gin, vec![out_c, kh, kw, gin], out_c)
    };
    let in_s = 0.01 + rng.unit().abs() * 0.05;
    // A quarter of the cases get an output scale small enough for effective scales
    // above 1: positive (left) shifts, whose products wrap.
    let out_s = if rng.range(0, 3) == 0 {
        1e-5 + rng.unit().abs() * 2e-4
    } else {
        0.05 + rng.unit().abs() * 0.5
    };
    let in_zp = lo + rng.range(0, 255) as i32;
    let out_zp = lo + rng.range(0, 255) as i32;
    let x = per_tensor(
        dtype,
        &[n, h, w, c],
        vals(n * h * w * c, rng),
        in_s,
        in_zp as i64,
    );
    let wlen: usize = filter_shape.iter().product();
    let axis = if depthwise { 3 } else { 0 };
    let (wq, mults, w_off) = if unsigned {
        let ws = 0.005 + rng.unit().abs() * 0.02;
        let wzp = rng.range(100, 150) as i32;
        let q = per_tensor(dtype, &filter_shape, vals(wlen, rng), ws, wzp as i64).constant();
        let m = quantize_multiplier(effective_scale_per_tensor(in_s, ws, out_s)).unwrap();
        (q, vec![m; out_c], -wzp)
    } else {
        let scales: Vec<f32> = (0..out_c)
            .map(|_| 0.002 + rng.unit().abs() * 0.02)
            .collect();
        let m = scales
            .iter()
            .map(|&ws| quantize_multiplier(effective_scale_per_channel(in_s, ws, out_s)).unwrap())
            .collect();
        (
            per_channel(&filter_shape, vals(wlen, rng), scales, axis),
            m,
            0,
        )
    };
    let b: Vec<i32> = (0..out_c)
        .map(|_| rng.range(0, 20000) as i32 - 10000)
        .collect();
    let with_bias = rng.range(0, 3) > 0;
    let range = calculate_activation_range_quantized(act, out_s, out_zp, dtype).unwrap();
    let want = reference(
        depthwise,
        &x,
        &wq,
        with_bias.then_some(&b[..]),
        stride,
        dilation,
        padding,
        &mults,
        (-in_zp, w_off, out_zp),
        range,
    );
    let op = if depthwise {
        dw_op(padding, stride, dilation, act)
    } else {
        conv_op(padding, stride, dilation, act)
    };
    let ins = [Some(x), Some(wq), with_bias.then(|| bias(b.clone()))];
    // The widest variant the CPU has, AVX-512 without VNNI, AVX2 without AVX-512,
    // and the portable loops.
    let variants = [
        (false, false, false),
        (false, false, true),
        (false, true, false),
        (true, false, false),
    ];
    for (portable, avx2_only, no_vnni) in variants {
        let detected = CpuFeatures::detect();
        let cpu = if portable {
            CpuFeatures::portable()
        } else if avx2_only {
            detected.without_avx512()
        } else if no_vnni {
            detected.without_vnni()
        } else {
            detected
        };
        let (_, got) = run_q8_on(cpu, op.clone(), &ins, dtype, out_s, out_zp as i64).unwrap();
        assert_eq!(
            got, want,
            "depthwise {depthwise} unsigned {unsigned} portable {portable} \
             avx2 only {avx2_only} no vnni {no_vnni}"
        );
    }
}

#[test]
fn random_convolutions_match_the_reference_loop() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..400 {
        for depthwise in [false, true] {
            for unsigned in [false, true] {
                random_case(&mut rng, depthwise, unsigned);
            }
        }
    }
}
