//! The lowered twin `verify` hands to tract must compute what the model computes:
//! each rewrite is checked here in ferrolite alone (no tract), on TensorFlow-made
//! fixtures, through the writer and reader as tract gets it.

use std::path::{Path, PathBuf};

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, Plan, TensorBuf};
use ferrolite::verify::lower;

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/extra")
        .join(name)
}

/// Lowers fixture `name`, checks that the lowering did what `expect` names, and that
/// the twin's outputs equal the model's (integers exactly, floats within 1e-5: a
/// rewrite may sum in another order).
fn twin_matches(name: &str, expect: &[&str]) {
    let model = ferrolite::tflite::read_file(&path(&format!("{name}.tflite"))).unwrap();
    let mut input = npy::read(&path(&format!("{name}.input.npy"))).unwrap();
    let declared = &model.graph.tensors[model.graph.inputs[0]];
    if !declared.has_dynamic_batch() && declared.shape[0] == 1 {
        // A fixed batch of 1 (the sequence model reshapes to a constant shape).
        let per = input.data.len() / input.shape[0];
        input.shape[0] = 1;
        input.data = match &input.data {
            TensorBuf::F32(v) => TensorBuf::F32(v[..per].to_vec()),
            TensorBuf::I8(v) => TensorBuf::I8(v[..per].to_vec()),
            other => panic!("unexpected input type {}", other.dtype()),
        };
    }
    let plan = Plan::new(&model, &[input.shape.clone()]).unwrap();
    let (twin, lowering) = lower::lower(&model, &plan).unwrap();
    for e in expect {
        assert!(
            lowering.rewritten.iter().any(|r| r.contains(e)),
            "{name}: no '{e}' in {:?}",
            lowering.rewritten
        );
    }
    let twin = ferrolite::tflite::read(&ferrolite::tflite::write(&twin).unwrap()).unwrap();
    let a = Interpreter::new(model)
        .unwrap()
        .run(&[input.clone()])
        .unwrap();
    let b = Interpreter::new(twin).unwrap().run(&[input]).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.shape, y.shape, "{name}");
        match (&x.data, &y.data) {
            (TensorBuf::F32(p), TensorBuf::F32(q)) => {
                let worst = p
                    .iter()
                    .zip(q)
                    .map(|(u, v)| (u - v).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst <= 1e-5, "{name}: float outputs differ by {worst}");
            }
            (p, q) => assert_eq!(p, q, "{name}: integer outputs differ"),
        }
    }
}

#[test]
fn depthwise_with_a_multiplier_becomes_a_conv() {
    twin_matches(
        "dwsep_float32",
        &["DEPTHWISE_CONV_2D #1 (depth multiplier 2)"],
    );
    twin_matches("dwsep_int8", &["DEPTHWISE_CONV_2D #1 (depth multiplier 2)"]);
}

#[test]
fn a_spatial_float_mean_becomes_a_global_average_pool() {
    twin_matches("dwsep_float32", &["MEAN #5 over height and width"]);
    twin_matches("mobilenet_block_float32", &["over height and width"]);
}

#[test]
fn shrinking_slices_pack_and_negative_axes_are_rewritten() {
    twin_matches(
        "raw_ops_float32",
        &[
            "MEAN #8 with its axes counted from the front",
            "STRIDED_SLICE #15 (shrink-axis mask)",
            "PACK #18 as RESHAPE per input + CONCATENATION",
        ],
    );
    twin_matches("raw_ops_int8", &["STRIDED_SLICE", "PACK", "MEAN"]);
}

#[test]
fn a_float_fully_connected_gets_a_rank_2_input() {
    twin_matches(
        "sequence_float32",
        &["FULLY_CONNECTED #0 with a rank-2 input"],
    );
}
