//! LEAKY_RELU: x for x >= 0, alpha * x below.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 98;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "LEAKY_RELU",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.13.1", "2.3.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::activation::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_leaky_relu_options(),
        "LeakyReluOptions",
    )?;
    Ok(Op::LeakyRelu {
        alpha: o.map_or(0.0, |o| o.alpha()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::LeakyRelu { alpha } = op else {
        return misrouted(op);
    };
    let table = fb::LeakyReluOptions::create(fbb, &fb::LeakyReluOptionsArgs { alpha: *alpha });
    (
        fb::BuiltinOptions::LeakyReluOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I16) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::LeakyRelu { alpha } => format!("alpha {alpha}"),
        _ => String::new(),
    }
}
