//! Issue 15: nonsense is refused in one line, argument errors are short, and the
//! small things users read are right (counts, shapes, examples in every help).

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{assert_one_line_error, bin};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tflite")
        .join(name)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn eval_limit_0_is_refused() {
    let out = bin()
        .arg("eval")
        .arg(fixture("mnist_cnn_int8.tflite"))
        .args(["--limit", "0"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "--limit 0");
}

#[test]
fn train_epochs_0_is_refused_and_writes_nothing() {
    let d = common::scratch("nonsense-epochs");
    let out = bin()
        .args([
            "train",
            "--preset",
            "mnist-mlp",
            "--epochs",
            "0",
            "--limit",
            "100",
        ])
        .arg("--out")
        .arg(d.join("m"))
        .output()
        .unwrap();
    assert_one_line_error(&out, "--epochs 0");
    assert!(!d.join("m").join("model.json").exists());
}

#[test]
fn conflicting_calibration_flags_are_refused() {
    let d = common::scratch("nonsense-calibration");
    let out = bin()
        .arg("convert")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("-o")
        .arg(d.join("x.tflite"))
        .args([
            "--quantize",
            "int8",
            "--calibration",
            "5",
            "--calibration-npy",
        ])
        .arg(fixture("mnist_cnn_float32.input.npy"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
    // A calibration flag where nothing is calibrated.
    let out = bin()
        .arg("convert")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg("-o")
        .arg(d.join("y.tflite"))
        .args(["--quantize", "dynamic", "--calibration", "5"])
        .output()
        .unwrap();
    assert_one_line_error(&out, "--calibration");
    assert!(!d.join("y.tflite").exists());
}

#[test]
fn quantizing_a_quantized_model_says_so() {
    let d = common::scratch("nonsense-requantize");
    for mode in ["int8", "dynamic", "float16"] {
        let out = bin()
            .arg("convert")
            .arg(fixture("mnist_cnn_int8.tflite"))
            .arg("-o")
            .arg(d.join("again.tflite"))
            .args(["--quantize", mode])
            .output()
            .unwrap();
        assert_one_line_error(&out, "already quantized");
    }
}

/// Keras holds out the last ⌊…⌋ images: floor(2000 · (1 − 0.1)) = 1800 train.
#[test]
fn validation_split_count_matches_keras() {
    let d = common::scratch("nonsense-split");
    let out = bin()
        .args([
            "train",
            "--preset",
            "mnist-mlp",
            "--epochs",
            "1",
            "--limit",
            "2000",
            "--validation-split",
            "0.1",
            "--json",
            "--out",
        ])
        .arg(d.join("m"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(json["train_samples"], 1800);
    // The human lines (on stderr under --json): the count and one epoch, singular.
    let err = stderr(&out);
    assert!(
        err.contains("on 1,800 of 2,000 MNIST images (200 held out for validation), 1 epoch,"),
        "{err}"
    );
}

#[test]
fn inspect_shows_the_resizable_batch_as_minus_1() {
    let out = bin()
        .arg("inspect")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("inputs:") && l.ends_with("float32 [-1, 28, 28]")),
        "{stdout}"
    );
}

/// One line saying what is wrong, one with the usage; exit status 2.
#[test]
fn argument_errors_are_short() {
    for args in [
        &["train", "--preset", "nope", "--out", "x"][..],
        &["train", "--out", "x"],
        &["verify", "--bogus", "x"],
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{args:?}: {err}");
        assert!(lines[0].starts_with("error: "), "{err}");
        assert!(
            lines[1].contains(&format!("ferrolite {} --help", args[0])),
            "{err}"
        );
    }
}

#[test]
fn every_subcommand_help_has_examples() {
    for command in [
        "inspect",
        "run",
        "eval",
        "verify",
        "convert",
        "bench",
        "compare",
        "train",
        "prune",
        "distill",
        "summary",
        "experiment",
    ] {
        let out = bin().args([command, "--help"]).output().unwrap();
        assert!(out.status.success(), "{command}");
        let help = String::from_utf8_lossy(&out.stdout);
        let examples = help
            .split("Examples:")
            .nth(1)
            .unwrap_or_else(|| panic!("{command} --help has no examples"));
        let shown = examples
            .lines()
            .filter(|l| l.trim_start().starts_with(&format!("ferrolite {command}")))
            .count();
        assert!(shown >= 2, "{command}: {shown} examples");
    }
}

/// `evaluate` is `eval` under its old name: a model directory or a .tflite.
#[test]
fn evaluate_is_eval() {
    let out = bin()
        .args(["evaluate", "--limit", "20", "--json"])
        .arg(fixture("mnist_cnn_int8.tflite"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let eval = bin()
        .args(["eval", "--limit", "20", "--json"])
        .arg(fixture("mnist_cnn_int8.tflite"))
        .output()
        .unwrap();
    let last = |o: &Output| {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(s.lines().last().unwrap()).unwrap();
        (v["correct"].clone(), v["samples"].clone())
    };
    assert_eq!(last(&out), last(&eval));
}

/// Every command that writes takes -o/--output (the old --out still works), and
/// replaces an existing output only with --force.
#[test]
fn one_output_flag_and_force_everywhere() {
    let d = common::scratch("vocabulary");
    let model = d.join("m");
    for flag in ["-o", "--output", "--out"] {
        let out = bin()
            .args([
                "train",
                "--preset",
                "mnist-mlp",
                "--epochs",
                "1",
                "--limit",
                "200",
            ])
            .arg(flag)
            .arg(&model)
            .arg("--force")
            .output()
            .unwrap();
        assert!(out.status.success(), "train {flag}: {}", stderr(&out));
    }
    let tflite = d.join("m.tflite");
    for flag in ["-o", "--output", "--out"] {
        let _ = std::fs::remove_file(&tflite);
        let out = bin()
            .arg("convert")
            .arg(&model)
            .arg(flag)
            .arg(&tflite)
            .output()
            .unwrap();
        assert!(out.status.success(), "convert {flag}: {}", stderr(&out));
    }
    // convert refuses to replace without --force, and replaces with it.
    let out = bin()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(&tflite)
        .output()
        .unwrap();
    assert_one_line_error(&out, "--force");
    let out = bin()
        .arg("convert")
        .arg(&model)
        .arg("-o")
        .arg(&tflite)
        .arg("--force")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // One batch flag name; the old --batch still works.
    for flag in ["--batch-size", "--batch"] {
        let out = bin()
            .args(["eval", "--limit", "20", flag, "7"])
            .arg(&tflite)
            .output()
            .unwrap();
        assert!(out.status.success(), "eval {flag}: {}", stderr(&out));
    }
    let out = bin()
        .arg("bench")
        .arg(&tflite)
        .args([
            "--batch-size",
            "2",
            "--seconds",
            "0.05",
            "--no-tract",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(json["batch"], 2);
    assert!(json["tract_us"].is_null(), "{json}");
}

#[test]
fn eval_prints_its_rate_as_whole_images_per_second() {
    let out = bin()
        .arg("eval")
        .arg(fixture("mnist_cnn_int8.tflite"))
        .args(["--limit", "200"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    let line = text
        .lines()
        .find(|l| l.contains("images/s"))
        .unwrap_or_else(|| panic!("no rate in {text}"));
    // "(95,033 images/s)": digits in groups of three, no fraction (it once printed
    // "9,053.8393/s").
    let rate = line
        .rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(" images/s)"))
        .unwrap_or_else(|| panic!("rate not at the end of: {line}"));
    let groups: Vec<&str> = rate.split(',').collect();
    assert!(
        groups[0].len() <= 3
            && !groups[0].is_empty()
            && groups[1..].iter().all(|g| g.len() == 3)
            && rate.bytes().all(|b| b.is_ascii_digit() || b == b','),
        "{line}"
    );
}
