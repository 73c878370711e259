//! SOFTMAX: Softmax over the last axis; its int8 output range [0, 1) is fixed at scale 1/256, zero point -128.

use super::common::{misrouted, version_by_int_input, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 25;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SOFTMAX",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Fixed(1.0 / 256.0, -128)),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.3.0"],
    read,
    write,
    version: version_by_int_input,
    summary,
    prepare: super::exec::softmax::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_softmax_options(), "SoftmaxOptions")?;
    Ok(Op::Softmax {
        beta: o.map_or(0.0, |o| o.beta()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Softmax { beta } = op else {
        return misrouted(op);
    };
    let table = fb::SoftmaxOptions::create(fbb, &fb::SoftmaxOptionsArgs { beta: *beta });
    (
        fb::BuiltinOptions::SoftmaxOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::Softmax { beta } => format!("beta {beta}"),
        _ => String::new(),
    }
}
