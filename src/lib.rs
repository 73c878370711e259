//! ferrolite: a TensorFlow-free model compression toolkit.
//!
//! Data flow: `data` → `nn` (train) → export → [`ir`] → `quant` / [`sparse`] →
//! [`tflite::write`]; and [`tflite::read`] → [`ir`] → [`interp`] → results, cross-checked
//! by [`verify`].

#[cfg(feature = "cli")]
pub mod cli;
pub mod data;
pub mod experiment;
pub mod fsutil;
pub mod interp;
pub mod ir;
pub mod kernels;
pub mod nn;
pub mod ops;
pub mod quant;
pub mod sparse;
pub mod tflite;
pub mod verify;
