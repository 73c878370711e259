//! TRANSPOSE: Permutes dimensions by a constant permutation.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 39;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "TRANSPOSE",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.6.0", "1.14.0", "1.15.0", "2.3.0", "2.4.0", "2.12.0"],
};
