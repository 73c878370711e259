//! MAX_POOL_2D: Maximum over 2-D windows; int8 keeps its input's parameters.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 17;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "MAX_POOL_2D",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.3.0"],
};
