//! The `.tflite` format: reading (verify, then lower to IR) and writing (IR to bytes).

#[allow(unused_imports, dead_code, clippy::all, non_camel_case_types, non_snake_case, mismatched_lifetime_syntaxes, unsafe_op_in_unsafe_fn)]
#[rustfmt::skip]
pub mod schema_generated;

mod read;
pub mod versions;
mod write;

pub use read::{read, ReadError, MAX_TENSOR_BYTES};
pub use write::{strip_names, write, WriteError};

/// Reads and lowers a `.tflite` file.
pub fn read_file(path: &std::path::Path) -> Result<crate::ir::Model, ReadError> {
    let bytes = std::fs::read(path).map_err(|e| ReadError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    read(&bytes)
}
