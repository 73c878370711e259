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

#[derive(Clone, Debug, PartialEq, Default)]
pub struct LstmOptions {
    /// The cell-update and output activation (TANH in every converted Keras LSTM).
    pub activation: Activation,
    /// 0 means no clipping.
    pub cell_clip: f32,
    pub proj_clip: f32,
    /// The input is `[time, batch, features]` rather than `[batch, time, features]`.
    pub time_major: bool,
    pub asymmetric_quantize_inputs: bool,
    pub diagonal_recurrent_tensors: bool,
}

/// The operator kinds ferrolite reads, writes and runs, with their options. What is fixed
/// about each kind (code, name, operand counts, ...) is in its `crate::ops` module.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// An operator ferrolite cannot run, kept only when a file is read for inspection
    /// ([`crate::tflite::read_for_inspection`]): its builtin code and, for `CUSTOM`, the
    /// custom code. It has no options, no kernel and cannot be written.
    Unsupported {
        code: i32,
        custom_code: Option<String>,
    },
    LogSoftmax,
    /// 24 operands in TFLite's order (input, 4 input weights, 4 recurrent weights, 3
    /// peepholes, 4 biases, projection weights and bias, output and cell state, 4 layer
    /// norm coefficients); the states are variable tensors.
    UnidirectionalSequenceLstm(LstmOptions),
    /// Input 4 is the state, a variable tensor the op keeps between invocations.
    Svdf {
        rank: i32,
        activation: Activation,
        asymmetric_quantize_inputs: bool,
    },
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
    // Issue 12: element-wise math and activations.
    Maximum,
    Minimum,
    Abs,
    Neg,
    Square,
    Sqrt,
    Rsqrt,
    Exp,
    Log,
    ReluN1To1,
    /// x clamped to [0, 1].
    Relu0To1,
    Floor,
    Elu,
    /// `approximate`: the tanh form instead of the exact erf form.
    Gelu {
        approximate: bool,
    },
    SquaredDifference,
    Pow,
    // Issue 12: resampling and layout.
    /// x for x >= 0, alpha * x below; alpha (input 1) broadcasts against x.
    Prelu,
    ResizeBilinear {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    ResizeNearestNeighbor {
        align_corners: bool,
        half_pixel_centers: bool,
    },
    DepthToSpace {
        block_size: i32,
    },
    SpaceToDepth {
        block_size: i32,
    },
    /// The output count is `num_splits`; the axis is input 0, the data input 1.
    Split {
        num_splits: i32,
    },
    /// Sizes in input 1, axis in input 2.
    SplitV {
        num_splits: i32,
    },
    Slice,
    Gather {
        axis: i32,
        batch_dims: i32,
    },
    ExpandDims,
    Tile,
    BroadcastTo,
    /// To the output tensor's type.
    Cast,
    // Issue 12: reductions, normalization, matrix products and transpose convolution.
    /// Inputs: output shape (int32), weights OHWI, input, optional bias.
    TransposeConv {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
        activation: Activation,
    },
    Sum {
        keep_dims: bool,
    },
    ReduceMax {
        keep_dims: bool,
    },
    ReduceMin {
        keep_dims: bool,
    },
    ReduceProd {
        keep_dims: bool,
    },
    ArgMax {
        output_type: DType,
    },
    ArgMin {
        output_type: DType,
    },
    L2Normalization {
        activation: Activation,
    },
    BatchMatmul {
        adj_x: bool,
        adj_y: bool,
        asymmetric_quantize_inputs: bool,
    },
    // Issue 12: custom ops of Google's published models.
    /// MediaPipe's `Convolution2DTransposeBias`: inputs input, weights OHWI, bias; the
    /// output size follows from the padding as in TF's `conv2d_transpose`.
    TransposeConvBias {
        padding: Padding,
        stride_w: i32,
        stride_h: i32,
    },
    /// MediaPipe's `MaxPoolingWithArgmax2D`: outputs the pooled values and, as floats,
    /// where in each window the maximum was.
    MaxPoolingWithArgmax2d(Pool2dOptions),
    /// MediaPipe's `MaxUnpooling2D`: inputs values and the indices of the op above.
    MaxUnpooling2d(Pool2dOptions),
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
