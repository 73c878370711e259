//! Full-integer int8 conversion against TensorFlow's own int8 conversion of the same
//! Keras model (fixtures/tflite/mnist_cnn_{float32,int8,int8_float_io,int8_uint8_io}):
//! TF calibrated on the first 100 MNIST training images fed one at a time, as ferrolite
//! does by default, so weights, biases, scales and zero points must come out identical.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::ir::{decode, DType, Model, Tensor};
use ferrolite::quant::{self, Int8Options, IoType, Mode, Samples};
use ferrolite::tflite::versions::op_version;
use ferrolite::verify::accuracy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn load(rel: &str) -> Model {
    ferrolite::tflite::read_file(&root().join(rel)).unwrap()
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
