//! RESHAPE: New shape, same elements; the target comes from the options or from input 1.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 22;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RESHAPE",
    arity: Arity::range(1, 2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0"],
};
