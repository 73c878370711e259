//! HARD_SWISH: x * relu6(x + 3) / 6.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 117;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "HARD_SWISH",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.15.0"],
};
