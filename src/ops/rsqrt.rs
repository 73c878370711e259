//! RSQRT: 1 / sqrt(x).

use super::common::{no_summary, version_by_int_input, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::RSQRT.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RSQRT",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.10.0", "2.5.0", "2.15.0"],
    read,
    write,
    version: version_by_int_input,
    summary: no_summary,
    prepare: super::exec::unary::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Rsqrt)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
