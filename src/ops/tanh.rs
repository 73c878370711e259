//! TANH: Hyperbolic tangent; its int8 output range [-1, 1) is fixed at scale 1/128, zero point 0.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 28;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "TANH",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Fixed(1.0 / 128.0, 0)),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0", "2.3.0"],
};
