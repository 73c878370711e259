//! EXP: e^x.

use super::common::{no_summary, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::EXP.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "EXP",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.7.0", "2.12.0"],
    read,
    write,
    version,
    summary: no_summary,
    prepare: super::exec::unary::prepare,
};

fn read(_: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::Exp)
}

/// The table is empty, but TF's exporter writes it, and so do we.
fn write(fbb: &mut Fbb, _: &Op) -> OptionsTable {
    let table = fb::ExpOptions::create(fbb, &fb::ExpOptionsArgs {});
    (fb::BuiltinOptions::ExpOptions, Some(table.as_union_value()))
}

fn version(s: &OpSig) -> i32 {
    if matches!(s.in0, Some(DType::I8 | DType::I16)) {
        2
    } else {
        1
    }
}
