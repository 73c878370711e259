//! SUB: Element-wise difference with broadcasting and a fused activation.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 41;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SUB",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.6.0", "1.14.0", "2.3.0", "2.4.0", "2.4.0"],
};
