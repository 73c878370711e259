//! The plain loops that are the specification of each kernel: every fast path must give
//! exactly what these give.

pub mod activation;
pub mod arg_min_max;
pub mod batch_matmul;
pub mod binary_math;
pub mod cast;
pub mod concat;
pub mod conv;
pub mod conv_q8;
pub mod elementwise;
pub mod fully_connected;
pub mod gather;
pub mod hybrid;
pub mod l2_normalization;
pub mod log_softmax;
pub mod lstm;
pub mod pool;
pub mod pool_argmax;
pub mod prelu;
pub mod quant_binary;
pub mod quantize;
pub mod reduce;
pub mod resize;
pub mod softmax;
pub mod sparse_fc;
pub mod sparse_fc_f32;
pub mod sparse_fc_i8;
pub mod strided_copy;
pub mod svdf;
pub mod transpose_conv;
pub mod unary;
