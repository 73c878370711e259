//! MediaPipe's custom `MaxPoolingWithArgmax2D` (hair segmentation's encoder): MAX_POOL_2D
//! that also outputs, per output element, where in its window the maximum was, as the
//! float `filter_y * filter_width + filter_x + 0.1` (the 0.1 keeps the later conversion
//! to an integer exact). Input 0; outputs the pooled values and the indices; float32.
//!
//! Options: the raw bytes of TFLite's C struct `TfLitePoolParams`: padding, stride width,
//! stride height, filter width, filter height, fused activation (int32 each), then 16
//! bytes of padding TFLite computes itself at prepare.

use super::common::{
    c_activation, c_activation_value, c_padding, c_padding_value, c_struct_bytes, c_struct_words,
    version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS,
};
use super::{Arity, OpDef};
use crate::ir::{Op, Pool2dOptions};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CUSTOM_CODE: &str = "MaxPoolingWithArgmax2D";

pub const DEF: OpDef = OpDef {
    code: fb::BuiltinOperator::CUSTOM.0,
    name: CUSTOM_CODE,
    arity: Arity {
        min_inputs: 1,
        max_inputs: 1,
        outputs: 2,
    },
    // Float only in MediaPipe: the int8 quantizer leaves models with it alone.
    quant: None,
    weights: None,
    runtime_versions: &[],
    read,
    write,
    version: version_1,
    summary,
    prepare: super::exec::pool_argmax::prepare,
};

/// `TfLitePoolParams` as MediaPipe's pooling ops read it.
pub fn read_pool_params(r: &ReadCtx) -> Result<Pool2dOptions, ReadError> {
    let w = c_struct_words(r, 6, "TfLitePoolParams")?;
    Ok(Pool2dOptions {
        padding: c_padding(r, w[0])?,
        stride_w: w[1],
        stride_h: w[2],
        filter_w: w[3],
        filter_h: w[4],
        activation: c_activation(r, w[5])?,
    })
}

/// The whole `TfLitePoolParams` (40 bytes, the computed padding left zero), so a runtime
/// casting the bytes to the struct never reads past them.
pub fn pool_params_bytes(o: &Pool2dOptions) -> Vec<u8> {
    c_struct_bytes(&[
        c_padding_value(o.padding),
        o.stride_w,
        o.stride_h,
        o.filter_w,
        o.filter_h,
        c_activation_value(o.activation),
        0,
        0,
        0,
        0,
    ])
}

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Ok(Op::MaxPoolingWithArgmax2d(read_pool_params(r)?))
}

/// Custom ops carry no builtin options table; see [`custom_options`].
fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    NO_OPTIONS
}

pub fn custom_options(op: &Op) -> Vec<u8> {
    match op {
        Op::MaxPoolingWithArgmax2d(o) => pool_params_bytes(o),
        _ => Vec::new(),
    }
}

pub fn pool_summary(o: &Pool2dOptions) -> String {
    format!(
        "{:?} filter {}x{} stride {}x{} {} (custom)",
        o.padding,
        o.filter_h,
        o.filter_w,
        o.stride_h,
        o.stride_w,
        o.activation.name()
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::MaxPoolingWithArgmax2d(o) => pool_summary(o),
        _ => String::new(),
    }
}
