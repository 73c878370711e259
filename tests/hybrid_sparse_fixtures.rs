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
            TensorBuf::F32(all[i * per..(i + 1) * per].iter().map(|&x| x as f32).collect()),
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
    for arch in ["dwsep", "mobilenet_block", "raw_ops", "residual", "sequence"] {
        let name = format!("{arch}_dynamic_range");
        let model = load(&extra_fixture(&format!("{name}.tflite")));
        let hybrid: Vec<&str> = model
            .graph
            .operators
            .iter()
            .filter(|op| {
                op.inputs.get(1).copied().flatten().is_some_and(|w| {
                    model.graph.tensors[w].dtype == DType::I8
                        && op.inputs.first().copied().flatten().is_some_and(|i| model.graph.tensors[i].dtype == DType::F32)
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
