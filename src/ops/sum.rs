//! SUM: sum over the axes given by input 1. Also holds the `ReducerOptions` hooks the
//! other reductions of this family share.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 74;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SUM",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.10.0", "1.15.0"],
    read,
    write,
    version,
    summary: reducer_summary,
    prepare: super::exec::reduce::prepare,
};

/// `keep_dims` of a `ReducerOptions` table, false when the options are absent.
pub(super) fn read_keep_dims(r: &ReadCtx) -> Result<bool, ReadError> {
    let o = r.options(r.fop.builtin_options_as_reducer_options(), "ReducerOptions")?;
    Ok(o.is_some_and(|o| o.keep_dims()))
}

pub(super) fn write_reducer(fbb: &mut Fbb, keep_dims: bool) -> OptionsTable {
    let table = fb::ReducerOptions::create(fbb, &fb::ReducerOptionsArgs { keep_dims });
    (
        fb::BuiltinOptions::ReducerOptions,
        Some(table.as_union_value()),
    )
}

/// The `keep_dims` of any reduction of this family.
pub(super) fn keep_dims_of(op: &Op) -> Option<bool> {
    match op {
        Op::Sum { keep_dims }
        | Op::ReduceMax { keep_dims }
        | Op::ReduceMin { keep_dims }
        | Op::ReduceProd { keep_dims } => Some(*keep_dims),
        _ => None,
    }
}

pub(super) fn reducer_summary(op: &Op) -> String {
    keep_dims_of(op).map_or_else(String::new, |k| format!("keep_dims {k}"))
}

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Sum {
        keep_dims: read_keep_dims(r)?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    match op {
        Op::Sum { keep_dims } => write_reducer(fbb, *keep_dims),
        _ => misrouted(op),
    }
}

/// int8 input → 2, else 1.
fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
