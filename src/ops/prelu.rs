//! PRELU: x for x >= 0, alpha * x below, with alpha a tensor (input 1) that broadcasts
//! against x (one slope per channel, or shared across some axes). No options table.

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::ReadError;

pub const CODE: i32 = 54;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "PRELU",
    arity: Arity::fixed(2),
    // TF's quantizer gives input, alpha and output their own ranges.
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.8.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::prelu::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Prelu)
}

fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
