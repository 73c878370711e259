//! REDUCE_PROD: the product over the axes given by input 1.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::sum::{read_keep_dims, reducer_summary, write_reducer};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::ReadError;

pub const CODE: i32 = 81;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "REDUCE_PROD",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.11.0", "2.6.0"],
    read,
    write,
    version,
    summary: reducer_summary,
    prepare: super::exec::reduce::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::ReduceProd {
        keep_dims: read_keep_dims(r)?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    match op {
        Op::ReduceProd { keep_dims } => write_reducer(fbb, *keep_dims),
        _ => misrouted(op),
    }
}

/// int8 or int16 input → 2, else 1.
fn version(s: &OpSig) -> i32 {
    if matches!(s.in0, Some(DType::I8 | DType::I16)) {
        2
    } else {
        1
    }
}
