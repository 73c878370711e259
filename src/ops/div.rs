//! DIV: Element-wise quotient with broadcasting and a fused activation.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 42;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DIV",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.6.0", "2.3.0"],
};
