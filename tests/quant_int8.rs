//! Full-integer int8 conversion against TensorFlow's own int8 conversion of the same
//! Keras model (fixtures/tflite/mnist_cnn_{float32,int8,int8_float_io,int8_uint8_io}):
//! TF calibrated on the first 100 MNIST training images fed one at a time, as ferrolite
//! does by default, so weights, biases, scales and zero points must come out identical.

mod common;

use common::root;
use std::collections::HashMap;

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::ir::{decode, DType, Model, Tensor};
use ferrolite::quant::{self, params, Int8Options, IoType, Mode, Samples};
use ferrolite::tflite::versions::op_version;
use ferrolite::verify::accuracy;

fn load(rel: &str) -> Model {
    common::model(rel)
}

fn mnist_samples(model: &Model) -> Samples {
    Samples::mnist_train(model, &data::default_dir(), 100).unwrap()
}

fn convert_int8(model: &Model, io: IoType) -> Model {
    let options = Int8Options {
        io,
        per_tensor_dense: false,
    };
    let samples = mnist_samples(model);
    let converted = quant::convert(model, Mode::Int8, &options, Some(&samples)).unwrap();
    // Through the writer and reader, as the CLI would hand it to a runtime.
    let bytes = ferrolite::tflite::write(&converted.model).unwrap();
    ferrolite::tflite::read(&bytes).unwrap()
}

fn by_name(model: &Model) -> HashMap<&str, &Tensor> {
    model
        .graph
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect()
}

/// Largest distance in units in the last place between two equally long lists of
/// positive floats.
fn max_ulps(a: &[f32], b: &[f32]) -> u32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.to_bits().abs_diff(y.to_bits()))
        .max()
        .unwrap_or(0)
}

/// Every tensor of `theirs` has a same-named tensor in `ours` with the same type, shape,
/// zero points, quantized dimension, and:
/// - weights (int8 constants): bit-identical scales and bytes;
/// - activation scales within 2 ulps: they come from the calibrated maximum of a float
///   forward pass, and ferrolite's float kernels sum in another order than TF's, so the
///   maximum can differ in its last bit;
/// - int32 biases: scales within 2 ulps (they are input scale × weight scale) and values
///   within ±1 (rounded with that scale); `bias_rule_reproduces_tensorflow` checks the
///   rule itself exactly on TF's own scales.
///
/// The operator lists must agree in kind, options, operands (by name) and version.
fn assert_same_as_tf(ours: &Model, theirs: &Model, what: &str) {
    let mine = by_name(ours);
    assert_eq!(
        ours.graph.tensors.len(),
        theirs.graph.tensors.len(),
        "{what}: tensor count"
    );
    for t in &theirs.graph.tensors {
        let o = mine
            .get(t.name.as_str())
            .unwrap_or_else(|| panic!("{what}: no tensor named '{}'", t.name));
        let name = &t.name;
        assert_eq!(o.dtype, t.dtype, "{what}: dtype of '{name}'");
        assert_eq!(o.shape, t.shape, "{what}: shape of '{name}'");
        let (qo, qt) = (
            o.quantization.clone().unwrap_or_default(),
            t.quantization.clone().unwrap_or_default(),
        );
        assert_eq!(
            qo.zero_point, qt.zero_point,
            "{what}: zero points of '{name}'"
        );
        if qt.is_quantized() {
            assert_eq!(
                qo.quantized_dimension, qt.quantized_dimension,
                "{what}: axis of '{name}'"
            );
        }
        let weight = t.is_constant() && t.dtype == DType::I8;
        let ulps = max_ulps(&qo.scale, &qt.scale);
        if weight || !t.dtype.is_float() && t.dtype != DType::I32 && t.is_constant() {
            assert_eq!(
                ulps, 0,
                "{what}: scales of '{name}' {:?} vs TF {:?}",
                qo.scale, qt.scale
            );
        } else {
            assert!(
                ulps <= 2,
                "{what}: scales of '{name}' {:?} vs TF {:?}",
                qo.scale,
                qt.scale
            );
        }
        if t.dtype == DType::I32 && qt.is_quantized() {
            let a = decode::i32s(o.data.as_deref().unwrap());
            let b = decode::i32s(t.data.as_deref().unwrap());
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| x.abs_diff(*y))
                .max()
                .unwrap_or(0);
            assert!(worst <= 1, "{what}: bias '{name}' {a:?} vs TF {b:?}");
        } else {
            assert_eq!(o.data, t.data, "{what}: constant bytes of '{name}'");
        }
    }
    assert_eq!(
        ours.graph.operators.len(),
        theirs.graph.operators.len(),
        "{what}: operator count"
    );
    let names = |m: &Model, ts: &[Option<usize>]| -> Vec<Option<String>> {
        ts.iter()
            .map(|t| t.map(|t| m.graph.tensors[t].name.clone()))
            .collect()
    };
    for (k, (a, b)) in ours
        .graph
        .operators
        .iter()
        .zip(&theirs.graph.operators)
        .enumerate()
    {
        assert_eq!(a.op, b.op, "{what}: operator #{k}");
        assert_eq!(
            names(ours, &a.inputs),
            names(theirs, &b.inputs),
            "{what}: inputs of #{k}"
        );
        let outs =
            |m: &Model, o: &[usize]| names(m, &o.iter().map(|&t| Some(t)).collect::<Vec<_>>());
        assert_eq!(
            outs(ours, &a.outputs),
            outs(theirs, &b.outputs),
            "{what}: outputs of #{k}"
        );
        assert_eq!(
            op_version(&ours.graph, a),
            op_version(&theirs.graph, b),
            "{what}: version of #{k} {}",
            a.op.name()
        );
    }
    let io = |m: &Model, ts: &[usize]| {
        ts.iter()
            .map(|&t| m.graph.tensors[t].name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        io(ours, &ours.graph.inputs),
        io(theirs, &theirs.graph.inputs),
        "{what}: inputs"
    );
    assert_eq!(
        io(ours, &ours.graph.outputs),
        io(theirs, &theirs.graph.outputs),
        "{what}: outputs"
    );
}

#[test]
fn mnist_int8_equals_tensorflow_tensor_by_tensor() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    for (io, fixture) in [
        (IoType::Int8, "mnist_cnn_int8"),
        (IoType::Float32, "mnist_cnn_int8_float_io"),
        (IoType::Uint8, "mnist_cnn_int8_uint8_io"),
    ] {
        let ours = convert_int8(&float, io);
        let theirs = load(&format!("fixtures/tflite/{fixture}.tflite"));
        assert_same_as_tf(&ours, &theirs, fixture);
    }
}

#[test]
fn bias_and_weight_rules_reproduce_tensorflow_exactly() {
    // Independent of calibration: from TF's own input and weight scales, the bias scale
    // and int32 values must come out bit-identical, and the weights from the float
    // model's weights.
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    let tf = load("fixtures/tflite/mnist_cnn_int8.tflite");
    let f = by_name(&float);
    let t = by_name(&tf);
    for (input, weight, bias, axis) in [
        (
            "mnist_base_cnn/flatten/Reshape",
            "mnist_base_cnn/dense/MatMul",
            "mnist_base_cnn/dense/BiasAdd",
            0,
        ),
        (
            "mnist_base_cnn/reshape/Reshape",
            "mnist_base_cnn/conv2d/Conv2D",
            "mnist_base_cnn/conv2d/Relu;mnist_base_cnn/conv2d/BiasAdd;mnist_base_cnn/conv2d/Conv2D;mnist_base_cnn/conv2d/BiasAdd/ReadVariableOp",
            0,
        ),
    ] {
        let (in_scale, _) = t[input].scale_zero_point().unwrap();
        let w_scales = &t[weight].quantization.as_ref().unwrap().scale;
        let w_float = decode::f32s(f[weight].data.as_deref().unwrap());
        let (scales, q) = params::symmetric_per_channel(&w_float, &f[weight].shape, axis);
        assert_eq!(&scales, w_scales, "{weight}: scales");
        assert_eq!(decode::i8s(t[weight].data.as_deref().unwrap()), q, "{weight}: values");
        let b_scales: Vec<f32> = w_scales.iter().map(|&w| params::bias_scale(in_scale, w)).collect();
        assert_eq!(&b_scales, &t[bias].quantization.as_ref().unwrap().scale, "{bias}: scales");
        let b_float = decode::f32s(f[bias].data.as_deref().unwrap());
        assert_eq!(
            params::quantize_bias(&b_float, &b_scales),
            decode::i32s(t[bias].data.as_deref().unwrap()),
            "{bias}: values"
        );
    }
}

#[test]
fn mnist_int8_accuracy_is_within_a_tenth_of_a_point_of_tensorflow() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    let test = data::load(&data::default_dir(), Split::Test).unwrap();
    // TF's int8 fixture reaches 0.9325 on the 10 000 test images (manifest).
    let reference = 0.9325;
    for io in [IoType::Int8, IoType::Float32, IoType::Uint8] {
        let mut interp = Interpreter::new(convert_int8(&float, io)).unwrap();
        let acc = accuracy::evaluate(&mut interp, &test, None, 250, |_| {}).unwrap();
        eprintln!("{io:?} io: accuracy {}", acc.accuracy);
        assert!(
            (acc.accuracy - reference).abs() <= 0.001 + 1e-12,
            "{io:?} io: accuracy {} vs TF {reference}",
            acc.accuracy
        );
    }
}

/// The fixture's 32 test images in the model input's type.
fn fixture_input_for(model: &Model) -> Value {
    let x = npy::read(&root().join("fixtures/tflite/mnist_cnn_float32.input.npy")).unwrap();
    let input = &model.graph.tensors[model.graph.inputs[0]];
    quant::report::sample_for(input, &x).unwrap()
}

/// Saves a converted model with an input for scripts/litert-check.sh; `exact` asks the
/// script to require identical float outputs.
pub fn save_litert_case(name: &str, model: &Model, input: &Value, exact: bool) {
    let case = root().join("target/litert-cases").join(name);
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(
        case.join("model.tflite"),
        ferrolite::tflite::write(model).unwrap(),
    )
    .unwrap();
    std::fs::write(case.join("input.npy"), npy::to_bytes(input).unwrap()).unwrap();
    let marker = case.join("exact");
    if exact {
        std::fs::write(marker, b"float outputs must be bit-identical\n").unwrap();
    } else if marker.exists() {
        std::fs::remove_file(marker).unwrap();
    }
}

#[test]
fn converted_models_run_like_tensorflows_and_are_saved_for_litert() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    for (io, fixture, case) in [
        (IoType::Int8, "mnist_cnn_int8", "quant_mnist_int8_io_int8"),
        (
            IoType::Float32,
            "mnist_cnn_int8_float_io",
            "quant_mnist_int8_io_float32",
        ),
        (
            IoType::Uint8,
            "mnist_cnn_int8_uint8_io",
            "quant_mnist_int8_io_uint8",
        ),
    ] {
        let ours = convert_int8(&float, io);
        let input = fixture_input_for(&ours);
        // Ours on our file against LiteRT's reference output of TF's file: the weights
        // and biases are identical, activation scales differ in the last bit at most,
        // so the outputs may differ by one step in a few elements only.
        let out = Interpreter::new(ours.clone())
            .unwrap()
            .run(std::slice::from_ref(&input))
            .unwrap();
        let reference =
            npy::read(&root().join(format!("fixtures/tflite/{fixture}.output.ref.npy"))).unwrap();
        let (a, b) = (out[0].data.to_f64(), reference.data.to_f64());
        assert_eq!(a.len(), b.len());
        let step = match &reference.data {
            TensorBuf::F32(_) => ours.graph.tensors[ours.graph.outputs[0]]
                .scale_zero_point()
                .map_or(0.12, |(s, _)| f64::from(s)),
            _ => 1.0,
        };
        // A float output differs by a whole step when the int8 result did; otherwise
        // only by the last bits of the output scale.
        let differing = a
            .iter()
            .zip(&b)
            .filter(|(x, y)| (*x - *y).abs() > step / 2.0)
            .count();
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{fixture}: {differing} of {} outputs differ from TF's, by at most {worst}",
            a.len()
        );
        assert!(
            worst <= step * 1.0001,
            "{fixture}: max difference {worst} (step {step})"
        );
        assert!(
            differing * 20 <= a.len(),
            "{fixture}: {differing} of {} outputs differ",
            a.len()
        );
        save_litert_case(case, &ours, &input, io == IoType::Float32);
    }
}

#[test]
fn per_tensor_dense_gives_one_fc_weight_scale_and_keeps_accuracy() {
    let float = load("fixtures/tflite/mnist_cnn_float32.tflite");
    let options = Int8Options {
        io: IoType::Int8,
        per_tensor_dense: true,
    };
    let samples = mnist_samples(&float);
    let ours = quant::convert(&float, Mode::Int8, &options, Some(&samples))
        .unwrap()
        .model;
    let names = by_name(&ours);
    let w = names["mnist_base_cnn/dense/MatMul"];
    let b = names["mnist_base_cnn/dense/BiasAdd"];
    let (ws, wz) = w.scale_zero_point().unwrap();
    // max |w| / 127 from the float weights.
    let f = decode::f32s(
        by_name(&float)["mnist_base_cnn/dense/MatMul"]
            .data
            .as_deref()
            .unwrap(),
    );
    let bound = f.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert_eq!((ws, wz), (bound / 127.0, 0));
    let (in_s, _) = names["mnist_base_cnn/flatten/Reshape"]
        .scale_zero_point()
        .unwrap();
    assert_eq!(
        b.scale_zero_point().unwrap(),
        (params::bias_scale(in_s, ws), 0)
    );
    // Conv weights stay per channel.
    assert_eq!(
        names["mnist_base_cnn/conv2d/Conv2D"]
            .quantization
            .as_ref()
            .unwrap()
            .scale
            .len(),
        12
    );
    let test = data::load(&data::default_dir(), Split::Test).unwrap();
    let mut interp = Interpreter::new(ours.clone()).unwrap();
    let acc = accuracy::evaluate(&mut interp, &test, Some(2000), 250, |_| {}).unwrap();
    assert!(acc.accuracy > 0.9, "accuracy {}", acc.accuracy);
    save_litert_case(
        "quant_mnist_int8_per_tensor_dense",
        &ours,
        &fixture_input_for(&ours),
        false,
    );
}
