//! RELU: max(x, 0).

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::ReadError;

pub const CODE: i32 = 19;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RELU",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0", "2.1.0", "2.5.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Relu)
}

/// The schema has no options table for RELU.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    match s.in0 {
        Some(DType::I16) => 3,
        Some(DType::I8) | Some(DType::U8) => 2,
        _ => 1,
    }
}
