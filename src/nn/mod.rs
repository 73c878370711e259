//! The training engine: Keras-style layers (forward and backward), losses, optimizers,
//! training loops. Knows nothing about flatbuffers; `export` maps layers to IR ops.
