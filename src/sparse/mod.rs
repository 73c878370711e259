//! Sparse tensor encodings (TACO-style, as TFLite stores them): densify and encode.

use crate::interp::TensorBuf;
use crate::ir::Sparsity;

/// Why a sparse encoding could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SparseError {
    #[error("invalid sparse encoding: {0}")]
    Invalid(String),
}

/// Expands the stored `values` of a tensor with dense shape `dense_shape` and encoding
/// `sparsity` into a dense row-major buffer of the same element type.
pub fn densify(
    sparsity: &Sparsity,
    dense_shape: &[usize],
    values: &TensorBuf,
) -> Result<TensorBuf, SparseError> {
    let _ = (sparsity, dense_shape, values);
    Err(SparseError::Invalid(
        "densify is not implemented yet".into(),
    ))
}
