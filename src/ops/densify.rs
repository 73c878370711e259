//! DENSIFY: Expands a sparse constant to dense; folded at plan time.

use super::{Arity, OpDef};

pub const CODE: i32 = 124;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DENSIFY",
    arity: Arity::fixed(1),
    quant: None,
    weights: None,
    runtime_versions: &["2.2.0"],
};
