//! FLOOR: the largest integer not above x.

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::FLOOR.0;

/// TFLite's quantizer leaves this op in float between DEQUANTIZE and QUANTIZE, and so does
/// ferrolite's (`QuantRule::Float`).
pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "FLOOR",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Float),
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
