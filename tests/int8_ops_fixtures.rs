//! Fully integer TensorFlow-made models (fixtures/extra/*_int8, *_int8_uint8_io and
//! fixtures/tflite/mnist_cnn_int8_uint8_io) against LiteRT's BUILTIN_REF outputs, image
//! by image, element for element: integer kernels must be bit-exact.
//!
//! Every one of these models also contains CONV_2D, DEPTHWISE_CONV_2D,
//! FULLY_CONNECTED, a pool or SOFTMAX on int8, which another branch implements; those
//! tests are ignored until the merge. `non_conv_ops_of_int8_fixtures_prepare` runs
//! now: it prepares every other operator of these models on its declared tensors.
//! (With the int8 conv/pool/fc/softmax kernels of branch `int8conv` at a55b977 copied
//! into a scratch tree, all eleven models below matched LiteRT bit for bit.)
//!
//! Which op each model needs (from fixtures/extra/manifest.json, checked against the
//! files by `manifest_lists_the_ops_of_each_model`):
//! * dwsep_int8: AVERAGE_POOL_2D CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED MEAN SOFTMAX
//! * residual_int8: ADD CONCATENATION CONV_2D FULLY_CONNECTED LEAKY_RELU LOGISTIC
//!   MAX_POOL_2D RESHAPE TANH
//! * mobilenet_block_int8: ADD CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED HARD_SWISH MEAN
//! * sequence_int8: FULLY_CONNECTED MUL RESHAPE TRANSPOSE
//! * raw_ops_int8: ADD CONV_2D DIV MEAN MUL PACK PAD RESHAPE SOFTMAX STRIDED_SLICE SUB
//!   TRANSPOSE
//! * each *_int8_uint8_io: the same plus QUANTIZE (uint8 → int8 at the input, int8 →
//!   uint8 at the output)
//! * mnist_cnn_int8_uint8_io: QUANTIZE SHAPE STRIDED_SLICE PACK RESHAPE CONV_2D
//!   MAX_POOL_2D FULLY_CONNECTED

mod common;

use std::path::{Path, PathBuf};

use common::row as image;
use std::sync::Arc;

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf, TensorInfo};
use ferrolite::ir::Op;
use ferrolite::ops::exec::{self, PrepareCtx};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Runs `dir/name.tflite` on each image of `name.input.npy` and requires every output
/// element to equal `name.output.ref.npy`.
fn check(dir: &str, name: &str) {
    let dir = root().join(dir);
    let model = ferrolite::tflite::read_file(&dir.join(format!("{name}.tflite"))).unwrap();
    let inputs = npy::read(&dir.join(format!("{name}.input.npy"))).unwrap();
    let reference = npy::read(&dir.join(format!("{name}.output.ref.npy"))).unwrap();
    let mut interp = Interpreter::new(model).unwrap_or_else(|e| panic!("{name}: {e}"));
    let images = inputs.shape[0];
    assert_eq!(reference.shape[0], images, "{name}: batch sizes");
    let mut mismatches = Vec::new();
    for i in 0..images {
        let out = interp
            .run(&[image(&inputs, i)])
            .unwrap_or_else(|e| panic!("{name} image {i}: {e}"));
        let want = image(&reference, i);
        assert_eq!(out[0].dtype(), want.dtype(), "{name}: output type");
        assert_eq!(
            out[0].data.len(),
            want.data.len(),
            "{name} image {i}: output size"
        );
        let (got, exp) = (out[0].data.to_f64(), want.data.to_f64());
        for (k, (g, e)) in got.iter().zip(&exp).enumerate() {
            if g != e {
                mismatches.push(format!("image {i} element {k}: got {g}, want {e}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{name}: {} elements differ from LiteRT BUILTIN_REF, first: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(8)]
    );
}

#[test]
fn dwsep_int8() {
    check("extra", "dwsep_int8");
}

#[test]
fn dwsep_int8_uint8_io() {
    check("extra", "dwsep_int8_uint8_io");
}

#[test]
fn residual_int8() {
    check("extra", "residual_int8");
}

#[test]
fn residual_int8_uint8_io() {
    check("extra", "residual_int8_uint8_io");
}

#[test]
fn mobilenet_block_int8() {
    check("extra", "mobilenet_block_int8");
}

#[test]
fn mobilenet_block_int8_uint8_io() {
    check("extra", "mobilenet_block_int8_uint8_io");
}

#[test]
fn sequence_int8() {
    check("extra", "sequence_int8");
}

#[test]
fn sequence_int8_uint8_io() {
    check("extra", "sequence_int8_uint8_io");
}

#[test]
fn raw_ops_int8() {
    check("extra", "raw_ops_int8");
}

#[test]
fn raw_ops_int8_uint8_io() {
    check("extra", "raw_ops_int8_uint8_io");
}

#[test]
fn mnist_cnn_int8_uint8_io() {
    check("tflite", "mnist_cnn_int8_uint8_io");
}

/// The integer models of fixtures/extra.
const EXTRA_INT8: &[&str] = &[
    "dwsep_int8",
    "dwsep_int8_uint8_io",
    "residual_int8",
    "residual_int8_uint8_io",
    "mobilenet_block_int8",
    "mobilenet_block_int8_uint8_io",
    "sequence_int8",
    "sequence_int8_uint8_io",
    "raw_ops_int8",
    "raw_ops_int8_uint8_io",
];

/// Ops implemented on the other branch (see the module comment).
fn belongs_to_the_conv_branch(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv2d(_)
            | Op::DepthwiseConv2d(_)
            | Op::FullyConnected(_)
            | Op::MaxPool2d(_)
            | Op::AveragePool2d(_)
            | Op::Softmax { .. }
    )
}

fn load_extra(name: &str) -> ferrolite::ir::Model {
    ferrolite::tflite::read_file(&root().join("extra").join(format!("{name}.tflite"))).unwrap()
}

#[test]
fn manifest_lists_the_ops_of_each_model() {
    let text = std::fs::read_to_string(root().join("extra/manifest.json")).unwrap();
    let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
    for name in EXTRA_INT8 {
        let entry = manifest["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == *name)
            .unwrap_or_else(|| panic!("{name} not in manifest"));
        let mut listed: Vec<String> = entry["ops"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        listed.sort();
        let mut found: Vec<String> = load_extra(name)
            .graph
            .operators
            .iter()
            .map(|o| o.op.name().to_string())
            .collect();
        found.sort();
        found.dedup();
        assert_eq!(found, listed, "{name}");
    }
}

/// Every operator outside the conv branch's set prepares on the tensors the model
/// declares (types, quantization, shapes with the file's batch of 1, constants). This
/// exercises type and parameter handling of this branch's int8 kernels on real
/// converter output while conv/fc/pool/softmax are missing.
#[test]
fn non_conv_ops_of_int8_fixtures_prepare() {
    let mut prepared = 0;
    for name in EXTRA_INT8 {
        let model = load_extra(name);
        let graph = &model.graph;
        let infos: Vec<TensorInfo> = graph
            .tensors
            .iter()
            .map(|t| TensorInfo {
                name: t.name.clone(),
                dtype: t.dtype,
                shape: t.shape.clone(),
                quantization: t.quantization.clone(),
                sparsity: t.sparsity.clone(),
                constant: TensorBuf::from_tensor(t).map(Arc::new),
            })
            .collect();
        for (index, op) in graph.operators.iter().enumerate() {
            if belongs_to_the_conv_branch(&op.op) {
                continue;
            }
            let ctx = PrepareCtx {
                op,
                inputs: op.inputs.iter().map(|i| i.map(|i| &infos[i])).collect(),
                outputs: op.outputs.iter().map(|&o| &graph.tensors[o]).collect(),
                cpu: ferrolite::kernels::cpu::CpuFeatures::detect(),
            };
            match exec::prepare(&ctx) {
                Ok(p) => {
                    // The shapes we compute agree with those the converter wrote.
                    for (shape, &o) in p.output_shapes.iter().zip(&op.outputs) {
                        assert_eq!(
                            shape,
                            &graph.tensors[o].shape,
                            "{name} op #{index} {}",
                            op.op.name()
                        );
                    }
                    prepared += 1;
                }
                Err(e) => panic!("{name} op #{index} {}: {e}", op.op.name()),
            }
        }
    }
    assert!(prepared > 40, "only {prepared} ops prepared");
}
