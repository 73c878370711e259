//! STRIDED_SLICE: Slice by begin, end and strides (inputs 1 to 3) and the masks in the options.

use super::{Arity, OpDef, QuantRule};

pub const CODE: i32 = 45;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "STRIDED_SLICE",
    arity: Arity::fixed(4),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &[
        "1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0", "2.14.0", "2.14.0",
    ],
};
