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

mod common;

use std::path::{Path, PathBuf};

use common::row;

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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

/// One layer per fused-activation kernel, written with inputs poisoned by NaN and ±inf to
/// target/litert-cases/, where `scripts/litert-check.sh` (in CI) runs them in LiteRT's
/// reference kernels and requires NaN against NaN, the same infinity, and finite values within
/// 1e-5. A single layer has no overflowing finite sums (the inputs are small or infinite, and
/// sums with infinite terms do not depend on their order), so every output is compared. Here
/// the test checks what holds whatever the runtime: ferrolite runs every case and passes NaN
/// through where an input NaN reaches every output.
#[test]
fn poisoned_single_layer_cases_for_the_litert_check() {
    use ferrolite::nn::{
        export, Activation, Conv2DConfig, DepthwiseConv2DConfig, LayerSpec, PoolConfig, Sequential,
    };
    let conv = |activation| {
        LayerSpec::Conv2D(Conv2DConfig {
            activation,
            ..Conv2DConfig::new(3, [3, 3])
        })
    };
    let depthwise = |activation| {
        LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig {
            activation,
            ..DepthwiseConv2DConfig::new([3, 3])
        })
    };
    let cases: Vec<(&str, Vec<LayerSpec>)> = vec![
        ("conv_none", vec![conv(Activation::Linear)]),
        ("conv_relu", vec![conv(Activation::Relu)]),
        ("conv_relu6", vec![conv(Activation::Relu6)]),
        ("depthwise_none", vec![depthwise(Activation::Linear)]),
        ("depthwise_relu", vec![depthwise(Activation::Relu)]),
        (
            "max_pool",
            vec![LayerSpec::MaxPooling2D(PoolConfig::new([2, 2]))],
        ),
        (
            "avg_pool",
            vec![LayerSpec::AveragePooling2D(PoolConfig::new([2, 2]))],
        ),
        (
            "dense_none",
            vec![LayerSpec::Flatten {}, LayerSpec::dense(7)],
        ),
        (
            "dense_relu",
            vec![
                LayerSpec::Flatten {},
                LayerSpec::dense_with(7, Activation::Relu),
            ],
        ),
        (
            "dense_relu6",
            vec![
                LayerSpec::Flatten {},
                LayerSpec::dense_with(7, Activation::Relu6),
            ],
        ),
    ];
    // Four 6×6×2 images: clean, one NaN, +inf and -inf in different places, a 2×2 NaN
    // block (a whole max-pool window of NaN gives the lowest float in TFLite).
    let (h, w, c) = (6, 6, 2);
    let per = h * w * c;
    let mut x: Vec<f32> = (0..4 * per)
        .map(|i| ((i * 37 % 19) as f32 - 9.0) / 7.0)
        .collect();
    x[per + 14] = f32::NAN;
    x[2 * per + 3] = f32::INFINITY;
    x[2 * per + 40] = f32::NEG_INFINITY;
    x[2 * per + 41] = f32::INFINITY;
    for (yy, xx) in [(2, 2), (2, 3), (3, 2), (3, 3)] {
        for ch in 0..c {
            x[3 * per + (yy * w + xx) * c + ch] = f32::NAN;
        }
    }
    let input = Value::new(vec![4, h, w, c], TensorBuf::F32(x));
    let out_root = root().join("target/litert-cases");
    let cases = cases
        .into_iter()
        .map(|(name, layers)| (name, layers, None))
        .chain([1, 4].map(|block| {
            (
                if block == 1 {
                    "dense_sparse_random_relu"
                } else {
                    "dense_sparse_1x4_relu"
                },
                vec![
                    LayerSpec::Flatten {},
                    LayerSpec::dense_with(16, Activation::Relu),
                ],
                Some(block),
            )
        }));
    for case in cases {
        let (name, layers, prune) = case;
        let mut model = Sequential::new(&[h, w, c], layers, 5).unwrap();
        if let Some(block) = prune {
            zero_most_dense_weights(&mut model, block);
        }
        let mut exported = export(&model).unwrap();
        if prune.is_some() {
            let (sparse, reports) = ferrolite::sparse::sparsify(
                &exported,
                &ferrolite::sparse::SparsifyOptions::default(),
            )
            .unwrap();
            assert_eq!(
                reports.len(),
                1,
                "{name}: the Dense kernel is stored sparse"
            );
            exported = sparse;
        }
        let bytes = ferrolite::tflite::write(&exported).unwrap();
        let mut interp = Interpreter::new(ferrolite::tflite::read(&bytes).unwrap()).unwrap();
        for i in 0..4 {
            let x = row(&input, i);
            let out = interp.run(&[x]).unwrap();
            let got = out[0].data.to_f64();
            if i == 1 && name.starts_with("dense") && prune.is_none() {
                // Every unit reads the NaN pixel: Σ w·x is NaN, and TFLite's clamp (and
                // its RELU) keep it. (A sparse kernel skips the zero weights, so there the
                // units whose weight for that pixel was pruned stay finite.)
                assert!(got.iter().all(|v| v.is_nan()), "{name}: {got:?}");
            }
            if i == 0 {
                assert!(got.iter().all(|v| v.is_finite()), "{name}: {got:?}");
            }
        }
        let case = out_root.join(format!("nan_{name}"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), &bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(&input).unwrap()).unwrap();
    }
}

/// Zeroes about 85% of the Dense kernel, in runs of `block` inputs of one unit (the 1×`block`
/// blocks of the exported [units, depth] weight), so that the converter stores it sparse.
fn zero_most_dense_weights(model: &mut ferrolite::nn::Sequential, block: usize) {
    for layer in model.layers_mut() {
        for p in layer.params_mut() {
            if p.name != "kernel" {
                continue;
            }
            let units = 16;
            let depth = p.value.len() / units;
            for d in 0..depth {
                for u in 0..units {
                    if !(u * 5 + (d / block) * 3).is_multiple_of(7) {
                        p.value[d * units + u] = 0.0;
                    }
                }
            }
        }
    }
}
