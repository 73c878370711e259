//! The operator registry: one file per TFLite operator ferrolite knows, holding what is
//! fixed about it (builtin code and name, operand counts, the int8 quantizer's rule, the
//! runtime releases that register each version), and [`ALL`], the one table the reader,
//! the writer, the version rules, the quantizer and `inspect` consult.
//!
//! The exhaustive [`Op`] enum stays in `ir`; [`def`] is the one place that maps each
//! variant to its module, so adding a variant without a module does not compile.
//!
//! Still outside the per-op files (issue 11): the flatbuffer options read in
//! `tflite/read.rs` and written in `tflite/write.rs`, the version rules of
//! `tflite/versions.rs`, the option summaries of `cli/inspect.rs`, and `prepare` in
//! `interp/kernels`.

use crate::ir::{Arity, Op};
use crate::tflite::schema_generated::tflite as fb;

pub mod add;
pub mod average_pool_2d;
pub mod concatenation;
pub mod conv_2d;
pub mod densify;
pub mod depthwise_conv_2d;
pub mod dequantize;
pub mod div;
pub mod fully_connected;
pub mod hard_swish;
pub mod leaky_relu;
pub mod logistic;
pub mod max_pool_2d;
pub mod mean;
pub mod mul;
pub mod pack;
pub mod pad;
pub mod quantize;
pub mod relu;
pub mod relu6;
pub mod reshape;
pub mod shape;
pub mod softmax;
pub mod squeeze;
pub mod strided_slice;
pub mod sub;
pub mod tanh;
pub mod transpose;

/// How the int8 quantizer chooses an operator's output parameters (docs §2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QuantRule {
    /// From the output's own calibrated range.
    Free,
    /// Fixed by the op: (scale, zero point).
    Fixed(f32, i64),
    /// Inputs and output share parameters.
    SameScale,
    /// Works on shapes or integers only.
    NonFloat,
}

/// The operand slots of an op with weights: the weight, the weight dimension its
/// per-channel scales run along, and the bias.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightOperands {
    pub weight: usize,
    pub channel_axis: usize,
    pub bias: usize,
}

/// What is fixed about one TFLite operator.
#[derive(Debug)]
pub struct OpDef {
    /// The `BuiltinOperator` code (schema v3).
    pub code: i32,
    /// The TFLite name (`CONV_2D`, ...).
    pub name: &'static str,
    pub arity: Arity,
    /// `None` for ops the int8 quantizer refuses in a float model (boundary ops).
    pub quant: Option<QuantRule>,
    pub weights: Option<WeightOperands>,
    /// `runtime_versions[v - 1]` is the first TFLite release that registers version `v`,
    /// from TensorFlow's `runtime_version.cc`.
    pub runtime_versions: &'static [&'static str],
}

/// Every operator ferrolite reads, writes and runs.
pub static ALL: &[&OpDef] = &[
    &add::DEF,
    &average_pool_2d::DEF,
    &concatenation::DEF,
    &conv_2d::DEF,
    &depthwise_conv_2d::DEF,
    &dequantize::DEF,
    &fully_connected::DEF,
    &logistic::DEF,
    &max_pool_2d::DEF,
    &mul::DEF,
    &relu::DEF,
    &relu6::DEF,
    &reshape::DEF,
    &softmax::DEF,
    &tanh::DEF,
    &pad::DEF,
    &transpose::DEF,
    &mean::DEF,
    &sub::DEF,
    &div::DEF,
    &squeeze::DEF,
    &strided_slice::DEF,
    &shape::DEF,
    &pack::DEF,
    &leaky_relu::DEF,
    &quantize::DEF,
    &hard_swish::DEF,
    &densify::DEF,
];

/// The definition of an IR op.
pub fn def(op: &Op) -> &'static OpDef {
    match op {
        Op::Add { .. } => &add::DEF,
        Op::AveragePool2d(_) => &average_pool_2d::DEF,
        Op::Concatenation { .. } => &concatenation::DEF,
        Op::Conv2d(_) => &conv_2d::DEF,
        Op::DepthwiseConv2d(_) => &depthwise_conv_2d::DEF,
        Op::Dequantize => &dequantize::DEF,
        Op::FullyConnected(_) => &fully_connected::DEF,
        Op::Logistic => &logistic::DEF,
        Op::MaxPool2d(_) => &max_pool_2d::DEF,
        Op::Mul { .. } => &mul::DEF,
        Op::Relu => &relu::DEF,
        Op::Relu6 => &relu6::DEF,
        Op::Reshape { .. } => &reshape::DEF,
        Op::Softmax { .. } => &softmax::DEF,
        Op::Tanh => &tanh::DEF,
        Op::Pad => &pad::DEF,
        Op::Transpose => &transpose::DEF,
        Op::Mean { .. } => &mean::DEF,
        Op::Sub { .. } => &sub::DEF,
        Op::Div { .. } => &div::DEF,
        Op::Squeeze { .. } => &squeeze::DEF,
        Op::StridedSlice(_) => &strided_slice::DEF,
        Op::Shape { .. } => &shape::DEF,
        Op::Pack { .. } => &pack::DEF,
        Op::LeakyRelu { .. } => &leaky_relu::DEF,
        Op::Quantize => &quantize::DEF,
        Op::HardSwish => &hard_swish::DEF,
        Op::Densify => &densify::DEF,
    }
}

/// The definition registered for a builtin code, if ferrolite knows the op.
pub fn by_code(code: i32) -> Option<&'static OpDef> {
    ALL.iter().copied().find(|d| d.code == code)
}

/// The TFLite name of any builtin code, for messages about ops ferrolite lacks too.
pub fn builtin_name(code: i32) -> &'static str {
    fb::BuiltinOperator(code)
        .variant_name()
        .unwrap_or("UNKNOWN")
}

impl Op {
    /// The registry entry of this op.
    pub fn def(&self) -> &'static OpDef {
        def(self)
    }

    /// The op's `BuiltinOperator` code.
    pub fn builtin_code(&self) -> i32 {
        def(self).code
    }

    /// The TFLite name of the op (`CONV_2D`, ...).
    pub fn name(&self) -> &'static str {
        def(self).name
    }

    /// The operands this kind of op takes (checked by [`crate::ir::Graph::validate`]).
    pub fn arity(&self) -> Arity {
        def(self).arity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_agree_with_the_schema() {
        for d in ALL {
            assert_eq!(
                fb::BuiltinOperator(d.code).variant_name(),
                Some(d.name),
                "code {}",
                d.code
            );
        }
    }

    #[test]
    fn each_code_is_registered_once() {
        for (i, d) in ALL.iter().enumerate() {
            assert!(
                ALL[i + 1..].iter().all(|e| e.code != d.code),
                "{} is registered twice",
                d.name
            );
            assert!(by_code(d.code).is_some_and(|e| std::ptr::eq(e, *d)));
        }
    }

    #[test]
    fn every_op_has_a_runtime_release_for_version_1() {
        for d in ALL {
            assert!(!d.runtime_versions.is_empty(), "{}", d.name);
        }
    }

    #[test]
    fn an_ir_op_maps_to_its_own_code() {
        use crate::ir::{Activation, Conv2dOptions};
        let cases = [
            (
                Op::Add {
                    activation: Activation::None,
                },
                add::CODE,
            ),
            (Op::Conv2d(Conv2dOptions::default()), conv_2d::CODE),
            (Op::Densify, densify::CODE),
            (Op::Mean { keep_dims: true }, mean::CODE),
        ];
        for (op, code) in cases {
            assert_eq!(op.builtin_code(), code);
            assert_eq!(by_code(code).map(|d| d.name), Some(op.name()));
        }
        assert_eq!(builtin_name(32), "CUSTOM");
        assert_eq!(builtin_name(-5), "UNKNOWN");
    }
}
