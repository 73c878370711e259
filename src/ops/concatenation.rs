//! CONCATENATION: Joins its inputs along one axis; int8 inputs share the result's parameters.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 2;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "CONCATENATION",
    arity: Arity::range(1, usize::MAX),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.3.0"],
};
