//! Operators with typed options.
//!
//! Option fields keep the integer types of the format (strides are `i32` as in the
//! file); the interpreter's prepare step validates them, so a model with nonsense options
//! can still be read, inspected and reported on.

use super::DType;

/// Activation fused into an op's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    ReluN1To1,
    Relu6,
    Tanh,
    SignBit,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "NONE",
            Activation::Relu => "RELU",
            Activation::ReluN1To1 => "RELU_N1_TO_1",
            Activation::Relu6 => "RELU6",
            Activation::Tanh => "TANH",
            Activation::SignBit => "SIGN_BIT",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    #[default]
    Same,
    Valid,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Conv2dOptions {
    pub padding: Padding,
    pub stride_w: i32,
    pub stride_h: i32,
    pub dilation_w: i32,
    pub dilation_h: i32,
    pub activation: Activation,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct DepthwiseConv2dOptions {
    pub padding: Padding,
    pub stride_w: i32,
    pub stride_h: i32,
    /// Redundant in the format (kernels infer it from shapes); kept for round trips.
    pub depth_multiplier: i32,
    pub dilation_w: i32,
    pub dilation_h: i32,
    pub activation: Activation,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pool2dOptions {
    pub padding: Padding,
    pub stride_w: i32,
    pub stride_h: i32,
    pub filter_w: i32,
    pub filter_h: i32,
    pub activation: Activation,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct FullyConnectedOptions {
    pub activation: Activation,
    /// Output keeps the input's leading dims instead of flattening to 2-D.
    pub keep_num_dims: bool,
    /// Hybrid kernels quantize float inputs asymmetrically per batch row.
    pub asymmetric_quantize_inputs: bool,
    /// Weights in the SHUFFLED4x16INT8 layout (not supported by the interpreter).
    pub shuffled_weights: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StridedSliceOptions {
    pub begin_mask: i32,
    pub end_mask: i32,
    pub ellipsis_mask: i32,
    pub new_axis_mask: i32,
    pub shrink_axis_mask: i32,
    /// `end` is an offset from `begin`.
    pub offset: bool,
}

/// The operator kinds ferrolite reads, writes and runs, with their options.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Add {
        activation: Activation,
    },
    Sub {
        activation: Activation,
    },
    Mul {
        activation: Activation,
    },
    Div {
        activation: Activation,
    },
    AveragePool2d(Pool2dOptions),
    MaxPool2d(Pool2dOptions),
    Concatenation {
        axis: i32,
        activation: Activation,
    },
    Conv2d(Conv2dOptions),
    DepthwiseConv2d(DepthwiseConv2dOptions),
    FullyConnected(FullyConnectedOptions),
    Dequantize,
    Quantize,
    Densify,
    Logistic,
    Tanh,
    Relu,
    Relu6,
    LeakyRelu {
        alpha: f32,
    },
    HardSwish,
    Softmax {
        beta: f32,
    },
    /// `new_shape` from the options; the shape may instead come as input 1.
    Reshape {
        new_shape: Option<Vec<i32>>,
    },
    Squeeze {
        dims: Vec<i32>,
    },
    Shape {
        out_type: DType,
    },
    StridedSlice(StridedSliceOptions),
    Pack {
        values_count: i32,
        axis: i32,
    },
    Pad,
    Transpose,
    Mean {
        keep_dims: bool,
    },
}

/// TFLite `BuiltinOperator` codes (schema v3 values).
pub mod builtin {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const TANH: i32 = 28;
    pub const PAD: i32 = 34;
    pub const TRANSPOSE: i32 = 39;
    pub const MEAN: i32 = 40;
    pub const SUB: i32 = 41;
    pub const DIV: i32 = 42;
    pub const SQUEEZE: i32 = 43;
    pub const STRIDED_SLICE: i32 = 45;
    pub const SHAPE: i32 = 77;
    pub const PACK: i32 = 83;
    pub const LEAKY_RELU: i32 = 98;
    pub const QUANTIZE: i32 = 114;
    pub const HARD_SWISH: i32 = 117;
    pub const DENSIFY: i32 = 124;
}

impl Op {
    /// The op's `BuiltinOperator` code.
    pub fn builtin_code(&self) -> i32 {
        use builtin::*;
        match self {
            Op::Add { .. } => ADD,
            Op::Sub { .. } => SUB,
            Op::Mul { .. } => MUL,
            Op::Div { .. } => DIV,
            Op::AveragePool2d(_) => AVERAGE_POOL_2D,
            Op::MaxPool2d(_) => MAX_POOL_2D,
            Op::Concatenation { .. } => CONCATENATION,
            Op::Conv2d(_) => CONV_2D,
            Op::DepthwiseConv2d(_) => DEPTHWISE_CONV_2D,
            Op::FullyConnected(_) => FULLY_CONNECTED,
            Op::Dequantize => DEQUANTIZE,
            Op::Quantize => QUANTIZE,
            Op::Densify => DENSIFY,
            Op::Logistic => LOGISTIC,
            Op::Tanh => TANH,
            Op::Relu => RELU,
            Op::Relu6 => RELU6,
            Op::LeakyRelu { .. } => LEAKY_RELU,
            Op::HardSwish => HARD_SWISH,
            Op::Softmax { .. } => SOFTMAX,
            Op::Reshape { .. } => RESHAPE,
            Op::Squeeze { .. } => SQUEEZE,
            Op::Shape { .. } => SHAPE,
            Op::StridedSlice(_) => STRIDED_SLICE,
            Op::Pack { .. } => PACK,
            Op::Pad => PAD,
            Op::Transpose => TRANSPOSE,
            Op::Mean { .. } => MEAN,
        }
    }

    /// The operands this kind of op takes (checked by [`super::Graph::validate`]).
    pub fn arity(&self) -> super::Arity {
        use super::Arity;
        match self {
            Op::Add { .. }
            | Op::Sub { .. }
            | Op::Mul { .. }
            | Op::Div { .. }
            | Op::Pad
            | Op::Transpose
            | Op::Mean { .. } => Arity::fixed(2),
            // The bias (slot 2) may be omitted.
            Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_) => Arity::range(2, 3),
            // The target shape comes from the options or from input 1.
            Op::Reshape { .. } => Arity::range(1, 2),
            Op::StridedSlice(_) => Arity::fixed(4),
            // `values_count` must match, but options are prepare's to judge.
            Op::Concatenation { .. } | Op::Pack { .. } => Arity::range(1, usize::MAX),
            Op::AveragePool2d(_)
            | Op::MaxPool2d(_)
            | Op::Dequantize
            | Op::Quantize
            | Op::Densify
            | Op::Logistic
            | Op::Tanh
            | Op::Relu
            | Op::Relu6
            | Op::LeakyRelu { .. }
            | Op::HardSwish
            | Op::Softmax { .. }
            | Op::Squeeze { .. }
            | Op::Shape { .. } => Arity::fixed(1),
        }
    }

    /// The TFLite name of the op (`CONV_2D`, ...).
    pub fn name(&self) -> &'static str {
        builtin_name(self.builtin_code())
    }
}

/// TFLite name of a builtin code, for error messages about ops ferrolite lacks too.
pub fn builtin_name(code: i32) -> &'static str {
    const NAMES: &[(i32, &str)] = &[
        (0, "ADD"),
        (1, "AVERAGE_POOL_2D"),
        (2, "CONCATENATION"),
        (3, "CONV_2D"),
        (4, "DEPTHWISE_CONV_2D"),
        (5, "DEPTH_TO_SPACE"),
        (6, "DEQUANTIZE"),
        (7, "EMBEDDING_LOOKUP"),
        (8, "FLOOR"),
        (9, "FULLY_CONNECTED"),
        (11, "L2_NORMALIZATION"),
        (12, "L2_POOL_2D"),
        (14, "LOGISTIC"),
        (16, "LSTM"),
        (17, "MAX_POOL_2D"),
        (18, "MUL"),
        (19, "RELU"),
        (20, "RELU_N1_TO_1"),
        (21, "RELU6"),
        (22, "RESHAPE"),
        (23, "RESIZE_BILINEAR"),
        (25, "SOFTMAX"),
        (26, "SPACE_TO_DEPTH"),
        (28, "TANH"),
        (32, "CUSTOM"),
        (34, "PAD"),
        (36, "GATHER"),
        (37, "BATCH_TO_SPACE_ND"),
        (38, "SPACE_TO_BATCH_ND"),
        (39, "TRANSPOSE"),
        (40, "MEAN"),
        (41, "SUB"),
        (42, "DIV"),
        (43, "SQUEEZE"),
        (45, "STRIDED_SLICE"),
        (47, "EXP"),
        (49, "SPLIT"),
        (50, "LOG_SOFTMAX"),
        (53, "CAST"),
        (54, "PRELU"),
        (55, "MAXIMUM"),
        (56, "ARG_MAX"),
        (57, "MINIMUM"),
        (60, "PADV2"),
        (65, "SLICE"),
        (67, "TRANSPOSE_CONV"),
        (69, "TILE"),
        (70, "EXPAND_DIMS"),
        (74, "SUM"),
        (76, "RSQRT"),
        (77, "SHAPE"),
        (82, "REDUCE_MAX"),
        (83, "PACK"),
        (88, "UNPACK"),
        (92, "SQUARE"),
        (97, "RESIZE_NEAREST_NEIGHBOR"),
        (98, "LEAKY_RELU"),
        (100, "MIRROR_PAD"),
        (102, "SPLIT_V"),
        (111, "ELU"),
        (114, "QUANTIZE"),
        (117, "HARD_SWISH"),
        (124, "DENSIFY"),
        (126, "BATCH_MATMUL"),
        (150, "GELU"),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
        .unwrap_or("UNKNOWN")
}

/// One operator: inputs may be omitted (TFLite's -1, e.g. a missing bias).
#[derive(Clone, Debug, PartialEq)]
pub struct Operator {
    pub op: Op,
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
}

impl Operator {
    pub fn new(op: Op, inputs: Vec<usize>, outputs: Vec<usize>) -> Operator {
        Operator {
            op,
            inputs: inputs.into_iter().map(Some).collect(),
            outputs,
        }
    }

    /// Input `i` if present.
    pub fn input(&self, i: usize) -> Option<usize> {
        self.inputs.get(i).copied().flatten()
    }
}
