//! The command line as a user meets it: outputs on good input, one-line errors and a
//! non-zero exit on bad input, never a panic, never an overwritten input.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{assert_one_line_error, bin};

fn scratch(tag: &str) -> PathBuf {
    common::scratch(&format!("cli-{tag}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tflite")
        .join(name)
}

#[test]
fn missing_model_file_is_one_line() {
    let out = bin()
        .args(["inspect", "/nonexistent/model.tflite"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "/nonexistent/model.tflite");
}

#[test]
fn truncated_model_is_one_line() {
    let d = scratch("trunc");
    let bytes = std::fs::read(fixture("mnist_cnn_float32.tflite")).unwrap();
    let path = d.join("cut.tflite");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let out = bin().arg("inspect").arg(&path).output().unwrap();
    assert_one_line_error(&out, "cut.tflite");
}

#[test]
fn wrong_input_dtype_is_one_line() {
    let d = scratch("dtype");
    // The int8 model's input fed to the float model.
    let out = bin()
        .arg("run")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("--input")
        .arg(fixture("mnist_cnn_int8.input.npy"))
        .arg("--output")
        .arg(d.join("o.npy"))
        .output()
        .unwrap();
    assert_one_line_error(&out, "int8");
}

#[test]
fn wrong_input_shape_is_one_line() {
    let d = scratch("shape");
    let out = bin()
        .arg("run")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("--input")
        .arg(fixture("mnist_cnn_float32.output.ref.npy"))
        .arg("--output")
        .arg(d.join("o.npy"))
        .output()
        .unwrap();
    assert_one_line_error(&out, "shape");
}

#[test]
fn run_writes_the_reference_output() {
    let d = scratch("run");
    let out_path = d.join("out.npy");
    let out = bin()
        .arg("run")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("--input")
        .arg(fixture("mnist_cnn_float32.input.npy"))
        .arg("--output")
        .arg(&out_path)
        .output()
        .unwrap();
    common::assert_success(&out);
    let ours = ferrolite::data::npy::read(&out_path).unwrap();
    let reference =
        ferrolite::data::npy::read(&fixture("mnist_cnn_float32.output.ref.npy")).unwrap();
    let diff = ferrolite::verify::compare(&[ours], &[reference], 1e-5, 1e-5).unwrap();
    assert_eq!(diff.outside_tolerance, 0);
}

#[test]
fn convert_refuses_to_overwrite_its_input() {
    let d = scratch("convert");
    let model = d.join("m.tflite");
    let original = std::fs::read(fixture("mnist_mlp_float32.tflite")).unwrap();
    std::fs::write(&model, &original).unwrap();
    let out = bin()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(d.join(".").join("m.tflite"))
        .output()
        .unwrap();
    assert_one_line_error(&out, "input");
    assert_eq!(std::fs::read(&model).unwrap(), original);
    let out = bin()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(d.join("n.tflite"))
        .output()
        .unwrap();
    common::assert_success(&out);
    assert!(ferrolite::tflite::read(&std::fs::read(d.join("n.tflite")).unwrap()).is_ok());
}

#[test]
fn eval_json_is_the_last_stdout_line() {
    let out = bin()
        .arg("eval")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .args(["--limit", "200", "--json"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["samples"], 200);
    let acc = v["accuracy"].as_f64().unwrap();
    assert!(acc > 0.8 && acc <= 1.0, "{acc}");
    assert!(v["seconds"].as_f64().unwrap() >= 0.0);
}

#[test]
fn inspect_json_reports_arena_and_sizes() {
    let out = bin()
        .arg("inspect")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("--json")
        .output()
        .unwrap();
    common::assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["file_bytes"], 84924);
    assert!(v["arena_bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["operators"].as_array().unwrap().len(), 8);
}

fn verify_json(model: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let out = bin()
        .arg("verify")
        .arg(model)
        .args(["--json"])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or("");
    let json = serde_json::from_str(last).unwrap_or(serde_json::Value::Null);
    (out, json)
}

/// Issue 5: tract runs an int8-IO model written by ferrolite's own converter, and
/// `verify` reports it in quantized steps.
#[test]
#[cfg(feature = "tract")]
fn verify_cross_checks_a_ferrolite_int8_model_with_tract() {
    let d = scratch("verify-int8");
    let model = d.join("int8.tflite");
    let out = bin()
        .arg("convert")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("-o")
        .arg(&model)
        .args(["--quantize", "int8", "--io", "int8"])
        .output()
        .unwrap();
    common::assert_success(&out);
    let (out, json) = verify_json(&model, &[]);
    common::assert_success(&out);
    assert_eq!(json["agree"], serde_json::json!(true), "{json}");
    assert_eq!(json["elements"], serde_json::json!(80), "{json}");
    let steps = json["max_quantized_steps"].as_f64().unwrap();
    assert!(steps <= 1.0, "{json}");
    assert!(
        json["tract_model"].as_str().unwrap().contains("twin"),
        "{json}"
    );
}

/// A uint8-IO model starts with a QUANTIZE that tract has no op for: `verify` checks
/// it against QUANTIZE's formula and the rest with tract, operator by operator.
#[test]
#[cfg(feature = "tract")]
fn verify_checks_the_op_tract_lacks_by_its_formula() {
    let (out, json) = verify_json(&fixture("mnist_cnn_int8_uint8_io.tflite"), &[]);
    assert!(out.status.success(), "{json}");
    assert_eq!(json["ops"][0]["op"], "QUANTIZE", "{json}");
    assert_eq!(json["ops"][0]["checked_by"], "formula", "{json}");
}

/// tract 0.23 panics on this valid TensorFlow file (MEAN with negative axes); `verify`
/// says so in one phrase and checks the lowered twin instead.
#[test]
#[cfg(feature = "tract")]
fn verify_survives_a_tract_panic() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/extra/raw_ops_float32.tflite");
    let (out, json) = verify_json(&model, &[]);
    assert!(out.status.success(), "{json}");
    assert!(
        json["tract_original_error"]
            .as_str()
            .unwrap()
            .contains("tract crashed"),
        "{json}"
    );
}

/// Every model command also takes a model directory from `ferrolite train`.
#[test]
fn model_commands_take_a_trained_model_directory() {
    let d = scratch("dir-input");
    let model = d.join("mlp");
    let out = bin()
        .args([
            "train",
            "--preset",
            "mnist-mlp",
            "--epochs",
            "1",
            "--limit",
            "512",
            "--out",
        ])
        .arg(&model)
        .output()
        .unwrap();
    common::assert_success(&out);
    let out = bin().arg("inspect").arg(&model).output().unwrap();
    common::assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("FULLY_CONNECTED"));
    let out = bin()
        .args(["eval", "--limit", "100", "--json"])
        .arg(&model)
        .output()
        .unwrap();
    common::assert_success(&out);
    let json: serde_json::Value = common::last_line_json(&out);
    assert_eq!(json["samples"], serde_json::json!(100));
    let out = bin()
        .arg("bench")
        .arg(&model)
        .args(["--seconds", "0.1"])
        .output()
        .unwrap();
    common::assert_success(&out);
}

/// Issue 5: the same input and flags give the same bytes, run after run (two processes,
/// so hash seeds and allocation addresses differ).
#[test]
fn quantized_conversion_is_byte_reproducible() {
    let d = scratch("reproducible");
    for mode in ["int8", "dynamic", "float16"] {
        let mut files = Vec::new();
        for run in 0..2 {
            let path = d.join(format!("{mode}-{run}.tflite"));
            let out = bin()
                .arg("convert")
                .arg(fixture("mnist_cnn_float32.tflite"))
                .arg("-o")
                .arg(&path)
                .args(["--quantize", mode])
                .args(if mode == "int8" {
                    &["--io", "uint8"][..]
                } else {
                    &[]
                })
                .output()
                .unwrap();
            common::assert_success(&out);
            files.push(std::fs::read(&path).unwrap());
        }
        assert!(!files[0].is_empty());
        assert!(files[0] == files[1], "{mode}: two conversions differ");
    }
}

/// A flag that would do nothing is an error, not silently ignored.
#[test]
fn convert_refuses_io_without_int8() {
    let d = scratch("io-flag");
    let out = bin()
        .arg("convert")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("-o")
        .arg(d.join("f16.tflite"))
        .args(["--quantize", "float16", "--io", "uint8"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "--io applies to --quantize int8 only");
    assert!(!d.join("f16.tflite").exists());
}

#[test]
fn mnist_is_found_at_run_time_from_any_directory() {
    // Run from a directory with no fixtures/: the binary finds the clone's MNIST from
    // its own location, not from a path baked in at build time.
    let d = scratch("data-lookup");
    let model = fixture("mnist_cnn_float32.tflite");
    let out = bin()
        .current_dir(&d)
        .env_remove("FERROLITE_DATA")
        .args(["eval", model.to_str().unwrap(), "--limit", "50"])
        .output()
        .unwrap();
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_ferrolite"));
    if exe.starts_with(env!("CARGO_MANIFEST_DIR")) {
        common::assert_success(&out);
    } else {
        // Built outside the clone (CARGO_TARGET_DIR elsewhere): nothing to find beside
        // the binary, so the error must say how to point at the data.
        assert_one_line_error(&out, "FERROLITE_DATA");
    }
    // FERROLITE_DATA wins, and a wrong one is named in the error.
    let out = bin()
        .current_dir(&d)
        .env("FERROLITE_DATA", "/nonexistent/mnist-here")
        .args(["eval", model.to_str().unwrap(), "--limit", "50"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "/nonexistent/mnist-here");
}

/// Issue 13: the global --threads reaches the interpreter of bench and eval: bench
/// reports the threads its batch ran on and, with --against-threads, the other count;
/// eval's answers do not depend on the thread count.
#[test]
fn threads_reach_bench_and_eval() {
    let model = fixture("mnist_cnn_int8.tflite");
    let out = bin()
        .args(["--threads", "2", "bench", "--batch-size", "3", "--no-tract"])
        .args(["--seconds", "0.2", "--against-threads", "1", "--json"])
        .arg(&model)
        .output()
        .unwrap();
    common::assert_success(&out);
    let json: serde_json::Value = common::last_line_json(&out);
    assert_eq!(json["threads"], serde_json::json!(2));
    assert_eq!(json["batch"], serde_json::json!(3));
    assert_eq!(json["against"]["threads"], serde_json::json!(1));
    assert!(json["ferrolite_us"].as_f64().unwrap() > 0.0);
    assert!(json["ferrolite_us_per_image"].as_f64().unwrap() > 0.0);

    let correct = |threads: &str| {
        let out = bin()
            .args([
                "--threads",
                threads,
                "eval",
                "--limit",
                "250",
                "--batch-size",
            ])
            .args(["64", "--json"])
            .arg(&model)
            .output()
            .unwrap();
        common::assert_success(&out);
        let json: serde_json::Value = common::last_line_json(&out);
        json["correct"].clone()
    };
    assert_eq!(correct("1"), correct("2"));
}
