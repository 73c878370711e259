//! FULLY_CONNECTED: Matrix product with [units, depth] weights (dense or sparse); the bias may be omitted.

use super::{Arity, OpDef, QuantRule, WeightOperands};

pub const CODE: i32 = 9;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "FULLY_CONNECTED",
    arity: Arity::range(2, 3),
    quant: Some(QuantRule::Free),
    weights: Some(WeightOperands {
        weight: 1,
        channel_axis: 0,
        bias: 2,
    }),
    runtime_versions: &[
        "1.5.0", "1.10.0", "1.14.0", "1.14.0", "2.0.0", "2.1.0", "2.3.0", "2.3.0", "2.3.0",
        "2.11.0", "2.15.0", "2.17.0",
    ],
};
