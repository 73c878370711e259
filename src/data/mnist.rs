//! MNIST reader for the original IDX files, gzipped or raw.
//!
//! IDX: a big-endian u32 magic (0x00000803 = unsigned bytes in 3 dims, 0x00000801 = 1
//! dim), one big-endian u32 per dim, then the bytes row-major.

use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest payload we accept (2 GiB): the full training set is 47 MB, and a header is
/// no reason to read unbounded amounts of a decompressing stream.
const MAX_PAYLOAD: usize = 1 << 31;

/// Which half of MNIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// 60 000 training images (`train-*`).
    Train,
    /// 10 000 test images (`t10k-*`).
    Test,
}

impl Split {
    fn prefix(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "t10k",
        }
    }
}

/// Why MNIST could not be loaded. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(
        "MNIST not found in {}: expected {file}.gz (or uncompressed {file}); pass --data DIR with the four MNIST IDX files or set FERROLITE_DATA",
        dir.display()
    )]
    NotFound { dir: PathBuf, file: String },
    /// Reading failed part-way (the message says whether the file looks damaged).
    #[error("cannot read {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// The file is not a regular file, is unreadable, or is too large.
    #[error(transparent)]
    Input(#[from] crate::fsutil::InputError),
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
}

/// One split of MNIST: `count` images of `rows`×`cols` bytes, row-major and
/// concatenated, and one label (0..=9) per image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mnist {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
}

impl Mnist {
    /// Bytes per image.
    pub fn pixels_per_image(&self) -> usize {
        self.rows * self.cols
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.pixels_per_image();
        self.images
            .get(i.checked_mul(n)?..i.checked_add(1)?.checked_mul(n)?)
    }

    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.get(i).copied()
    }

    /// Images `range` (clamped to the split) as pixel/255 in f32, the scaling the
    /// reference models were trained and exported with. The quotient is taken in f64
    /// and rounded once to f32, as numpy's `uint8 / 255.0` then `astype(float32)` does.
    pub fn images_f32_scaled(&self, range: Range<usize>) -> Vec<f32> {
        let end = range.end.min(self.count);
        let start = range.start.min(end);
        let n = self.pixels_per_image();
        let table: Vec<f32> = (0..=255u8).map(|p| (f64::from(p) / 255.0) as f32).collect();
        self.images
            .get(start * n..end * n)
            .unwrap_or_default()
            .iter()
            .map(|&p| table[usize::from(p)])
            .collect()
    }

    /// Labels of `range` (clamped to the split).
    pub fn labels_range(&self, range: Range<usize>) -> &[u8] {
        let end = range.end.min(self.count);
        let start = range.start.min(end);
        self.labels.get(start..end).unwrap_or_default()
    }
}

/// The environment variable that names the MNIST directory.
pub const DATA_ENV: &str = "FERROLITE_DATA";

/// Where MNIST is looked for when no directory is given, in order: `$FERROLITE_DATA`,
/// `fixtures/mnist` under the working directory, then beside the executable and in the
/// source tree above it (`target/release/ferrolite` → `fixtures/mnist` of the clone).
/// Found at run time, so a binary moved elsewhere does not point into its build tree.
pub fn default_dir_candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(DATA_ENV).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    let vendored = Path::new("fixtures").join("mnist");
    dirs.push(vendored.clone());
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        // The executable's own directory and up to three above it (target/release,
        // target/release/deps for test binaries).
        for dir in exe_dir.ancestors().take(4) {
            dirs.push(dir.join(&vendored));
        }
    }
    dirs
}

/// The first of `default_dir_candidates()` that holds the MNIST test images (or
/// `$FERROLITE_DATA` when set, even if it does not, so that the error names it), else
/// `fixtures/mnist`.
pub fn default_dir() -> PathBuf {
    let candidates = default_dir_candidates();
    if std::env::var_os(DATA_ENV).is_some_and(|d| !d.is_empty()) {
        return candidates[0].clone();
    }
    candidates
        .iter()
        .find(|dir| find(dir, &format!("{}-images-idx3-ubyte", Split::Test.prefix())).is_ok())
        .cloned()
        .unwrap_or_else(|| Path::new("fixtures").join("mnist"))
}

/// Loads `split` from `dir`, which holds `{train,t10k}-{images-idx3,labels-idx1}-ubyte`
/// files, each gzipped (`.gz`) or raw.
pub fn load(dir: &Path, split: Split) -> Result<Mnist, DataError> {
    let images_path = find(dir, &format!("{}-images-idx3-ubyte", split.prefix()))?;
    let labels_path = find(dir, &format!("{}-labels-idx1-ubyte", split.prefix()))?;

    let mut images_in = open(&images_path)?;
    let header = read_header(&mut images_in, &images_path, IMAGES_MAGIC, 3, "image")?;
    let (count, rows, cols) = (header[0], header[1], header[2]);
    if rows == 0 || cols == 0 {
        return Err(format_err(
            &images_path,
            format!("images are {rows}×{cols} pixels"),
        ));
    }
    let image_bytes = count
        .checked_mul(rows)
        .and_then(|x| x.checked_mul(cols))
        .filter(|&x| x <= MAX_PAYLOAD)
        .ok_or_else(|| {
            format_err(
                &images_path,
                format!(
                    "header claims {count} images of {rows}×{cols}, more than the {MAX_PAYLOAD} pixel bytes this reader accepts"
                ),
            )
        })?;
    let images = read_payload(&mut images_in, &images_path, image_bytes, "pixel")?;

    let mut labels_in = open(&labels_path)?;
    let label_count = read_header(&mut labels_in, &labels_path, LABELS_MAGIC, 1, "label")?[0];
    if label_count != count {
        return Err(format_err(
            &labels_path,
            format!(
                "has {label_count} labels but {} has {count} images; the two files do not belong together",
                images_path.display()
            ),
        ));
    }
    let labels = read_payload(&mut labels_in, &labels_path, count, "label")?;
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(format_err(
            &labels_path,
            format!("label {i} is {l}, not a digit 0..=9"),
        ));
    }
    Ok(Mnist {
        images,
        labels,
        count,
        rows,
        cols,
    })
}

fn format_err(path: &Path, message: String) -> DataError {
    DataError::Format {
        path: path.to_path_buf(),
        message,
    }
}

/// An error while reading an opened file. Only damage (a corrupt or cut-off stream)
/// suggests downloading again; a permission or device error would not be cured by it.
fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    use std::io::ErrorKind::{InvalidData, InvalidInput, UnexpectedEof};
    move |e| DataError::Io {
        path: path.to_path_buf(),
        message: if matches!(e.kind(), InvalidData | InvalidInput | UnexpectedEof) {
            format!("{e}; the file is damaged or cut short, download it again")
        } else {
            e.to_string()
        },
    }
}

/// `dir/name.gz`, else `dir/name`.
fn find(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    [format!("{name}.gz"), name.to_string()]
        .iter()
        .map(|f| dir.join(f))
        // Whatever is there is taken (a directory or FIFO gets its own message when
        // opened), so "not found" means not found.
        .find(|p| std::fs::symlink_metadata(p).is_ok())
        .ok_or_else(|| DataError::NotFound {
            dir: dir.to_path_buf(),
            file: name.to_string(),
        })
}

/// The file's bytes, gunzipped when it starts with the gzip magic 1f 8b (whatever its
/// name says).
fn open(path: &Path) -> Result<Box<dyn Read>, DataError> {
    let (file, _) = crate::fsutil::open_input(path, &crate::fsutil::InputLimit::IDX)?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(io_err(path))?;
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(MultiGzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

fn read_header(
    input: &mut dyn Read,
    path: &Path,
    magic: u32,
    dims: usize,
    kind: &str,
) -> Result<Vec<usize>, DataError> {
    let mut word = [0u8; 4];
    let mut read_word = |what: &str| -> Result<u32, DataError> {
        input.read_exact(&mut word).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                format_err(
                    path,
                    format!("truncated in the IDX header ({what}); download the file again"),
                )
            } else {
                io_err(path)(e)
            }
        })?;
        Ok(u32::from_be_bytes(word))
    };
    let found = read_word("magic number")?;
    if found != magic {
        return Err(format_err(
            path,
            format!("magic number is 0x{found:08x}, expected 0x{magic:08x} for an IDX {kind} file; is it the right file?"),
        ));
    }
    (0..dims)
        .map(|d| read_word(&format!("dimension {d}")).map(|v| v as usize))
        .collect()
}

/// Exactly `len` bytes, then end of file. Reads incrementally, so a header that claims
/// more than the file holds costs no more memory than the file.
fn read_payload(
    input: &mut dyn Read,
    path: &Path,
    len: usize,
    kind: &str,
) -> Result<Vec<u8>, DataError> {
    let mut data = Vec::new();
    Read::take(&mut *input, len as u64)
        .read_to_end(&mut data)
        .map_err(io_err(path))?;
    if data.len() < len {
        return Err(format_err(
            path,
            format!(
                "truncated: the header promises {len} {kind} bytes but only {} follow; download the file again",
                data.len()
            ),
        ));
    }
    let mut extra = [0u8; 1];
    if input.read(&mut extra).map_err(io_err(path))? != 0 {
        return Err(format_err(
            path,
            format!("has data after the {len} {kind} bytes its header describes"),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests;
