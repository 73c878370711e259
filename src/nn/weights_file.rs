//! Strict reading of a safetensors file's layout, with messages that name the tensor.
//!
//! The `safetensors` crate keeps the last of two entries with the same name, reports a
//! bad dtype without saying whose, and checks offsets before names, so a tensor deleted
//! from the header shows up as an offset error on its neighbour. Here the header is
//! parsed first (duplicates and unknown fields refused), names are checked by the
//! caller against the architecture, and only then are the offsets checked.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// The safetensors crate's own bound on the header.
const MAX_HEADER_BYTES: usize = 100_000_000;

/// Every dtype of the safetensors format, with its size in bits.
const DTYPES: &[(&str, usize)] = &[
    ("BOOL", 8),
    ("U8", 8),
    ("I8", 8),
    ("F8_E5M2", 8),
    ("F8_E4M3", 8),
    ("F8_E8M0", 8),
    ("I16", 16),
    ("U16", 16),
    ("F16", 16),
    ("BF16", 16),
    ("I32", 32),
    ("U32", 32),
    ("F32", 32),
    ("F64", 64),
    ("I64", 64),
    ("U64", 64),
    ("C64", 64),
    ("F4", 4),
    ("F6_E2M3", 6),
    ("F6_E3M2", 6),
];

/// One tensor of the header.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    pub dtype: String,
    pub shape: Vec<usize>,
    pub data_offsets: [usize; 2],
}

/// A parsed file: its tensors in header order and the data section.
#[derive(Debug)]
pub(crate) struct WeightsFile<'a> {
    pub entries: Vec<(String, Entry)>,
    data: &'a [u8],
}

struct Header(Vec<(String, Entry)>);

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct HeaderVisitor;
        impl<'de> Visitor<'de> for HeaderVisitor {
            type Value = Header;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object of tensors")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
                let mut seen = HashSet::new();
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !seen.insert(key.clone()) {
                        return Err(de::Error::custom(format!(
                            "{key} appears twice in the header"
                        )));
                    }
                    if key == "__metadata__" {
                        map.next_value::<BTreeMap<String, String>>()
                            .map_err(|e| de::Error::custom(format!("__metadata__: {e}")))?;
                    } else {
                        let entry = map
                            .next_value::<Entry>()
                            .map_err(|e| de::Error::custom(format!("{key}: {e}")))?;
                        entries.push((key, entry));
                    }
                }
                Ok(Header(entries))
            }
        }
        d.deserialize_map(HeaderVisitor)
    }
}

/// serde_json appends " at line L column C" to every message, once per nesting level.
fn without_position(message: &str) -> String {
    let mut m = message.to_string();
    while let Some(at) = m.rfind(" at line ") {
        let tail = &m[at + " at line ".len()..];
        let is_position = tail.split_once(" column ").is_some_and(|(l, c)| {
            l.bytes().all(|b| b.is_ascii_digit()) && c.bytes().all(|b| b.is_ascii_digit())
        });
        if !is_position {
            break;
        }
        m.truncate(at);
    }
    m
}

/// Parses the header of safetensors `bytes`: every entry named, no name twice, every
/// dtype one of the format's. Offsets are checked later by [`WeightsFile::check_layout`].
pub(crate) fn parse(bytes: &[u8]) -> Result<WeightsFile<'_>, String> {
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(format!(
            "{} bytes is too short for a safetensors file (8-byte header length first)",
            bytes.len()
        ));
    };
    let header_len = u64::from_le_bytes(*len);
    let header_len = usize::try_from(header_len)
        .ok()
        .filter(|&n| n <= rest.len() && n <= MAX_HEADER_BYTES)
        .ok_or_else(|| {
            format!(
                "the header length {header_len} runs past the end of the file ({} bytes) or past the format's {MAX_HEADER_BYTES}-byte limit",
                bytes.len()
            )
        })?;
    let (header, data) = rest.split_at(header_len);
    let Header(entries) = serde_json::from_slice(header)
        .map_err(|e| format!("bad header: {}", without_position(&e.to_string())))?;
    for (name, entry) in &entries {
        if bits(&entry.dtype).is_none() {
            return Err(format!(
                "{name}: dtype {:?} is not a safetensors dtype",
                entry.dtype
            ));
        }
    }
    Ok(WeightsFile { entries, data })
}

fn bits(dtype: &str) -> Option<usize> {
    DTYPES.iter().find(|(d, _)| *d == dtype).map(|&(_, b)| b)
}

impl<'a> WeightsFile<'a> {
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }

    /// Checks that the tensors' data ranges tile the data section exactly, each of the
    /// size its dtype and shape need, as the format requires.
    pub fn check_layout(&self) -> Result<(), String> {
        let mut by_start: Vec<&(String, Entry)> = self.entries.iter().collect();
        by_start.sort_by_key(|(_, e)| e.data_offsets);
        let mut at = 0usize;
        let mut previous: Option<&str> = None;
        for (name, e) in by_start {
            let [begin, end] = e.data_offsets;
            let need = e
                .shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .and_then(|n| n.checked_mul(bits(&e.dtype).unwrap_or(8)))
                .filter(|b| b % 8 == 0)
                .map(|b| b / 8)
                .ok_or_else(|| {
                    format!(
                        "{name}: shape {:?} of {} is not a whole number of bytes",
                        e.shape, e.dtype
                    )
                })?;
            if begin != at {
                return Err(match previous {
                    Some(p) => format!(
                        "{name}: data_offsets [{begin}, {end}] do not start where {p} ends ({at})"
                    ),
                    None => format!(
                        "{name}: data_offsets [{begin}, {end}] do not start the data section (0)"
                    ),
                });
            }
            if end < begin || end - begin != need {
                return Err(format!(
                    "{name}: data_offsets [{begin}, {end}] do not hold the {need} bytes of its {} {:?}",
                    e.dtype, e.shape
                ));
            }
            at = end;
            previous = Some(name);
        }
        if at != self.data.len() {
            return Err(format!(
                "the tensors' data ends at byte {at} but the data section holds {} bytes",
                self.data.len()
            ));
        }
        Ok(())
    }

    /// The bytes of `e`, after [`WeightsFile::check_layout`].
    pub fn data(&self, e: &Entry) -> &'a [u8] {
        self.data
            .get(e.data_offsets[0]..e.data_offsets[1])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data_len: usize) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend(std::iter::repeat_n(0u8, data_len));
        bytes
    }

    fn error(header: &str, data_len: usize) -> String {
        let bytes = file(header, data_len);
        match parse(&bytes) {
            Err(e) => e,
            Ok(f) => f.check_layout().expect_err("must be refused"),
        }
    }

    #[test]
    fn a_valid_file_parses_and_its_data_is_found() {
        let bytes = file(
            r#"{"__metadata__": {"format": "x"}, "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "U8", "shape": [3], "data_offsets": [8, 11]}}"#,
            11,
        );
        let f = parse(&bytes).unwrap();
        f.check_layout().unwrap();
        assert_eq!(f.entries.len(), 2);
        assert_eq!(f.data(f.get("b").unwrap()).len(), 3);
    }

    #[test]
    fn every_defect_names_the_tensor() {
        for (header, data, want) in [
            (
                r#"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                8,
                "a appears twice in the header",
            ),
            (
                r#"{"conv/bias": {"dtype": "F99", "shape": [1], "data_offsets": [0, 4]}}"#,
                4,
                "conv/bias: dtype \"F99\" is not a safetensors dtype",
            ),
            (
                r#"{"conv/bias": {"dtype": 7, "shape": [1], "data_offsets": [0, 4]}}"#,
                4,
                "conv/bias: invalid type",
            ),
            (
                r#"{"conv/bias": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "x": 1}}"#,
                4,
                "conv/bias: unknown field `x`",
            ),
            (
                r#"{"k": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}"#,
                4,
                "k: data_offsets [0, 4] do not hold the 8 bytes",
            ),
            (
                r#"{"k": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#,
                8,
                "k: data_offsets [4, 8] do not start the data section",
            ),
            (
                r#"{"k": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}"#,
                6,
                "data ends at byte 4 but the data section holds 6 bytes",
            ),
        ] {
            let e = error(header, data);
            assert!(e.contains(want), "{header}: {e}");
            assert!(!e.contains(" at line "), "{e}");
        }
        assert!(parse(b"\x10\0\0\0").is_err());
        assert!(parse(&u64::MAX.to_le_bytes())
            .unwrap_err()
            .contains("runs past"));
    }
}
