//! TensorFlow-made models of architectures beyond the MNIST fixtures (fixtures/extra,
//! made by scripts/gen_extra_fixtures.py): float models against LiteRT's reference
//! outputs, image by image as the references were made.

mod common;

use std::path::{Path, PathBuf};

use common::row;

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::verify::compare;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/extra")
}

fn manifest_names(kind: &str) -> Vec<String> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == kind)
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// Runs `name` image by image and compares with the reference within `tol` (abs and rel).
pub fn check(name: &str, tol: f64) {
    let model = ferrolite::tflite::read_file(&dir().join(format!("{name}.tflite")))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let input = npy::read(&dir().join(format!("{name}.input.npy"))).unwrap();
    let reference = npy::read(&dir().join(format!("{name}.output.ref.npy"))).unwrap();
    let mut interp = Interpreter::new(model).unwrap_or_else(|e| panic!("{name}: {e}"));
    let n = input.shape[0];
    let per = reference.data.len() / n;
    let want = reference.data.to_f64();
    for i in 0..n {
        let out = interp
            .run(&[row(&input, i)])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out[0].dtype(), reference.dtype(), "{name}: output type");
        let expected = Value::new(
            out[0].shape.clone(),
            TensorBuf::F32(
                want[i * per..(i + 1) * per]
                    .iter()
                    .map(|&x| x as f32)
                    .collect(),
            ),
        );
        let got = Value::new(
            out[0].shape.clone(),
            TensorBuf::F32(out[0].data.to_f64().iter().map(|&x| x as f32).collect()),
        );
        let diff = compare(&[got], &[expected], tol, tol).unwrap();
        assert_eq!(
            diff.outside_tolerance, 0,
            "{name} image {i}: {} of {} outside {tol:e} (max abs {:e})",
            diff.outside_tolerance, diff.elements, diff.max_abs
        );
    }
}

#[test]
fn float_models_match_litert_reference() {
    let names = manifest_names("float32");
    assert_eq!(names.len(), 5, "expected five float architectures");
    for name in names {
        check(&name, 1e-5);
    }
}

#[test]
fn float_models_round_trip_and_are_saved_for_litert() {
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/litert-cases");
    for name in manifest_names("float32") {
        let model = ferrolite::tflite::read_file(&dir().join(format!("{name}.tflite"))).unwrap();
        let bytes = ferrolite::tflite::write(&model).unwrap();
        assert_eq!(
            ferrolite::tflite::read(&bytes).unwrap(),
            model,
            "{name}: round trip"
        );
        let input = npy::read(&dir().join(format!("{name}.input.npy"))).unwrap();
        let case = cases.join(format!("roundtrip_extra_{name}"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), &bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(&input).unwrap()).unwrap();
    }
}
