//! Float16 and dynamic-range conversion against TensorFlow's conversions of the same
//! Keras model (fixtures/tflite/mnist_cnn_{float16,dynamic_range}.tflite), the per-layer
//! report, and int8 conversion of the other architectures in fixtures/extra.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::Interpreter;
use ferrolite::ir::{DType, Model, Op, Tensor};
use ferrolite::quant::{self, Int8Options, Mode, Samples};
use ferrolite::tflite::versions::op_version;
use ferrolite::verify::accuracy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn load(rel: &str) -> Model {
    ferrolite::tflite::read_file(&root().join(rel)).unwrap()
}

fn by_name(model: &Model) -> HashMap<&str, &Tensor> {
    model
        .graph
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect()
}

fn convert(model: &Model, mode: Mode) -> Model {
    let converted = quant::convert(model, mode, &Int8Options::default(), None).unwrap();
    let bytes = ferrolite::tflite::write(&converted.model).unwrap();
    ferrolite::tflite::read(&bytes).unwrap()
}

/// Operator kinds with their versions, DEQUANTIZE ops counted apart (TF orders them
/// differently at the start of the graph).
fn op_summary(model: &Model) -> (Vec<(String, i32)>, usize) {
    let mut ops = Vec::new();
    let mut dequantize = 0;
    for op in &model.graph.operators {
        if op.op == Op::Dequantize {
            dequantize += 1;
            assert_eq!(
                op_version(&model.graph, op),
                3,
                "DEQUANTIZE of float16 is version 3"
            );
        } else {
            ops.push((format!("{:?}", op.op), op_version(&model.graph, op)));
        }
    }
    (ops, dequantize)
}

fn save_case(name: &str, model: &Model) {
    let input = npy::read(&root().join("fixtures/tflite/mnist_cnn_float32.input.npy")).unwrap();
    let case = root().join("target/litert-cases").join(name);
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(
        case.join("model.tflite"),
        ferrolite::tflite::write(model).unwrap(),
    )
    .unwrap();
    std::fs::write(case.join("input.npy"), npy::to_bytes(&input).unwrap()).unwrap();
}

fn mnist_accuracy(model: &Model) -> f64 {
    let test = data::load(&data::default_dir(), Split::Test).unwrap();
    let mut interp = Interpreter::new(model.clone()).unwrap();
    accuracy::evaluate(&mut interp, &test, None, 250, |_| {})
        .unwrap()
        .accuracy
}

#[test]
fn float16_equals_tensorflow() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    let ours = convert(&float, Mode::Float16);
    let theirs = load("fixtures/tflite/mnist_cnn_float16.tflite");
    // Every float16 constant TF wrote exists here under the same name with the same
    // bytes (float32 → float16 rounds to nearest even in both), and nothing else is
    // float16.
    let mine = by_name(&ours);
    let halves = |m: &Model| {
        m.graph
            .tensors
            .iter()
            .filter(|t| t.dtype == DType::F16)
            .count()
    };
    assert_eq!(halves(&ours), halves(&theirs));
    for t in theirs
        .graph
        .tensors
        .iter()
        .filter(|t| t.dtype == DType::F16)
    {
        let o = mine[t.name.as_str()];
        assert_eq!(
            (o.dtype, &o.shape, &o.data),
            (t.dtype, &t.shape, &t.data),
            "'{}'",
            t.name
        );
        // Each feeds exactly one DEQUANTIZE.
        let idx = ours
            .graph
            .tensors
            .iter()
            .position(|x| std::ptr::eq(x, o))
            .unwrap();
        let users = ours.graph.consumers(idx);
        assert_eq!(users.len(), 1);
        assert_eq!(ours.graph.operators[users[0]].op, Op::Dequantize);
    }
    assert_eq!(op_summary(&ours), op_summary(&theirs));
    assert_eq!(ours.graph.constant_bytes(), theirs.graph.constant_bytes());
    let io = |m: &Model| {
        m.graph
            .inputs
            .iter()
            .chain(&m.graph.outputs)
            .map(|&t| m.graph.tensors[t].dtype)
            .collect::<Vec<_>>()
    };
    assert_eq!(io(&ours), vec![DType::F32, DType::F32]);
    let (f, h) = (mnist_accuracy(&float), mnist_accuracy(&ours));
    assert!(
        (f - h).abs() <= 0.001 + 1e-12,
        "float16 accuracy {h} vs float {f}"
    );
    save_case("quant_mnist_float16", &ours);
}

#[test]
fn dynamic_range_equals_tensorflow() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    let ours = convert(&float, Mode::Dynamic);
    let theirs = load("fixtures/tflite/mnist_cnn_dynamic_range.tflite");
    let mine = by_name(&ours);
    // Same float and int8 tensors by name: same type, shape, bit-identical scales, zero
    // points and bytes. The 108-element conv kernel stays float (below 1024 elements),
    // the dense kernel is int8 per channel. (TF's MLIR renames its small int32 shape
    // constants, which the pass does not touch.)
    for t in theirs
        .graph
        .tensors
        .iter()
        .filter(|t| t.dtype != DType::I32)
    {
        let o = mine[t.name.as_str()];
        assert_eq!((o.dtype, &o.shape), (t.dtype, &t.shape), "'{}'", t.name);
        let q = |x: &Tensor| x.quantization.clone().filter(|q| q.is_quantized());
        assert_eq!(q(o), q(t), "quantization of '{}'", t.name);
        assert_eq!(o.data, t.data, "bytes of '{}'", t.name);
    }
    assert_eq!(op_summary(&ours), op_summary(&theirs));
    let (f, d) = (mnist_accuracy(&float), mnist_accuracy(&ours));
    assert!(
        (f - d).abs() <= 0.001 + 1e-12,
        "dynamic-range accuracy {d} vs float {f}"
    );
    save_case("quant_mnist_dynamic_range", &ours);
}

#[test]
fn report_ranks_layers_and_sees_no_error_where_nothing_was_quantized() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    let samples = Samples::mnist_train(&float, &data::default_dir(), 20).unwrap();
    // Dynamic range leaves everything before the dense layer float: exact there.
    let dynamic = convert(&float, Mode::Dynamic);
    let layers = quant::layer_report(&float, &dynamic, &samples).unwrap();
    assert_eq!(layers.len(), 5, "{layers:?}");
    for l in &layers[1..] {
        assert!(l.sqnr_db.is_infinite() && l.max_abs_error == 0.0, "{l:?}");
    }
    assert_eq!(layers[0].name, "StatefulPartitionedCall:0");
    assert!(layers[0].sqnr_db.is_finite() && layers[0].sqnr_db > 20.0);
    // Int8: every op output is quantized; worst first.
    let converted =
        quant::convert(&float, Mode::Int8, &Int8Options::default(), Some(&samples)).unwrap();
    let layers = quant::layer_report(&float, &converted.model, &samples).unwrap();
    assert_eq!(layers.len(), 5);
    assert!(layers.windows(2).all(|w| w[0].sqnr_db <= w[1].sqnr_db));
    for l in &layers {
        assert!(l.sqnr_db > 20.0 && l.cosine > 0.99, "{l:?}");
        // Never more than the largest rounding step plus what earlier layers add, and
        // for the reshaped input exactly half a step at most.
        if l.name == "mnist_base_cnn/reshape/Reshape" {
            assert!(l.max_abs_error <= 0.5 / 255.0 + 1e-7, "{l:?}");
        }
    }
}
