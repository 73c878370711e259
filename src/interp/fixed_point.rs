//! Fixed-point arithmetic of TFLite's integer reference kernels (not implemented yet).
