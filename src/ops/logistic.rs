//! LOGISTIC: Sigmoid; its int8 output range [0, 1) is fixed at scale 1/256, zero point -128.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 14;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "LOGISTIC",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Fixed(1.0 / 256.0, -128)),
    weights: None,
    runtime_versions: &["1.14.0", "1.14.0", "2.3.0"],
};
