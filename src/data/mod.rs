//! Datasets: MNIST in IDX format.
