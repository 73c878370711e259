//! LOGISTIC: Sigmoid; its int8 output range [0, 1) is fixed at scale 1/256, zero point -128.

use super::common::{no_summary, version_by_int_io, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::ReadError;

pub const CODE: i32 = 14;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "LOGISTIC",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Fixed(1.0 / 256.0, -128)),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0", "2.3.0"],
    read,
    write,
    version: version_by_int_io,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Logistic)
}

/// The schema has no options table for LOGISTIC.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
