//! Writing outputs safely: never over an input, never over anything but a regular file,
//! always atomically. The implementation lives in [`crate::fsutil`], with the input
//! checks; this module keeps the names the output writers use.

pub use crate::fsutil::{refuse_overwrite, write_atomic, OutputError};
