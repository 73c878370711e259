//! The plain loops that are the specification of each kernel: every fast path must give
//! exactly what these give.

pub mod arg_min_max;
pub mod batch_matmul;
pub mod conv;
pub mod l2_normalization;
pub mod reduce;
pub mod transpose_conv;
