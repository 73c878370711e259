//! `ferrolite compare` and the size summary of `convert`, checked against LiteRT's
//! reference outputs for the fixtures (not against ferrolite's own numbers).

use std::path::{Path, PathBuf};

use ferrolite::data::npy;
use ferrolite::interp::TensorBuf;

mod common;
use common::bin;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tflite")
        .join(name)
}

fn last_json(out: &std::process::Output) -> serde_json::Value {
    common::assert_success(out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

/// LiteRT's reference scores of a fixture on the first 32 test images, as real numbers.
fn reference_scores(model: &str) -> Vec<Vec<f64>> {
    let out = npy::read(&fixture(&format!("{model}.output.ref.npy"))).unwrap();
    let m = ferrolite::tflite::read_file(&fixture(&format!("{model}.tflite"))).unwrap();
    let t = &m.graph.tensors[m.graph.outputs[0]];
    let values: Vec<f64> = match (&out.data, t.scale_zero_point()) {
        (TensorBuf::F32(v), _) => v.iter().map(|&x| f64::from(x)).collect(),
        (TensorBuf::I8(v), Some((s, zp))) => v
            .iter()
            .map(|&q| f64::from(s) * (f64::from(q) - zp as f64))
            .collect(),
        _ => panic!("unexpected reference output"),
    };
    values.chunks(10).map(|r| r.to_vec()).collect()
}

fn top1(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

#[test]
fn compare_reports_sizes_accuracy_and_agreement_in_one_table() {
    let out = bin()
        .arg("compare")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .arg(fixture("mnist_cnn_int8.tflite"))
        .args(["--limit", "32", "--seconds", "0.05", "--json"])
        .output()
        .unwrap();
    let json = last_json(&out);
    let rows = json["models"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let labels = npy::read(&fixture("mnist_test_labels_first32.npy")).unwrap();
    let TensorBuf::U8(labels) = labels.data else {
        panic!("labels are uint8");
    };
    let float = reference_scores("mnist_cnn_float32");
    let int8 = reference_scores("mnist_cnn_int8");
    for (row, (model, scores)) in rows
        .iter()
        .zip([("mnist_cnn_float32", &float), ("mnist_cnn_int8", &int8)])
    {
        let file = fixture(&format!("{model}.tflite"));
        let bytes = std::fs::metadata(&file).unwrap().len();
        assert_eq!(row["file"], format!("{model}.tflite"));
        assert_eq!(row["bytes"], bytes);
        assert!(row["zip_bytes"].as_u64().unwrap() < bytes, "{row}");
        assert_eq!(row["samples"], 32);
        let correct = scores
            .iter()
            .zip(&labels)
            .filter(|(s, &l)| top1(s) == l as usize)
            .count();
        assert_eq!(row["correct"], correct, "{model}");
        assert!(row["us_per_inference"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(rows[0]["top1_agreement"], 1.0);
    assert_eq!(rows[0]["max_abs_diff"], 0.0);
    let agree = float
        .iter()
        .zip(&int8)
        .filter(|(a, b)| top1(a) == top1(b))
        .count();
    assert_eq!(rows[1]["top1_agreement"], agree as f64 / 32.0);
    let diff = float
        .iter()
        .flatten()
        .zip(int8.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let got = rows[1]["max_abs_diff"].as_f64().unwrap();
    assert!((got - diff).abs() < 1e-4, "{got} vs LiteRT's {diff}");
    // The table on stderr under --json names every file.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("mnist_cnn_int8.tflite"), "{stderr}");
}

#[test]
fn compare_needs_two_models() {
    let out = bin()
        .arg("compare")
        .arg(fixture("mnist_cnn_float32.tflite"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn convert_reports_input_and_output_bytes() {
    let d = common::scratch("convert-sizes");
    let path = d.join("int8.tflite");
    let input = fixture("mnist_cnn_float32.tflite");
    let out = bin()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(&path)
        .args(["--quantize", "int8", "--json"])
        .output()
        .unwrap();
    let json = last_json(&out);
    assert_eq!(
        json["input_bytes"],
        std::fs::metadata(&input).unwrap().len()
    );
    assert_eq!(json["bytes"], std::fs::metadata(&path).unwrap().len());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("84,924 → "), "{stderr}");
    assert!(stderr.contains("× smaller"), "{stderr}");
}
