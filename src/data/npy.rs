//! NumPy `.npy` files in and out of [`Value`]s.
//!
//! Reading is done here rather than by `ndarray-npy` so that a hostile header (a huge
//! declared shape) is checked against the bytes actually present before anything is
//! allocated, and so errors can say which dtypes are accepted. Writing goes through
//! `ndarray-npy`, which produces the standard version 1.0 layout.

use std::path::Path;

use half::f16;
use ndarray::{ArrayD, IxDyn};
use ndarray_npy::WriteNpyExt;

use crate::ir::{DType, TensorBuf, Value};

/// Why an `.npy` file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum NpyError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path} is not a valid .npy file: {message}")]
    Format { path: String, message: String },
    #[error("{path} holds dtype '{descr}', which ferrolite does not read (use float32, float16, int8, uint8, int16, int32, int64 or bool, little-endian)")]
    UnsupportedDtype { path: String, descr: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error(transparent)]
    Input(#[from] crate::fsutil::InputError),
}

/// Reads an `.npy` file (C or Fortran order, little-endian) into a row-major value.
pub fn read(path: &Path) -> Result<Value, NpyError> {
    let bytes = crate::fsutil::read_input(path, &crate::fsutil::InputLimit::NPY)?;
    parse(&bytes).map_err(|e| match e {
        NpyError::Format { message, .. } => NpyError::Format {
            path: path.display().to_string(),
            message,
        },
        NpyError::UnsupportedDtype { descr, .. } => NpyError::UnsupportedDtype {
            path: path.display().to_string(),
            descr,
        },
        other => other,
    })
}

/// Parses `.npy` bytes.
pub fn parse(bytes: &[u8]) -> Result<Value, NpyError> {
    let bad = |message: String| NpyError::Format {
        path: "<bytes>".into(),
        message,
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("missing the \\x93NUMPY magic".into()));
    }
    let major = bytes[6];
    let (header_len, header_start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unknown format version {v}"))),
    };
    let header_end = header_start
        .checked_add(header_len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("header runs past the end of the file".into()))?;
    let header = std::str::from_utf8(&bytes[header_start..header_end])
        .map_err(|_| bad("header is not text".into()))?;
    let Header {
        descr,
        fortran,
        shape,
    } = parse_header(header).map_err(|m| bad(format!("header {m}")))?;
    let dtype = match descr.as_str() {
        "<f4" => DType::F32,
        "<f2" => DType::F16,
        "|i1" | "<i1" => DType::I8,
        "|u1" | "<u1" => DType::U8,
        "<i2" => DType::I16,
        "<i4" => DType::I32,
        "<i8" => DType::I64,
        "|b1" => DType::Bool,
        _ => {
            return Err(NpyError::UnsupportedDtype {
                path: "<bytes>".into(),
                descr,
            })
        }
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let data = &bytes[header_end..];
    let need = count
        .checked_mul(dtype.size())
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    if data.len() != need {
        return Err(bad(format!(
            "shape {shape:?} of {} needs {need} data bytes, the file has {}",
            dtype.name(),
            data.len()
        )));
    }
    let mut buf = TensorBuf::from_le_bytes(dtype, data);
    if fortran && shape.len() > 1 {
        buf = fortran_to_c(&buf, &shape);
    }
    Ok(Value::new(shape, buf))
}

/// What an `.npy` header says.
struct Header {
    descr: String,
    fortran: bool,
    shape: Vec<usize>,
}

/// Parses the header, a Python dict literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and
/// a newline. Strict: exactly the three keys, each once, with values of their types,
/// every bracket closed, and nothing after the dict but the padding.
fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Literal { rest: text };
    p.expect('{', "must start with '{'")?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_space();
        if p.eat('}') {
            break;
        }
        let key = p.string().map_err(|m| format!("key: {m}"))?;
        p.skip_space();
        p.expect(':', &format!("needs ':' after '{key}'"))?;
        p.skip_space();
        let duplicate = match key.as_str() {
            "descr" => descr.replace(p.string().map_err(|m| format!("'descr': {m}"))?),
            "fortran_order" => fortran.replace(p.boolean()?).map(|_| String::new()),
            "shape" => shape.replace(p.tuple()?).map(|_| String::new()),
            other => return Err(format!("has an unknown key '{other}'")),
        }
        .is_some();
        if duplicate {
            return Err(format!("has '{key}' twice"));
        }
        p.skip_space();
        if p.eat('}') {
            break;
        }
        if !p.eat(',') {
            return Err(if p.rest.is_empty() {
                "dict is not closed with '}'".into()
            } else {
                format!("needs ',' or '}}' after the value of '{key}'")
            });
        }
    }
    if !p.rest.trim_end_matches([' ', '\n']).is_empty() {
        return Err(format!(
            "has text after the dict: {:?}",
            p.rest.chars().take(20).collect::<String>()
        ));
    }
    Ok(Header {
        descr: descr.ok_or("has no 'descr'")?,
        fortran: fortran.ok_or("has no 'fortran_order'")?,
        shape: shape.ok_or("has no 'shape'")?,
    })
}

/// A cursor over the header text.
struct Literal<'a> {
    rest: &'a str,
}

impl Literal<'_> {
    fn skip_space(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t', '\n']);
    }

    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn expect(&mut self, c: char, message: &str) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(message.to_string())
        }
    }

    /// A quoted string without escapes (numpy writes none in these keys and values).
    fn string(&mut self) -> Result<String, String> {
        let quote = match self.rest.chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err("expected a quoted string".into()),
        };
        let body = &self.rest[1..];
        let end = body
            .find(quote)
            .ok_or_else(|| "string is not closed".to_string())?;
        let s = &body[..end];
        if s.contains('\\') {
            return Err("escapes are not supported".into());
        }
        self.rest = &body[end + 1..];
        Ok(s.to_string())
    }

    fn boolean(&mut self) -> Result<bool, String> {
        for (word, value) in [("True", true), ("False", false)] {
            if let Some(r) = self.rest.strip_prefix(word) {
                if !r.starts_with(|c: char| c.is_alphanumeric() || c == '_') {
                    self.rest = r;
                    return Ok(value);
                }
            }
        }
        let word: String = self
            .rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        Err(format!(
            "'fortran_order' must be True or False, got {word:?}"
        ))
    }

    /// `(d0, d1, ...)`, `(d0,)` or `()`; numpy 1.x may write `3L`.
    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect('(', "'shape' must be a tuple in parentheses")?;
        let mut dims = Vec::new();
        loop {
            self.skip_space();
            if self.eat(')') {
                return Ok(dims);
            }
            let digits: &str = &self.rest[..self
                .rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(self.rest.len())];
            if digits.is_empty() {
                return Err(if self.rest.is_empty() {
                    "'shape' tuple is not closed with ')'".into()
                } else {
                    format!(
                        "'shape' has a bad entry at {:?}",
                        self.rest.chars().take(12).collect::<String>()
                    )
                });
            }
            dims.push(
                digits
                    .parse::<usize>()
                    .map_err(|_| format!("'shape' entry {digits} is too large"))?,
            );
            self.rest = &self.rest[digits.len()..];
            self.eat('L');
            self.skip_space();
            if self.eat(')') {
                return Ok(dims);
            }
            if !self.eat(',') {
                return Err(if self.rest.is_empty() {
                    "'shape' tuple is not closed with ')'".into()
                } else {
                    "'shape' entries must be separated by ','".into()
                });
            }
        }
    }
}

fn fortran_to_c(buf: &TensorBuf, shape: &[usize]) -> TensorBuf {
    // Element at C index (i0..in) sits at Fortran offset Σ i_k·Π_{j<k} d_j.
    let n: usize = shape.iter().product();
    let mut f_strides = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        f_strides[k] = f_strides[k - 1] * shape[k - 1];
    }
    let order: Vec<usize> = (0..n)
        .map(|mut c| {
            let mut off = 0;
            for k in (0..shape.len()).rev() {
                off += (c % shape[k]) * f_strides[k];
                c /= shape[k];
            }
            off
        })
        .collect();
    fn gather<T: Copy>(v: &[T], order: &[usize]) -> Vec<T> {
        order.iter().map(|&i| v[i]).collect()
    }
    match buf {
        TensorBuf::F32(v) => TensorBuf::F32(gather(v, &order)),
        TensorBuf::F16(v) => TensorBuf::F16(gather(v, &order)),
        TensorBuf::I8(v) => TensorBuf::I8(gather(v, &order)),
        TensorBuf::U8(v) => TensorBuf::U8(gather(v, &order)),
        TensorBuf::I16(v) => TensorBuf::I16(gather(v, &order)),
        TensorBuf::I32(v) => TensorBuf::I32(gather(v, &order)),
        TensorBuf::I64(v) => TensorBuf::I64(gather(v, &order)),
        TensorBuf::Bool(v) => TensorBuf::Bool(gather(v, &order)),
    }
}

/// Writes a value as `.npy` bytes.
pub fn to_bytes(value: &Value) -> Result<Vec<u8>, NpyError> {
    fn enc<T: Clone + ndarray_npy::WritableElement>(
        shape: &[usize],
        v: &[T],
    ) -> Result<Vec<u8>, String> {
        let arr = ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        arr.write_npy(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }
    let s = &value.shape;
    let r = match &value.data {
        TensorBuf::F32(v) => enc(s, v),
        TensorBuf::I8(v) => enc(s, v),
        TensorBuf::U8(v) => enc(s, v),
        TensorBuf::I16(v) => enc(s, v),
        TensorBuf::I32(v) => enc(s, v),
        TensorBuf::I64(v) => enc(s, v),
        TensorBuf::Bool(v) => enc(s, v),
        TensorBuf::F16(v) => enc(s, &v.iter().map(|x| f16::to_f32(*x)).collect::<Vec<_>>()),
    };
    r.map_err(|message| NpyError::Write {
        path: "<bytes>".into(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fixture_inputs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite");
        let f = read(&dir.join("mnist_cnn_float32.input.npy")).unwrap();
        assert_eq!(f.shape, vec![32, 28, 28]);
        assert_eq!(f.dtype(), DType::F32);
        let q = read(&dir.join("mnist_cnn_int8.input.npy")).unwrap();
        assert_eq!(q.dtype(), DType::I8);
        let labels = read(&dir.join("mnist_test_labels_first32.npy")).unwrap();
        // The first MNIST test digits are 7, 2, 1, 0, 4 (well known).
        assert_eq!(&labels.data.to_f64()[..5], &[7.0, 2.0, 1.0, 0.0, 4.0]);
    }

    #[test]
    fn write_then_read_round_trips() {
        let v = Value::new(vec![2, 3], TensorBuf::I32(vec![1, -2, 3, 4, 5, -6]));
        let back = parse(&to_bytes(&v).unwrap()).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn fortran_order_is_converted() {
        // [[1,2,3],[4,5,6]] stored column-major is 1,4,2,5,3,6.
        let header = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for x in [1i32, 4, 2, 5, 3, 6] {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        let v = parse(&bytes).unwrap();
        assert_eq!(v.data, TensorBuf::I32(vec![1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn hostile_headers_are_errors() {
        let header =
            "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        assert!(parse(&bytes).is_err());
        assert!(parse(b"\x93NUMPY").is_err());
        assert!(parse(b"hello world, not numpy").is_err());
        let header = "{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[0; 16]);
        assert!(matches!(
            parse(&bytes),
            Err(NpyError::UnsupportedDtype { .. })
        ));
    }

    fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    fn format_message(header: &str) -> String {
        match parse(&with_header(header, &[0; 8])) {
            Err(NpyError::Format { message, .. }) => message,
            other => panic!("{header}: expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn lenient_headers_are_refused_with_the_reason() {
        for (header, reason) in [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, ",
                "not closed with ')'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
                "not closed with '}'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
                "got \"Maybe\"",
            ),
            (
                "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,), }",
                "got \"Falsey\"",
            ),
            (
                "{'descr': '<f4', 'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
                "'descr' twice",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
                "unknown key 'x'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } junk",
                "text after the dict",
            ),
            ("{'descr': '<f4', 'shape': (2,), }", "no 'fortran_order'"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2; 1), }",
                "separated by ','",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }",
                "bad entry",
            ),
            (
                "{'descr: '<f4', 'fortran_order': False, 'shape': (2,), }",
                "needs ':'",
            ),
        ] {
            let m = format_message(header);
            assert!(m.contains(reason), "{header}: {m}");
        }
    }

    #[test]
    fn headers_numpy_writes_are_read() {
        // Padding with spaces and a newline, the legacy `L` suffix, a 1-tuple, a scalar.
        for (header, shape) in [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }          \n",
                vec![2],
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }\n",
                vec![1, 2],
            ),
            (
                "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 1)}",
                vec![2, 1],
            ),
        ] {
            let v = parse(&with_header(header, &[0; 8])).unwrap();
            assert_eq!(v.shape, shape, "{header}");
        }
        let v = parse(&with_header(
            "{'descr': '<i4', 'fortran_order': False, 'shape': (), }",
            &[7, 0, 0, 0],
        ))
        .unwrap();
        assert_eq!(v.shape, Vec::<usize>::new());
    }
}
