//! RELU_0_TO_1: x clamped to [0, 1]. TF's converter does not produce it (min(max(x, 0), 1)
//! stays MINIMUM + RELU), but LiteRT has registered it since 2.10.

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::RELU_0_TO_1.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RELU_0_TO_1",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["2.10.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Relu0To1)
}

/// The schema has no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
