//! L2_NORMALIZATION: each vector along the last dimension divided by its L2 norm.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 11;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "L2_NORMALIZATION",
    arity: Arity::fixed(1),
    // TFLite's kernel requires the int8 output at scale 1/128, zero point 0.
    quant: Some(QuantRule::Fixed(1.0 / 128.0, 0)),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::l2_normalization::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_l2_norm_options(), "L2NormOptions")?;
    Ok(Op::L2Normalization {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::L2Normalization { activation: a } = op else {
        return misrouted(op);
    };
    let table = fb::L2NormOptions::create(
        fbb,
        &fb::L2NormOptionsArgs {
            fused_activation_function: activation(*a),
        },
    );
    (
        fb::BuiltinOptions::L2NormOptions,
        Some(table.as_union_value()),
    )
}

/// int8 output → 2, else 1.
fn version(s: &OpSig) -> i32 {
    if s.out0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::L2Normalization { activation } => activation.name().to_string(),
        _ => String::new(),
    }
}
