//! QUANTIZE: float32 to int8/int16, or int8 requantization; a boundary op the int8 quantizer inserts, never quantizes.

use super::{Arity, OpDef};

pub const CODE: i32 = 114;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "QUANTIZE",
    arity: Arity::fixed(1),
    quant: None,
    weights: None,
    runtime_versions: &["1.14.0", "1.15.0", "2.7.0"],
};
