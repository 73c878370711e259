//! MAXIMUM: the larger of two values, elementwise with broadcasting.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::MAXIMUM.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "MAXIMUM",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0", "2.3.0", "2.3.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::binary_math::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Maximum)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I16) && s.out0 == Some(DType::I16) {
        4
    } else if s.broadcasts_above_rank4() {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
