//! Bytes → verified flatbuffer → IR.

use crate::ir::Model;

/// Why a file could not be read as a TFLite model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("not implemented yet")]
    Unimplemented,
}

pub fn read(_bytes: &[u8]) -> Result<Model, ReadError> {
    Err(ReadError::Unimplemented)
}
