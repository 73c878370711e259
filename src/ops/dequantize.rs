//! DEQUANTIZE: int8, int16 or float16 to float32; a boundary op the int8 quantizer inserts, never quantizes.

use super::{Arity, OpDef};

pub const CODE: i32 = 6;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DEQUANTIZE",
    arity: Arity::fixed(1),
    quant: None,
    weights: None,
    runtime_versions: &["1.13.1", "1.14.0", "1.15.0", "2.2.0", "2.7.0"],
};
