//! Size limits shared by every stage that reads, builds or runs a graph.
//!
//! One set of numbers, so that a model the reader accepts is not refused later for a
//! size reason the reader could have named (and the other way round).

/// Largest dense tensor, in bytes, that a model may declare, that the sparsifier may
/// densify and that the interpreter will allocate.
///
/// 1 GiB. Shapes come from files, and a hostile file must get an error, not an
/// allocation failure; the interpreter allocates several tensors at once, so a limit at
/// the format's own 2 GiB would still let one file ask for many gigabytes. No model
/// ferrolite targets (MNIST-scale to MobileNet-scale) comes near it.
pub const MAX_TENSOR_BYTES: usize = 1 << 30;

/// Largest `.tflite` file the format can address: flatbuffer offsets are 32-bit signed.
pub const MAX_FLATBUFFER_BYTES: usize = 1 << 31;
