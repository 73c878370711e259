//! SQUARED_DIFFERENCE: (a - b)^2 elementwise with broadcasting.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::SQUARED_DIFFERENCE.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SQUARED_DIFFERENCE",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.13.1", "2.5.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::binary_math::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::SquaredDifference)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
