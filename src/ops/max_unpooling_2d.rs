//! MediaPipe's custom `MaxUnpooling2D` (hair segmentation's decoder): the inverse of
//! `MaxPoolingWithArgmax2D`. Inputs: the values and the float indices that op produced;
//! each value is written where its index says inside its window of an output `filter`
//! times larger than the input, and every other output element is 0. Float32.
//!
//! Options: `TfLitePoolParams`, as for `MaxPoolingWithArgmax2D`.

use super::common::{version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::max_pooling_with_argmax_2d::{pool_params_bytes, pool_summary, read_pool_params};
use super::{Arity, OpDef};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CUSTOM_CODE: &str = "MaxUnpooling2D";

pub const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CUSTOM.0,
    name: CUSTOM_CODE,
    arity: Arity::fixed(2),
    quant: None,
    weights: None,
    runtime_versions: &[],
    read,
    write,
    version: version_1,
    summary,
    prepare: super::exec::pool_argmax::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::MaxUnpooling2d(read_pool_params(r)?))
}

/// Custom ops carry no builtin options table; see [`custom_options`].
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

pub fn custom_options(op: &Op) -> Vec<u8> {
    match op {
        Op::MaxUnpooling2d(o) => pool_params_bytes(o),
        _ => Vec::new(),
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::MaxUnpooling2d(o) => pool_summary(o),
        _ => String::new(),
    }
}
