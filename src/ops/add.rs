//! ADD: Element-wise addition with broadcasting and a fused activation.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "ADD",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.4.0", "2.6.0", "2.13.0"],
};
