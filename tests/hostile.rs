//! Issue 14, as a hostile user would try it through the binary: absurd architectures,
//! special files, interrupted writes, damaged files. Every case must end with one clear
//! line on stderr and a non-zero exit, promptly and without a panic.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{assert_one_line_error, bin};

fn scratch(tag: &str) -> PathBuf {
    common::scratch(&format!("hostile-{tag}"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// An MNIST architecture: [28, 28] input, then `layers` (JSON objects as text).
fn arch_json(layers: &[String]) -> String {
    format!(
        r#"{{"name": "hostile", "input_shape": [28, 28], "layers": [{}]}}"#,
        layers.join(", ")
    )
}

fn layer(name: &str, class: &str, config: &str) -> String {
    format!(r#"{{"name": "{name}", "class_name": "{class}", "config": {config}}}"#)
}

fn reshape() -> String {
    layer("reshape", "Reshape", r#"{"target_shape": [28, 28, 1]}"#)
}

fn dense(name: &str, units: &str) -> String {
    layer(name, "Dense", &format!(r#"{{"units": {units}}}"#))
}

fn mlp(units: &str) -> String {
    arch_json(&[
        layer("flatten", "Flatten", "{}"),
        dense("dense", units),
        dense("dense_1", "10"),
    ])
}

fn conv(filters: &str, then: &str) -> String {
    arch_json(&[
        reshape(),
        layer(
            "conv2d",
            "Conv2D",
            &format!(r#"{{"filters": {filters}, "kernel_size": [3, 3]}}"#),
        ),
        layer("then", then, "{}"),
        dense("dense", "10"),
    ])
}

fn pool(size: &str, padding: &str) -> String {
    arch_json(&[
        reshape(),
        layer(
            "max_pooling2d",
            "MaxPooling2D",
            &format!(r#"{{"pool_size": [{size}, 1], "padding": "{padding}"}}"#),
        ),
        layer("flatten", "Flatten", "{}"),
        dense("dense", "10"),
    ])
}

/// A model directory whose model.json holds `arch`, with a weights file of a few bytes
/// (the architecture must be refused before the weights are looked at).
fn model_dir(root: &Path, tag: &str, arch: &str) -> PathBuf {
    let dir = root.join(tag);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("model.json"),
        format!(r#"{{"format": "ferrolite-model", "format_version": 1, "architecture": {arch}}}"#),
    )
    .unwrap();
    std::fs::write(dir.join("model.safetensors"), b"tiny").unwrap();
    dir
}

/// The cases of the issue: what the JSON says, and what the one-line error must name.
fn absurd_architectures() -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        (
            "units-2^63",
            mlp("9223372036854775808"),
            vec![
                "layer dense",
                "units 9223372036854775808",
                "FERROLITE_MAX_WEIGHTS",
            ],
        ),
        (
            "units-10^7",
            mlp("10000000"),
            vec!["layer dense", "units 10000000", "100000000 weights"],
        ),
        (
            "units-2^31",
            mlp("2147483648"),
            vec!["layer dense", "units 2147483648", "FERROLITE_MAX_WEIGHTS"],
        ),
        (
            "units-10^12",
            mlp("1000000000000"),
            vec![
                "layer dense",
                "units 1000000000000",
                "FERROLITE_MAX_WEIGHTS",
            ],
        ),
        (
            "filters-10^9",
            conv("1000000000", "Flatten"),
            vec![
                "layer conv2d",
                "filters 1000000000",
                "FERROLITE_MAX_WEIGHTS",
            ],
        ),
        (
            // 100,000 filters then Flatten: the Dense behind it needs 676 M weights.
            "filters-100000",
            conv("100000", "Flatten"),
            vec!["layer dense", "67600000 inputs", "FERROLITE_MAX_WEIGHTS"],
        ),
        (
            "pool-2^63-same",
            pool("9223372036854775808", "same"),
            vec![
                "layer max_pooling2d",
                "pool_size [9223372036854775808, 1]",
                "28×28",
            ],
        ),
        (
            "pool-2^63-valid",
            pool("9223372036854775808", "valid"),
            vec![
                "layer max_pooling2d",
                "pool_size [9223372036854775808, 1]",
                "28×28",
            ],
        ),
    ]
}

#[test]
fn train_refuses_absurd_architectures_before_allocating() {
    let d = scratch("arch-train");
    for (tag, arch, names) in absurd_architectures() {
        let path = d.join(format!("{tag}.json"));
        std::fs::write(&path, arch).unwrap();
        let out = run(&[
            "train",
            "--arch",
            s(&path),
            "--out",
            s(&d.join(format!("{tag}-model"))),
            "--epochs",
            "1",
            "--limit",
            "64",
        ]);
        for name in names {
            assert_one_line_error(&out, name);
        }
        assert!(!d.join(format!("{tag}-model")).exists(), "{tag}");
    }
}

#[test]
fn every_command_refuses_the_same_model_json() {
    let d = scratch("arch-load");
    let out_file = d.join("out.tflite");
    for (tag, arch, names) in absurd_architectures() {
        let dir = model_dir(&d, tag, &arch);
        for args in [
            vec!["summary", s(&dir)],
            vec!["evaluate", s(&dir), "--limit", "10"],
            vec!["convert", s(&dir), "-o", s(&out_file)],
            vec![
                "prune",
                s(&dir),
                "-o",
                s(&d.join("pruned")),
                "--limit",
                "64",
            ],
            vec![
                "distill",
                "--teacher",
                s(&dir),
                "--student-preset",
                "mnist-student",
                "-o",
                s(&d.join("student")),
                "--limit",
                "64",
            ],
        ] {
            let out = run(&args);
            for name in &names {
                assert_one_line_error(&out, name);
            }
            assert_one_line_error(&out, "model.json");
        }
        assert!(!out_file.exists());
    }
}

/// 100,000 filters then global pooling: a million weights, but 270 MB of activations per
/// image, so the default batch of 32 would need 8.7 GB.
#[test]
fn activation_memory_is_bounded_per_batch() {
    let d = scratch("arch-activations");
    let path = d.join("wide.json");
    std::fs::write(&path, conv("100000", "GlobalAveragePooling2D")).unwrap();
    let out = run(&[
        "train",
        "--arch",
        s(&path),
        "--out",
        s(&d.join("m")),
        "--limit",
        "64",
    ]);
    assert_one_line_error(&out, "a batch of 32");
    assert_one_line_error(&out, "--batch-size to at most 15");
    assert_one_line_error(&out, "FERROLITE_MAX_ACTIVATION_BYTES");
}
