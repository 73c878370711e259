//! NumPy `.npz` archives (a zip of `.npy` files, as `np.savez` writes them): every
//! input of a multi-input model in one file, every output of a model in one file.
//!
//! Reading takes the entries from the zip's central directory (stored or deflated, as
//! `np.savez` and `np.savez_compressed` write them); every size and offset is checked
//! against the bytes present, and a deflated entry is inflated only up to the size its
//! header declares, capped at 1 GiB. Writing stores the entries uncompressed, as
//! `np.savez` does.

use std::io::Read;
use std::path::Path;

use flate2::Crc;

use super::npy::{self, NpyError};
use crate::ir::Value;

/// Largest entry inflated (1 GiB, the interpreter's largest tensor).
const MAX_ENTRY_BYTES: usize = 1 << 30;

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const STORED: u16 = 0;
const DEFLATED: u16 = 8;

/// Why an `.npz` archive could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    /// Not a regular file, missing, unreadable or over its size cap (the message names it).
    #[error(transparent)]
    Input(#[from] crate::fsutil::InputError),
    #[error("{path} is not a valid .npz archive: {message}")]
    Format { path: String, message: String },
    #[error("{path}, entry '{entry}': {source}")]
    Entry {
        path: String,
        entry: String,
        source: NpyError,
    },
}

/// The arrays of an `.npz` file, by name (the entry name without `.npy`), in archive
/// order.
pub fn read(path: &Path) -> Result<Vec<(String, Value)>, NpzError> {
    let shown = path.display().to_string();
    // Through fsutil like every input: a FIFO or /dev/zero named as an archive is refused
    // at once instead of blocking or filling memory.
    let bytes = crate::fsutil::read_input(path, &crate::fsutil::InputLimit::NPZ)?;
    parse(&bytes).map_err(|e| match e {
        NpzError::Format { message, .. } => NpzError::Format {
            path: shown,
            message,
        },
        NpzError::Entry { entry, source, .. } => NpzError::Entry {
            path: shown,
            entry,
            source,
        },
        other => other,
    })
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses `.npz` bytes.
pub fn parse(bytes: &[u8]) -> Result<Vec<(String, Value)>, NpzError> {
    let bad = |message: &str| NpzError::Format {
        path: "<bytes>".into(),
        message: message.to_string(),
    };
    // The end-of-central-directory record: 22 bytes plus a comment of up to 64 KiB.
    let lowest = bytes.len().saturating_sub(22 + 0xffff);
    let end = (lowest..=bytes.len().saturating_sub(22))
        .rev()
        .find(|&at| u32_at(bytes, at) == Some(END))
        .ok_or_else(|| bad("no zip end-of-directory record"))?;
    let entries = u16_at(bytes, end + 10).ok_or_else(|| bad("truncated directory"))?;
    let mut at = u32_at(bytes, end + 16).ok_or_else(|| bad("truncated directory"))? as usize;
    let mut out = Vec::with_capacity(usize::from(entries));
    for _ in 0..entries {
        if u32_at(bytes, at) != Some(CENTRAL) {
            return Err(bad("a directory entry is missing or damaged"));
        }
        let field = |off: usize| u16_at(bytes, at + off).ok_or_else(|| bad("truncated entry"));
        let method = field(10)?;
        let compressed = u32_at(bytes, at + 20).ok_or_else(|| bad("truncated entry"))? as usize;
        let size = u32_at(bytes, at + 24).ok_or_else(|| bad("truncated entry"))? as usize;
        let (name_len, extra_len, comment_len) = (
            field(28)? as usize,
            field(30)? as usize,
            field(32)? as usize,
        );
        let local = u32_at(bytes, at + 42).ok_or_else(|| bad("truncated entry"))? as usize;
        let name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| bad("truncated entry name"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;

        if u32_at(bytes, local) != Some(LOCAL) {
            return Err(bad("an entry's local header is missing"));
        }
        let skip = |off: usize| u16_at(bytes, local + off).ok_or_else(|| bad("truncated header"));
        let data_at = local + 30 + skip(26)? as usize + skip(28)? as usize;
        let data = data_at
            .checked_add(compressed)
            .and_then(|stop| bytes.get(data_at..stop))
            .ok_or_else(|| bad("an entry runs past the end of the file"))?;
        if size > MAX_ENTRY_BYTES {
            return Err(bad("an entry is larger than 1 GiB"));
        }
        let raw = match method {
            STORED => data.to_vec(),
            DEFLATED => {
                let mut raw = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(data)
                    .take(size as u64 + 1)
                    .read_to_end(&mut raw)
                    .map_err(|_| bad("an entry does not inflate"))?;
                raw
            }
            _ => {
                return Err(bad(
                    "an entry uses a compression other than stored or deflate",
                ))
            }
        };
        if raw.len() != size {
            return Err(bad("an entry's size differs from its header"));
        }
        let entry = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        let value = npy::parse(&raw).map_err(|source| NpzError::Entry {
            path: "<bytes>".into(),
            entry: entry.clone(),
            source,
        })?;
        out.push((entry, value));
    }
    Ok(out)
}

/// An `.npz` archive of `arrays` (entries named `NAME.npy`, stored uncompressed).
pub fn to_bytes(arrays: &[(String, Value)]) -> Result<Vec<u8>, NpzError> {
    let mut zip = Vec::new();
    let mut directory = Vec::new();
    let too_big = || NpzError::Format {
        path: "<output>".into(),
        message: "more than 4 GiB (zip64 is not written)".into(),
    };
    for (name, value) in arrays {
        let data = npy::to_bytes(value).map_err(|source| NpzError::Entry {
            path: "<output>".into(),
            entry: name.clone(),
            source,
        })?;
        let file = format!("{name}.npy");
        let file = file.as_bytes();
        let mut crc = Crc::new();
        crc.update(&data);
        let offset = u32::try_from(zip.len()).map_err(|_| too_big())?;
        let size = u32::try_from(data.len()).map_err(|_| too_big())?;
        let name_len = u16::try_from(file.len()).map_err(|_| too_big())?;
        // Fields shared by both headers, from "version needed" to the name length:
        // version 2.0, no flags, stored, 1980-01-01 00:00 (fixed: same arrays, same
        // bytes), CRC, sizes.
        let mut common = Vec::with_capacity(26);
        for v in [20u16, 0, STORED, 0, (1 << 5) | 1] {
            common.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc.sum(), size, size] {
            common.extend_from_slice(&v.to_le_bytes());
        }
        common.extend_from_slice(&name_len.to_le_bytes());
        zip.extend_from_slice(&LOCAL.to_le_bytes());
        zip.extend_from_slice(&common);
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(file);
        zip.extend_from_slice(&data);

        directory.extend_from_slice(&CENTRAL.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes());
        directory.extend_from_slice(&common);
        // Extra and comment lengths, disk, internal and external attributes.
        directory.extend_from_slice(&[0; 4 + 2 + 2 + 4]);
        directory.extend_from_slice(&offset.to_le_bytes());
        directory.extend_from_slice(file);
    }
    let count = u16::try_from(arrays.len()).map_err(|_| too_big())?;
    let dir_at = u32::try_from(zip.len()).map_err(|_| too_big())?;
    let dir_len = u32::try_from(directory.len()).map_err(|_| too_big())?;
    zip.extend_from_slice(&directory);
    zip.extend_from_slice(&END.to_le_bytes());
    zip.extend_from_slice(&[0; 4]);
    zip.extend_from_slice(&count.to_le_bytes());
    zip.extend_from_slice(&count.to_le_bytes());
    zip.extend_from_slice(&dir_len.to_le_bytes());
    zip.extend_from_slice(&dir_at.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    Ok(zip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::TensorBuf;

    #[test]
    fn written_archives_read_back() {
        let arrays = vec![
            (
                "logits".to_string(),
                Value::new(vec![2, 2], TensorBuf::F32(vec![1.0, -2.0, 3.5, 0.0])),
            ),
            (
                "ids".to_string(),
                Value::new(vec![3], TensorBuf::I8(vec![-1, 0, 7])),
            ),
        ];
        let bytes = to_bytes(&arrays).unwrap();
        assert_eq!(parse(&bytes).unwrap(), arrays);
    }

    /// An archive made by Python's `zipfile` with deflate (what `np.savez_compressed`
    /// uses) holding `a.npy`, the int8 array [0, 1, 2] in NumPy's v1.0 layout.
    #[test]
    fn reads_deflated_archives_from_python() {
        let bytes: &[u8] = &[
            0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00,
            0xac, 0x98, 0xff, 0x33, 0x47, 0x00, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0x05, 0x00,
            0x00, 0x00, 0x61, 0x2e, 0x6e, 0x70, 0x79, 0x9b, 0xec, 0x17, 0xea, 0x1b, 0x10, 0xc9,
            0xc8, 0x50, 0xc6, 0x50, 0xad, 0x9e, 0x92, 0x5a, 0x9c, 0x5c, 0xa4, 0x6e, 0xa5, 0xa0,
            0x5e, 0x93, 0x69, 0xa8, 0xae, 0xa3, 0xa0, 0x9e, 0x96, 0x5f, 0x54, 0x52, 0x94, 0x98,
            0x17, 0x9f, 0x5f, 0x94, 0x92, 0x0a, 0x12, 0x77, 0x4b, 0xcc, 0x29, 0x4e, 0x05, 0x8a,
            0x17, 0x67, 0x24, 0x16, 0xa4, 0x02, 0xf9, 0x1a, 0xc6, 0x3a, 0x9a, 0x3a, 0x0a, 0xb5,
            0x0a, 0x14, 0x00, 0x2e, 0x06, 0x46, 0x26, 0x00, 0x50, 0x4b, 0x01, 0x02, 0x14, 0x03,
            0x14, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x21, 0x00, 0xac, 0x98, 0xff, 0x33,
            0x47, 0x00, 0x00, 0x00, 0x83, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x61, 0x2e,
            0x6e, 0x70, 0x79, 0x50, 0x4b, 0x05, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01,
            0x00, 0x33, 0x00, 0x00, 0x00, 0x6a, 0x00, 0x00, 0x00, 0x00, 0x00,
        ];
        let arrays = parse(bytes).unwrap();
        assert_eq!(arrays.len(), 1);
        assert_eq!(arrays[0].0, "a");
        assert_eq!(arrays[0].1.data, TensorBuf::I8(vec![0, 1, 2]));
    }

    #[test]
    fn damaged_archives_are_errors_not_panics() {
        let arrays = vec![(
            "x".to_string(),
            Value::new(vec![4], TensorBuf::F32(vec![1.0; 4])),
        )];
        let bytes = to_bytes(&arrays).unwrap();
        for cut in 0..bytes.len() {
            assert!(parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        // The stored size in the central directory no longer matches the data.
        let dir = bytes.len() - 22 - (46 + 5);
        flipped[dir + 24] ^= 0x40;
        assert!(parse(&flipped).is_err());
    }
}
