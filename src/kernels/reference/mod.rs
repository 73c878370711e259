//! The plain loops that are the specification of each kernel: every fast path must give
//! exactly what these give.

pub mod cast;
pub mod conv;
pub mod gather;
pub mod lstm;
pub mod prelu;
pub mod resize;
pub mod svdf;
pub mod unary;
