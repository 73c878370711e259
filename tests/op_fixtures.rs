//! One TensorFlow-made model per operator family of issue 12 (fixtures/ops, made by
//! scripts/gen_op_fixtures.py), float32 and int8, against LiteRT: int8 bit-exact, float
//! within 1e-5 relative (1e-6 absolute near zero).
//!
//! `RUNS` lists the cases ferrolite must run and match; every other file must be refused
//! at load with a message naming the missing operator. A new operator therefore turns a
//! refusal into a failure here until its cases join `RUNS` (and so are held to LiteRT).

use std::path::{Path, PathBuf};

mod common;

use common::litert_mismatch as mismatch;
use ferrolite::data::npy;
use ferrolite::interp::Interpreter;

const RUNS: &[&str] = &[
    "add_rank6",
    "conv_dilated",
    "depthwise_dilated",
    "hard_swish",
    "leaky_relu",
    "logistic",
    "mul_rank5",
    "tanh",
    "transpose_rank5",
    "transpose_rank6",
    // Issue 12: element-wise math and activations.
    "abs",
    "elu",
    "exp",
    "floor",
    "gelu",
    "gelu_tanh",
    "log",
    "maximum",
    "minimum",
    "neg",
    "pow",
    "relu_n1_to_1",
    "rsqrt",
    "sqrt",
    "square",
    "squared_difference",
    // Issue 12: resampling and layout.
    "prelu",
    "prelu_shared",
    "resize_bilinear",
    "resize_bilinear_align_corners",
    "resize_bilinear_legacy",
    "resize_nearest",
    "resize_nearest_align_corners",
    "depth_to_space",
    "space_to_depth",
    "split",
    "split_v",
    "slice",
    "gather",
    "expand_dims",
    "tile",
    "broadcast_to",
    "cast",
    // Issue 12: reductions, normalization, matrix products and transpose convolution.
    "transpose_conv",
    "transpose_conv_valid",
    "sum",
    "sum_keepdims",
    "reduce_max",
    "reduce_min",
    "reduce_prod",
    "l2_normalization",
    "batch_matmul",
    "batch_matmul_const",
    "arg_max",
    "arg_min",
    "log_softmax",
];

/// Single files (not whole cases) that run: the float half of a case whose int8 kernel
/// is not written yet. None today.
const RUNS_FILES: &[&str] = &[];

/// Files that load but that the planner refuses, with what its message must say. None
/// today.
const REFUSED_WHEN_PLANNED: &[(&str, &str)] = &[];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ops")
}

struct Case {
    name: String,
    case: String,
    /// "ref" (LiteRT's reference kernels) or "opt" (its optimized kernels, where the
    /// reference aborts).
    output: String,
}

fn converted() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["converted"] == true)
        .map(|m| Case {
            name: m["name"].as_str().unwrap().into(),
            case: m["case"].as_str().unwrap().into(),
            output: m["output"].as_str().unwrap().into(),
        })
        .collect()
}

#[test]
fn every_op_fixture_runs_and_matches_litert_or_is_refused_by_name() {
    let cases = converted();
    assert!(
        cases.len() >= 100,
        "the manifest lists {} files",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in &cases {
        let path = dir().join(format!("{}.tflite", c.name));
        let read = ferrolite::tflite::read_file(&path);
        if !RUNS.contains(&c.case.as_str()) && !RUNS_FILES.contains(&c.name.as_str()) {
            let refusal = REFUSED_WHEN_PLANNED.iter().find(|(n, _)| *n == c.name);
            match (read, refusal) {
                (Err(e), None) if e.to_string().contains("does not support") => {}
                (Err(e), _) => failures.push(format!("{}: refused, but not by name: {e}", c.name)),
                (Ok(m), Some((_, why))) => match Interpreter::new(m) {
                    Err(e) if e.to_string().contains(why) => {}
                    Err(e) => failures.push(format!("{}: refused, not with '{why}': {e}", c.name)),
                    Ok(_) => failures.push(format!("{}: now plans; add it to RUNS", c.name)),
                },
                (Ok(_), None) => failures.push(format!(
                    "{}: now loads; add '{}' to RUNS so it is checked",
                    c.name, c.case
                )),
            }
            continue;
        }
        let model = match read {
            Ok(m) => m,
            Err(e) => {
                failures.push(format!("{}: {e}", c.name));
                continue;
            }
        };
        let input = npy::read(&dir().join(format!("{}.input.npy", c.name))).unwrap();
        let want = npy::read(&dir().join(format!("{}.output.{}.npy", c.name, c.output))).unwrap();
        let out = Interpreter::new(model)
            .map_err(|e| e.to_string())
            .and_then(|mut i| i.run(&[input]).map_err(|e| e.to_string()));
        match out {
            Err(e) => failures.push(format!("{}: {e}", c.name)),
            Ok(out) => {
                if out[0].shape != want.shape {
                    failures.push(format!(
                        "{}: shape {:?}, LiteRT {:?}",
                        c.name, out[0].shape, want.shape
                    ));
                } else if let Some(m) = mismatch(&out[0].data, &want.data) {
                    failures.push(format!("{} (against LiteRT {}): {m}", c.name, c.output));
                }
                ran += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        ran >= 2 * RUNS.len() + RUNS_FILES.len(),
        "only {ran} files ran"
    );
}

/// ferrolite's own int8 conversion of the float LOG_SOFTMAX model: the op's output gets
/// TFLite's fixed encoding (scale 16/256, zero point 127, as in TF's int8 file), the
/// result stays within two output steps of the float model, and the file goes to the
/// LiteRT cross-check (scripts/litert-check.sh), which must give the same bits.
#[test]
fn ferrolite_int8_log_softmax_uses_the_fixed_output_encoding() {
    use ferrolite::ir::Op;
    use ferrolite::quant::{self, Int8Options, IoType, Mode, Samples};
    let float = ferrolite::tflite::read_file(&dir().join("log_softmax_float32.tflite")).unwrap();
    let theirs = ferrolite::tflite::read_file(&dir().join("log_softmax_int8.tflite")).unwrap();
    let x = npy::read(&dir().join("log_softmax_float32.input.npy")).unwrap();
    let samples = Samples::from_batch(&float, &x, None).unwrap();
    let options = Int8Options {
        io: IoType::Float32,
        per_tensor_dense: false,
    };
    let ours = quant::convert(&float, Mode::Int8, &options, Some(&samples))
        .unwrap()
        .model;
    let bytes = ferrolite::tflite::write(&ours).unwrap();
    let ours = ferrolite::tflite::read(&bytes).unwrap();
    let log_softmax_output = |m: &ferrolite::ir::Model| {
        let op = m
            .graph
            .operators
            .iter()
            .find(|o| o.op == Op::LogSoftmax)
            .expect("a LOG_SOFTMAX operator");
        m.graph.tensors[op.outputs[0]].scale_zero_point()
    };
    assert_eq!(log_softmax_output(&ours), Some((0.0625, 127)));
    assert_eq!(log_softmax_output(&ours), log_softmax_output(&theirs));

    let want = Interpreter::new(float)
        .unwrap()
        .run(std::slice::from_ref(&x))
        .unwrap();
    let got = Interpreter::new(ours)
        .unwrap()
        .run(std::slice::from_ref(&x))
        .unwrap();
    let (g, w) = (got[0].data.to_f64(), want[0].data.to_f64());
    for (a, b) in g.iter().zip(&w) {
        // Values below -16 saturate at the encoding's floor (-255/16).
        let b = b.max(-255.0 / 16.0);
        assert!((a - b).abs() <= 2.0 / 16.0, "int8 {a} vs float {b}");
    }

    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/litert-cases/ops_log_softmax_int8");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(case.join("model.tflite"), &bytes).unwrap();
    std::fs::write(case.join("input.npy"), npy::to_bytes(&x).unwrap()).unwrap();
    std::fs::write(case.join("exact"), b"float outputs must be bit-identical\n").unwrap();
}

/// FLOOR, NEG, POW and SQUARE have no int8 kernel in TFLite, and TF's converter leaves
/// them in float between a DEQUANTIZE and a QUANTIZE. ferrolite's int8 conversion of each
/// float model gives TF's operator sequence, keeps the island (and POW's exponent) in
/// float32, stays within two output steps of the float model, and goes to the LiteRT
/// cross-check (scripts/litert-check.sh).
#[test]
fn ferrolite_int8_keeps_float_islands_as_tensorflow_does() {
    use ferrolite::ir::{DType, Model, Op};
    use ferrolite::quant::{self, Int8Options, IoType, Mode, Samples};
    let names = |m: &Model| -> Vec<&'static str> {
        m.graph.operators.iter().map(|o| o.op.name()).collect()
    };
    for (op, island) in [
        ("floor", Op::Floor),
        ("neg", Op::Neg),
        ("pow", Op::Pow),
        ("square", Op::Square),
    ] {
        let float =
            ferrolite::tflite::read_file(&dir().join(format!("{op}_float32.tflite"))).unwrap();
        let theirs =
            ferrolite::tflite::read_file(&dir().join(format!("{op}_int8.tflite"))).unwrap();
        let x = npy::read(&dir().join(format!("{op}_float32.input.npy"))).unwrap();
        let samples = Samples::from_batch(&float, &x, None).unwrap();
        let convert = |io| {
            let options = Int8Options {
                io,
                per_tensor_dense: false,
            };
            let model = quant::convert(&float, Mode::Int8, &options, Some(&samples))
                .unwrap()
                .model;
            let bytes = ferrolite::tflite::write(&model).unwrap();
            (ferrolite::tflite::read(&bytes).unwrap(), bytes)
        };
        let (ours, _) = convert(IoType::Int8);
        assert_eq!(names(&ours), names(&theirs), "{op}: operator sequence");
        let g = &ours.graph;
        let k = g.operators.iter().position(|o| o.op == island).unwrap();
        let float_operands = g.operators[k].inputs.iter().flatten();
        for &t in float_operands.chain(&g.operators[k].outputs) {
            assert_eq!(g.tensors[t].dtype, DType::F32, "{op}: tensor {t}");
        }
        assert_eq!(
            g.tensors[g.outputs[0]].dtype,
            DType::I8,
            "{op}: model output"
        );

        let (ours, bytes) = convert(IoType::Float32);
        let want = Interpreter::new(float.clone())
            .unwrap()
            .run(std::slice::from_ref(&x))
            .unwrap();
        let got = Interpreter::new(ours.clone())
            .unwrap()
            .run(std::slice::from_ref(&x))
            .unwrap();
        let last = ours.graph.operators.last().unwrap();
        let (step, _) = ours.graph.tensors[last.inputs[0].unwrap()]
            .scale_zero_point()
            .unwrap();
        // FLOOR jumps by 1 where quantizing its input moves a value across an integer.
        let jump = if op == "floor" { 1.0 } else { 0.0 };
        let tolerance = 2.0 * f64::from(step);
        let (got, want) = (got[0].data.to_f64(), want[0].data.to_f64());
        let mut jumped = 0;
        for (a, b) in got.iter().zip(&want) {
            let d = (a - b).abs();
            assert!(d <= jump + tolerance, "{op}: int8 {a} vs float {b}");
            jumped += usize::from(d > tolerance);
        }
        assert!(jumped * 10 <= got.len(), "{op}: {jumped} values jumped");
        let case = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("target/litert-cases/ops_{op}_int8_float_island"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), &bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(&x).unwrap()).unwrap();
        std::fs::write(case.join("exact"), b"float outputs must be bit-identical\n").unwrap();
    }
}

/// RELU_0_TO_1, which TF's converter never writes (it keeps MINIMUM + RELU): ferrolite
/// writes one float32 and one int8 model, checks them against the op's definition, and
/// puts both in the LiteRT cross-check, where LiteRT (which registers the op since 2.10)
/// must give the same outputs (the int8 ones bit for bit).
#[test]
fn relu_0_to_1_files_run_as_defined_and_go_to_litert() {
    use ferrolite::interp::{TensorBuf, Value};
    use ferrolite::ir::{DType, Graph, Model, Op, Operator, Quantization, Tensor};
    let shape = vec![1, 4, 5, 3];
    let n: usize = shape.iter().product();
    // Inputs from -2 to 2, including 0, 1 and values on both sides of them.
    let xs: Vec<f32> = (0..n)
        .map(|i| -2.0 + 4.0 * i as f32 / (n - 1) as f32)
        .collect();
    let model = |dtype: DType, quant: Option<(Quantization, Quantization)>| {
        let mut x = Tensor::activation("x", dtype, shape.clone());
        let mut y = Tensor::activation("y", dtype, shape.clone());
        if let Some((qx, qy)) = quant {
            x.quantization = Some(qx);
            y.quantization = Some(qy);
        }
        let graph = Graph {
            name: None,
            tensors: vec![x, y],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(Op::Relu0To1, vec![0], vec![1])],
        };
        let bytes = ferrolite::tflite::write(&Model::with_default_signature(graph)).unwrap();
        (ferrolite::tflite::read(&bytes).unwrap(), bytes)
    };
    let save = |name: &str, bytes: &[u8], input: &Value| {
        let case = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("target/litert-cases")
            .join(name);
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(input).unwrap()).unwrap();
    };

    let (float, bytes) = model(DType::F32, None);
    let x = Value::new(shape.clone(), TensorBuf::F32(xs.clone()));
    let y = Interpreter::new(float)
        .unwrap()
        .run(std::slice::from_ref(&x))
        .unwrap();
    let TensorBuf::F32(y) = &y[0].data else {
        panic!("float output expected")
    };
    for (a, b) in xs.iter().zip(y) {
        assert_eq!(*b, a.clamp(0.0, 1.0));
    }
    save("ops_relu_0_to_1_float32", &bytes, &x);

    let q = Quantization::per_tensor;
    let (in_s, in_zp, out_s, out_zp) = (2.0 / 127.0, -1i64, 1.0 / 255.0, -128i64);
    let (int8, bytes) = model(DType::I8, Some((q(in_s, in_zp), q(out_s, out_zp))));
    let xq: Vec<i8> = (0..n)
        .map(|i| (i as i32 * 255 / (n as i32 - 1) - 128) as i8)
        .collect();
    let x = Value::new(shape.clone(), TensorBuf::I8(xq.clone()));
    let y = Interpreter::new(int8)
        .unwrap()
        .run(std::slice::from_ref(&x))
        .unwrap();
    let TensorBuf::I8(y) = &y[0].data else {
        panic!("int8 output expected")
    };
    for (a, b) in xq.iter().zip(y) {
        // The definition in real numbers, re-quantized; fixed-point rounding may land one
        // step away from the float rounding.
        let real = (f32::from(*a) - in_zp as f32) * in_s;
        let want = (real.clamp(0.0, 1.0) / out_s).round() + out_zp as f32;
        assert!(
            (f32::from(*b) - want).abs() <= 1.0,
            "x {a}: got {b}, want {want}"
        );
    }
    save("ops_relu_0_to_1_int8", &bytes, &x);
}
