//! TILE: repeats the input `multiples[d]` times along each dim d (input 1, constant).
//! No options table.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::ReadError;

pub const CODE: i32 = 69;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "TILE",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.10.1", "2.2.0", "2.8.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::layout::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Tile)
}

/// TF's exporter writes no TileOptions, so neither do we.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I8) {
        3
    } else {
        1
    }
}
