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

// ---------------------------------------------------------------------------------
// Special files, size caps, outputs.

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tflite")
        .join(name)
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_fifo())
        .unwrap_or(false)
}

/// Runs the binary, failing the test instead of hanging when it does not finish
/// within `seconds`.
fn run_within(args: &[&str], envs: &[(&str, &str)], seconds: u64) -> Output {
    let mut child = bin()
        .args(args)
        .envs(envs.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ferrolite {args:?} still running after {seconds} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A trained-looking model directory: mnist-mlp's architecture with weights from
/// `train --epochs 0`-like initialization is not available, so a real (tiny) training
/// run makes one.
fn trained_model(root: &Path, name: &str, seed: &str, envs: &[(&str, &str)]) -> Output {
    let dir = root.join(name);
    run_within(
        &[
            "train",
            "--preset",
            "mnist-mlp",
            "--epochs",
            "1",
            "--limit",
            "256",
            "--seed",
            seed,
            "--force",
            "--out",
            s(&dir),
        ],
        envs,
        120,
    )
}

#[test]
fn special_files_are_refused_without_blocking() {
    let d = scratch("special");
    let fifo = d.join("pipe.tflite");
    mkfifo(&fifo);
    let npz_fifo = d.join("pipe.npz");
    mkfifo(&npz_fifo);
    for args in [
        vec![
            "run",
            s(&fixture("mnist_cnn_float32.tflite")),
            "--input",
            s(&npz_fifo),
            "--output",
            s(&d.join("o.npz")),
        ],
        vec!["inspect", s(&fifo)],
        vec!["eval", s(&fifo), "--limit", "1"],
        vec!["convert", s(&fifo), "-o", s(&d.join("o.tflite"))],
        vec!["inspect", "/dev/zero"],
        vec![
            "run",
            s(&fixture("mnist_cnn_float32.tflite")),
            "--input",
            "/dev/zero",
            "--output",
            s(&d.join("o.npy")),
        ],
        vec![
            "run",
            s(&fixture("mnist_cnn_float32.tflite")),
            "--input",
            s(&fifo),
            "--output",
            s(&d.join("o.npy")),
        ],
    ] {
        let out = run_within(&args, &[], 30);
        assert_one_line_error(&out, "not a regular file");
    }

    // A model directory whose weights are a FIFO or /dev/zero, and whose model.json is
    // a directory.
    let model = d.join("model");
    let made = trained_model(&d, "model", "1", &[]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let weights = model.join("model.safetensors");
    std::fs::remove_file(&weights).unwrap();
    mkfifo(&weights);
    let out = run_within(&["summary", s(&model)], &[], 30);
    assert_one_line_error(&out, "model.safetensors is a FIFO");
    std::fs::remove_file(&weights).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &weights).unwrap();
    let out = run_within(&["evaluate", s(&model), "--limit", "1"], &[], 30);
    assert_one_line_error(&out, "model.safetensors is a character device");

    let json_dir = d.join("json-dir");
    std::fs::create_dir_all(json_dir.join("model.json")).unwrap();
    let out = run_within(&["summary", s(&json_dir)], &[], 30);
    assert_one_line_error(&out, "model.json is a directory");
}

#[test]
fn every_input_kind_has_a_named_size_cap() {
    let d = scratch("caps");
    // Sparse files: the size is real to the reader but costs no disk.
    let sparse = |name: &str, len: u64| {
        let p = d.join(name);
        std::fs::File::create(&p).unwrap().set_len(len).unwrap();
        p
    };
    let big = sparse("big.tflite", (1 << 31) + 1);
    let out = run_within(&["inspect", s(&big)], &[], 30);
    assert_one_line_error(
        &out,
        "more than the 2147483648 bytes a .tflite model may have",
    );

    let npy = sparse("big.npy", (1 << 31) + 1);
    let out = run_within(
        &[
            "run",
            s(&fixture("mnist_cnn_float32.tflite")),
            "--input",
            s(&npy),
            "--output",
            s(&d.join("o.npy")),
        ],
        &[],
        30,
    );
    assert_one_line_error(&out, "bytes a .npy array may have");

    let data = d.join("mnist");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::File::create(data.join("t10k-images-idx3-ubyte"))
        .unwrap()
        .set_len((1 << 31) + 1)
        .unwrap();
    std::fs::write(data.join("t10k-labels-idx1-ubyte"), b"").unwrap();
    let out = run_within(
        &[
            "eval",
            s(&fixture("mnist_cnn_float32.tflite")),
            "--data",
            s(&data),
        ],
        &[],
        30,
    );
    assert_one_line_error(&out, "bytes a MNIST IDX file may have");

    // The weights cap follows the weight limit: with FERROLITE_MAX_WEIGHTS=110000
    // (mnist-mlp has 101,770), a weights file over 4·110,000 bytes + 64 MiB is not
    // read.
    let model = d.join("model");
    let made = trained_model(&d, "model", "1", &[]);
    assert!(made.status.success());
    std::fs::File::options()
        .write(true)
        .open(model.join("model.safetensors"))
        .unwrap()
        .set_len((64 << 20) + 440_001)
        .unwrap();
    let out = run_within(
        &["summary", s(&model)],
        &[("FERROLITE_MAX_WEIGHTS", "1000")],
        30,
    );
    // The architecture (101,770 weights) is refused first, naming the same variable.
    assert_one_line_error(&out, "FERROLITE_MAX_WEIGHTS");
    let out = run_within(
        &["summary", s(&model)],
        &[("FERROLITE_MAX_WEIGHTS", "110000")],
        30,
    );
    assert_one_line_error(
        &out,
        "more than the 67548864 bytes a safetensors weights file may have",
    );
}

#[test]
fn outputs_never_replace_special_files_or_follow_links() {
    let d = scratch("outputs");
    let input = fixture("mnist_cnn_float32.tflite");
    let fifo = d.join("out.tflite");
    mkfifo(&fifo);
    let out = run_within(&["convert", s(&input), "-o", s(&fifo)], &[], 60);
    assert_one_line_error(&out, "it is a FIFO");
    assert!(is_fifo(&fifo));

    // A device node of our own (not /dev/null: a broken build must not damage the
    // machine), when mknod is allowed here.
    let node = d.join("null");
    let made = std::process::Command::new("mknod")
        .args([s(&node), "c", "1", "3"])
        .status()
        .is_ok_and(|st| st.success());
    if made {
        let out = run_within(&["convert", s(&input), "-o", s(&node)], &[], 60);
        assert_one_line_error(&out, "it is a character device");
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&node)
            .unwrap()
            .file_type()
            .is_char_device());
    }

    // A link is refused, and what it points to is untouched.
    let victim = d.join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let link = d.join("link.tflite");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let out = run_within(&["convert", s(&input), "-o", s(&link)], &[], 60);
    assert_one_line_error(&out, "symbolic link");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());

    // Model directories: a link, a file, a directory of someone else's files.
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("thesis.tex"), "years of work").unwrap();
    let dir_link = d.join("dir-link");
    std::os::unix::fs::symlink(&elsewhere, &dir_link).unwrap();
    for (target, mention) in [
        (dir_link.as_path(), "symbolic link"),
        (victim.as_path(), "not a directory"),
        (elsewhere.as_path(), "thesis.tex"),
    ] {
        let out = run_within(
            &[
                "train",
                "--preset",
                "mnist-mlp",
                "--epochs",
                "1",
                "--limit",
                "64",
                "--force",
                "--out",
                s(target),
            ],
            &[],
            60,
        );
        assert_one_line_error(&out, mention);
    }
    assert_eq!(
        std::fs::read_to_string(elsewhere.join("thesis.tex")).unwrap(),
        "years of work"
    );
}

// ---------------------------------------------------------------------------------
// Killed writes: the old output or the new one, never a mix; leftovers cleaned.

/// Every entry of `dir` whose name marks a temporary of output `name`.
fn leftovers(dir: &Path, name: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{name}.")))
        .collect()
}

fn killed(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(6)
}

#[test]
fn a_killed_train_force_leaves_the_old_model_or_the_new_one() {
    let d = scratch("kill-train");
    let model = d.join("m");
    // The new model's weights, for comparison: training is deterministic per seed.
    let made = trained_model(&d, "reference-new", "2", &[]);
    assert!(made.status.success());
    let new_weights = std::fs::read(d.join("reference-new/model.safetensors")).unwrap();
    for point in [
        "file-written",
        "model-weights-written",
        "dir-staged",
        "dir-exchanged",
    ] {
        let _ = std::fs::remove_dir_all(&model);
        let made = trained_model(&d, "m", "1", &[]);
        assert!(made.status.success());
        let old_weights = std::fs::read(model.join("model.safetensors")).unwrap();
        let old_json = std::fs::read(model.join("model.json")).unwrap();
        assert_ne!(old_weights, new_weights);

        let out = trained_model(&d, "m", "2", &[("FERROLITE_KILL_AT", point)]);
        assert!(killed(&out), "{point}: {:?}", out.status);
        let weights = std::fs::read(model.join("model.safetensors")).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(model.join("model.json")).unwrap()).unwrap();
        if weights == old_weights {
            assert_eq!(
                std::fs::read(model.join("model.json")).unwrap(),
                old_json,
                "{point}"
            );
        } else {
            assert_eq!(
                weights, new_weights,
                "{point}: weights are neither old nor new"
            );
            assert_eq!(
                json["seed"], 2,
                "{point}: new weights beside an old model.json"
            );
        }
        // The directory loads as a whole model.
        let out = run_within(&["summary", s(&model)], &[], 30);
        assert!(
            out.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&out.stderr)
        );

        // The next run cleans up whatever the killed one left.
        let made = trained_model(&d, "m", "2", &[]);
        assert!(made.status.success());
        assert_eq!(leftovers(&d, "m"), Vec::<String>::new(), "{point}");
        assert_eq!(
            std::fs::read(model.join("model.safetensors")).unwrap(),
            new_weights
        );
    }
}

#[test]
fn a_killed_convert_leaves_the_old_file_and_the_next_run_cleans_up() {
    let d = scratch("kill-convert");
    let output = d.join("out.tflite");
    std::fs::write(&output, b"old contents").unwrap();
    let input = fixture("mnist_cnn_float32.tflite");
    let out = run_within(
        &["convert", s(&input), "-o", s(&output), "--force"],
        &[("FERROLITE_KILL_AT", "file-written")],
        60,
    );
    assert!(killed(&out), "{:?}", out.status);
    assert_eq!(std::fs::read(&output).unwrap(), b"old contents");
    assert_eq!(leftovers(&d, "out.tflite").len(), 1);
    // A leftover from an older version's naming, from a process that is gone.
    std::fs::write(d.join(".out.tflite.2147483647.tmp"), b"x").unwrap();
    let out = run_within(
        &["convert", s(&input), "-o", s(&output), "--force"],
        &[],
        60,
    );
    common::assert_success(&out);
    assert_eq!(leftovers(&d, "out.tflite"), Vec::<String>::new());
    assert!(std::fs::read(&output).unwrap().len() > 1000);
}

// ---------------------------------------------------------------------------------
// Messages and strict parsing.

/// No "A: B: B": a cause printed again by the error that wraps it.
fn assert_cause_once(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let parts: Vec<&str> = stderr.trim().split(": ").collect();
    for (i, earlier) in parts.iter().enumerate() {
        for later in &parts[i + 1..] {
            assert!(
                later.len() < 12 || !earlier.contains(later),
                "cause repeated: {stderr}"
            );
        }
    }
}

fn npy_f32(shape: &str, values: &[f32]) -> Vec<u8> {
    npy_raw(
        &format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"),
        &values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

fn npy_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// The header of a safetensors file as JSON, and its data section.
fn split_safetensors(bytes: &[u8]) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    (header, bytes[8 + n..].to_vec())
}

fn join_safetensors(header_text: &str, data: &[u8]) -> Vec<u8> {
    let mut bytes = (header_text.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header_text.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

#[test]
fn nan_calibration_data_is_named_as_such() {
    let d = scratch("nan-calibration");
    let mut values = vec![0.5f32; 2 * 784];
    values[784 + 5] = f32::NAN;
    let npy = d.join("calibration.npy");
    std::fs::write(&npy, npy_f32("(2, 28, 28)", &values)).unwrap();
    let out = run_within(
        &[
            "convert",
            s(&fixture("mnist_cnn_float32.tflite")),
            "-o",
            s(&d.join("o.tflite")),
            "--quantize",
            "int8",
            "--calibration-npy",
            s(&npy),
        ],
        &[],
        60,
    );
    assert_one_line_error(&out, "calibration sample 1 holds NaN at element 5");
    assert_cause_once(&out);
}

#[test]
fn a_damaged_gzip_is_reported_once_and_suggests_a_new_download() {
    let d = scratch("damaged-gz");
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mnist");
    let images = std::fs::read(mnist.join("t10k-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(
        d.join("t10k-images-idx3-ubyte.gz"),
        &images[..images.len() / 2],
    )
    .unwrap();
    std::fs::copy(
        mnist.join("t10k-labels-idx1-ubyte.gz"),
        d.join("t10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let out = run_within(
        &[
            "eval",
            s(&fixture("mnist_cnn_float32.tflite")),
            "--data",
            s(&d),
        ],
        &[],
        60,
    );
    assert_one_line_error(&out, "t10k-images-idx3-ubyte.gz");
    assert_one_line_error(&out, "download it again");
    assert_cause_once(&out);
}

#[test]
fn damaged_weights_files_name_the_tensor() {
    let d = scratch("weights");
    let made = trained_model(&d, "model", "1", &[]);
    assert!(made.status.success());
    let model = d.join("model");
    let weights_path = model.join("model.safetensors");
    let good = std::fs::read(&weights_path).unwrap();
    let (header, data) = split_safetensors(&good);
    let text = serde_json::to_string(&header).unwrap();

    // An unknown dtype.
    let bad_dtype = text.replacen(
        r#""dense/bias":{"data_offsets""#,
        r#""dense/bias":{"dtype":"F99","data_offsets""#,
        1,
    );
    // serde_json sorts the keys, so "dtype" follows "data_offsets"; drop the original.
    let bad_dtype = {
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["dense/bias"]["dtype"] = "F99".into();
        assert_ne!(bad_dtype, text);
        serde_json::to_string(&v).unwrap()
    };
    // dense/kernel removed from the header, its data still there.
    let missing = {
        let mut v = header.clone();
        v.remove("dense/kernel").unwrap();
        serde_json::to_string(&v).unwrap()
    };
    // A key written twice (JSON allows it; the safetensors crate keeps the last).
    let twice = {
        let entry = serde_json::to_string(&header["dense/bias"]).unwrap();
        text.replacen('{', &format!(r#"{{"dense/bias":{entry},"#), 1)
    };
    for (header_text, want) in [
        (
            bad_dtype,
            "dense/bias: dtype \"F99\" is not a safetensors dtype",
        ),
        (missing, "dense/kernel is missing"),
        (twice, "dense/bias appears twice in the header"),
    ] {
        std::fs::write(&weights_path, join_safetensors(&header_text, &data)).unwrap();
        let out = run_within(&["summary", s(&model)], &[], 30);
        assert_one_line_error(&out, want);
        assert_cause_once(&out);
    }

    // NaN weights: summary and convert refuse them unless told otherwise.
    let mut nan = good.clone();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let at = 8 + n + header["dense_1/bias"]["data_offsets"][0].as_u64().unwrap() as usize;
    nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&weights_path, &nan).unwrap();
    let out = run_within(&["summary", s(&model)], &[], 30);
    assert_one_line_error(&out, "dense_1/bias (1 of 10 values)");
    assert_one_line_error(&out, "--allow-nonfinite");
    let out = run_within(&["summary", s(&model), "--allow-nonfinite"], &[], 30);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: weights hold NaN"));
    let tflite = d.join("nan.tflite");
    let out = run_within(&["convert", s(&model), "-o", s(&tflite)], &[], 30);
    assert_one_line_error(&out, "NaN or infinity");
    assert!(!tflite.exists());
    let out = run_within(
        &["convert", s(&model), "-o", s(&tflite), "--allow-nonfinite"],
        &[],
        30,
    );
    common::assert_success(&out);
    // A .tflite input is checked the same way.
    let out = run_within(
        &["convert", s(&tflite), "-o", s(&d.join("again.tflite"))],
        &[],
        30,
    );
    assert_one_line_error(&out, "(1 of 10 values)");
}

#[test]
fn lenient_npy_headers_are_refused() {
    let d = scratch("npy");
    let data: Vec<u8> = vec![0; 784 * 4];
    for (header, want) in [
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 28, 28, }",
            "'shape' has a bad entry",
        ),
        (
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 28, 28)",
            "not closed with '}'",
        ),
        (
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 28, 28), }",
            "'fortran_order' must be True or False, got \"Maybe\"",
        ),
    ] {
        let path = d.join("in.npy");
        std::fs::write(&path, npy_raw(header, &data)).unwrap();
        let out = run_within(
            &[
                "run",
                s(&fixture("mnist_cnn_float32.tflite")),
                "--input",
                s(&path),
                "--output",
                s(&d.join("out.npy")),
            ],
            &[],
            30,
        );
        assert_one_line_error(&out, want);
        assert_cause_once(&out);
    }
}
