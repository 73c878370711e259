//! The value types kernels work on; they are defined in [`crate::ir`] so that layers
//! below the interpreter can use them, and re-exported here for the kernels' imports.

pub use crate::ir::{TensorBuf, Value, View, ViewMut};
