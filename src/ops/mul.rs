//! MUL: Element-wise product with broadcasting and a fused activation.

use super::{Arity, OpDef, QuantRule};

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
};
