//! Hybrid (dynamic-range) and sparse-weight FULLY_CONNECTED kernels against LiteRT's
//! BUILTIN_REF outputs (TensorFlow-made fixtures) and against dense computations written
//! here from TFLite's documented arithmetic.

use std::path::{Path, PathBuf};

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::ir::{DType, Model, Op};
use ferrolite::verify::accuracy;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &Path) -> Model {
    ferrolite::tflite::read_file(path).unwrap()
}

fn tflite_fixture(name: &str) -> PathBuf {
    root().join("fixtures/tflite").join(name)
}

fn extra_fixture(name: &str) -> PathBuf {
    root().join("fixtures/extra").join(name)
}

/// Runs `model` one image at a time (as the reference outputs were made) and returns the
/// concatenated outputs.
fn run_per_image(model: Model, input: &Value) -> Vec<f64> {
    let mut interp = Interpreter::new(model).unwrap();
    let n = input.shape[0];
    let per = input.data.len() / n;
    let mut shape = input.shape.clone();
    shape[0] = 1;
    let all = input.data.to_f64();
    let mut out = Vec::new();
    for i in 0..n {
        let one = Value::new(
            shape.clone(),
            TensorBuf::F32(
                all[i * per..(i + 1) * per]
                    .iter()
                    .map(|&x| x as f32)
                    .collect(),
            ),
        );
        out.extend(interp.run(&[one]).unwrap()[0].data.to_f64());
    }
    out
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: element count");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        worst = worst.max(err);
        assert!(
            err <= 1e-5 + 1e-5 * w.abs(),
            "{what}: element {i} is {g}, LiteRT reference {w}"
        );
    }
    eprintln!("{what}: max abs diff {worst:e}");
}

fn check_against_reference(model: Model, input_path: &Path, ref_path: &Path, what: &str) {
    let input = npy::read(input_path).unwrap();
    let reference = npy::read(ref_path).unwrap();
    let got = run_per_image(model, &input);
    assert_close(&got, &reference.data.to_f64(), what);
}

#[test]
fn mnist_dynamic_range_matches_reference() {
    let name = "mnist_cnn_dynamic_range";
    check_against_reference(
        load(&tflite_fixture(&format!("{name}.tflite"))),
        &tflite_fixture(&format!("{name}.input.npy")),
        &tflite_fixture(&format!("{name}.output.ref.npy")),
        name,
    );
}

#[test]
fn extra_dynamic_range_models_match_reference() {
    for arch in [
        "dwsep",
        "mobilenet_block",
        "raw_ops",
        "residual",
        "sequence",
    ] {
        let name = format!("{arch}_dynamic_range");
        let model = load(&extra_fixture(&format!("{name}.tflite")));
        let hybrid: Vec<&str> = model
            .graph
            .operators
            .iter()
            .filter(|op| {
                op.inputs.get(1).copied().flatten().is_some_and(|w| {
                    model.graph.tensors[w].dtype == DType::I8
                        && op
                            .inputs
                            .first()
                            .copied()
                            .flatten()
                            .is_some_and(|i| model.graph.tensors[i].dtype == DType::F32)
                })
            })
            .map(|op| op.op.name())
            .collect();
        eprintln!("{name}: hybrid ops {hybrid:?}");
        check_against_reference(
            model,
            &extra_fixture(&format!("{name}.input.npy")),
            &extra_fixture(&format!("{name}.output.ref.npy")),
            &name,
        );
    }
}

#[test]
fn mnist_dynamic_range_accuracy_equals_litert_reference() {
    let name = "mnist_cnn_dynamic_range";
    let text = std::fs::read_to_string(tflite_fixture("manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == format!("{name}.tflite"))
        .unwrap()["accuracy_10000_ref"]
        .as_f64()
        .unwrap();
    let mnist = data::load(&data::default_dir(), Split::Test).unwrap();
    // Inputs are quantized per batch row, so the batch size does not change results.
    let mut interp = Interpreter::new(load(&tflite_fixture(&format!("{name}.tflite")))).unwrap();
    let acc = accuracy::evaluate(&mut interp, &mnist, None, 250, |_| {}).unwrap();
    assert_eq!(
        acc.correct as i64,
        (expected * 10_000.0).round() as i64,
        "{name}: accuracy differs from LiteRT's reference"
    );
}

// ---------------------------------------------------------------------------------------
// Sparse FULLY_CONNECTED

/// Makes every FULLY_CONNECTED read its weights straight from the sparse constant that a
/// DENSIFY op expanded, and drops those DENSIFY ops: TFLite emits DENSIFY for random
/// sparse FC weights, and this exercises the random-CSR kernel on real weights.
fn bypass_densify_for_fc(mut model: Model) -> (Model, usize) {
    let producer = |model: &Model, t: usize| {
        model
            .graph
            .operators
            .iter()
            .position(|op| op.outputs.contains(&t))
    };
    let mut rewired = 0;
    let mut drop = Vec::new();
    for i in 0..model.graph.operators.len() {
        if !matches!(model.graph.operators[i].op, Op::FullyConnected(_)) {
            continue;
        }
        let Some(Some(w)) = model.graph.operators[i].inputs.get(1).copied() else {
            continue;
        };
        let Some(p) = producer(&model, w) else {
            continue;
        };
        if matches!(model.graph.operators[p].op, Op::Densify) {
            let sparse = model.graph.operators[p].inputs[0].unwrap();
            model.graph.operators[i].inputs[1] = Some(sparse);
            drop.push(p);
            rewired += 1;
        }
    }
    drop.sort_unstable();
    for p in drop.into_iter().rev() {
        model.graph.operators.remove(p);
    }
    (model, rewired)
}

#[test]
fn block_sparse_float_fc_matches_reference() {
    let name = "mnist_cnn_dense_block4x1_pruned80_sparse_float32";
    let model = load(&tflite_fixture(&format!("{name}.tflite")));
    let fc = model
        .graph
        .operators
        .iter()
        .find(|op| matches!(op.op, Op::FullyConnected(_)))
        .unwrap();
    let w = &model.graph.tensors[fc.inputs[1].unwrap()];
    assert_eq!(
        w.sparsity.as_ref().unwrap().dim_metadata.len(),
        3,
        "1x4 block weights"
    );
    check_against_reference(
        model,
        &tflite_fixture(&format!("{name}.input.npy")),
        &tflite_fixture(&format!("{name}.output.ref.npy")),
        name,
    );
}

#[test]
fn random_sparse_float_fc_matches_reference() {
    for name in [
        "mnist_cnn_pruned80_sparse_float32",
        "mnist_cnn_block1x4_pruned80_sparse_float32",
    ] {
        // As converted (DENSIFY feeds the FC) and with the FC reading the CSR weights.
        let original = load(&tflite_fixture(&format!("{name}.tflite")));
        let (rewired, count) = bypass_densify_for_fc(original.clone());
        assert_eq!(count, 1, "{name}: the FC weights come from a DENSIFY");
        for (model, what) in [(original, "as converted"), (rewired, "FC reads CSR")] {
            check_against_reference(
                model,
                &tflite_fixture(&format!("{name}.input.npy")),
                &tflite_fixture(&format!("{name}.output.ref.npy")),
                &format!("{name} ({what})"),
            );
        }
    }
}

#[test]
fn block16_sparse_int8_fixture_matches_reference_exactly() {
    let name = "mnist_cnn_dense_block16x1_pruned80_sparse_int8";
    let model = load(&tflite_fixture(&format!("{name}.tflite")));
    let input = npy::read(&tflite_fixture(&format!("{name}.input.npy"))).unwrap();
    let reference = npy::read(&tflite_fixture(&format!("{name}.output.ref.npy"))).unwrap();
    let mut interp = Interpreter::new(model).unwrap();
    let n = input.shape[0];
    let per = input.data.len() / n;
    let TensorBuf::I8(all) = &input.data else {
        panic!("int8 input expected")
    };
    let mut got = Vec::new();
    for i in 0..n {
        let mut shape = input.shape.clone();
        shape[0] = 1;
        let one = Value::new(shape, TensorBuf::I8(all[i * per..(i + 1) * per].to_vec()));
        got.extend(interp.run(&[one]).unwrap()[0].data.to_f64());
    }
    assert_eq!(got, reference.data.to_f64(), "{name}: int8 outputs differ");
}

// ---------------------------------------------------------------------------------------
// Kernel-level checks: prepare and run one FULLY_CONNECTED directly.

use ferrolite::interp::{TensorInfo, View, ViewMut};
use ferrolite::ir::{
    Activation, DimensionMetadata, FullyConnectedOptions, IndexVector, Operator, Quantization,
    Sparsity,
};
use ferrolite::ops::exec::{self, PrepareCtx};
use std::sync::Arc;

fn info(
    name: &str,
    dtype: DType,
    shape: &[usize],
    quantization: Option<Quantization>,
    sparsity: Option<Sparsity>,
    constant: Option<TensorBuf>,
) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        quantization,
        sparsity,
        constant: constant.map(Arc::new),
    }
}

/// Prepares and runs one FULLY_CONNECTED; returns its output buffer.
fn run_fc(
    options: FullyConnectedOptions,
    infos: &[TensorInfo],
    output: ferrolite::ir::Tensor,
    input: &TensorBuf,
) -> TensorBuf {
    run_op(Op::FullyConnected(options), infos, output, input)
}

/// Prepares and runs one operator whose inputs after the first are constants.
fn run_op(
    kind: Op,
    infos: &[TensorInfo],
    output: ferrolite::ir::Tensor,
    input: &TensorBuf,
) -> TensorBuf {
    let op = Operator {
        op: kind,
        inputs: (0..infos.len()).map(Some).collect(),
        outputs: vec![infos.len()],
    };
    let ctx = PrepareCtx {
        op: &op,
        inputs: infos.iter().map(Some).collect(),
        outputs: vec![&output],
        cpu: ferrolite::kernels::cpu::CpuFeatures::detect(),
    };
    let prepared = exec::prepare(&ctx).unwrap();
    let len: usize = prepared.output_shapes[0].iter().product();
    let mut out = TensorBuf::zeros(output.dtype, len);
    let mut views: Vec<View<'_>> = vec![input.view()];
    for i in &infos[1..] {
        views.push(i.constant.as_ref().unwrap().view());
    }
    {
        let mut outs: Vec<ViewMut<'_>> = vec![out.view_mut()];
        prepared.kernel.run(&views, &mut outs).unwrap();
    }
    out
}

/// Deterministic pseudo-random numbers (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
}

/// TFLite's QuantizeMultiplier, written out here independently: d = m·2^(s−31).
fn quantize_multiplier(d: f64) -> (i32, i32) {
    if d == 0.0 {
        return (0, 0);
    }
    let mut shift = d.abs().log2().floor() as i32 + 1;
    let mut q = (d / 2f64.powi(shift) * 2f64.powi(31)).round() as i64;
    if q == 1 << 31 {
        q /= 2;
        shift += 1;
    }
    (q as i32, shift)
}

/// Double-rounding MultiplyByQuantizedMultiplier (gemmlowp SRDHM + rounding shift).
fn mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let right = (-shift).max(0);
    let a = (x as i64) << left;
    let prod = a * m as i64;
    let nudge = if prod >= 0 {
        1i64 << 30
    } else {
        1 - (1i64 << 30)
    };
    let high = ((prod + nudge) / (1i64 << 31)) as i32;
    let mask = (1i64 << right) - 1;
    let rem = high as i64 & mask;
    let threshold = (mask >> 1) + i64::from(high < 0);
    ((high as i64 >> right) + i64::from(rem > threshold)) as i32
}

/// The dense int8 FULLY_CONNECTED that TFLite's 1×16 kernel is equivalent to.
#[allow(clippy::too_many_arguments)]
fn dense_int8_fc(
    x: &[i8],
    w: &[i8],
    bias: &[i32],
    units: usize,
    depth: usize,
    in_zp: i32,
    out_zp: i32,
    multipliers: &[(i32, i32)],
    range: (i32, i32),
) -> Vec<i8> {
    let batches = x.len() / depth;
    let mut out = Vec::new();
    for b in 0..batches {
        for u in 0..units {
            let mut acc = bias[u];
            for d in 0..depth {
                acc += i32::from(w[u * depth + d]) * (i32::from(x[b * depth + d]) - in_zp);
            }
            let (m, s) = multipliers[u];
            out.push((mbqm(acc, m, s) + out_zp).clamp(range.0, range.1) as i8);
        }
    }
    out
}

fn block16_sparse_case(per_channel: bool, depth: usize, activation: Activation) {
    let (units, batches) = (7, 3);
    let blocks = depth / 16;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ depth as u64 ^ u64::from(per_channel));
    // About 80% of the 1×16 blocks are zero; columns past the last whole block are not
    // stored by TensorFlow, so they are zero in the dense equivalent.
    let mut dense = vec![0i8; units * depth];
    let mut segments = vec![0usize];
    let mut indices = Vec::new();
    let mut stored = Vec::new();
    for u in 0..units {
        for blk in 0..blocks {
            if rng.int(0, 99) < 80 {
                continue;
            }
            indices.push(blk);
            for c in 0..16 {
                let v = rng.int(-127, 127) as i8;
                dense[u * depth + blk * 16 + c] = v;
                stored.push(v);
            }
        }
        segments.push(indices.len());
    }
    let sparsity = Sparsity {
        traversal_order: vec![0, 1, 2],
        block_map: vec![1],
        dim_metadata: vec![
            DimensionMetadata::Dense { size: units },
            DimensionMetadata::SparseCsr {
                segments: IndexVector::narrowest(&segments),
                indices: IndexVector::narrowest(&indices),
            },
            DimensionMetadata::Dense { size: 16 },
        ],
    };
    let (in_s, in_zp, out_s, out_zp) = (0.02f32, -5i32, 0.35f32, 3i32);
    let w_scales: Vec<f32> = if per_channel {
        (0..units).map(|u| 0.004 + 0.001 * u as f32).collect()
    } else {
        vec![0.006]
    };
    let multipliers: Vec<(i32, i32)> = (0..units)
        .map(|u| {
            let real = if per_channel {
                f64::from(in_s) * f64::from(w_scales[u]) / f64::from(out_s)
            } else {
                f64::from(in_s * w_scales[0]) / f64::from(out_s)
            };
            quantize_multiplier(real)
        })
        .collect();
    let bias: Vec<i32> = (0..units).map(|_| rng.int(-3000, 3000)).collect();
    let x: Vec<i8> = (0..batches * depth)
        .map(|_| rng.int(-128, 127) as i8)
        .collect();
    let range = match activation {
        Activation::Relu => (out_zp, 127),
        _ => (-128, 127),
    };
    let want = dense_int8_fc(
        &x,
        &dense,
        &bias,
        units,
        depth,
        in_zp,
        out_zp,
        &multipliers,
        range,
    );

    let mut w_q = Quantization::per_tensor(w_scales[0], 0);
    w_q.scale = w_scales.clone();
    w_q.zero_point = vec![0; w_scales.len()];
    let infos = [
        info(
            "x",
            DType::I8,
            &[batches, depth],
            Some(Quantization::per_tensor(in_s, in_zp.into())),
            None,
            None,
        ),
        info(
            "w",
            DType::I8,
            &[units, depth],
            Some(w_q),
            Some(sparsity),
            Some(TensorBuf::I8(stored)),
        ),
        info(
            "b",
            DType::I32,
            &[units],
            None,
            None,
            Some(TensorBuf::I32(bias)),
        ),
    ];
    let mut output = ferrolite::ir::Tensor::activation("y", DType::I8, vec![batches, units]);
    output.quantization = Some(Quantization::per_tensor(out_s, out_zp.into()));
    let options = FullyConnectedOptions {
        activation,
        ..Default::default()
    };
    let got = run_fc(options, &infos, output, &TensorBuf::I8(x));
    assert_eq!(
        got,
        TensorBuf::I8(want),
        "per_channel {per_channel}, depth {depth}"
    );
}

#[test]
fn block16_sparse_int8_fc_equals_dense_int8_fc() {
    block16_sparse_case(true, 256, Activation::None);
    block16_sparse_case(false, 256, Activation::Relu);
    // A depth that is not a multiple of 16, like the MNIST fixture's 2028.
    block16_sparse_case(true, 2028, Activation::None);
}

#[test]
fn hybrid_fc_follows_tflite_arithmetic() {
    // Weights [[1, -2], [3, 4]] with per-channel scales, input row [1, -0.5].
    let w_q = Quantization {
        scale: vec![0.5, 0.25],
        zero_point: vec![0, 0],
        ..Quantization::per_tensor(0.5, 0)
    };
    let infos = [
        info("x", DType::F32, &[1, 2], None, None, None),
        info(
            "w",
            DType::I8,
            &[2, 2],
            Some(w_q),
            None,
            Some(TensorBuf::I8(vec![1, -2, 3, 4])),
        ),
        info(
            "b",
            DType::F32,
            &[2],
            None,
            None,
            Some(TensorBuf::F32(vec![0.1, -0.2])),
        ),
    ];
    let out = || ferrolite::ir::Tensor::activation("y", DType::F32, vec![1, 2]);
    let x = TensorBuf::F32(vec![1.0, -0.5]);

    // Symmetric: scale 1/127, q = [127, round(-63.5) = -64].
    let s = 1.0f32 / 127.0;
    let want = [0.1f32 + 255.0 * (0.5 * s), -0.2f32 + 125.0 * (0.25 * s)];
    let got = run_fc(FullyConnectedOptions::default(), &infos, out(), &x);
    assert_eq!(got, TensorBuf::F32(want.to_vec()));

    // Asymmetric: range [-0.5, 1], scale 1.5/255, zero point -43 (from the min end),
    // q = [-43 + 170, -43 - 85] = [127, -128]; dot − zp·row_sum.
    let s = (1.5f64 / 255.0) as f32;
    let dot0 = 127 - 2 * -128 - (-43) * (1 - 2);
    let dot1 = 3 * 127 + 4 * -128 - (-43) * (3 + 4);
    let want = [
        0.1f32 + dot0 as f32 * (0.5 * s),
        -0.2f32 + dot1 as f32 * (0.25 * s),
    ];
    let options = FullyConnectedOptions {
        asymmetric_quantize_inputs: true,
        activation: Activation::Relu,
        ..Default::default()
    };
    let got = run_fc(options, &infos, out(), &x);
    assert_eq!(
        got,
        TensorBuf::F32(want.iter().map(|v| v.max(0.0)).collect())
    );

    // An all-zero input gives the bias.
    let got = run_fc(
        FullyConnectedOptions::default(),
        &infos,
        out(),
        &TensorBuf::F32(vec![0.0, 0.0]),
    );
    assert_eq!(got, TensorBuf::F32(vec![0.1, -0.2]));
}

#[test]
fn input_quantization_matches_hand_values() {
    use ferrolite::kernels::reference::hybrid::{asymmetric_quantize, symmetric_quantize};
    let mut q = [0i8; 3];
    let s = symmetric_quantize(&[1.0, -0.5, 0.25], &mut q);
    assert_eq!((s, q), (1.0 / 127.0, [127, -64, 32]));
    let (s, zp) = asymmetric_quantize(&[0.0, 1.0, -0.5], &mut q);
    assert_eq!((s, zp, q), ((1.5f64 / 255.0) as f32, -43, [-43, 127, -128]));
    // Positive-only rows keep 0 representable: the range is [0, max].
    let (s, zp) = asymmetric_quantize(&[0.41, 1.0, 0.75], &mut q);
    assert_eq!((s, zp), ((1.0f64 / 255.0) as f32, -128));
    // -128 + 0.41·255 = -23.45, -128 + 0.75·255 = 63.25.
    assert_eq!(q, [-23, 127, 63]);
    assert_eq!(symmetric_quantize(&[0.0, 0.0, 0.0], &mut q), 1.0);
    assert_eq!(asymmetric_quantize(&[0.0, -0.0, 0.0], &mut q), (1.0, 0));
    assert_eq!(q, [0, 0, 0]);
}

#[test]
fn hybrid_convolutions_follow_tflite_arithmetic() {
    use ferrolite::ir::{Conv2dOptions, DepthwiseConv2dOptions, Padding};
    // A 1×2 image with one channel, [1, -0.5], and a 1×2 window (VALID): one output pixel.
    let x = TensorBuf::F32(vec![1.0, -0.5]);
    let bias = info(
        "b",
        DType::F32,
        &[2],
        None,
        None,
        Some(TensorBuf::F32(vec![0.1, -0.2])),
    );
    let scales = |s: Vec<f32>, dim: usize| Quantization {
        zero_point: vec![0; s.len()],
        scale: s,
        quantized_dimension: dim,
        ..Quantization::per_tensor(1.0, 0)
    };
    let out = || ferrolite::ir::Tensor::activation("y", DType::F32, vec![1, 1, 1, 2]);
    let x_info = info("x", DType::F32, &[1, 1, 2, 1], None, None, None);
    // Asymmetric input: q = [127, -128] with zero point -43, so q − zp = [170, -85];
    // row scale 1.5/255.
    let s = (1.5f64 / 255.0) as f32;

    // DEPTHWISE, multiplier 2, filter [1, 1, 2, 2] = taps [[1, 2], [-3, 4]]:
    // acc = [1·170 − 3·(−85), 2·170 + 4·(−85)] = [425, 0]; float(acc)·(w_s·s) + bias.
    let dw = Op::DepthwiseConv2d(DepthwiseConv2dOptions {
        padding: Padding::Valid,
        stride_w: 1,
        stride_h: 1,
        depth_multiplier: 2,
        dilation_w: 1,
        dilation_h: 1,
        activation: Activation::None,
    });
    let filter = info(
        "w",
        DType::I8,
        &[1, 1, 2, 2],
        Some(scales(vec![0.5, 0.25], 3)),
        None,
        Some(TensorBuf::I8(vec![1, 2, -3, 4])),
    );
    let got = run_op(dw, &[x_info.clone(), filter, bias.clone()], out(), &x);
    assert_eq!(
        got,
        TensorBuf::F32(vec![425.0 * (0.5 * s) + 0.1, 0.0 * (0.25 * s) - 0.2])
    );

    // CONV_2D with differing per-channel scales: asymmetric, (float(acc)·w_s)·s + bias.
    let conv = || {
        Op::Conv2d(Conv2dOptions {
            padding: Padding::Valid,
            stride_w: 1,
            stride_h: 1,
            dilation_w: 1,
            dilation_h: 1,
            activation: Activation::Relu,
        })
    };
    let filter = |sc: Vec<f32>| {
        info(
            "w",
            DType::I8,
            &[2, 1, 2, 1],
            Some(scales(sc, 0)),
            None,
            Some(TensorBuf::I8(vec![1, -3, 2, 4])),
        )
    };
    let got = run_op(
        conv(),
        &[x_info.clone(), filter(vec![0.5, 0.25]), bias.clone()],
        out(),
        &x,
    );
    assert_eq!(got, TensorBuf::F32(vec![425.0 * 0.5 * s + 0.1, 0.0]));

    // Equal scales: TFLite's per-tensor hybrid conv with symmetric input, q = [127, -64],
    // scale 1/127: acc = [127 + 192, 254 − 256] = [319, −2]; float(acc)·(s·w_s) + bias.
    let s = 1.0f32 / 127.0;
    let got = run_op(conv(), &[x_info, filter(vec![0.5, 0.5]), bias], out(), &x);
    assert_eq!(got, TensorBuf::F32(vec![319.0 * (s * 0.5) + 0.1, 0.0]));
}
