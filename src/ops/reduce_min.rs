//! REDUCE_MIN: the minimum over the axes given by input 1.

use super::common::{misrouted, version_by_int_input, Fbb, OptionsTable, ReadCtx};
use super::sum::{read_keep_dims, reducer_summary, write_reducer};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::ReadError;

pub const CODE: i32 = 89;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "REDUCE_MIN",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.11.0", "1.14.0", "2.5.0"],
    read,
    write,
    version: version_by_int_input,
    summary: reducer_summary,
    prepare: super::exec::reduce::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::ReduceMin {
        keep_dims: read_keep_dims(r)?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    match op {
        Op::ReduceMin { keep_dims } => write_reducer(fbb, *keep_dims),
        _ => misrouted(op),
    }
}
