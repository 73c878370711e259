//! DIV: Element-wise quotient with broadcasting and a fused activation.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 42;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DIV",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.6.0", "2.3.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::elementwise::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_div_options(), "DivOptions")?;
    Ok(Op::Div {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Div { activation: a } = op else {
        return misrouted(op);
    };
    let table = fb::DivOptions::create(
        fbb,
        &fb::DivOptionsArgs {
            fused_activation_function: activation(*a),
        },
    );
    (fb::BuiltinOptions::DivOptions, Some(table.as_union_value()))
}

fn summary(op: &Op) -> String {
    match op {
        Op::Div { activation } => activation.name().to_string(),
        _ => String::new(),
    }
}

fn version(s: &OpSig) -> i32 {
    if s.broadcasts_above_rank4() {
        2
    } else {
        1
    }
}
