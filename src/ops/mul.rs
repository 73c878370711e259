//! MUL: Element-wise product with broadcasting and a fused activation.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op, Tensor};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 18;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "MUL",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &[
        "1.5.0", "1.14.0", "1.15.0", "2.3.0", "2.6.0", "2.11.0", "2.13.0",
    ],
    read,
    write,
    version,
    summary,
    prepare: super::exec::elementwise::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_mul_options(), "MulOptions")?;
    Ok(Op::Mul {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Mul { activation: a } = op else {
        return misrouted(op);
    };
    let table = fb::MulOptions::create(
        fbb,
        &fb::MulOptionsArgs {
            fused_activation_function: activation(*a),
        },
    );
    (fb::BuiltinOptions::MulOptions, Some(table.as_union_value()))
}

fn summary(op: &Op) -> String {
    match op {
        Op::Mul { activation } => activation.name().to_string(),
        _ => String::new(),
    }
}

fn version(s: &OpSig) -> i32 {
    let quantized = |t: Option<&Tensor>| t.is_some_and(|t| t.quantization.is_some());
    let input_quantized = quantized(s.in0_t) || quantized(s.in1_t);
    let first_scale = |t: Option<&Tensor>| {
        t.and_then(|t| t.quantization.as_ref())
            .and_then(|q| q.scale.first().copied())
            .unwrap_or(0.0)
    };
    let (s1, s2, so) = (
        first_scale(s.in0_t),
        first_scale(s.in1_t),
        first_scale(s.out0_t),
    );
    if s.in0 == Some(DType::I16) && !input_quantized {
        7
    } else if s.in0 == Some(DType::I64) {
        5
    } else if s.in0 == Some(DType::I16) {
        4
    } else if s1 != 0.0 && s2 != 0.0 && so != 0.0 && s1 * s2 / so >= 1.0 {
        // TF's rule: a real multiplier in1 * in2 / out of 1 or more.
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}
