//! QUANTIZE: float32 to int8/int16, or int8 requantization; a boundary op the int8 quantizer inserts, never quantizes.

use super::common::{no_summary, per_axis_along_quantized_dim, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 114;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "QUANTIZE",
    arity: Arity::fixed(1),
    quant: None,
    weights: None,
    runtime_versions: &["1.14.0", "1.15.0", "2.7.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::quantize::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Quantize)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::QuantizeOptions::create(fbb, &fb::QuantizeOptionsArgs {});
    (
        fb::BuiltinOptions::QuantizeOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    if per_axis_along_quantized_dim(s.out0_t) {
        3
    } else if s.out0 == Some(DType::I16) {
        2
    } else {
        1
    }
}
