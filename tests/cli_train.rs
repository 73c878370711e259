//! train / evaluate / summary / convert through the binary, as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::{assert_one_line_error, bin};

fn scratch(tag: &str) -> PathBuf {
    common::scratch(&format!("cli-train-{tag}"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The JSON object on the last stdout line.
fn last_json(out: &Output) -> serde_json::Value {
    let stdout = ok(out);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn train_evaluate_summary_convert_eval() {
    let d = scratch("flow");
    let model = d.join("mlp");
    let out = run(&[
        "train",
        "--preset",
        "mnist-mlp",
        "--epochs",
        "2",
        "--limit",
        "3000",
        "--validation-split",
        "0.25",
        "--out",
        s(&model),
        "--json",
    ]);
    let j = last_json(&out);
    let epochs = j["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 2);
    for e in epochs {
        assert!(e["seconds"].as_f64().unwrap() > 0.0);
        assert!(e["loss"].as_f64().unwrap() > 0.0);
        assert!(e["val_accuracy"].as_f64().is_some());
    }
    // Training goes somewhere: the second epoch has the lower loss.
    assert!(epochs[1]["loss"].as_f64() < epochs[0]["loss"].as_f64());
    assert_eq!(j["train_samples"], 2250);
    let test_acc = j["test_accuracy"].as_f64().unwrap();
    assert!(test_acc > 0.8, "{test_acc}");
    // Human lines went to stderr under --json.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("epoch 2/2: loss"), "{stderr}");
    assert!(stderr.contains("val_acc"), "{stderr}");
    assert!(stderr.contains("saved"), "{stderr}");
    assert!(model.join("model.json").is_file() && model.join("model.safetensors").is_file());

    // evaluate reports the same float accuracy the training run measured.
    let e = last_json(&run(&["evaluate", s(&model), "--json"]));
    assert_eq!(e["samples"], 10_000);
    assert!((e["accuracy"].as_f64().unwrap() - test_acc).abs() < 1e-6);

    // summary: Keras' table with the mlp's weight counts (784·128+128, 128·10+10).
    let sum = ok(&run(&["summary", s(&model)]));
    assert!(
        sum.contains("dense (Dense)") && sum.contains("100480"),
        "{sum}"
    );
    assert!(sum.contains("Total params: 101770"), "{sum}");
    assert!(sum.contains("Trainable params: 101770"), "{sum}");
    let preset = ok(&run(&["summary", "--preset", "mnist-cnn"]));
    assert!(preset.contains("conv2d (Conv2D)") && preset.contains("(None, 26, 26, 12)"));
    assert!(preset.contains("Total params: 20410"), "{preset}"); // 3·3·12+12 + 2028·10+10

    // convert then eval the .tflite: same accuracy as the float model.
    let tflite = d.join("mlp.tflite");
    ok(&run(&["convert", s(&model), "-o", s(&tflite)]));
    let t = last_json(&run(&["eval", s(&tflite), "--json"]));
    assert!(
        (t["accuracy"].as_f64().unwrap() - test_acc).abs() <= 2e-4,
        "tflite {} vs model {test_acc}",
        t["accuracy"]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn same_seed_same_weights_and_force_overwrites() {
    let d = scratch("seed");
    let args = |out: &Path, seed: &str| {
        vec![
            "train".to_string(),
            "--preset".into(),
            "mnist-cnn".into(),
            "--epochs".into(),
            "1".into(),
            "--limit".into(),
            "500".into(),
            "--seed".into(),
            seed.into(),
            "--out".into(),
            s(out).into(),
        ]
    };
    let weights = |dir: &Path| std::fs::read(dir.join("model.safetensors")).unwrap();
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    ok(&bin().args(args(&a, "7")).output().unwrap());
    ok(&bin().args(args(&b, "7")).output().unwrap());
    ok(&bin().args(args(&c, "8")).output().unwrap());
    assert_eq!(weights(&a), weights(&b));
    assert_ne!(weights(&a), weights(&c));

    // An existing model is kept unless --force.
    assert_one_line_error(&bin().args(args(&a, "8")).output().unwrap(), "--force");
    assert_eq!(weights(&a), weights(&b));
    let mut forced = args(&a, "8");
    forced.push("--force".into());
    ok(&bin().args(forced).output().unwrap());
    assert_eq!(weights(&a), weights(&c));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn train_from_an_architecture_file() {
    let d = scratch("arch");
    let arch = d.join("arch.json");
    std::fs::write(
        &arch,
        r#"{"name": "tiny", "input_shape": [28, 28], "layers": [
            {"name": "reshape", "class_name": "Reshape", "config": {"target_shape": [28, 28, 1]}},
            {"name": "conv", "class_name": "Conv2D",
             "config": {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2], "activation": "relu"}},
            {"name": "bn", "class_name": "BatchNormalization", "config": {}},
            {"name": "gap", "class_name": "GlobalAveragePooling2D", "config": {}},
            {"name": "logits", "class_name": "Dense", "config": {"units": 10}}]}"#,
    )
    .unwrap();
    let model = d.join("tiny");
    let out = run(&[
        "train",
        "--arch",
        s(&arch),
        "--epochs",
        "1",
        "--limit",
        "300",
        "--optimizer",
        "sgd",
        "--learning-rate",
        "0.05",
        "--momentum",
        "0.9",
        "--out",
        s(&model),
    ]);
    ok(&out);
    let sum = ok(&run(&["summary", s(&model)]));
    assert!(sum.contains("bn (BatchNormalization)"), "{sum}");
    assert!(sum.contains("Non-trainable params: 8"), "{sum}"); // moving mean + variance
    assert!(sum.contains("sgd(momentum=0.9)"), "{sum}");
    // The BN follows a ReLU, so it cannot fold: MUL + ADD in the .tflite.
    let tflite = d.join("tiny.tflite");
    ok(&run(&["convert", s(&model), "-o", s(&tflite)]));
    let inspect = ok(&run(&["inspect", s(&tflite)]));
    assert!(
        inspect.contains("MUL") && inspect.contains("MEAN"),
        "{inspect}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn errors_are_one_line() {
    let d = scratch("errors");
    let out_dir = d.join("m");
    let o = s(&out_dir);
    assert_one_line_error(
        &run(&[
            "train",
            "--preset",
            "mnist-mlp",
            "--data",
            "/nonexistent/mnist",
            "--out",
            o,
        ]),
        "/nonexistent/mnist",
    );
    assert_one_line_error(
        &run(&[
            "train",
            "--preset",
            "mnist-mlp",
            "--data",
            "/nonexistent/mnist",
            "--out",
            o,
        ]),
        "--data",
    );
    assert!(
        !out_dir.exists(),
        "nothing is written when training cannot start"
    );

    let bad_arch = d.join("bad.json");
    std::fs::write(&bad_arch, r#"{"name": "x", "input_shape": [28, 28], "layers": [{"name": "a", "class_name": "Conv3D", "config": {}}]}"#).unwrap();
    assert_one_line_error(
        &run(&["train", "--arch", s(&bad_arch), "--out", o]),
        "bad.json",
    );
    let wrong_io = d.join("wrong.json");
    std::fs::write(&wrong_io, r#"{"name": "x", "input_shape": [28, 28], "layers": [{"name": "f", "class_name": "Flatten", "config": {}}, {"name": "d", "class_name": "Dense", "config": {"units": 3}}]}"#).unwrap();
    assert_one_line_error(
        &run(&["train", "--arch", s(&wrong_io), "--out", o]),
        "10 class scores",
    );
    assert_one_line_error(
        &run(&[
            "train",
            "--preset",
            "mnist-mlp",
            "--validation-split",
            "1.5",
            "--out",
            o,
        ]),
        "--validation-split",
    );

    assert_one_line_error(&run(&["evaluate", s(&d)]), "model.json not found");
    assert_one_line_error(
        &run(&["summary", "/nonexistent/model"]),
        "/nonexistent/model",
    );
    let tflite =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite/mnist_cnn_float32.tflite");
    // `evaluate` is `eval`: a .tflite is evaluated too.
    let e = last_json(&run(&["evaluate", s(&tflite), "--limit", "50", "--json"]));
    assert_eq!(e["samples"], 50);

    // A model directory with mismatched weights: the error names the tensor.
    let model = d.join("mlp");
    ok(&run(&[
        "train",
        "--preset",
        "mnist-mlp",
        "--epochs",
        "1",
        "--limit",
        "64",
        "--out",
        s(&model),
    ]));
    let json = std::fs::read_to_string(model.join("model.json")).unwrap();
    std::fs::write(
        model.join("model.json"),
        json.replace("\"units\": 128", "\"units\": 64"),
    )
    .unwrap();
    for cmd in ["evaluate", "summary"] {
        assert_one_line_error(&run(&[cmd, s(&model)]), "dense/kernel has shape [784,128]");
    }
    assert_one_line_error(
        &run(&["convert", s(&model), "-o", s(&d.join("x.tflite"))]),
        "the architecture needs [784,64]",
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn prune_a_small_model_then_use_it_everywhere() {
    let d = scratch("prune");
    let (base, pruned) = (d.join("base"), d.join("pruned"));
    ok(&run(&[
        "train",
        "--preset",
        "mnist-cnn",
        "--epochs",
        "1",
        "--limit",
        "2000",
        "--out",
        s(&base),
    ]));
    let base_json = std::fs::read(base.join("model.json")).unwrap();
    let base_weights = std::fs::read(base.join("model.safetensors")).unwrap();
    let out = run(&[
        "prune",
        s(&base),
        "-o",
        s(&pruned),
        "--limit",
        "2000",
        "--block",
        "1x16",
        "--json",
    ]);
    let j = last_json(&out);
    // 2000 images, split 0.1 → 1800, batch 128 → 15 steps per epoch, 2 epochs.
    assert_eq!(j["train_samples"], 1800);
    assert_eq!(j["steps"], 30);
    assert_eq!(j["schedule"]["kind"], "polynomial_decay");
    assert_eq!(j["schedule"]["end_step"], 30);
    assert_eq!(j["block"], serde_json::json!([1, 16]));
    assert_eq!(j["epochs"].as_array().unwrap().len(), 2);
    // Masks update at steps 0 only (frequency 100): sparsity 0.5. With blocks only the
    // Dense kernel is pruned by default. dense [2028, 10]: 126 full 1x16 blocks per
    // unit, keep round(1260·0.5) = 630 blocks (10080 weights); 12 inputs × 10 units
    // partial.
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert_eq!(layers[0]["layer"], "dense");
    assert_eq!(layers[0]["weights"], 20280);
    assert_eq!(layers[0]["zeros"], 20280 - 10080);
    assert_eq!(layers[0]["partial_block_weights"], 120);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("note: dense: 120 kernel weights"),
        "{stderr}"
    );
    assert!(stderr.contains("channel-major"), "{stderr}");
    assert!(stderr.contains("sparsity 0.5"), "{stderr}");
    assert!(j["test_accuracy"].as_f64().unwrap() > 0.5);
    // The input is untouched; the output records how it was pruned.
    assert_eq!(std::fs::read(base.join("model.json")).unwrap(), base_json);
    assert_eq!(
        std::fs::read(base.join("model.safetensors")).unwrap(),
        base_weights
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pruned.join("model.json")).unwrap()).unwrap();
    let p = &record["training"]["pruning"];
    assert_eq!(p["schedule"]["initial_sparsity"], 0.5);
    assert_eq!(p["layers"][0]["zeros"], 20280 - 10080);
    // A Permute before the flatten makes the Dense inputs channel-major.
    let classes: Vec<&str> = record["architecture"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["class_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            "Reshape",
            "Conv2D",
            "MaxPooling2D",
            "Permute",
            "Flatten",
            "Dense"
        ]
    );
    assert_eq!(
        record["architecture"]["layers"][3]["config"]["dims"],
        serde_json::json!([3, 1, 2])
    );
    // An ordinary model directory: evaluate and convert take it.
    let e = last_json(&run(&["evaluate", s(&pruned), "--json"]));
    assert!((e["accuracy"].as_f64().unwrap() - j["test_accuracy"].as_f64().unwrap()).abs() < 1e-6);
    let tflite = d.join("pruned.tflite");
    ok(&run(&["convert", s(&pruned), "-o", s(&tflite)]));
    assert!(tflite.is_file());

    // TFMOT's whole-model pruning in the original layout, on request.
    let as_tfmot = d.join("as-tfmot");
    let j = last_json(&run(&[
        "prune",
        s(&base),
        "-o",
        s(&as_tfmot),
        "--limit",
        "2000",
        "--block",
        "1x16",
        "--layers",
        "all",
        "--block-layout",
        "keep",
        "--json",
    ]));
    let layers = j["layers"].as_array().unwrap();
    assert_eq!(layers[0]["layer"], "conv2d");
    assert_eq!(layers[0]["zeros"], 54);
    assert_eq!(layers[1]["zeros"], 20280 - 10080);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(as_tfmot.join("model.json")).unwrap()).unwrap();
    assert_eq!(
        record["architecture"]["layers"].as_array().unwrap().len(),
        5
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn prune_refuses_bad_values_in_one_line() {
    let d = scratch("prune-bad");
    let base = d.join("base");
    ok(&run(&[
        "train",
        "--preset",
        "mnist-mlp",
        "--epochs",
        "1",
        "--limit",
        "300",
        "--out",
        s(&base),
    ]));
    let out = d.join("out");
    let prune = |extra: &[&str]| {
        let mut args = vec!["prune", s(&base), "-o", s(&out), "--limit", "300"];
        args.extend_from_slice(extra);
        run(&args)
    };
    for (extra, mention) in [
        (&["--schedule", "polynomial:0.5:1.0"][..], "[0, 1)"),
        (&["--schedule", "constant:-0.1"], "[0, 1)"),
        (&["--schedule", "polynomial:0.8:0.5"], "below the initial"),
        (&["--schedule", "cubic:0.5"], "polynomial:INITIAL:FINAL"),
        (&["--schedule", "polynomial:a:0.5"], "not a number"),
        (
            &["--begin-step", "10", "--end-step", "10"],
            "after --begin-step",
        ),
        (&["--begin-step", "100"], "auto"),
        (&["--end-step", "soon"], "--end-step"),
        (&["--frequency", "0"], "--frequency"),
        (&["--block", "1x0"], "RxC"),
        (&["--block", "16"], "RxC"),
        (&["--block", "1x4096"], "does not fit"),
        (&["--schedule", "constant:0.5", "--power", "2"], "--power"),
        (&["--power", "0"], "--power"),
        (&["--batch-size", "0"], "--batch-size"),
    ] {
        assert_one_line_error(&prune(extra), mention);
        assert!(!out.exists(), "{extra:?} wrote a model");
    }
    // Never over the input, with or without --force.
    for force in [&[][..], &["--force"]] {
        let mut args = vec!["prune", s(&base), "-o", s(&base), "--limit", "300"];
        args.extend_from_slice(force);
        assert_one_line_error(&run(&args), "input");
    }
    ok(&prune(&["--epochs", "1"]));
    assert_one_line_error(&prune(&["--epochs", "1"]), "--force");
    ok(&prune(&["--epochs", "1", "--force"]));
    assert_one_line_error(
        &run(&["prune", s(&d), "-o", s(&d.join("fresh"))]),
        "model.json not found",
    );
    std::fs::remove_dir_all(&d).unwrap();
}
