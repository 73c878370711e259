//! LOG_SOFTMAX over the last dimension: x - max - log(Σ exp(x - max)), per row.

use super::common::{no_summary, version_by_int_input, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 50;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "LOG_SOFTMAX",
    arity: Arity::fixed(1),
    // TFLite fixes the int8 output at [-16, 0] in steps of 1/16: scale 16/256, zero
    // point 127.
    quant: Some(QuantRule::Fixed(16.0 / 256.0, 127)),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0"],
    read,
    write,
    version: version_by_int_input,
    summary: no_summary,
    prepare: super::exec::log_softmax::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::LogSoftmax)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::LogSoftmaxOptions::create(fbb, &fb::LogSoftmaxOptionsArgs {});
    (
        fb::BuiltinOptions::LogSoftmaxOptions,
        Some(table.as_union_value()),
    )
}
