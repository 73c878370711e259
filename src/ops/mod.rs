//! The operator registry: one file per TFLite operator ferrolite knows, holding everything
//! about it that does not run tensors: its builtin code and name, operand counts, the int8
//! quantizer's rule, the runtime releases that register each version, and five hooks —
//! `read` (flatbuffer options → IR), `write` (IR → options table), `version` (TF's version
//! rule), `summary` (the option text of `inspect`) and `prepare` (shapes, types and
//! quantization → a ready-to-run kernel, for the interpreter's planner). [`ALL`] is the one table the reader,
//! the writer, the version rules, the quantizer and `inspect` consult; they are loops over
//! it and know no op by name.
//!
//! The exhaustive [`Op`] enum stays in `ir`; [`def`] is the one place that maps each
//! variant to its module, so adding a variant without a module does not compile. The
//! helpers the hooks share (the [`ReadCtx`] a read hook gets, fused activation and padding
//! mappings, the [`OpSig`] version rules look at, pool options) are in [`common`].
//!
//! # Adding an operator
//!
//! 1. A variant in `ir::Op` (with its options, if any).
//! 2. A file `src/ops/<op>.rs` with `CODE` and `DEF`, the hooks below it. For ELU, a
//!    one-input op whose schema has no options table and one version:
//!
//! ```ignore
//! //! ELU: x for x > 0, exp(x) - 1 below.
//!
//! use super::common::{no_summary, version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
//! use super::{Arity, OpDef, QuantRule};
//! use crate::ir::Op;
//! use crate::tflite::ReadError;
//!
//! pub const CODE: i32 = 111;
//!
//! pub const DEF: OpDef = OpDef {
//!     code: CODE,
//!     name: "ELU",
//!     arity: Arity::fixed(1),
//!     quant: Some(QuantRule::Free),
//!     weights: None,
//!     runtime_versions: &["2.3.0"],
//!     read,
//!     write,
//!     version: version_1,
//!     summary: no_summary,
//!     prepare: super::exec::unary::prepare,
//! };
//!
//! fn read(_: &ReadCtx) -> Result<Op, ReadError> {
//!     Ok(Op::Elu)
//! }
//!
//! fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
//!     NO_OPTIONS
//! }
//! ```
//!
//!    An op with options reads them with `r.options(r.fop.builtin_options_as_…(), "…")`
//!    (absent options mean the schema defaults; [`ReadCtx`] turns options of another kind
//!    into an error) and writes its table with the schema's `…Options::create`; see
//!    `leaky_relu.rs` for the smallest such file, `fully_connected.rs` for a large one.
//! 3. `pub mod <op>;`, a line in [`ALL`], and the arm in [`def`] (the compiler asks for it).
//! 4. When its options table is not yet in `schema/tflite.fbs`, the table and its union
//!    entry there, then `scripts/regen-schema.sh`.
//! 5. Its `prepare`: usually the family's in [`exec`] (ELU's is `exec::unary`, which
//!    builds a byte table for int8); a new family gets a file there. `prepare` checks
//!    operand types and shapes, computes the output shapes and every constant once, and
//!    returns a [`exec::Kernel`] whose `run` only computes; the loops themselves belong in
//!    `crate::kernels`.
//!
//! The tests below round-trip one op of every registered code through its `write` and
//! `read` hooks, so a new file is checked as soon as it is in [`ALL`] and in the sample.

use crate::ir::{Arity, KernelError, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub mod common;
pub mod exec;

pub use common::{Fbb, OpSig, OptionsTable, ReadCtx};

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
pub mod log_softmax;
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
pub mod svdf;
pub mod tanh;
pub mod transpose;
pub mod unidirectional_sequence_lstm;
pub mod unsupported;

// Issue 12: element-wise math and activations.
pub mod abs;
pub mod elu;
pub mod exp;
pub mod floor;
pub mod gelu;
pub mod log;
pub mod maximum;
pub mod minimum;
pub mod neg;
pub mod pow;
pub mod relu_0_to_1;
pub mod relu_n1_to_1;
pub mod rsqrt;
pub mod sqrt;
pub mod square;
pub mod squared_difference;

// Issue 12: resampling and layout.
pub mod broadcast_to;
pub mod cast;
pub mod depth_to_space;
pub mod expand_dims;
pub mod gather;
pub mod prelu;
pub mod resize_bilinear;
pub mod resize_nearest_neighbor;
pub mod slice;
pub mod space_to_depth;
pub mod split;
pub mod split_v;
pub mod tile;

// Issue 12: reductions, normalization, matrix products and transpose convolution.
pub mod arg_max;
pub mod arg_min;
pub mod batch_matmul;
pub mod l2_normalization;
pub mod reduce_max;
pub mod reduce_min;
pub mod reduce_prod;
pub mod sum;
pub mod transpose_conv;

// Issue 12: custom ops of Google's published models.
pub mod convolution_2d_transpose_bias;
pub mod max_pooling_with_argmax_2d;
pub mod max_unpooling_2d;

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
    /// Has no int8 kernel in TFLite: the op stays in float32 between a DEQUANTIZE of its
    /// int8 inputs and a QUANTIZE of its output (a "float island", as TF's quantizer
    /// leaves it); its output's parameters come from its calibrated range.
    Float,
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
    /// The flatbuffer operator → the IR op. Absent options mean the schema's field
    /// defaults; options of another kind, or values the IR cannot hold, are a
    /// `ReadError` naming the operator (see [`ReadCtx`]).
    pub read: fn(&ReadCtx<'_>) -> Result<Op, ReadError>,
    /// The op's `builtin_options` union, added to the builder. Ops whose schema has an
    /// options table write it even when empty, as TF's exporter does.
    pub write: fn(&mut Fbb<'_>, &Op) -> OptionsTable,
    /// The version TF's exporter gives the op (`GetBuiltinOperatorVersion`), from its
    /// operand types and options.
    pub version: fn(&OpSig<'_>) -> i32,
    /// The one-line option text `inspect` prints (empty for ops without options).
    pub summary: fn(&Op) -> String,
    /// Checks the operands the planner knows (types, shapes, constants), computes the
    /// output shapes and every per-op constant once, and returns the kernel that runs
    /// the op. Ops of one family (ADD/SUB/MUL/DIV, the activations, ...) share a
    /// `prepare` in [`exec`], which tells them apart by the IR variant.
    pub prepare: fn(&exec::PrepareCtx<'_>) -> Result<exec::Prepared, KernelError>,
}

/// Every operator ferrolite reads, writes and runs.
pub static ALL: &[&OpDef] = &[
    &add::DEF,
    &log_softmax::DEF,
    &svdf::DEF,
    &unidirectional_sequence_lstm::DEF,
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
    // Issue 12: element-wise math and activations.
    &maximum::DEF,
    &minimum::DEF,
    &abs::DEF,
    &neg::DEF,
    &square::DEF,
    &sqrt::DEF,
    &rsqrt::DEF,
    &exp::DEF,
    &log::DEF,
    &relu_n1_to_1::DEF,
    &relu_0_to_1::DEF,
    &floor::DEF,
    &elu::DEF,
    &gelu::DEF,
    &squared_difference::DEF,
    &pow::DEF,
    // Issue 12: resampling and layout.
    &prelu::DEF,
    &resize_bilinear::DEF,
    &resize_nearest_neighbor::DEF,
    &depth_to_space::DEF,
    &space_to_depth::DEF,
    &split::DEF,
    &split_v::DEF,
    &slice::DEF,
    &gather::DEF,
    &expand_dims::DEF,
    &tile::DEF,
    &broadcast_to::DEF,
    &cast::DEF,
    // Issue 12: reductions, normalization, matrix products and transpose convolution.
    &transpose_conv::DEF,
    &sum::DEF,
    &reduce_max::DEF,
    &reduce_min::DEF,
    &reduce_prod::DEF,
    &arg_max::DEF,
    &arg_min::DEF,
    &l2_normalization::DEF,
    &batch_matmul::DEF,
];

/// The definition of an IR op.
pub fn def(op: &Op) -> &'static OpDef {
    match op {
        Op::Unsupported { .. } => &unsupported::DEF,
        Op::Svdf { .. } => &svdf::DEF,
        Op::LogSoftmax => &log_softmax::DEF,
        Op::UnidirectionalSequenceLstm(_) => &unidirectional_sequence_lstm::DEF,
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
        // Issue 12: element-wise math and activations.
        Op::Maximum => &maximum::DEF,
        Op::Minimum => &minimum::DEF,
        Op::Abs => &abs::DEF,
        Op::Neg => &neg::DEF,
        Op::Square => &square::DEF,
        Op::Sqrt => &sqrt::DEF,
        Op::Rsqrt => &rsqrt::DEF,
        Op::Exp => &exp::DEF,
        Op::Log => &log::DEF,
        Op::ReluN1To1 => &relu_n1_to_1::DEF,
        Op::Relu0To1 => &relu_0_to_1::DEF,
        Op::Floor => &floor::DEF,
        Op::Elu => &elu::DEF,
        Op::Gelu { .. } => &gelu::DEF,
        Op::SquaredDifference => &squared_difference::DEF,
        Op::Pow => &pow::DEF,
        // Issue 12: resampling and layout.
        Op::Prelu => &prelu::DEF,
        Op::ResizeBilinear { .. } => &resize_bilinear::DEF,
        Op::ResizeNearestNeighbor { .. } => &resize_nearest_neighbor::DEF,
        Op::DepthToSpace { .. } => &depth_to_space::DEF,
        Op::SpaceToDepth { .. } => &space_to_depth::DEF,
        Op::Split { .. } => &split::DEF,
        Op::SplitV { .. } => &split_v::DEF,
        Op::Slice => &slice::DEF,
        Op::Gather { .. } => &gather::DEF,
        Op::ExpandDims => &expand_dims::DEF,
        Op::Tile => &tile::DEF,
        Op::BroadcastTo => &broadcast_to::DEF,
        Op::Cast => &cast::DEF,
        // Issue 12: reductions, normalization, matrix products and transpose convolution.
        Op::TransposeConv { .. } => &transpose_conv::DEF,
        // Issue 12: custom ops of Google's published models.
        Op::TransposeConvBias { .. } => &convolution_2d_transpose_bias::DEF,
        Op::MaxPoolingWithArgmax2d(_) => &max_pooling_with_argmax_2d::DEF,
        Op::MaxUnpooling2d(_) => &max_unpooling_2d::DEF,
        Op::Sum { .. } => &sum::DEF,
        Op::ReduceMax { .. } => &reduce_max::DEF,
        Op::ReduceMin { .. } => &reduce_min::DEF,
        Op::ReduceProd { .. } => &reduce_prod::DEF,
        Op::ArgMax { .. } => &arg_max::DEF,
        Op::ArgMin { .. } => &arg_min::DEF,
        Op::L2Normalization { .. } => &l2_normalization::DEF,
        Op::BatchMatmul { .. } => &batch_matmul::DEF,
    }
}

/// The definition registered for a builtin code, if ferrolite knows the op.
pub fn by_code(code: i32) -> Option<&'static OpDef> {
    ALL.iter().copied().find(|d| d.code == code)
}

/// The custom operators ferrolite runs (builtin code `CUSTOM`, told apart by their
/// custom code, which is their `name`). They are not in [`ALL`]: `by_code` must not
/// answer for every custom op.
pub const CUSTOM: &[&OpDef] = &[
    // Issue 12: custom ops of Google's published models.
    &convolution_2d_transpose_bias::DEF,
    &max_pooling_with_argmax_2d::DEF,
    &max_unpooling_2d::DEF,
];

/// The registry entry of a custom op, by its custom code.
pub fn by_custom_code(custom_code: &str) -> Option<&'static OpDef> {
    CUSTOM.iter().copied().find(|d| d.name == custom_code)
}

/// The `custom_options` bytes of a custom op (its C parameter struct, as the runtime that
/// registers it reads them); `None` for builtin ops.
pub fn custom_options(op: &Op) -> Option<Vec<u8>> {
    match op {
        // Issue 12: custom ops of Google's published models.
        Op::TransposeConvBias { .. } => Some(convolution_2d_transpose_bias::custom_options(op)),
        Op::MaxPoolingWithArgmax2d(_) => Some(max_pooling_with_argmax_2d::custom_options(op)),
        Op::MaxUnpooling2d(_) => Some(max_unpooling_2d::custom_options(op)),
        _ => None,
    }
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
        match self {
            Op::Unsupported { code, .. } => *code,
            _ => def(self).code,
        }
    }

    /// The TFLite name of the op (`CONV_2D`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Unsupported { code, .. } => builtin_name(*code),
            _ => def(self).name,
        }
    }

    /// The operands this kind of op takes (checked by [`crate::ir::Graph::validate`]).
    pub fn arity(&self) -> Arity {
        def(self).arity
    }

    /// The op's options in one line, as `inspect` prints them (empty without options).
    pub fn summary(&self) -> String {
        (def(self).summary)(self)
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

    /// One op of every variant, with option values that differ from the schema defaults
    /// wherever the IR can hold them.
    fn one_of_each() -> Vec<Op> {
        use crate::ir::{
            Activation, Conv2dOptions, DType, DepthwiseConv2dOptions, FullyConnectedOptions,
            Padding, Pool2dOptions, StridedSliceOptions,
        };
        let pool = Pool2dOptions {
            padding: Padding::Valid,
            stride_w: 2,
            stride_h: 3,
            filter_w: 4,
            filter_h: 5,
            activation: Activation::Relu6,
        };
        vec![
            Op::LogSoftmax,
            Op::UnidirectionalSequenceLstm(crate::ir::LstmOptions {
                activation: Activation::Tanh,
                cell_clip: 3.0,
                proj_clip: 0.5,
                time_major: true,
                asymmetric_quantize_inputs: true,
                diagonal_recurrent_tensors: true,
            }),
            Op::Svdf {
                rank: 2,
                activation: Activation::Relu,
                asymmetric_quantize_inputs: true,
            },
            Op::Add {
                activation: Activation::Relu,
            },
            Op::Sub {
                activation: Activation::ReluN1To1,
            },
            Op::Mul {
                activation: Activation::Tanh,
            },
            Op::Div {
                activation: Activation::SignBit,
            },
            Op::AveragePool2d(pool.clone()),
            Op::MaxPool2d(pool),
            Op::Concatenation {
                axis: -1,
                activation: Activation::Relu,
            },
            Op::Conv2d(Conv2dOptions {
                padding: Padding::Valid,
                stride_w: 1,
                stride_h: 2,
                dilation_w: 3,
                dilation_h: 4,
                activation: Activation::Relu6,
            }),
            Op::DepthwiseConv2d(DepthwiseConv2dOptions {
                padding: Padding::Valid,
                stride_w: 2,
                stride_h: 1,
                depth_multiplier: 3,
                dilation_w: 2,
                dilation_h: 5,
                activation: Activation::Relu,
            }),
            Op::FullyConnected(FullyConnectedOptions {
                activation: Activation::Relu,
                keep_num_dims: true,
                asymmetric_quantize_inputs: true,
                shuffled_weights: true,
            }),
            Op::Dequantize,
            Op::Quantize,
            Op::Densify,
            Op::Logistic,
            Op::Tanh,
            Op::Relu,
            Op::Relu6,
            Op::LeakyRelu { alpha: 0.25 },
            Op::HardSwish,
            Op::Softmax { beta: 0.5 },
            Op::Reshape {
                new_shape: Some(vec![1, -1]),
            },
            Op::Squeeze { dims: vec![0, 2] },
            Op::Shape {
                out_type: DType::I64,
            },
            Op::StridedSlice(StridedSliceOptions {
                begin_mask: 1,
                end_mask: 2,
                ellipsis_mask: 4,
                new_axis_mask: 8,
                shrink_axis_mask: 16,
                offset: true,
            }),
            Op::Pack {
                values_count: 3,
                axis: 1,
            },
            Op::Pad,
            Op::Transpose,
            Op::Mean { keep_dims: true },
            // Issue 12: element-wise math and activations.
            Op::Maximum,
            Op::Minimum,
            Op::Abs,
            Op::Neg,
            Op::Square,
            Op::Sqrt,
            Op::Rsqrt,
            Op::Exp,
            Op::Log,
            Op::ReluN1To1,
            Op::Relu0To1,
            Op::Floor,
            Op::Elu,
            Op::SquaredDifference,
            Op::Pow,
            Op::Gelu { approximate: true },
            // Issue 12: resampling and layout.
            Op::Prelu,
            Op::ResizeBilinear {
                align_corners: true,
                half_pixel_centers: false,
            },
            Op::ResizeNearestNeighbor {
                align_corners: false,
                half_pixel_centers: true,
            },
            Op::DepthToSpace { block_size: 2 },
            Op::SpaceToDepth { block_size: 3 },
            Op::Split { num_splits: 4 },
            Op::SplitV { num_splits: 2 },
            Op::Slice,
            Op::Gather {
                axis: -1,
                batch_dims: 1,
            },
            Op::ExpandDims,
            Op::Tile,
            Op::BroadcastTo,
            Op::Cast,
            // Issue 12: reductions, normalization, matrix products and transpose convolution.
            Op::TransposeConv {
                padding: Padding::Valid,
                stride_w: 2,
                stride_h: 3,
                activation: Activation::Relu,
            },
            Op::Sum { keep_dims: true },
            Op::ReduceMax { keep_dims: true },
            Op::ReduceMin { keep_dims: false },
            Op::ReduceProd { keep_dims: true },
            Op::ArgMax {
                output_type: DType::I64,
            },
            Op::ArgMin {
                output_type: DType::I32,
            },
            Op::L2Normalization {
                activation: Activation::Relu6,
            },
            Op::BatchMatmul {
                adj_x: true,
                adj_y: false,
                asymmetric_quantize_inputs: true,
            },
        ]
    }

    /// A finished flatbuffer holding one operator with the given options union.
    fn operator_bytes(options: impl FnOnce(&mut Fbb<'static>) -> OptionsTable) -> Vec<u8> {
        let mut fbb = Fbb::new();
        let (builtin_options_type, builtin_options) = options(&mut fbb);
        let root = fb::Operator::create(
            &mut fbb,
            &fb::OperatorArgs {
                builtin_options_type,
                builtin_options,
                ..Default::default()
            },
        );
        fbb.finish(root, None);
        fbb.finished_data().to_vec()
    }

    fn read_as(def: &OpDef, index: usize, bytes: &[u8]) -> Result<Op, ReadError> {
        let fop = flatbuffers::root::<fb::Operator>(bytes).expect("the test built a valid table");
        (def.read)(&ReadCtx {
            index,
            name: def.name,
            fop,
        })
    }

    #[test]
    fn every_variant_survives_its_write_and_read_hooks() {
        let ops = one_of_each();
        // Every registered op is covered, so a new op file is tested here too.
        for d in ALL {
            assert!(
                ops.iter().any(|op| op.builtin_code() == d.code),
                "{}",
                d.name
            );
        }
        for op in ops {
            let def = op.def();
            let bytes = operator_bytes(|fbb| (def.write)(fbb, &op));
            assert_eq!(read_as(def, 7, &bytes), Ok(op.clone()), "{}", def.name);
        }
    }

    #[test]
    fn ops_without_an_options_table_write_none() {
        for op in [Op::Logistic, Op::Tanh, Op::Relu, Op::Relu6] {
            let mut fbb = Fbb::new();
            let (ty, table) = (op.def().write)(&mut fbb, &op);
            assert_eq!(ty, fb::BuiltinOptions::NONE, "{}", op.name());
            assert!(table.is_none());
        }
        let mut fbb = Fbb::new();
        let (ty, table) = (pad::DEF.write)(&mut fbb, &Op::Pad);
        assert_eq!(ty, fb::BuiltinOptions::PadOptions);
        assert!(table.is_some());
    }

    #[test]
    fn absent_options_read_as_the_schema_defaults() {
        use crate::ir::{Activation, Conv2dOptions, DType, Padding};
        let none = operator_bytes(|_| common::NO_OPTIONS);
        assert_eq!(
            read_as(&conv_2d::DEF, 0, &none),
            Ok(Op::Conv2d(Conv2dOptions {
                padding: Padding::Same,
                stride_w: 0,
                stride_h: 0,
                dilation_w: 1,
                dilation_h: 1,
                activation: Activation::None,
            }))
        );
        assert_eq!(
            read_as(&shape::DEF, 0, &none),
            Ok(Op::Shape {
                out_type: DType::I32
            })
        );
        assert_eq!(
            read_as(&reshape::DEF, 0, &none),
            Ok(Op::Reshape { new_shape: None })
        );
    }

    #[test]
    fn options_of_another_kind_name_the_operator_and_both_kinds() {
        let add = operator_bytes(|fbb| {
            (add::DEF.write)(
                fbb,
                &Op::Add {
                    activation: crate::ir::Activation::None,
                },
            )
        });
        match read_as(&conv_2d::DEF, 4, &add) {
            Err(ReadError::BadOperator {
                op,
                op_name,
                message,
            }) => {
                assert_eq!((op, op_name.as_str()), (4, "CONV_2D"));
                assert_eq!(
                    message,
                    "carries AddOptions options, expected Conv2DOptions"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_activation_and_padding_values_are_refused() {
        let bad_activation = operator_bytes(|fbb| {
            let t = fb::AddOptions::create(
                fbb,
                &fb::AddOptionsArgs {
                    fused_activation_function: fb::ActivationFunctionType(42),
                    ..Default::default()
                },
            );
            (fb::BuiltinOptions::AddOptions, Some(t.as_union_value()))
        });
        let err = read_as(&add::DEF, 2, &bad_activation).unwrap_err();
        assert_eq!(
            err.to_string(),
            "operator #2 (ADD): unknown fused activation 42"
        );
        let bad_padding = operator_bytes(|fbb| {
            let t = fb::Pool2DOptions::create(
                fbb,
                &fb::Pool2DOptionsArgs {
                    padding: fb::Padding(9),
                    ..Default::default()
                },
            );
            (fb::BuiltinOptions::Pool2DOptions, Some(t.as_union_value()))
        });
        let err = read_as(&max_pool_2d::DEF, 3, &bad_padding).unwrap_err();
        assert_eq!(
            err.to_string(),
            "operator #3 (MAX_POOL_2D): unknown padding 9"
        );
    }

    #[test]
    fn summaries_are_the_inspect_lines() {
        let ops = one_of_each();
        let text = |code: i32| {
            ops.iter()
                .find(|op| op.builtin_code() == code)
                .map(Op::summary)
                .unwrap_or_default()
        };
        assert_eq!(text(conv_2d::CODE), "Valid stride 2x1 dilation 4x3 RELU6");
        assert_eq!(
            text(depthwise_conv_2d::CODE),
            "Valid stride 1x2 dilation 5x2 multiplier 3 RELU"
        );
        assert_eq!(text(max_pool_2d::CODE), "Valid filter 5x4 stride 3x2 RELU6");
        assert_eq!(
            text(fully_connected::CODE),
            "RELU keep_num_dims asymmetric_inputs"
        );
        assert_eq!(text(sub::CODE), "RELU_N1_TO_1");
        assert_eq!(text(concatenation::CODE), "axis -1 RELU");
        assert_eq!(text(reshape::CODE), "new_shape [1, -1]");
        assert_eq!(text(shape::CODE), "out int64");
        assert_eq!(
            text(strided_slice::CODE),
            "masks begin 1 end 2 ellipsis 4 new_axis 8 shrink 16 offset"
        );
        assert_eq!(text(pack::CODE), "values 3 axis 1");
        assert_eq!(text(mean::CODE), "keep_dims true");
        assert_eq!(text(relu::CODE), "");
    }
}
