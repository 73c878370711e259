//! tract-tflite on full-integer models, through the lowered twin: it must run the int8
//! MNIST CNN (whose per-channel FULLY_CONNECTED tract cannot translate as written) and
//! agree with ferrolite within a stated number of quantized steps, and a model it
//! cannot run must produce an error that names the operator.
#![cfg(feature = "tract")]

mod common;

use std::path::{Path, PathBuf};

use common::first_rows;

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, Plan};
use ferrolite::verify::{compare, lower, tract_for, VerifyError};

fn path(dir: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(dir)
        .join(file)
}

/// tract is not bit-exact with TFLite in general (its requantization rounds in its own
/// way); on these images it matched exactly, and one step is what this test tolerates.
const MAX_STEPS: f64 = 1.0;

#[test]
fn tract_runs_the_int8_mnist_twin_and_agrees() {
    let file = path("tflite", "mnist_cnn_int8.tflite");
    let bytes = std::fs::read(&file).unwrap();
    let model = ferrolite::tflite::read_file(&file).unwrap();
    let all = npy::read(&path("tflite", "mnist_cnn_int8.input.npy")).unwrap();
    let inputs = vec![first_rows(&all, 8)];
    let shapes = vec![inputs[0].shape.clone()];

    let ours = Interpreter::new(model.clone())
        .unwrap()
        .run(&inputs)
        .unwrap();
    // Our outputs are LiteRT's (the fixture's reference rows), so agreeing with ours
    // is agreeing with TFLite.
    let reference = npy::read(&path("tflite", "mnist_cnn_int8.output.ref.npy")).unwrap();
    let want = first_rows(&reference, 8);
    assert_eq!(ours[0].data, want.data, "ferrolite differs from LiteRT");

    let (mut runner, setup) = tract_for(&bytes, &model, &shapes).unwrap();
    assert_eq!(setup.model, "lowered twin");
    let lowering = setup.lowering.unwrap();
    assert!(
        lowering
            .rewritten
            .iter()
            .any(|r| r.starts_with("FULLY_CONNECTED") && r.contains("CONV_2D")),
        "{lowering:?}"
    );
    let theirs = runner.run(&inputs).unwrap();
    assert_eq!(theirs[0].shape, vec![8, 10]);
    let diff = compare(&ours, &theirs, MAX_STEPS, 0.0).unwrap();
    assert_eq!(diff.elements, 80);
    assert_eq!(
        diff.outside_tolerance, 0,
        "tract differs by {} quantized steps",
        diff.max_abs
    );
}

#[test]
fn the_twin_computes_the_same_integers_as_the_original() {
    // The rewrite (per-channel FC as RESHAPE + 1x1 CONV_2D + RESHAPE, folded shape
    // chain) must not change a single output in ferrolite either.
    let file = path("tflite", "mnist_cnn_int8.tflite");
    let model = ferrolite::tflite::read_file(&file).unwrap();
    let all = npy::read(&path("tflite", "mnist_cnn_int8.input.npy")).unwrap();
    let inputs = vec![first_rows(&all, 32)];
    let plan = Plan::new(&model, &[inputs[0].shape.clone()]).unwrap();
    let (twin, lowering) = lower::lower(&model, &plan).unwrap();
    assert!(!lowering.rewritten.is_empty());
    assert!(twin
        .graph
        .operators
        .iter()
        .all(|op| op.op.name() != "FULLY_CONNECTED"));
    // Through the writer and reader, as tract gets it.
    let twin = ferrolite::tflite::read(&ferrolite::tflite::write(&twin).unwrap()).unwrap();
    let a = Interpreter::new(model).unwrap().run(&inputs).unwrap();
    let b = Interpreter::new(twin).unwrap().run(&inputs).unwrap();
    assert_eq!(a[0].data, b[0].data);
}

fn tract_error(dir: &str, name: &str) -> String {
    let file = path(dir, &format!("{name}.tflite"));
    let bytes = std::fs::read(&file).unwrap();
    let model = ferrolite::tflite::read_file(&file).unwrap();
    let all = npy::read(&path(dir, &format!("{name}.input.npy"))).unwrap();
    let shapes = vec![first_rows(&all, 1).shape];
    match tract_for(&bytes, &model, &shapes) {
        Ok(_) => panic!("{name}: tract was expected to fail"),
        Err(VerifyError::Tract(m)) => m,
        Err(other) => panic!("{name}: unexpected error {other}"),
    }
}

#[test]
fn a_model_tract_cannot_run_names_the_op() {
    // tract-tflite 0.23 has no int8 ADD ("No super type") and no QUANTIZE.
    let residual = tract_error("extra", "residual_int8");
    assert!(residual.contains("loading ADD"), "{residual}");
    let uint8_io = tract_error("extra", "residual_int8_uint8_io");
    assert!(uint8_io.contains("QUANTIZE"), "{uint8_io}");
}
