//! PACK: Stacks `values_count` inputs along a new axis (prepare checks the count against the options).

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 83;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "PACK",
    arity: Arity::range(1, usize::MAX),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.11.0", "1.14.0", "2.3.0", "2.13.0"],
};
