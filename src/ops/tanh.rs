//! TANH: Hyperbolic tangent; its int8 output range [-1, 1) is fixed at scale 1/128, zero point 0.

use super::common::{no_summary, version_by_int_io, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::ReadError;

pub const CODE: i32 = 28;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "TANH",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Fixed(1.0 / 128.0, 0)),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0", "2.3.0"],
    read,
    write,
    version: version_by_int_io,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Tanh)
}

/// The schema has no options table for TANH.
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}
