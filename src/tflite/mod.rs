//! The `.tflite` format: reading (verify, then lower to IR) and writing (IR to bytes).

#[allow(unused_imports, dead_code, clippy::all, non_camel_case_types, non_snake_case, mismatched_lifetime_syntaxes, unsafe_op_in_unsafe_fn)]
#[rustfmt::skip]
pub mod schema_generated;

mod read;
pub mod versions;
mod write;

pub use crate::ir::limits::MAX_TENSOR_BYTES;
pub use read::{quirks, read, read_for_inspection, ReadError};
pub use write::{strip_names, write, WriteError};
// The schema ↔ IR type mapping, for the SHAPE op's `out_type` option.
pub(crate) use read::{lower_dtype, type_name};
pub(crate) use write::tensor_type;

/// Reads and lowers a `.tflite` file.
/// Only a regular file within [`crate::fsutil::InputLimit::TFLITE`] is read.
pub fn read_file(path: &std::path::Path) -> Result<crate::ir::Model, ReadError> {
    let bytes = crate::fsutil::read_input(path, &crate::fsutil::InputLimit::TFLITE)?;
    read(&bytes)
}
