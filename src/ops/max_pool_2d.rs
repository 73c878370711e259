//! MAX_POOL_2D: Maximum over 2-D windows; int8 keeps its input's parameters.

use super::common::{
    misrouted, pool_summary, read_pool, version_by_int_io, write_pool, Fbb, OptionsTable, ReadCtx,
};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::ReadError;

pub const CODE: i32 = 17;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "MAX_POOL_2D",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.3.0"],
    read,
    write,
    version: version_by_int_io,
    summary,
    prepare: super::exec::pool::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::MaxPool2d(read_pool(r)?))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    match op {
        Op::MaxPool2d(o) => write_pool(fbb, o),
        _ => misrouted(op),
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::MaxPool2d(o) => pool_summary(o),
        _ => String::new(),
    }
}
