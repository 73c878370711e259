//! The compute library stays below the graph: a source scan, so that a stray import fails a
//! test instead of waiting for a reviewer.

use std::path::{Path, PathBuf};

/// The `ir` items a kernel may name: plain value enums and the error type.
const ALLOWED_FROM_IR: [&str; 4] = ["KernelError", "DType", "Activation", "Padding"];

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("src/kernels is readable");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The item names a path starting right after `crate::ir::` brings in: one name, or a
/// `{...}` list (nested lists are not used here and would show up as a bad name).
fn named_items(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    if let Some(list) = rest.strip_prefix('{') {
        let end = list.find('}').unwrap_or(list.len());
        list[..end]
            .split(',')
            .map(|s| ident(s.trim()))
            .filter(|s| !s.is_empty())
            .collect()
    } else {
        vec![ident(rest)]
    }
}

/// The interpreter's module path, spelled in pieces so that this file, which must name it,
/// does not itself look like an import of it to a text search.
const INTERP_PATH: &str = concat!("crate::", "interp");

/// Offending lines of one source text.
fn violations(text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        if code.contains(INTERP_PATH) || code.contains("use crate::ir;") {
            bad.push(line.trim().to_string());
            continue;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::ir::") {
            rest = &rest[at + "crate::ir::".len()..];
            // A submodule path (`crate::ir::op::Op`) names a module first: never allowed.
            if named_items(rest)
                .iter()
                .any(|name| !ALLOWED_FROM_IR.contains(&name.as_str()))
            {
                bad.push(line.trim().to_string());
            }
        }
    }
    bad
}

#[test]
fn the_scan_catches_graph_and_interpreter_imports() {
    assert!(violations(&format!("use {INTERP_PATH}::View;")).len() == 1);
    assert!(violations("use crate::ir::{DType, Op};").len() == 1);
    assert!(violations("use crate::ir::op::Padding;").len() == 1);
    assert!(violations("use crate::ir;").len() == 1);
    assert!(violations("use crate::ir::{Activation, DType, KernelError, Padding};").is_empty());
    assert!(violations("if t == crate::ir::DType::U8 {").is_empty());
}

#[test]
fn kernels_import_neither_the_interpreter_nor_the_graph() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/kernels");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 3, "found only {files:?}");
    let mut bad = Vec::new();
    // This file spells the forbidden paths in its own test strings.
    for file in files.iter().filter(|f| !f.ends_with("layering_tests.rs")) {
        let text = std::fs::read_to_string(file).expect("source is readable");
        for line in violations(&text) {
            bad.push(format!("{}: {line}", file.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "kernels must stay below the graph:\n{}",
        bad.join("\n")
    );
}

/// The part of a source file that is built outside `cargo test`: everything before its
/// first `#[cfg(test)]` item (test modules sit at the end of a file by convention here).
fn non_test_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

#[test]
fn non_test_code_stops_at_the_test_module() {
    let text = format!("use crate::ir::Op;\n#[cfg(test)]\nmod tests {{ use {INTERP_PATH}::X; }}");
    assert_eq!(non_test_code(&text), "use crate::ir::Op;\n");
    assert_eq!(non_test_code("fn f() {}"), "fn f() {}");
}

/// Nothing below the interpreter names it: the graph, the file format, the operators and
/// their prepared kernels, sparsity and data all build without `interp`. Tests in those
/// modules may run whole models through the interpreter, so test code is not scanned.
#[test]
fn layers_below_the_interpreter_do_not_import_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for dir in ["ir", "tflite", "ops", "sparse", "data", "kernels"] {
        rust_files(&src.join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} files", files.len());
    let mut bad = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let test_only = name.ends_with("tests.rs")
            || file.components().any(|c| c.as_os_str() == "test_support");
        if test_only {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("source is readable");
        for line in non_test_code(&text).lines() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains(INTERP_PATH) {
                bad.push(format!("{}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "these lines import the interpreter from below it:\n{}",
        bad.join("\n")
    );
}
