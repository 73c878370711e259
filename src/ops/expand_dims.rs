//! EXPAND_DIMS: inserts a dim of size 1 at the constant axis (input 1).

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 70;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "EXPAND_DIMS",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.10.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::layout::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::ExpandDims)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::ExpandDimsOptions::create(fbb, &fb::ExpandDimsOptionsArgs {});
    (
        fb::BuiltinOptions::ExpandDimsOptions,
        Some(table.as_union_value()),
    )
}
