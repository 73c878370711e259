//! ADD: Element-wise addition with broadcasting and a fused activation.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "ADD",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.4.0", "2.6.0", "2.13.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::elementwise::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_add_options(), "AddOptions")?;
    Ok(Op::Add {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Add { activation: a } = op else {
        return misrouted(op);
    };
    let table = fb::AddOptions::create(
        fbb,
        &fb::AddOptionsArgs {
            fused_activation_function: activation(*a),
            ..Default::default()
        },
    );
    (fb::BuiltinOptions::AddOptions, Some(table.as_union_value()))
}

fn summary(op: &Op) -> String {
    match op {
        Op::Add { activation } => activation.name().to_string(),
        _ => String::new(),
    }
}

/// TF's case `pot_scale_int16 = false` cannot occur: the writer always leaves the schema
/// default `true`.
fn version(s: &OpSig) -> i32 {
    let input_quantized = s.in0_t.is_some_and(|t| t.quantization.is_some());
    if s.in0 == Some(DType::I16) && !input_quantized {
        5
    } else if s.in0 == Some(DType::I64) {
        4
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
