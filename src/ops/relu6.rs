//! RELU6: min(max(x, 0), 6).

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 21;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RELU6",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.5.0"],
};
