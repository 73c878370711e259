//! Every TensorFlow-made fixture against LiteRT's reference outputs, and MNIST accuracy
//! against the manifest. Also writes each round-tripped model with its input to
//! target/litert-cases/ for scripts/litert-check.sh.

use std::path::{Path, PathBuf};

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, Value};
use ferrolite::verify::{accuracy, compare};

/// Float models. Integer, hybrid and sparse-integer ones are tested in
/// tests/int8_fixtures.rs and tests/hybrid_sparse_fixtures.rs; they are listed here so
/// that a new fixture cannot be skipped silently.
const FLOAT: &[&str] = &[
    "mnist_cnn_float32",
    "mnist_cnn_float16",
    "mnist_mlp_float32",
    "mnist_cnn_pruned80_sparse_float32",
    "mnist_cnn_block1x4_pruned80_sparse_float32",
    "mnist_cnn_dense_block4x1_pruned80_sparse_float32",
];
const INTEGER: &[&str] = &[
    "mnist_cnn_dynamic_range",
    "mnist_cnn_int8",
    "mnist_cnn_int8_float_io",
    "mnist_cnn_int8_uint8_io",
    "mnist_mlp_int8",
    "mnist_cnn_pruned80_sparse_int8",
    "mnist_cnn_block1x4_pruned80_sparse_int8",
    "mnist_cnn_dense_block16x1_pruned80_sparse_int8",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite")
}

fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn manifest_entry(name: &str) -> serde_json::Value {
    manifest()["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == format!("{name}.tflite"))
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in manifest"))
}

fn load(name: &str) -> ferrolite::ir::Model {
    ferrolite::tflite::read_file(&dir().join(format!("{name}.tflite"))).unwrap()
}

#[test]
fn every_fixture_is_classified() {
    for m in manifest()["models"].as_array().unwrap() {
        let file = m["file"].as_str().unwrap().trim_end_matches(".tflite");
        assert!(
            FLOAT.contains(&file) || INTEGER.contains(&file),
            "fixture {file} is in no test list"
        );
    }
}

#[test]
fn float_fixtures_match_litert_reference_outputs() {
    for name in FLOAT {
        let model = load(name);
        let input = npy::read(&dir().join(format!("{name}.input.npy"))).unwrap();
        let reference = npy::read(&dir().join(format!("{name}.output.ref.npy"))).unwrap();
        let mut interp = Interpreter::new(model).unwrap();
        let ours = interp.run(std::slice::from_ref(&input)).unwrap();
        assert_eq!(ours[0].shape, reference.shape, "{name}: output shape");
        let diff = compare(&ours[..1], std::slice::from_ref(&reference), 1e-5, 1e-5).unwrap();
        assert_eq!(
            diff.outside_tolerance, 0,
            "{name}: {} of {} elements outside 1e-5 + 1e-5·|ref| (max abs {:e})",
            diff.outside_tolerance, diff.elements, diff.max_abs
        );
    }
}

#[test]
fn float_fixtures_reach_the_manifest_accuracy() {
    let mnist = data::load(&data::default_dir(), Split::Test).unwrap();
    for name in FLOAT {
        let expected = manifest_entry(name)["accuracy_10000_ref"].as_f64().unwrap();
        let mut interp = Interpreter::new(load(name)).unwrap();
        let acc = accuracy::evaluate(&mut interp, &mnist, None, 250, |_| {}).unwrap();
        let expected_correct = (expected * 10_000.0).round() as i64;
        assert!(
            (acc.correct as i64 - expected_correct).abs() <= 1,
            "{name}: {} correct, LiteRT reference {expected_correct}",
            acc.correct
        );
    }
}

#[test]
fn round_tripped_fixtures_run_identically_and_are_saved_for_litert() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/litert-cases");
    for name in FLOAT {
        let model = load(name);
        let bytes = ferrolite::tflite::write(&model).unwrap();
        let again = ferrolite::tflite::read(&bytes).unwrap();
        let input = npy::read(&dir().join(format!("{name}.input.npy"))).unwrap();
        let a = Interpreter::new(model)
            .unwrap()
            .run(std::slice::from_ref(&input))
            .unwrap();
        let b = Interpreter::new(again)
            .unwrap()
            .run(std::slice::from_ref(&input))
            .unwrap();
        assert_eq!(a, b, "{name}: written model computes something else");
        let case = cases.join(format!("roundtrip_{name}"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), &bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(&input).unwrap()).unwrap();
    }
}

#[test]
fn batch_size_changes_nothing_but_the_batch() {
    // One batch of 32 against 32 batches of one: the plan is re-made per shape.
    let name = "mnist_cnn_float32";
    let input = npy::read(&dir().join(format!("{name}.input.npy"))).unwrap();
    let mut interp = Interpreter::new(load(name)).unwrap();
    let whole = interp.run(std::slice::from_ref(&input)).unwrap();
    let per_image: Vec<f64> = (0..32)
        .flat_map(|i| {
            let one = Value::new(
                vec![1, 28, 28],
                ferrolite::interp::TensorBuf::F32(
                    input.data.to_f64()[i * 784..(i + 1) * 784]
                        .iter()
                        .map(|&x| x as f32)
                        .collect(),
                ),
            );
            interp.run(&[one]).unwrap()[0].data.to_f64()
        })
        .collect();
    let whole = whole[0].data.to_f64();
    for (a, b) in whole.iter().zip(&per_image) {
        assert!((a - b).abs() <= 1e-5 + 1e-5 * b.abs(), "{a} vs {b}");
    }
}
