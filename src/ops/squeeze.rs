//! SQUEEZE: Drops size-1 dimensions.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 43;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SQUEEZE",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.6.0", "2.5.0"],
};
