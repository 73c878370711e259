//! DEPTHWISE_CONV_2D: Depthwise 2-D convolution; weights are [1, h, w, channels], so per-channel scales run along dimension 3.

use super::common::{
    activation, misrouted, padding, per_channel_along, Fbb, OpSig, OptionsTable, ReadCtx,
};
use super::{Arity, OpDef, QuantRule, WeightOperands};
use crate::ir::{DepthwiseConv2dOptions, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 4;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DEPTHWISE_CONV_2D",
    arity: Arity::range(2, 3),
    quant: Some(QuantRule::Free),
    weights: Some(WeightOperands {
        weight: 1,
        channel_axis: 3,
        bias: 2,
    }),
    runtime_versions: &["1.5.0", "1.12.0", "1.14.0", "2.2.0", "2.3.0", "2.3.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::conv::prepare,
};

/// Absent options give the schema defaults (strides and multiplier 0, dilation 1), which
/// prepare refuses.
fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_depthwise_conv_2_doptions(),
        "DepthwiseConv2DOptions",
    )?;
    Ok(Op::DepthwiseConv2d(DepthwiseConv2dOptions {
        padding: r.padding(o.map(|o| o.padding()))?,
        stride_w: o.map_or(0, |o| o.stride_w()),
        stride_h: o.map_or(0, |o| o.stride_h()),
        depth_multiplier: o.map_or(0, |o| o.depth_multiplier()),
        dilation_w: o.map_or(1, |o| o.dilation_w_factor()),
        dilation_h: o.map_or(1, |o| o.dilation_h_factor()),
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
    }))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::DepthwiseConv2d(o) = op else {
        return misrouted(op);
    };
    let table = fb::DepthwiseConv2DOptions::create(
        fbb,
        &fb::DepthwiseConv2DOptionsArgs {
            padding: padding(o.padding),
            stride_w: o.stride_w,
            stride_h: o.stride_h,
            depth_multiplier: o.depth_multiplier,
            fused_activation_function: activation(o.activation),
            dilation_w_factor: o.dilation_w,
            dilation_h_factor: o.dilation_h,
        },
    );
    (
        fb::BuiltinOptions::DepthwiseConv2DOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let dilated = match &s.op.op {
        Op::DepthwiseConv2d(o) => o.dilation_w != 1 || o.dilation_h != 1,
        _ => false,
    };
    if s.hybrid() {
        if per_channel_along(s.in1_t, 3) {
            6
        } else {
            4
        }
    } else if s.all_i8() {
        3
    } else if dilated {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::DepthwiseConv2d(o) => format!(
            "{:?} stride {}x{} dilation {}x{} multiplier {} {}",
            o.padding,
            o.stride_h,
            o.stride_w,
            o.dilation_h,
            o.dilation_w,
            o.depth_multiplier,
            o.activation.name()
        ),
        _ => String::new(),
    }
}
