//! SQRT: the square root of x.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::SQRT.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SQRT",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.10.0", "2.21.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::unary::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Sqrt)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    if matches!(s.in0, Some(DType::I8 | DType::I16)) {
        2
    } else {
        1
    }
}
