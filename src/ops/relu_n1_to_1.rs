//! RELU_N1_TO_1: x clamped to [-1, 1].

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::RELU_N1_TO_1.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RELU_N1_TO_1",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::ReluN1To1)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
