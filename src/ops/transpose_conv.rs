//! TRANSPOSE_CONV: the gradient of CONV_2D with respect to its input, used to upsample.
//! Inputs: the output shape (int32, 4 values), weights OHWI, the input, and from version
//! 3 on an optional bias (input 3).

use super::common::{activation, misrouted, padding, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule, WeightOperands};
use crate::ir::{Activation, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 67;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "TRANSPOSE_CONV",
    arity: Arity::range(3, 4),
    quant: Some(QuantRule::Free),
    // TF's quantizer treats the OHWI filter as CONV_2D's: per channel along dim 0.
    weights: Some(WeightOperands {
        weight: 1,
        channel_axis: 0,
        bias: 3,
    }),
    runtime_versions: &["1.9.0", "2.2.0", "2.3.0", "2.13.0", "2.15.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::transpose_conv::prepare,
};

/// Absent options give the schema defaults (strides 0), which prepare refuses.
fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_transpose_conv_options(),
        "TransposeConvOptions",
    )?;
    Ok(Op::TransposeConv {
        padding: r.padding(o.map(|o| o.padding()))?,
        stride_w: o.map_or(0, |o| o.stride_w()),
        stride_h: o.map_or(0, |o| o.stride_h()),
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::TransposeConv {
        padding: p,
        stride_w,
        stride_h,
        activation: a,
    } = op
    else {
        return misrouted(op);
    };
    let table = fb::TransposeConvOptions::create(
        fbb,
        &fb::TransposeConvOptionsArgs {
            padding: padding(*p),
            stride_w: *stride_w,
            stride_h: *stride_h,
            fused_activation_function: activation(*a),
            ..Default::default()
        },
    );
    (
        fb::BuiltinOptions::TransposeConvOptions,
        Some(table.as_union_value()),
    )
}

/// TF's rule: a fused activation → 4, a bias → 3, int8 weights → 2 (the int16 rule of
/// version 5 needs `quantized_bias_type`, which ferrolite does not model).
fn version(s: &OpSig) -> i32 {
    let fused = matches!(
        s.op.op,
        Op::TransposeConv { activation, .. } if activation != Activation::None
    );
    if fused {
        4
    } else if s.op.input(3).is_some() {
        3
    } else if s.in1 == Some(crate::ir::DType::I8) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::TransposeConv {
            padding,
            stride_w,
            stride_h,
            activation,
        } => format!(
            "{padding:?} stride {stride_h}x{stride_w} {}",
            activation.name()
        ),
        _ => String::new(),
    }
}
