//! RELU: max(x, 0).

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 19;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RELU",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0", "2.1.0", "2.5.0"],
};
