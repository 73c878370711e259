//! Helpers shared by the test crates: the `ferrolite` binary, fixture paths and loading,
//! and slicing fixture batches into rows.
// Each test crate uses a different subset.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use ferrolite::interp::{TensorBuf, Value};
use ferrolite::ir::Model;

/// The `ferrolite` binary (built only with the `cli` feature; tests that call this are
/// gated on it).
#[cfg(feature = "cli")]
pub fn bin() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_ferrolite"))
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrolite-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Asserts a failed run with exactly one line on stderr, starting "error:", mentioning
/// `must_mention`, and no panic.
pub fn assert_one_line_error(out: &Output, must_mention: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error:"), "{stderr}");
    assert!(
        lines[0].contains(must_mention),
        "error should mention '{must_mention}': {stderr}"
    );
}

/// Asserts a successful run, showing its stderr otherwise.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The JSON document on the last line of a run's stdout (what `--json` prints).
pub fn last_line_json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The repository root (fixtures are under `fixtures/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `.tflite` file under the repository root, read into the IR; panics naming the file.
pub fn model(rel: &str) -> Model {
    let path = root().join(rel);
    ferrolite::tflite::read_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `.npy` file under the repository root; panics naming the file.
pub fn npy(rel: &str) -> Value {
    let path = root().join(rel);
    ferrolite::data::npy::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Rows `start..end` (first dimension) of a float32, int8 or uint8 batch.
pub fn rows(v: &Value, start: usize, end: usize) -> Value {
    let per = v.data.len() / v.shape[0];
    let range = start * per..end * per;
    let data = match &v.data {
        TensorBuf::F32(d) => TensorBuf::F32(d[range].to_vec()),
        TensorBuf::I8(d) => TensorBuf::I8(d[range].to_vec()),
        TensorBuf::U8(d) => TensorBuf::U8(d[range].to_vec()),
        other => panic!("unexpected fixture dtype {}", other.dtype()),
    };
    let mut shape = v.shape.clone();
    shape[0] = end - start;
    Value::new(shape, data)
}

/// Row `i` of a batch, as a batch of one (the reference outputs were made image by image).
pub fn row(v: &Value, i: usize) -> Value {
    rows(v, i, i + 1)
}

/// The first `n` rows of a batch.
pub fn first_rows(v: &Value, n: usize) -> Value {
    rows(v, 0, n)
}

/// How `got` differs from LiteRT's `want`, described, or `None` when it matches: integer
/// outputs exactly, float within 1e-5 relative (1e-6 absolute near zero), NaN only where
/// LiteRT has NaN.
pub fn litert_mismatch(got: &TensorBuf, want: &TensorBuf) -> Option<String> {
    if got.dtype() != want.dtype() || got.len() != want.len() {
        return Some(format!(
            "got {} {:?} values, LiteRT {} {:?}",
            got.len(),
            got.dtype(),
            want.len(),
            want.dtype()
        ));
    }
    let exact = !matches!(want, TensorBuf::F32(_));
    for (i, (a, b)) in got.to_f64().iter().zip(&want.to_f64()).enumerate() {
        let ok = if exact {
            a == b
        } else {
            (a - b).abs() <= 1e-5 * b.abs().max(0.1) || (a.is_nan() && b.is_nan())
        };
        if !ok {
            return Some(format!("element {i}: got {a}, LiteRT {b}"));
        }
    }
    None
}
