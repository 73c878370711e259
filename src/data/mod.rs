//! Datasets: MNIST in IDX format.

pub mod files;
pub mod npy;

// PLACEHOLDER until the MNIST reader lands.
pub struct Mnist {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
}
pub enum Split {
    Train,
    Test,
}
#[derive(Debug, thiserror::Error)]
#[error("placeholder")]
pub struct DataError;
pub fn load(_dir: &std::path::Path, _split: Split) -> Result<Mnist, DataError> {
    Err(DataError)
}
pub fn default_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mnist"))
}
