//! AVERAGE_POOL_2D: Average over 2-D windows; int8 keeps its input's parameters.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 1;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "AVERAGE_POOL_2D",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.3.0"],
};
