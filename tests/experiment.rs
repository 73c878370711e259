//! `ferrolite experiment --quick`: every stage of the study runs, the report has the
//! structure the issue asks for with sane values, a previous report is never replaced
//! without --force, and every .tflite written goes to the LiteRT cross-check.

mod common;

use std::path::Path;

use common::{assert_one_line_error, bin, scratch};
use ferrolite::data::{self, npy, Split};

fn number(v: &serde_json::Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = &x[p];
    }
    x.as_f64()
        .unwrap_or_else(|| panic!("{path:?} is not a number: {x}"))
}

#[test]
fn quick_experiment_writes_a_sane_report_and_keeps_a_previous_one() {
    let dir = scratch("experiment");
    let out_dir = dir.join("exp");
    let out = bin()
        .args(["experiment", "--quick", "--json", "-o"])
        .arg(&out_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "experiment failed: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    // The file and the printed JSON are the same report.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(file, json);

    // Part 1: both files measured; on 3,000 images one epoch still learns (> 80%), and
    // full-integer quantization stays within 2 pp of float.
    let float = number(&json, &["ptq", "float_accuracy"]);
    let int8 = number(&json, &["ptq", "int8_accuracy"]);
    assert!(float > 0.8 && float <= 1.0, "float accuracy {float}");
    assert!((int8 - float).abs() < 0.02, "int8 {int8} vs float {float}");
    let float_bytes = number(&json, &["ptq", "float_bytes"]);
    let int8_bytes = number(&json, &["ptq", "int8_bytes"]);
    assert!(
        int8_bytes < float_bytes * 0.35,
        "{int8_bytes} vs {float_bytes}"
    );

    // Part 2: the pruned weights reached (close to) 80%, the sparse float file is
    // exactly as accurate as the pruned model, and pruned + int8 is ≥ 10× smaller.
    let p = &json["pruning"];
    let sparsity = number(p, &["sparsity"]);
    assert!((0.75..=0.85).contains(&sparsity), "sparsity {sparsity}");
    assert_eq!(
        number(p, &["pruned_accuracy"]),
        number(p, &["pruned_tflite_accuracy"]),
        "the float sparse file must lose nothing"
    );
    for key in [
        "baseline_accuracy",
        "pruned_accuracy",
        "pruned_int8_accuracy",
    ] {
        let a = number(p, &[key]);
        assert!(a > 0.7 && a <= 1.0, "{key} {a}");
    }
    let baseline_bytes = number(p, &["baseline_bytes"]);
    let pq_bytes = number(p, &["pruned_int8_bytes"]);
    assert!(
        pq_bytes * 10.0 <= baseline_bytes,
        "{pq_bytes} vs {baseline_bytes}"
    );
    assert!(number(p, &["pruned_int8_zip_bytes"]) < pq_bytes);
    assert!(number(p, &["baseline_zip_bytes"]) < baseline_bytes);
    assert!(!p["layers"].as_array().unwrap().is_empty());

    // Part 3: three seeds, one accuracy per seed in each arm, a teacher and a sweep.
    let d = &json["distillation"];
    let seeds = d["seeds"].as_array().unwrap().len();
    assert!(seeds >= 3);
    for arm in ["distilled_accuracy", "scratch_accuracy"] {
        let values = d[arm].as_array().unwrap();
        assert_eq!(values.len(), seeds, "{arm}");
        for v in values {
            let a = v.as_f64().unwrap();
            assert!(a > 0.5 && a <= 1.0, "{arm} {a}");
        }
    }
    assert!(number(d, &["teacher_accuracy"]) > 0.5);
    assert!(!d["sweep"].as_array().unwrap().is_empty());
    assert!(number(&json, &["seconds"]) > 0.0);

    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    for heading in ["## Part 1", "## Part 2", "## Part 3", "97.89%", "8,130"] {
        assert!(md.contains(heading), "report.md lacks {heading}");
    }
    for chart in ["accuracy_vs_size.svg", "sparsity.svg", "distillation.svg"] {
        let svg = std::fs::read_to_string(out_dir.join("charts").join(chart)).unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"), "{chart}");
    }
    for model in ["cnn", "baseline", "pruned"] {
        assert!(
            out_dir
                .join("models")
                .join(model)
                .join("model.json")
                .is_file(),
            "{model}"
        );
    }

    // Every .tflite goes to the LiteRT cross-check (scripts/litert-check.sh) with the
    // first 8 test images in the file's own input type.
    let mnist = data::load(&data::default_dir(), Split::Test).unwrap();
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/litert-cases");
    let mut written = 0;
    for entry in std::fs::read_dir(out_dir.join("tflite")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let model = ferrolite::tflite::read(&bytes).unwrap();
        let inputs = ferrolite::verify::sample_inputs(&model, 8, Some(&mnist)).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy();
        let case = cases.join(format!("experiment_{stem}"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::write(case.join("model.tflite"), &bytes).unwrap();
        std::fs::write(case.join("input.npy"), npy::to_bytes(&inputs[0]).unwrap()).unwrap();
        written += 1;
    }
    assert!(written >= 5, "only {written} .tflite files");

    // A second run without --force refuses and leaves the report as it was.
    let again = bin()
        .args(["experiment", "--quick", "-o"])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert_one_line_error(&again, "--force");
    let kept: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(kept, json);
    let _ = std::fs::remove_dir_all(&dir);
}
