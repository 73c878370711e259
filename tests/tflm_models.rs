//! tflite-micro's own example and benchmark models (fixtures/tflm, made by
//! scripts/gen_tflm_fixtures.py from a tflite-micro checkout) against LiteRT's reference
//! kernels: integer outputs bit-exact, float within 1e-5 relative.
//!
//! `RUNS` lists the models ferrolite must run and match; every other file must be refused
//! at load with a message naming the missing operator, so a newly supported op fails here
//! until its models join `RUNS`; the ones that load but cannot be planned yet are in
//! `REFUSED_WHEN_PLANNED` with the reason. keyword_scrambled_8bit (SVDF with an int8 state
//! that has a zero point, a tflite-micro-only variant) crashes LiteRT and has no
//! reference output.

use std::path::{Path, PathBuf};

mod common;

use common::litert_mismatch as mismatch;
use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf};

const RUNS: &[&str] = &[
    "hello_world_float",
    "hello_world_int8",
    "keyword_scrambled",
    "mnist_lstm",
    "micro_speech_quantized",
    "person_detect",
    "person_detect_person",
    "person_detect_no_person",
    "simple_add",
];

/// Models that load but that the planner refuses, with what its message must say.
const REFUSED_WHEN_PLANNED: &[(&str, &str)] = &[
    // An int8 state with a zero point (tflite-micro only; it crashes LiteRT).
    (
        "keyword_scrambled_8bit",
        "an int8 SVDF needs int16 time weights and state",
    ),
    // Integer LSTMs (int16 cell state, intermediate scales): not yet.
    ("mnist_lstm_int8", "only float32 LSTMs"),
    ("dtln_noise_suppression", "only float32 LSTMs"),
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflm")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["models"].as_array().unwrap().clone()
}

fn count(entry: &serde_json::Value, key: &str) -> usize {
    entry[key].as_u64().unwrap_or(0) as usize
}

/// Runs one manifest entry; its outputs, or a description of what went wrong.
fn run(entry: &serde_json::Value) -> Result<Vec<TensorBuf>, String> {
    let name = entry["name"].as_str().unwrap();
    let model = entry["model"].as_str().unwrap();
    let m = ferrolite::tflite::read_file(&dir().join(format!("{model}.tflite")))
        .map_err(|e| e.to_string())?;
    let inputs: Vec<_> = (0..count(entry, "inputs"))
        .map(|i| npy::read(&dir().join(format!("{name}.in{i}.npy"))).unwrap())
        .collect();
    let out = Interpreter::new(m)
        .map_err(|e| e.to_string())
        .and_then(|mut i| i.run(&inputs).map_err(|e| e.to_string()))?;
    let tag = entry["output"].as_str().unwrap();
    let mut got = Vec::new();
    for (i, o) in out.into_iter().enumerate() {
        let want = npy::read(&dir().join(format!("{name}.out{i}.{tag}.npy"))).unwrap();
        if o.shape != want.shape {
            return Err(format!(
                "output {i}: shape {:?}, LiteRT {:?}",
                o.shape, want.shape
            ));
        }
        if let Some(m) = mismatch(&o.data, &want.data) {
            return Err(format!("output {i} (against LiteRT {tag}): {m}"));
        }
        got.push(o.data);
    }
    if got.len() != count(entry, "outputs") {
        return Err(format!(
            "{} outputs, LiteRT {}",
            got.len(),
            count(entry, "outputs")
        ));
    }
    Ok(got)
}

#[test]
fn tflite_micro_models_run_and_match_litert_or_are_refused_by_name() {
    let entries = manifest();
    assert!(entries.len() >= 12, "the manifest lists {}", entries.len());
    let mut failures = Vec::new();
    let mut ran = 0;
    for e in &entries {
        let name = e["name"].as_str().unwrap();
        if RUNS.contains(&name) {
            match run(e) {
                Ok(_) => ran += 1,
                Err(why) => failures.push(format!("{name}: {why}")),
            }
            continue;
        }
        let model = e["model"].as_str().unwrap();
        match ferrolite::tflite::read_file(&dir().join(format!("{model}.tflite"))) {
            Err(err) if err.to_string().contains("does not support") => {}
            Err(err) => failures.push(format!("{name}: refused, but not by name: {err}")),
            Ok(m) => match REFUSED_WHEN_PLANNED.iter().find(|(n, _)| *n == name) {
                Some((_, why)) => match Interpreter::new(m) {
                    Err(err) if err.to_string().contains(why) => {}
                    Err(err) => {
                        failures.push(format!("{name}: refused, but not with '{why}': {err}"))
                    }
                    Ok(_) => failures.push(format!("{name}: now plans; add it to RUNS")),
                },
                None => failures.push(format!("{name}: now loads; add it to RUNS")),
            },
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(ran, RUNS.len());
}

/// tflite-micro's person-detection test: its person image scores higher as a person
/// (index 1), its other image higher as no person (index 0). The model's biases carry an
/// axis past their rank, which ferrolite tolerates as tflite-micro does.
#[test]
fn person_detection_tells_its_two_test_images_apart() {
    let entries = manifest();
    let score = |name: &str| -> Vec<f64> {
        let e = entries.iter().find(|e| e["name"] == name).unwrap();
        run(e).unwrap()[0].to_f64()
    };
    let person = score("person_detect_person");
    let no_person = score("person_detect_no_person");
    assert!(person[1] > person[0], "person image scored {person:?}");
    assert!(
        no_person[0] > no_person[1],
        "no-person image scored {no_person:?}"
    );

    let bytes = std::fs::read(dir().join("person_detect.tflite")).unwrap();
    let quirks = ferrolite::tflite::quirks(&bytes);
    assert_eq!(quirks.len(), 14, "{quirks:?}");
    assert!(quirks[0].contains("'MobilenetV1/MobilenetV1/Conv2d_0/Conv2D_bias' (8 scales, rank 1) says quantized_dimension 3"), "{}", quirks[0]);
}
