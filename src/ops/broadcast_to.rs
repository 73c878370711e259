//! BROADCAST_TO: NumPy broadcasting of the input to the constant shape in input 1.
//! No options table.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::ReadError;

pub const CODE: i32 = 130;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "BROADCAST_TO",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    // Version 1 was withdrawn (the op changed code); runtimes register 2 and 3 only, and
    // TF's table has no entry for it, which `versions::runtime_version` reports as none.
    runtime_versions: &["", "2.5.0", "2.5.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::layout::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::BroadcastTo)
}

/// TF's exporter writes no BroadcastToOptions, so neither do we.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    if matches!(s.in0, Some(DType::I8 | DType::I16)) {
        3
    } else {
        2
    }
}
