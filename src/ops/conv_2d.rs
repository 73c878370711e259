//! CONV_2D: 2-D convolution; the bias (input 2) may be omitted.

use super::common::{
    activation, misrouted, padding, per_channel_along, Fbb, OpSig, OptionsTable, ReadCtx,
};
use super::{Arity, OpDef, QuantRule, WeightOperands};
use crate::ir::{Conv2dOptions, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 3;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "CONV_2D",
    arity: Arity::range(2, 3),
    quant: Some(QuantRule::Free),
    weights: Some(WeightOperands {
        weight: 1,
        channel_axis: 0,
        bias: 2,
    }),
    runtime_versions: &["1.5.0", "1.14.0", "1.14.0", "2.3.0", "2.4.0", "2.9.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::conv::prepare,
};

/// Absent options give the schema defaults (strides 0, dilation 1); prepare refuses the
/// zero strides.
fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_conv_2_doptions(), "Conv2DOptions")?;
    Ok(Op::Conv2d(Conv2dOptions {
        padding: r.padding(o.map(|o| o.padding()))?,
        stride_w: o.map_or(0, |o| o.stride_w()),
        stride_h: o.map_or(0, |o| o.stride_h()),
        dilation_w: o.map_or(1, |o| o.dilation_w_factor()),
        dilation_h: o.map_or(1, |o| o.dilation_h_factor()),
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    }))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Conv2d(o) = op else {
        return misrouted(op);
    };
    let table = fb::Conv2DOptions::create(
        fbb,
        &fb::Conv2DOptionsArgs {
            padding: padding(o.padding),
            stride_w: o.stride_w,
            stride_h: o.stride_h,
            fused_activation_function: activation(o.activation),
            dilation_w_factor: o.dilation_w,
            dilation_h_factor: o.dilation_h,
            ..Default::default()
        },
    );
    (
        fb::BuiltinOptions::Conv2DOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    // Input channels differing from the filter's is a grouped convolution.
    let grouped = match (s.in0_t, s.in1_t) {
        (Some(i), Some(f)) if i.shape.len() >= 4 && f.shape.len() >= 4 => i.shape[3] != f.shape[3],
        _ => false,
    };
    if grouped {
        6
    } else if s.all_i8() {
        3
    } else if s.hybrid() {
        if per_channel_along(s.in1_t, 0) {
            5
        } else {
            2
        }
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::Conv2d(o) => format!(
            "{:?} stride {}x{} dilation {}x{} {}",
            o.padding,
            o.stride_h,
            o.stride_w,
            o.dilation_h,
            o.dilation_w,
            o.activation.name()
        ),
        _ => String::new(),
    }
}
