//! Whole well-known architectures with random weights (fixtures/arch, made by
//! scripts/gen_arch_fixtures.py): MobileNetV3-Small, a U-Net with transposed convolutions
//! and a bilinear resize, an SSD-style detector head. TensorFlow's float32 and int8 files
//! against LiteRT's reference kernels (int8 bit-exact, float within 1e-5 relative, 1e-6
//! absolute near zero, as tests/op_fixtures.rs), and ferrolite's own int8
//! conversion of each float file, saved for scripts/litert-check.sh, which requires
//! LiteRT's outputs on it to be identical to ferrolite's.
//!
//! `RUNS` lists the architectures ferrolite runs; the others must be refused by name.

use std::path::{Path, PathBuf};

mod common;

use common::litert_mismatch as mismatch;
use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::quant::{self, Int8Options, IoType, Mode, Samples};

const RUNS: &[&str] = &["mobilenet_v3_small", "ssd_head", "unet"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn dir() -> PathBuf {
    root().join("fixtures/arch")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["models"].as_array().unwrap().clone()
}

/// A deterministic stream of uniform samples in `[lo, hi)` (a 64-bit LCG; the values only
/// need to spread over the range the model was calibrated for).
fn uniform(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            lo + (hi - lo) * ((s >> 40) as f32 / (1u64 << 24) as f32)
        })
        .collect()
}

#[test]
fn architectures_run_and_match_litert_or_are_refused_by_name() {
    let entries = manifest();
    assert_eq!(entries.len(), 6);
    let mut failures = Vec::new();
    let mut ran = 0;
    for e in &entries {
        let name = e["name"].as_str().unwrap();
        let arch = e["arch"].as_str().unwrap();
        let read = ferrolite::tflite::read_file(&dir().join(format!("{name}.tflite")));
        if !RUNS.contains(&arch) {
            match read {
                Err(err) if err.to_string().contains("does not support") => {}
                Err(err) => failures.push(format!("{name}: refused, but not by name: {err}")),
                Ok(_) => failures.push(format!("{name}: now loads; add '{arch}' to RUNS")),
            }
            continue;
        }
        let model = match read {
            Ok(m) => m,
            Err(err) => {
                failures.push(format!("{name}: {err}"));
                continue;
            }
        };
        let input = npy::read(&dir().join(format!("{name}.in0.npy"))).unwrap();
        let out = match Interpreter::new(model)
            .map_err(|e| e.to_string())
            .and_then(|mut i| i.run(&[input]).map_err(|e| e.to_string()))
        {
            Ok(o) => o,
            Err(err) => {
                failures.push(format!("{name}: {err}"));
                continue;
            }
        };
        let tag = e["output"].as_str().unwrap();
        let outputs = e["outputs"].as_u64().unwrap() as usize;
        if out.len() != outputs {
            failures.push(format!("{name}: {} outputs, LiteRT {outputs}", out.len()));
            continue;
        }
        for (i, o) in out.iter().enumerate() {
            let want = npy::read(&dir().join(format!("{name}.out{i}.{tag}.npy"))).unwrap();
            if o.shape != want.shape {
                failures.push(format!(
                    "{name} output {i}: shape {:?}, LiteRT {:?}",
                    o.shape, want.shape
                ));
            } else if let Some(m) = mismatch(&o.data, &want.data) {
                failures.push(format!("{name} output {i} (against LiteRT {tag}): {m}"));
            }
        }
        ran += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(ran, 2 * RUNS.len());
}

/// `convert --quantize int8` of each float architecture: calibrated on 8 samples of the
/// input distribution, written and read back, run by ferrolite on the fixture's input,
/// and saved as a LiteRT case (float IO around int8: the check demands identical values). The
/// float and int8 outputs must also agree on the top class / roughly in value, so a
/// conversion that runs but computes garbage fails here.
#[test]
fn ferrolites_int8_conversion_of_each_architecture_is_saved_for_litert() {
    for e in manifest() {
        let arch = e["arch"].as_str().unwrap();
        if e["kind"] != "float32" || !RUNS.contains(&arch) {
            continue;
        }
        let name = e["name"].as_str().unwrap();
        let float = ferrolite::tflite::read_file(&dir().join(format!("{name}.tflite"))).unwrap();
        let range = e["input_range"].as_array().unwrap();
        let (lo, hi) = (
            range[0].as_f64().unwrap() as f32,
            range[1].as_f64().unwrap() as f32,
        );
        let input_shape = float.graph.tensors[float.graph.inputs[0]].shape.clone();
        let per_sample: usize = input_shape.iter().product();
        let samples = Samples {
            inputs: (0..8)
                .map(|k| {
                    vec![Value::new(
                        input_shape.clone(),
                        TensorBuf::F32(uniform(k + 1, per_sample, lo, hi)),
                    )]
                })
                .collect(),
        };
        let options = Int8Options {
            io: IoType::Float32,
            per_tensor_dense: false,
        };
        let converted = quant::convert(&float, Mode::Int8, &options, Some(&samples))
            .unwrap_or_else(|err| panic!("{name}: {err}"))
            .model;
        let bytes = ferrolite::tflite::write(&converted).unwrap();
        let int8 = ferrolite::tflite::read(&bytes).unwrap();

        let x = npy::read(&dir().join(format!("{name}.in0.npy"))).unwrap();
        let want = Interpreter::new(float)
            .unwrap()
            .run(std::slice::from_ref(&x))
            .unwrap();
        let got = Interpreter::new(int8.clone())
            .unwrap()
            .run(std::slice::from_ref(&x))
            .unwrap();
        for (g, w) in got.iter().zip(&want) {
            let (g, w) = (g.data.to_f64(), w.data.to_f64());
            let span = w.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-6);
            let worst = g
                .iter()
                .zip(&w)
                .fold(0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                worst <= 0.25 * span,
                "{name}: int8 output is {worst} from float (largest |value| {span})"
            );
        }

        let case = root()
            .join("target/litert-cases")
            .join(format!("arch_{arch}_int8"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), &bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(&x).unwrap()).unwrap();
        // Float IO: the outputs are dequantized integers and must not differ at all.
        std::fs::write(case.join("exact"), b"float outputs must be bit-identical\n").unwrap();
    }
}
