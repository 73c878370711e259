//! NaN and infinities through every float kernel, as LiteRT's reference kernels treat them
//! (fixtures/nan, made by scripts/gen_nan_fixtures.py from the TensorFlow-made fixtures).
//!
//! TFLite clamps fused activations with min(max(x, lo), hi) written as comparisons, so a NaN
//! stays NaN, and the open end of a range is ±f32::MAX, so ±inf comes out finite; its max pool
//! skips NaN taps and gives the lowest float for a window of NaN only. A kernel that used
//! f32::max/min would turn NaN into the lower bound instead, one with ±inf bounds would let
//! infinities through, and the outputs below would differ.
//!
//! Where LiteRT saw an intermediate of magnitude ≥ 1e30 for an image (the lowest float from an
//! all-NaN pool window, multiplied by the next layer), a sum overflowed, and whether it ended at
//! ±inf, NaN or a finite value depends on the order of its terms, which ferrolite's float
//! kernels may change within their tolerance (and a LOGISTIC or TANH after it squashes the
//! difference into ordinary values); those images are only run, not compared.

use std::path::{Path, PathBuf};

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn row(v: &Value, i: usize) -> Value {
    let per = v.data.len() / v.shape[0];
    let TensorBuf::F32(d) = &v.data else {
        panic!("poisoned inputs are float32");
    };
    let mut shape = v.shape.clone();
    shape[0] = 1;
    Value::new(shape, TensorBuf::F32(d[i * per..(i + 1) * per].to_vec()))
}

/// Same class (NaN, +inf, -inf or finite) everywhere, finite values within `tol`
/// absolute + relative.
fn mismatches(got: &[f64], want: &[f64], tol: f64) -> Vec<(usize, f64, f64)> {
    got.iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (&g, &w))| {
            if w.is_nan() || g.is_nan() {
                !(w.is_nan() && g.is_nan())
            } else if w.is_infinite() || g.is_infinite() {
                g != w
            } else {
                (g - w).abs() > tol + tol * w.abs()
            }
        })
        .map(|(i, (&g, &w))| (i, g, w))
        .collect()
}

#[test]
fn nan_and_infinities_propagate_as_in_litert_reference() {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/nan/manifest.json")).unwrap(),
    )
    .unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 10,
        "the generator made {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut nan_outputs_seen = 0;
    let mut strict_images = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let model_path = root().join(case["model"].as_str().unwrap());
        let model = ferrolite::tflite::read_file(Path::new(&model_path)).unwrap();
        let input = npy::read(&root().join(format!("fixtures/nan/{name}.input.npy"))).unwrap();
        let reference =
            npy::read(&root().join(format!("fixtures/nan/{name}.output.ref.npy"))).unwrap();
        let want = reference.data.to_f64();
        let per = want.len() / input.shape[0];
        let overflow = case["overflowed"].as_array().unwrap();
        let mut interp = Interpreter::new(model).unwrap();
        for i in 0..input.shape[0] {
            let strict = !overflow[i].as_bool().unwrap();
            strict_images += usize::from(strict);
            let out = interp.run(&[row(&input, i)]).unwrap();
            let got = out[0].data.to_f64();
            let expected = &want[i * per..(i + 1) * per];
            assert_eq!(got.len(), per, "{name} image {i}: output size");
            if !strict {
                continue;
            }
            nan_outputs_seen += expected.iter().filter(|x| x.is_nan()).count();
            let bad = mismatches(&got, expected, 1e-5);
            if !bad.is_empty() {
                failures.push(format!(
                    "{name} image {i}: {} of {per} differ, first (index, ours, LiteRT) {:?}",
                    bad.len(),
                    &bad[..bad.len().min(3)]
                ));
            }
        }
    }
    // The fixtures must exercise NaN outputs at all, or this test could not fail.
    assert!(
        nan_outputs_seen > 100,
        "only {nan_outputs_seen} NaN outputs"
    );
    assert!(
        strict_images >= 15,
        "only {strict_images} images compared strictly"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
