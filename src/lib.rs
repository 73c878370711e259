//! ferrolite: a TensorFlow-free model compression toolkit.
//!
//! Data flow: `data` → `nn` (train) → export → [`ir`] → `quant` / [`sparse`] →
//! [`tflite::write`]; and [`tflite::read`] → [`ir`] → [`interp`] → results, cross-checked
//! by [`verify`].
//!
//! The front door for programs ([`api`], re-exported here): [`load`] a `.tflite` file or
//! a model directory, plan it with [`Runner`] and run it on slices or `ndarray` arrays;
//! [`train`] a [`preset`], [`prune`] it, [`export`] it, [`quantize_int8`] and
//! [`save_tflite`]. Every call fails with one [`Error`]. `examples/run_tflite.rs` and
//! `examples/train_int8.rs` show both paths end to end; ARCHITECTURE.md explains the
//! layers underneath.

pub mod api;
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

pub use api::{
    export, load, load_bytes, mnist, preset, prune, quantize, quantize_int8, save_model_dir,
    save_tflite, sparsify, to_tflite, top1, train, Accuracy, Error, Int8Options, IoType, Mnist,
    Mode, PruneOptions, PruneReport, Result, Runner, Samples, Split, TensorBuf, TrainOptions,
    Value,
};
pub use ir::Model;
pub use nn::Sequential;
