//! SLICE: the box of constant `begin` (input 1) and `size` (input 2, -1 for the rest of
//! a dim). No options table.

use super::common::{no_summary, rank, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::ReadError;

pub const CODE: i32 = 65;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SLICE",
    arity: Arity::fixed(3),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0", "1.14.0", "2.4.0", "2.5.0", "2.14.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::layout::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Slice)
}

/// TF's exporter writes no SliceOptions, so neither do we.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    if rank(s.in0_t) > 4 {
        5
    } else if s.in0 == Some(DType::I16) {
        4
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
