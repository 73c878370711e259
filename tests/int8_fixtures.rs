//! The TensorFlow-made full-integer fixtures against LiteRT 2.3.0's reference kernels
//! (`*.output.ref.npy`, made with OpResolverType.BUILTIN_REF, one image per invoke):
//! integer outputs must match element for element, float outputs within 1e-5, and the
//! MNIST accuracy over all 10 000 test images must equal the manifest's exactly.

mod common;

use std::path::{Path, PathBuf};

use common::row;

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, TensorBuf};
use ferrolite::verify::accuracy;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn load(dir: &str, name: &str) -> Interpreter {
    let path = root().join(dir).join(format!("{name}.tflite"));
    let model = ferrolite::tflite::read_file(&path).unwrap();
    Interpreter::new(model).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs every fixture image separately and compares with the reference row. Returns
/// the number of mismatching elements (with a message for the first few).
fn mismatches(dir: &str, name: &str) -> usize {
    let mut interp = load(dir, name);
    let base = root().join(dir);
    let input = npy::read(&base.join(format!("{name}.input.npy"))).unwrap();
    let reference = npy::read(&base.join(format!("{name}.output.ref.npy"))).unwrap();
    assert_eq!(input.shape[0], reference.shape[0], "{name}: batch sizes");
    let mut bad = 0;
    for i in 0..input.shape[0] {
        let ours = interp.run(&[row(&input, i)]).unwrap();
        let want = row(&reference, i);
        assert_eq!(ours[0].shape, want.shape, "{name}: image {i}: output shape");
        match (&ours[0].data, &want.data) {
            (TensorBuf::F32(a), TensorBuf::F32(b)) => {
                for (j, (x, y)) in a.iter().zip(b).enumerate() {
                    if (x - y).abs() > 1e-5 + 1e-5 * y.abs() {
                        if bad < 5 {
                            eprintln!("{name}: image {i} element {j}: got {x}, want {y}");
                        }
                        bad += 1;
                    }
                }
            }
            (a, b) => {
                assert_eq!(a.dtype(), b.dtype(), "{name}: output dtype");
                for (j, (x, y)) in a.to_f64().iter().zip(b.to_f64()).enumerate() {
                    if *x != y {
                        if bad < 5 {
                            eprintln!("{name}: image {i} element {j}: got {x}, want {y}");
                        }
                        bad += 1;
                    }
                }
            }
        }
    }
    bad
}

fn assert_matches(dir: &str, name: &str) {
    let bad = mismatches(dir, name);
    assert_eq!(
        bad, 0,
        "{name}: {bad} elements differ from LiteRT BUILTIN_REF"
    );
}

#[test]
fn mnist_cnn_int8_matches_reference() {
    assert_matches("tflite", "mnist_cnn_int8");
}

#[test]
fn mnist_mlp_int8_matches_reference() {
    assert_matches("tflite", "mnist_mlp_int8");
}

#[test]
fn mnist_cnn_int8_float_io_matches_reference() {
    assert_matches("tflite", "mnist_cnn_int8_float_io");
}

/// Its uint8 input and output go through requantizing QUANTIZE ops (uint8 <-> int8),
/// which another branch implements in quantize.rs.
#[test]
fn mnist_cnn_int8_uint8_io_matches_reference() {
    assert_matches("tflite", "mnist_cnn_int8_uint8_io");
}

fn manifest_accuracy(name: &str) -> f64 {
    let text = std::fs::read_to_string(root().join("tflite/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    manifest["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["file"] == format!("{name}.tflite"))
        .unwrap_or_else(|| panic!("{name} not in manifest"))["accuracy_10000_ref"]
        .as_f64()
        .unwrap()
}

#[test]
fn int8_accuracy_equals_the_manifest() {
    let mnist = data::load(&data::default_dir(), Split::Test).unwrap();
    for name in ["mnist_cnn_int8", "mnist_mlp_int8"] {
        let expected = (manifest_accuracy(name) * 10_000.0).round() as usize;
        let mut interp = load("tflite", name);
        let acc = accuracy::evaluate(&mut interp, &mnist, None, 250, |_| {}).unwrap();
        assert_eq!(acc.samples, 10_000, "{name}: samples");
        assert_eq!(
            acc.correct, expected,
            "{name}: {} correct, LiteRT reference {expected}",
            acc.correct
        );
    }
}

/// The extra TensorFlow-made int8 models (fixtures/extra): each also needs int8 kernels
/// from other branches, named in its ignore reason. They should pass once merged.
#[test]
fn extra_dwsep_int8_matches_reference() {
    assert_matches("extra", "dwsep_int8");
}

#[test]
fn extra_residual_int8_matches_reference() {
    assert_matches("extra", "residual_int8");
}

#[test]
fn extra_mobilenet_block_int8_matches_reference() {
    assert_matches("extra", "mobilenet_block_int8");
}

#[test]
fn extra_sequence_int8_matches_reference() {
    assert_matches("extra", "sequence_int8");
}

#[test]
fn extra_raw_ops_int8_matches_reference() {
    assert_matches("extra", "raw_ops_int8");
}

#[test]
fn extra_uint8_io_models_match_reference() {
    for name in [
        "dwsep_int8_uint8_io",
        "residual_int8_uint8_io",
        "mobilenet_block_int8_uint8_io",
        "sequence_int8_uint8_io",
        "raw_ops_int8_uint8_io",
    ] {
        assert_matches("extra", name);
    }
}
