//! SHAPE: The input's shape as an int32 or int64 vector; computed at plan time.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 77;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SHAPE",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::NonFloat),
    weights: None,
    runtime_versions: &["1.10.0"],
};
