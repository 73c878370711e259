//! LEAKY_RELU: x for x >= 0, alpha * x below.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 98;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "LEAKY_RELU",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.13.1", "2.3.0"],
};
