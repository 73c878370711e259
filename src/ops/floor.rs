//! FLOOR: the largest integer not above x.

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::FLOOR.0;

/// TFLite's quantizer leaves this op in float between DEQUANTIZE and QUANTIZE; ferrolite's
/// quantizer has no float islands, so it refuses a model with the op (`quant: None`).
pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "FLOOR",
    arity: Arity::fixed(1),
    quant: None,
    weights: None,
    runtime_versions: &["1.9.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::unary::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Floor)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
