//! Compressed model size as the pruning study measures it.
//!
//! TFMOT's `get_gzipped_model_size` writes the `.tflite` into a `zipfile.ZipFile` with
//! `ZIP_DEFLATED` (zlib level 6) and reports the size of that archive, so pruning shows
//! up as compressibility even when the zeros are stored. [`zip_archive`] builds the same
//! single-entry archive (local header, deflated data, central directory, end record) and
//! [`zip_bytes`] is its length. Deflate output differs slightly between zlib and the
//! Rust backend of flate2, so the figure can differ from Python's by a few bytes.

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::{Compression, Crc};

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// Version 2.0: the minimum that knows deflate.
const VERSION: u16 = 20;
const DEFLATE: u16 = 8;
/// DOS date 1980-01-01, time 00:00: a fixed timestamp keeps archives reproducible.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

/// Size in bytes of a .zip archive holding `bytes` as `file_name`, deflated at level 6.
pub fn zip_bytes(file_name: &str, bytes: &[u8]) -> usize {
    zip_archive(file_name, bytes).len()
}

/// A .zip archive holding `bytes` as the single entry `file_name`, deflated at level 6.
/// Fields that do not fit the 32-bit zip format (entries over 4 GiB, which no model
/// this crate handles reaches) saturate instead of switching to zip64.
pub fn zip_archive(file_name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::new(6));
    // Deflating into a Vec has no I/O that could fail.
    let deflated: Vec<u8> = encoder
        .write_all(bytes)
        .and_then(|_| encoder.finish())
        .unwrap_or_default();
    let mut crc = Crc::new();
    crc.update(bytes);
    let name = file_name.as_bytes();
    let name_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let name = &name[..usize::from(name_len)];
    let u32_of = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let (crc, compressed, size) = (crc.sum(), u32_of(deflated.len()), u32_of(bytes.len()));

    let mut zip = Vec::with_capacity(deflated.len() + 2 * name.len() + 98);
    let put16 = |zip: &mut Vec<u8>, v: u16| zip.extend_from_slice(&v.to_le_bytes());
    let put32 = |zip: &mut Vec<u8>, v: u32| zip.extend_from_slice(&v.to_le_bytes());
    // Fields shared by the local and central headers, from "version needed" on.
    let common = |zip: &mut Vec<u8>| {
        put16(zip, VERSION);
        put16(zip, 0);
        put16(zip, DEFLATE);
        put16(zip, DOS_TIME);
        put16(zip, DOS_DATE);
        put32(zip, crc);
        put32(zip, compressed);
        put32(zip, size);
        put16(zip, name_len);
        put16(zip, 0);
    };
    put32(&mut zip, LOCAL_HEADER);
    common(&mut zip);
    zip.extend_from_slice(name);
    zip.extend_from_slice(&deflated);

    let central_offset = u32_of(zip.len());
    put32(&mut zip, CENTRAL_HEADER);
    put16(&mut zip, VERSION);
    common(&mut zip);
    put16(&mut zip, 0); // comment length
    put16(&mut zip, 0); // disk number
    put16(&mut zip, 0); // internal attributes
    put32(&mut zip, 0); // external attributes
    put32(&mut zip, 0); // offset of the local header
    zip.extend_from_slice(name);
    let central_size = u32_of(zip.len()) - central_offset;

    put32(&mut zip, END_OF_CENTRAL_DIRECTORY);
    put16(&mut zip, 0); // this disk
    put16(&mut zip, 0); // disk holding the central directory
    put16(&mut zip, 1); // entries on this disk
    put16(&mut zip, 1); // entries in total
    put32(&mut zip, central_size);
    put32(&mut zip, central_offset);
    put16(&mut zip, 0); // comment length
    zip
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;
    use std::io::Read;

    fn u16_at(b: &[u8], at: usize) -> usize {
        u16::from_le_bytes([b[at], b[at + 1]]) as usize
    }
    fn u32_at(b: &[u8], at: usize) -> usize {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
    }

    /// Reads the archive the way an unzip tool does: end record → central directory →
    /// local header → data, checking each signature and the CRC.
    #[test]
    fn archive_is_a_readable_zip_with_the_file_inside() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i % 7 * (i % 3)) as u8).collect();
        let zip = zip_archive("model.tflite", &payload);
        let end = zip.len() - 22;
        assert_eq!(u32_at(&zip, end), 0x0605_4b50);
        assert_eq!(u16_at(&zip, end + 10), 1);
        let (cd_size, cd_at) = (u32_at(&zip, end + 12), u32_at(&zip, end + 16));
        assert_eq!(cd_at + cd_size, end);
        assert_eq!(u32_at(&zip, cd_at), 0x0201_4b50);
        assert_eq!(u16_at(&zip, cd_at + 10), 8);
        assert_eq!(&zip[cd_at + 46..cd_at + 46 + 12], b"model.tflite");
        let local = u32_at(&zip, cd_at + 42);
        assert_eq!(u32_at(&zip, local), 0x0403_4b50);
        let compressed = u32_at(&zip, local + 18);
        assert_eq!(u32_at(&zip, local + 22), payload.len());
        let data_at = local + 30 + u16_at(&zip, local + 26) + u16_at(&zip, local + 28);
        assert_eq!(data_at + compressed, cd_at);
        let mut inflated = Vec::new();
        DeflateDecoder::new(&zip[data_at..cd_at])
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, payload);
        // CRC-32 of "123456789" is the standard check value 0xCBF43926.
        let check = zip_archive("c", b"123456789");
        assert_eq!(u32_at(&check, 14), 0xCBF4_3926);
        assert!(compressed < payload.len() / 4, "repetitive data compresses");
    }

    #[test]
    fn size_counts_headers_and_both_copies_of_the_name() {
        // Empty content deflates to 2 bytes (one empty final fixed block) with level 6
        // in flate2's backend; the container adds 30 + 46 + 22 bytes and the name twice.
        let empty = zip_bytes("ab", b"");
        assert_eq!(empty, 30 + 2 + 46 + 2 + 22 + 2);
        assert_eq!(zip_bytes("abcd", b""), empty + 4);
    }
}
