//! DENSIFY: Expands a sparse constant to dense; folded at plan time.

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 124;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DENSIFY",
    arity: Arity::fixed(1),
    quant: None,
    weights: None,
    runtime_versions: &["2.2.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::densify::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Densify)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::DensifyOptions::create(fbb, &fb::DensifyOptionsArgs {});
    (
        fb::BuiltinOptions::DensifyOptions,
        Some(table.as_union_value()),
    )
}
