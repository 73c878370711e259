//! SUB: Element-wise difference with broadcasting and a fused activation.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 41;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SUB",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::elementwise::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_sub_options(), "SubOptions")?;
    Ok(Op::Sub {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Sub { activation: a } = op else {
        return misrouted(op);
    };
    let table = fb::SubOptions::create(
        fbb,
        &fb::SubOptionsArgs {
            fused_activation_function: activation(*a),
            ..Default::default()
        },
    );
    (fb::BuiltinOptions::SubOptions, Some(table.as_union_value()))
}

fn summary(op: &Op) -> String {
    match op {
        Op::Sub { activation } => activation.name().to_string(),
        _ => String::new(),
    }
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I64) {
        4
    } else if s.broadcasts_above_rank4() {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
