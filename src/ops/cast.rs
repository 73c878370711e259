//! CAST: converts every element to the output tensor's type as C++'s `static_cast`
//! does (floats truncate toward zero, bool is `x != 0`). The types come from the
//! tensors; TF's exporter writes no CastOptions, so neither do we.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::ReadError;

pub const CODE: i32 = 53;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "CAST",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::NonFloat),
    weights: None,
    runtime_versions: &[
        "1.5.0", "2.7.0", "2.8.0", "2.9.0", "2.12.0", "2.15.0", "2.17.0",
    ],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::cast::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Cast)
}

fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

fn version(s: &OpSig) -> i32 {
    let either = |t: DType| s.in0 == Some(t) || s.out0 == Some(t);
    if either(DType::F16) {
        5
    } else if either(DType::I8) {
        3
    } else {
        1
    }
}
