//! ABS: |x|.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::ABS.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "ABS",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.13.0", "2.4.0", "2.5.0", "2.6.0", "2.12.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::unary::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Abs)
}

/// TF's exporter writes no options table for this op.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

/// int32 → 5; int16 → 3 when quantized, 4 when plain integers; int8/uint8 → 2.
fn version(s: &OpSig) -> i32 {
    match s.in0 {
        Some(DType::I32) => 5,
        Some(DType::I16) if s.in0_t.is_some_and(|t| t.quantization.is_some()) => 3,
        Some(DType::I16) => 4,
        Some(DType::I8 | DType::U8) => 2,
        _ => 1,
    }
}
