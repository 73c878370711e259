//! Datasets and files: MNIST in IDX format, `.npy` arrays, safe output writing.

pub mod files;
mod mnist;
pub mod npy;
pub mod npz;

pub use mnist::{default_dir, load, DataError, Mnist, Split};
