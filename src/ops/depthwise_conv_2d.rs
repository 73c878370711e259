//! DEPTHWISE_CONV_2D: Depthwise 2-D convolution; weights are [1, h, w, channels], so per-channel scales run along dimension 3.

use super::{Arity, OpDef, QuantRule, WeightOperands};

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
};
