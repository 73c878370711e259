//! `ferrolite verify` as users meet it: it answers on every file `convert` writes, its
//! exit status says which answer, and it never shows tract's internals.
#![cfg(feature = "tract")]

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::bin;

fn scratch(tag: &str) -> PathBuf {
    common::scratch(&format!("verify-{tag}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

/// Pieces of tract's error dumps that must never reach the user.
const TRACT_INTERNALS: &[&str] = &[
    "OperatorCode",
    "builtin_code",
    "Condition failed",
    "🟰",
    "deprecated_builtin_code",
    "EinSum",
];

fn verify(model: &Path) -> (Output, serde_json::Value) {
    let out = bin()
        .arg("verify")
        .arg(model)
        .arg("--json")
        .output()
        .unwrap();
    let all = text(&out);
    for internal in TRACT_INTERNALS {
        assert!(!all.contains(internal), "tract internals shown: {all}");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_default();
    (out, json)
}

/// Issue 15: every kind of file `convert` writes — float, full-integer int8 with int8,
/// uint8 and float32 IO, dynamic range (hybrid kernels, which tract lacks), float16,
/// and sparse float and int8 — verifies with exit 0 and the verdict "agree".
#[test]
fn every_conversion_of_a_trained_model_verifies() {
    let d = scratch("modes");
    let trained = d.join("cnn");
    ok(bin()
        .args([
            "train",
            "--preset",
            "mnist-cnn",
            "--limit",
            "600",
            "--epochs",
            "1",
            "--out",
        ])
        .arg(&trained)
        .output()
        .unwrap());
    let pruned = d.join("pruned");
    ok(bin()
        .arg("prune")
        .arg(&trained)
        .arg("-o")
        .arg(&pruned)
        .args([
            "--schedule",
            "constant:0.8",
            "--limit",
            "600",
            "--epochs",
            "1",
        ])
        .output()
        .unwrap());
    let cases: &[(&str, &Path, &[&str])] = &[
        ("float", &trained, &[]),
        ("int8", &trained, &["--quantize", "int8", "--io", "int8"]),
        (
            "int8-uint8-io",
            &trained,
            &["--quantize", "int8", "--io", "uint8"],
        ),
        (
            "int8-float-io",
            &trained,
            &["--quantize", "int8", "--io", "float32"],
        ),
        ("dynamic", &trained, &["--quantize", "dynamic"]),
        ("float16", &trained, &["--quantize", "float16"]),
        ("sparse-float", &pruned, &[]),
        ("sparse-int8", &pruned, &["--quantize", "int8"]),
    ];
    for (name, input, flags) in cases {
        let file = d.join(format!("{name}.tflite"));
        let out = ok(bin()
            .arg("convert")
            .arg(input)
            .arg("-o")
            .arg(&file)
            .args(*flags)
            .output()
            .unwrap());
        if name.starts_with("sparse") {
            assert!(text(&out).contains("sparse"), "{name}: {}", text(&out));
        }
        let (out, json) = verify(&file);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(json["verdict"], "agree", "{name}: {json}");
        if *name == "dynamic" {
            // tract has no hybrid kernels: the hybrid FULLY_CONNECTED is checked with
            // float weights and an allowance for the hybrid input rounding.
            let hybrid = json["ops"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["checked_by"] == "tract_float_weights")
                .unwrap_or_else(|| panic!("no hybrid op checked: {json}"));
            assert_eq!(hybrid["op"], "FULLY_CONNECTED", "{json}");
        }
        if name.contains("io") {
            // tract has no QUANTIZE: the boundary ops are checked by their formula.
            assert!(
                json["ops"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|o| o["op"] == "QUANTIZE" && o["checked_by"] == "formula"),
                "{name}: {json}"
            );
        }
    }
}

/// Exit 4 and the op named when an operator can be checked by neither tract nor a
/// formula (tract crashes on a uint8 CONCATENATION of differently scaled inputs).
#[test]
fn an_unchecked_operator_exits_4_and_is_named() {
    use ferrolite::ir::{Activation, DType, Graph, Model, Op, Operator, Quantization, Tensor};
    let q = |name: &str, shape: Vec<usize>, scale: f32, zp: i64| {
        let mut t = Tensor::activation(name, DType::U8, shape);
        t.quantization = Some(Quantization::per_tensor(scale, zp));
        t
    };
    let model = Model::with_default_signature(Graph {
        name: None,
        tensors: vec![
            q("a", vec![1, 2], 0.1, 0),
            q("b", vec![1, 2], 0.2, 3),
            q("y", vec![1, 4], 0.3, 5),
        ],
        inputs: vec![0, 1],
        outputs: vec![2],
        operators: vec![Operator::new(
            Op::Concatenation {
                axis: 1,
                activation: Activation::None,
            },
            vec![0, 1],
            vec![2],
        )],
    });
    let d = scratch("incomplete");
    let file = d.join("concat.tflite");
    std::fs::write(&file, ferrolite::tflite::write(&model).unwrap()).unwrap();
    let (out, json) = verify(&file);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert_eq!(json["verdict"], "incomplete", "{json}");
    assert_eq!(json["not_checked"][0]["op"], "CONCATENATION", "{json}");
    // Without --json the report is on stdout and stderr holds the one-line verdict.
    let out = bin().arg("verify").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: incomplete"), "{stderr}");
    assert!(lines[0].contains("CONCATENATION #0"), "{stderr}");
}

/// TensorFlow-made files where tract lacks ops (int8 ADD, QUANTIZE), crashes (MEAN
/// with negative axes), rounds (float MEAN) or requantizes wrongly (int8 TANH): all
/// get an answer, and it is "agree" (ferrolite matches LiteRT on these fixtures).
#[test]
fn tensorflow_fixtures_tract_cannot_run_whole_still_verify() {
    let extra = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/extra");
    for name in [
        "residual_int8",
        "raw_ops_float32",
        "raw_ops_int8_uint8_io",
        "mobilenet_block_float32",
        "mobilenet_block_dynamic_range",
        "dwsep_int8",
        "sequence_int8",
    ] {
        let (out, json) = verify(&extra.join(format!("{name}.tflite")));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out));
        assert_eq!(json["verdict"], "agree", "{name}: {json}");
    }
}
