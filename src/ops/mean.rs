//! MEAN: Mean over the axes given by input 1.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 40;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "MEAN",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.6.0", "1.14.0", "2.4.0"],
};
