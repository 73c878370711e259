//! HARD_SWISH: x * relu6(x + 3) / 6.

use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 117;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "HARD_SWISH",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.15.0"],
    read,
    write,
    version: version_1,
    summary: no_summary,
    prepare: super::exec::activation::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::HardSwish)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::HardSwishOptions::create(fbb, &fb::HardSwishOptionsArgs {});
    (
        fb::BuiltinOptions::HardSwishOptions,
        Some(table.as_union_value()),
    )
}
