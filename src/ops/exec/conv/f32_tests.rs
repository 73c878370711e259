use super::*;
use crate::ir::{Conv2dOptions, DepthwiseConv2dOptions, Padding};
use crate::kernels::common::window_dim;
use crate::ops::exec::test_support::{
    assert_close, cpu_variant, cst, run_f32, run_f32_on, var, In, Rng,
};

fn conv_op(
    padding: Padding,
    stride: (i32, i32),
    dilation: (i32, i32),
    activation: Activation,
) -> Op {
    Op::Conv2d(Conv2dOptions {
        padding,
        stride_h: stride.0,
        stride_w: stride.1,
        dilation_h: dilation.0,
        dilation_w: dilation.1,
        activation,
    })
}

fn dw_op(
    padding: Padding,
    stride: (i32, i32),
    dilation: (i32, i32),
    activation: Activation,
    mult: i32,
) -> Op {
    Op::DepthwiseConv2d(DepthwiseConv2dOptions {
        padding,
        stride_h: stride.0,
        stride_w: stride.1,
        depth_multiplier: mult,
        dilation_h: dilation.0,
        dilation_w: dilation.1,
        activation,
    })
}

fn iota(n: usize) -> Vec<f32> {
    (1..=n).map(|v| v as f32).collect()
}

#[test]
fn conv_valid_2x2_with_bias() {
    // Image 1..9 (3x3), filter [[1,2],[3,4]]: top-left window 1*1+2*2+4*3+5*4 = 37,
    // then 47, 67, 77; bias 1 adds one to each.
    let (shape, out) = run_f32(
        conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None),
        &[
            var(&[1, 3, 3, 1], iota(9)),
            cst(&[1, 2, 2, 1], vec![1., 2., 3., 4.]),
            cst(&[1], vec![1.]),
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 2, 2, 1]);
    assert_eq!(out, vec![38., 48., 68., 78.]);
}

#[test]
fn conv_same_padding_borders_and_relu() {
    // 3x3 ones over image 1..9 with one pixel of zero padding: each output is the sum
    // of its 3x3 neighbourhood (12 21 16 / 27 45 33 / 24 39 28); bias -30 then RELU
    // leaves 45-30, 33-30, 39-30.
    let (shape, out) = run_f32(
        conv_op(Padding::Same, (1, 1), (1, 1), Activation::Relu),
        &[
            var(&[1, 3, 3, 1], iota(9)),
            cst(&[1, 3, 3, 1], vec![1.; 9]),
            cst(&[1], vec![-30.]),
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 3, 3, 1]);
    assert_eq!(out, vec![0., 0., 0., 0., 15., 3., 0., 9., 0.]);
}

#[test]
fn conv_same_stride_2_puts_extra_padding_at_the_end() {
    // Image 1..16 (4x4), 3x3 ones, stride 2 SAME: 2x2 output, total padding 1 which
    // goes after the image. Windows: rows/cols 0-2 → 1+2+3+5+6+7+9+10+11 = 54;
    // cols 2-3 → 3+4+7+8+11+12 = 45; rows 2-3 → 9+10+11+13+14+15 = 72;
    // rows and cols 2-3 → 11+12+15+16 = 54.
    let (shape, out) = run_f32(
        conv_op(Padding::Same, (2, 2), (1, 1), Activation::None),
        &[
            var(&[1, 4, 4, 1], iota(16)),
            cst(&[1, 3, 3, 1], vec![1.; 9]),
            None,
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 2, 2, 1]);
    assert_eq!(out, vec![54., 45., 72., 54.]);
}

#[test]
fn conv_dilation_2() {
    // Image 5x5 with value 5r+c+1, filter [[1,2],[3,4]] dilated by 2 (5 wide... no,
    // 3 wide): out(0,0) = 1*1 + 2*3 + 3*11 + 4*13 = 92, and every step of the input
    // by d adds 10*d (the filter sums to 10): out(y,x) = 92 + 10*(5y+x).
    let (shape, out) = run_f32(
        conv_op(Padding::Valid, (1, 1), (2, 2), Activation::None),
        &[
            var(&[1, 5, 5, 1], iota(25)),
            cst(&[1, 2, 2, 1], vec![1., 2., 3., 4.]),
            None,
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 3, 3, 1]);
    let want: Vec<f32> = (0..9)
        .map(|i| 92. + 10. * (5 * (i / 3) + i % 3) as f32)
        .collect();
    assert_eq!(out, want);
}

#[test]
fn conv_channels_groups_and_batch() {
    // One pixel with channels [1, 2]: filters pick ch0, ch1 and their sum (+10).
    let (_, out) = run_f32(
        conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None),
        &[
            var(&[1, 1, 1, 2], vec![1., 2.]),
            cst(&[3, 1, 1, 2], vec![1., 0., 0., 1., 1., 1.]),
            cst(&[3], vec![0., 0., 10.]),
        ],
    )
    .unwrap();
    assert_eq!(out, vec![1., 2., 13.]);
    // Two groups of two input channels: oc0 = 1+2, oc1 = 3-4. Second batch doubled.
    let (shape, out) = run_f32(
        conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None),
        &[
            var(&[2, 1, 1, 4], vec![1., 2., 3., 4., 2., 4., 6., 8.]),
            cst(&[2, 1, 1, 2], vec![1., 1., 1., -1.]),
            None,
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![2, 1, 1, 2]);
    assert_eq!(out, vec![3., -1., 6., -2.]);
}

#[test]
fn conv_relu6_and_relu_n1_to_1() {
    let run = |act| {
        run_f32(
            conv_op(Padding::Valid, (1, 1), (1, 1), act),
            &[
                var(&[1, 1, 3, 1], vec![-7., 0.5, 9.]),
                cst(&[1, 1, 1, 1], vec![1.]),
                None,
            ],
        )
        .unwrap()
        .1
    };
    assert_eq!(run(Activation::Relu6), vec![0., 0.5, 6.]);
    assert_eq!(run(Activation::ReluN1To1), vec![-1., 0.5, 1.]);
    assert_eq!(run(Activation::None), vec![-7., 0.5, 9.]);
}

#[test]
fn conv_rejects_bad_shapes_and_types() {
    let op = || conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None);
    // 3 input channels, filter expects 2 per group.
    assert!(run_f32(
        op(),
        &[
            var(&[1, 2, 2, 3], vec![0.; 12]),
            cst(&[1, 1, 1, 2], vec![0.; 2])
        ]
    )
    .is_err());
    // Bias of the wrong length.
    assert!(run_f32(
        op(),
        &[
            var(&[1, 2, 2, 1], vec![0.; 4]),
            cst(&[2, 1, 1, 1], vec![0.; 2]),
            cst(&[3], vec![0.; 3])
        ]
    )
    .is_err());
    // Zero stride, TANH fused activation.
    assert!(run_f32(
        conv_op(Padding::Valid, (0, 1), (1, 1), Activation::None),
        &[
            var(&[1, 2, 2, 1], vec![0.; 4]),
            cst(&[1, 1, 1, 1], vec![1.])
        ]
    )
    .is_err());
    assert!(run_f32(
        conv_op(Padding::Valid, (1, 1), (1, 1), Activation::Tanh),
        &[
            var(&[1, 2, 2, 1], vec![0.; 4]),
            cst(&[1, 1, 1, 1], vec![1.])
        ]
    )
    .is_err());
    // Filter 3 dims.
    assert!(run_f32(
        op(),
        &[var(&[1, 2, 2, 1], vec![0.; 4]), cst(&[1, 1, 1], vec![1.])]
    )
    .is_err());
    // int8 input with float filter names both types.
    let mut i8_in = crate::ops::exec::test_support::info(&var(&[1, 2, 2, 1], vec![0.; 4]).unwrap());
    i8_in.dtype = DType::I8;
    let f = crate::ops::exec::test_support::info(&cst(&[1, 1, 1, 1], vec![1.]).unwrap());
    let err = crate::ops::exec::test_support::prepare_infos(op(), &[Some(i8_in), Some(f)])
        .err()
        .unwrap();
    assert!(
        err.0.contains("int8") && err.0.contains("float32"),
        "{}",
        err.0
    );
}

#[test]
fn depthwise_multiplier_2() {
    // 2x2 image, channels c0 = 1,2,3,4 and c1 = 10,20,30,40 (interleaved NHWC).
    // Output oc = ic*2 + m. Per tap (0,0),(0,1),(1,0),(1,1) the filter rows are
    // [oc0 oc1 oc2 oc3]: oc0 all ones → 1+2+3+4 = 10; oc1 = 1,2,3,4 → 1+4+9+16 = 30;
    // oc2 ones on c1 → 100; oc3 = 1,0,0,-1 on c1 → 10-40 = -30, bias 5 → -25.
    let (shape, out) = run_f32(
        dw_op(Padding::Valid, (1, 1), (1, 1), Activation::None, 2),
        &[
            var(&[1, 2, 2, 2], vec![1., 10., 2., 20., 3., 30., 4., 40.]),
            cst(
                &[1, 2, 2, 4],
                vec![
                    1., 1., 1., 1., 1., 2., 1., 0., 1., 3., 1., 0., 1., 4., 1., -1.,
                ],
            ),
            cst(&[4], vec![0., 0., 0., 5.]),
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 1, 1, 4]);
    assert_eq!(out, vec![10., 30., 100., -25.]);
}

#[test]
fn depthwise_same_padding_ignores_a_disagreeing_multiplier_option() {
    // Same neighbourhood sums as the conv SAME test, per channel (c1 = 10x c0); the
    // option says multiplier 3 but the shapes say 1.
    let image: Vec<f32> = (1..=9).flat_map(|v| [v as f32, 10. * v as f32]).collect();
    let (shape, out) = run_f32(
        dw_op(Padding::Same, (1, 1), (1, 1), Activation::None, 3),
        &[
            var(&[1, 3, 3, 2], image),
            cst(&[1, 3, 3, 2], vec![1.; 18]),
            None,
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 3, 3, 2]);
    let sums = [12., 21., 16., 27., 45., 33., 24., 39., 28.];
    let want: Vec<f32> = sums.iter().flat_map(|&s| [s, 10. * s]).collect();
    assert_eq!(out, want);
}

#[test]
fn depthwise_stride_2_dilation_2() {
    // 5x5 image 1..25, 2x2 filter [[1,0],[0,1]] dilated by 2 (3 wide), stride 2
    // VALID: outputs at (0,0) and (0,2),(2,0),(2,2) of the input grid:
    // in(y,x)+in(y+2,x+2) = (5y+x+1) + (5y+x+13) → 14, 18, 34, 38.
    let (shape, out) = run_f32(
        dw_op(Padding::Valid, (2, 2), (2, 2), Activation::None, 0),
        &[
            var(&[1, 5, 5, 1], iota(25)),
            cst(&[1, 2, 2, 1], vec![1., 0., 0., 1.]),
            None,
        ],
    )
    .unwrap();
    assert_eq!(shape, vec![1, 2, 2, 1]);
    assert_eq!(out, vec![14., 18., 34., 38.]);
}

#[test]
fn depthwise_rejects_bad_filter() {
    let op = || dw_op(Padding::Valid, (1, 1), (1, 1), Activation::None, 1);
    // Leading filter dim must be 1; output channels must be a multiple of 3.
    assert!(run_f32(
        op(),
        &[
            var(&[1, 2, 2, 3], vec![0.; 12]),
            cst(&[2, 1, 1, 3], vec![0.; 6])
        ]
    )
    .is_err());
    assert!(run_f32(
        op(),
        &[
            var(&[1, 2, 2, 3], vec![0.; 12]),
            cst(&[1, 1, 1, 4], vec![0.; 4])
        ]
    )
    .is_err());
}

/// The specification: TFLite's reference convolution, one output at a time.
#[allow(clippy::too_many_arguments)]
fn reference_conv(
    input: &[f32],
    [n, h, w, c]: [usize; 4],
    filter: &[f32],
    [oc_n, kh, kw, cf]: [usize; 4],
    bias: Option<&[f32]>,
    padding: Padding,
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    range: (f32, f32),
) -> Vec<f32> {
    let (oh, pt) = window_dim(padding, h, kh, sh, dh).unwrap();
    let (ow, pl) = window_dim(padding, w, kw, sw, dw).unwrap();
    let per_group = oc_n / (c / cf);
    let mut out = Vec::new();
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..oc_n {
                    let g = oc / per_group;
                    let mut total = 0.0f32;
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * sh + ky * dh) as isize - pt as isize;
                            let ix = (ox * sw + kx * dw) as isize - pl as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            for ic in 0..cf {
                                let x = input
                                    [((b * h + iy as usize) * w + ix as usize) * c + g * cf + ic];
                                total += x * filter[((oc * kh + ky) * kw + kx) * cf + ic];
                            }
                        }
                    }
                    let v = total + bias.map_or(0.0, |b| b[oc]);
                    out.push(v.max(range.0).min(range.1));
                }
            }
        }
    }
    out
}

/// The specification of the depthwise convolution.
#[allow(clippy::too_many_arguments)]
fn reference_depthwise(
    input: &[f32],
    [n, h, w, c]: [usize; 4],
    filter: &[f32],
    [kh, kw, oc_n]: [usize; 3],
    bias: Option<&[f32]>,
    padding: Padding,
    (sh, sw): (usize, usize),
    (dh, dw): (usize, usize),
    range: (f32, f32),
) -> Vec<f32> {
    let (oh, pt) = window_dim(padding, h, kh, sh, dh).unwrap();
    let (ow, pl) = window_dim(padding, w, kw, sw, dw).unwrap();
    let m = oc_n / c;
    let mut out = Vec::new();
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ic in 0..c {
                    for mi in 0..m {
                        let oc = ic * m + mi;
                        let mut total = 0.0f32;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sh + ky * dh) as isize - pt as isize;
                                let ix = (ox * sw + kx * dw) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let x = input[((b * h + iy as usize) * w + ix as usize) * c + ic];
                                total += x * filter[(ky * kw + kx) * oc_n + oc];
                            }
                        }
                        let v = total + bias.map_or(0.0, |b| b[oc]);
                        out.push(v.max(range.0).min(range.1));
                    }
                }
            }
        }
    }
    out
}

struct RandomWindow {
    padding: Padding,
    stride: (usize, usize),
    dilation: (usize, usize),
    act: Activation,
}

fn random_window(rng: &mut Rng) -> RandomWindow {
    RandomWindow {
        padding: if rng.range(0, 1) == 0 {
            Padding::Same
        } else {
            Padding::Valid
        },
        stride: (rng.range(1, 3), rng.range(1, 3)),
        dilation: (rng.range(1, 2), rng.range(1, 2)),
        act: [
            Activation::None,
            Activation::Relu,
            Activation::Relu6,
            Activation::ReluN1To1,
        ][rng.range(0, 3)],
    }
}

#[test]
fn conv_matches_reference_on_random_configurations() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for case in 0..600 {
        let cpu = cpu_variant(case % 2 == 1);
        let p = random_window(&mut rng);
        let n = rng.range(1, 3);
        let (h, w) = (rng.range(1, 9), rng.range(1, 17));
        let (kh, kw) = (rng.range(1, 4), rng.range(1, 4));
        let groups = if rng.range(0, 3) == 0 {
            rng.range(2, 3)
        } else {
            1
        };
        let cf = rng.range(1, 5);
        let c = cf * groups;
        let oc = groups * rng.range(1, 21);
        let with_bias = rng.range(0, 1) == 1;
        let constant_filter = rng.range(0, 3) != 0;
        let input = rng.vec(n * h * w * c);
        let filter = rng.vec(oc * kh * kw * cf);
        let bias = rng.vec(oc);
        let op = conv_op(
            p.padding,
            (p.stride.0 as i32, p.stride.1 as i32),
            (p.dilation.0 as i32, p.dilation.1 as i32),
            p.act,
        );
        let filter_in = In {
            shape: vec![oc, kh, kw, cf],
            data: filter.clone(),
            constant: constant_filter,
        };
        let result = run_f32_on(
            cpu,
            op,
            &[
                var(&[n, h, w, c], input.clone()),
                Some(filter_in),
                with_bias.then(|| cst(&[oc], bias.clone())).flatten(),
            ],
        );
        let range = activation_range_f32(p.act).unwrap();
        let want = reference_conv(
            &input,
            [n, h, w, c],
            &filter,
            [oc, kh, kw, cf],
            with_bias.then_some(&bias[..]),
            p.padding,
            p.stride,
            p.dilation,
            range,
        );
        let (shape, got) = result.unwrap();
        assert_eq!(shape.iter().product::<usize>(), want.len(), "case {case}");
        assert_close(&got, &want, 1e-5, &format!("conv case {case}"));
    }
}

#[test]
fn depthwise_matches_reference_on_random_configurations() {
    let mut rng = Rng(0x0fed_cba9_8765_4321);
    for case in 0..600 {
        let cpu = cpu_variant(case % 2 == 1);
        let p = random_window(&mut rng);
        let n = rng.range(1, 3);
        let (h, w) = (rng.range(1, 9), rng.range(1, 9));
        let (kh, kw) = (rng.range(1, 4), rng.range(1, 4));
        let c = rng.range(1, 19);
        let m = [1, 1, 2, 3][rng.range(0, 3)];
        let oc = c * m;
        let with_bias = rng.range(0, 1) == 1;
        let input = rng.vec(n * h * w * c);
        let filter = rng.vec(kh * kw * oc);
        let bias = rng.vec(oc);
        let op = dw_op(
            p.padding,
            (p.stride.0 as i32, p.stride.1 as i32),
            (p.dilation.0 as i32, p.dilation.1 as i32),
            p.act,
            m as i32,
        );
        let filter_in = In {
            shape: vec![1, kh, kw, oc],
            data: filter.clone(),
            constant: rng.range(0, 1) == 0,
        };
        let (shape, got) = run_f32_on(
            cpu,
            op,
            &[
                var(&[n, h, w, c], input.clone()),
                Some(filter_in),
                with_bias.then(|| cst(&[oc], bias.clone())).flatten(),
            ],
        )
        .unwrap();
        let range = activation_range_f32(p.act).unwrap();
        let want = reference_depthwise(
            &input,
            [n, h, w, c],
            &filter,
            [kh, kw, oc],
            with_bias.then_some(&bias[..]),
            p.padding,
            p.stride,
            p.dilation,
            range,
        );
        assert_eq!(shape.iter().product::<usize>(), want.len(), "case {case}");
        assert_close(&got, &want, 1e-5, &format!("depthwise case {case}"));
    }
}

/// One random float convolution case for the fast-path property tests: channel counts
/// around the 8- and 16-lane blocks, rows long enough for the 4- and 6-pixel tiles, 1x1
/// stride-1 layers (the matrix-product path) one case in three.
#[derive(Debug, Clone)]
struct FastCase {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oc: usize,
    k: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    same: bool,
    act: usize,
    bias: bool,
    seed: u64,
}

fn fast_case(max_c: usize, max_oc: usize) -> impl proptest::strategy::Strategy<Value = FastCase> {
    use proptest::prelude::*;
    (
        (
            1usize..=2,
            1usize..=9,
            1usize..=20,
            1usize..=max_c,
            1usize..=max_oc,
        ),
        (0usize..3, 1usize..=5, 1usize..=5, 1usize..=2, 1usize..=2),
        (
            1usize..=2,
            1usize..=2,
            any::<bool>(),
            0usize..4,
            any::<bool>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |((n, h, w, c, oc), (pw, kh, kw, sh, sw), (dh, dw, same, act, bias, seed))| {
                let pointwise = pw == 0;
                FastCase {
                    n,
                    h,
                    w,
                    c,
                    oc,
                    k: if pointwise {
                        (1, 1)
                    } else {
                        (kh.min(3), kw.min(3))
                    },
                    stride: if pointwise { (1, 1) } else { (sh, sw) },
                    dilation: if pointwise { (1, 1) } else { (dh, dw) },
                    same,
                    act,
                    bias,
                    seed,
                }
            },
        )
}

const ACTS: [Activation; 4] = [
    Activation::None,
    Activation::Relu,
    Activation::Relu6,
    Activation::ReluN1To1,
];

fn check_fast_conv(cpu: crate::kernels::cpu::CpuFeatures, f: &FastCase) {
    let mut rng = Rng(f.seed | 1);
    let (kh, kw) = f.k;
    let padding = if f.same {
        Padding::Same
    } else {
        Padding::Valid
    };
    let input = rng.vec(f.n * f.h * f.w * f.c);
    let filter = rng.vec(f.oc * kh * kw * f.c);
    let bias = rng.vec(f.oc);
    let op = conv_op(
        padding,
        (f.stride.0 as i32, f.stride.1 as i32),
        (f.dilation.0 as i32, f.dilation.1 as i32),
        ACTS[f.act],
    );
    let Ok((_, got)) = run_f32_on(
        cpu,
        op,
        &[
            var(&[f.n, f.h, f.w, f.c], input.clone()),
            cst(&[f.oc, kh, kw, f.c], filter.clone()),
            f.bias.then(|| cst(&[f.oc], bias.clone())).flatten(),
        ],
    ) else {
        // A window larger than a VALID image: nothing to compare.
        assert!(!f.same);
        return;
    };
    let want = reference_conv(
        &input,
        [f.n, f.h, f.w, f.c],
        &filter,
        [f.oc, kh, kw, f.c],
        f.bias.then_some(&bias[..]),
        padding,
        f.stride,
        f.dilation,
        activation_range_f32(ACTS[f.act]).unwrap(),
    );
    assert_close(&got, &want, 1e-5, &format!("{f:?}"));
}

fn check_fast_depthwise(cpu: crate::kernels::cpu::CpuFeatures, f: &FastCase, m: usize) {
    let mut rng = Rng(f.seed | 1);
    let (kh, kw) = (f.k.0 + 1, f.k.1 + 1);
    let padding = if f.same {
        Padding::Same
    } else {
        Padding::Valid
    };
    let oc = f.c * m;
    let input = rng.vec(f.n * f.h * f.w * f.c);
    let filter = rng.vec(kh * kw * oc);
    let bias = rng.vec(oc);
    let op = dw_op(
        padding,
        (f.stride.0 as i32, f.stride.1 as i32),
        (f.dilation.0 as i32, f.dilation.1 as i32),
        ACTS[f.act],
        m as i32,
    );
    let Ok((_, got)) = run_f32_on(
        cpu,
        op,
        &[
            var(&[f.n, f.h, f.w, f.c], input.clone()),
            cst(&[1, kh, kw, oc], filter.clone()),
            f.bias.then(|| cst(&[oc], bias.clone())).flatten(),
        ],
    ) else {
        assert!(!f.same);
        return;
    };
    let want = reference_depthwise(
        &input,
        [f.n, f.h, f.w, f.c],
        &filter,
        [kh, kw, oc],
        f.bias.then_some(&bias[..]),
        padding,
        f.stride,
        f.dilation,
        activation_range_f32(ACTS[f.act]).unwrap(),
    );
    assert_close(&got, &want, 1e-5, &format!("{f:?} multiplier {m}"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(400))]

    /// The AVX2/FMA convolution (on a CPU that has it) and the portable one against the
    /// specification.
    #[test]
    fn fast_conv_matches_the_specification(f in fast_case(20, 40), portable in proptest::prelude::any::<bool>()) {
        check_fast_conv(cpu_variant(portable), &f);
    }

    /// Depthwise likewise, 3x3 and 4x4-ish windows, channel tails, multipliers 1 to 3.
    #[test]
    fn fast_depthwise_matches_the_specification(f in fast_case(40, 1), m in 1usize..=3, portable in proptest::prelude::any::<bool>()) {
        check_fast_depthwise(cpu_variant(portable), &f, if m == 3 { 1 } else { m });
    }
}
