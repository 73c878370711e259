//! PAD: Zero padding (the quantized zero for int8) by a constant [rank, 2] table.

use super::common::{no_summary, rank, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 34;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "PAD",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.4.0", "2.6.0", "2.20.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::pad::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Pad)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::PadOptions::create(fbb, &fb::PadOptionsArgs {});
    (fb::BuiltinOptions::PadOptions, Some(table.as_union_value()))
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::Bool) {
        5
    } else if rank(s.in0_t) > 4 {
        4
    } else if s.in0 == Some(DType::I16) {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
