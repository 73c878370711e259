//! IR → `.tflite` bytes.

use crate::ir::Model;

/// Why a model could not be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    #[error("not implemented yet")]
    Unimplemented,
}

pub fn write(_model: &Model) -> Result<Vec<u8>, WriteError> {
    Err(WriteError::Unimplemented)
}
