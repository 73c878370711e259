//! The plain loops that are the specification of each kernel: every fast path must give
//! exactly what these give.

pub mod conv;
pub mod lstm;
pub mod svdf;
pub mod unary;
