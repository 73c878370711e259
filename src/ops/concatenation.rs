//! CONCATENATION: Joins its inputs along one axis; int8 inputs share the result's parameters.

use super::common::{activation, misrouted, version_by_int_input, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 2;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "CONCATENATION",
    arity: Arity::range(1, usize::MAX),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.3.0"],
    read,
    write,
    version: version_by_int_input,
    summary,
    prepare: super::exec::concat::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_concatenation_options(),
        "ConcatenationOptions",
    )?;
    Ok(Op::Concatenation {
        axis: o.map_or(0, |o| o.axis()),
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Concatenation {
        axis,
        activation: a,
    } = op
    else {
        return misrouted(op);
    };
    let table = fb::ConcatenationOptions::create(
        fbb,
        &fb::ConcatenationOptionsArgs {
            axis: *axis,
            fused_activation_function: activation(*a),
        },
    );
    (
        fb::BuiltinOptions::ConcatenationOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::Concatenation { axis, activation } => format!("axis {axis} {}", activation.name()),
        _ => String::new(),
    }
}
