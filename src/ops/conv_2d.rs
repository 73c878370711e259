//! CONV_2D: 2-D convolution; the bias (input 2) may be omitted.

use super::{Arity, OpDef, QuantRule, WeightOperands};

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
};
