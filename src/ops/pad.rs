//! PAD: Zero padding (the quantized zero for int8) by a constant [rank, 2] table.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 34;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "PAD",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.4.0", "2.6.0", "2.20.0"],
};
