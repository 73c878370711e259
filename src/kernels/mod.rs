//! The compute library: the arithmetic and loops of every kernel, with no knowledge of the
//! graph. An operator's `prepare` (in `ops::exec`) reads an operator, its tensors
//! and their quantization, turns them into the plain numbers and tables defined here, and
//! its `Kernel` impls call in with slices.
//!
//! Layering: nothing here imports the interpreter, nor the graph side of `crate::ir`
//! (`Op`, `Operator`, `Graph`, `Tensor`, `Quantization`, views). What is shared with `ir` are
//! the plain value enums a TFLite routine is keyed on (`DType`, `Activation`, `Padding`)
//! and the error type `KernelError`; `layering_tests` checks this.

pub mod common;
pub mod cpu;
pub mod fixed_point;
pub mod reference;
pub mod window;
pub mod x86;

#[cfg(test)]
mod layering_tests;
#[cfg(test)]
pub(crate) mod test_rng;
