//! Helpers shared by the tests that drive the `ferrolite` binary.
// Each test crate uses a different subset.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

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
