//! Datasets: MNIST in IDX format.

mod mnist;

pub use mnist::{default_dir, load, DataError, Mnist, Split};
