//! RELU6: min(max(x, 0), 6).

use super::common::{no_summary, version_by_int_input, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::ReadError;

pub const CODE: i32 = 21;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RELU6",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.5.0"],
    read,
    write,
    version: version_by_int_input,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Relu6)
}

/// The schema has no options table for RELU6.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
