//! TRANSPOSE: Permutes dimensions by a constant permutation.

use super::common::{no_summary, rank, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 39;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "TRANSPOSE",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0", "2.12.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::transpose::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Transpose)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::TransposeOptions::create(fbb, &fb::TransposeOptionsArgs {});
    (
        fb::BuiltinOptions::TransposeOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let r = rank(s.in0_t);
    if r > 5 {
        6
    } else if s.in0 == Some(DType::I16) {
        5
    } else if r > 4 {
        4
    } else if s.in0 == Some(DType::Bool) {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
