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

use crate::interp::{TensorBuf, Value};
use crate::ir::DType;

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
}

/// Reads an `.npy` file (C or Fortran order, little-endian) into a row-major value.
pub fn read(path: &Path) -> Result<Value, NpyError> {
    let bytes = std::fs::read(path).map_err(|e| NpyError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
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
    let descr = dict_value(header, "descr")
        .and_then(|v| v.strip_prefix('\'').and_then(|v| v.split('\'').next()))
        .ok_or_else(|| bad("header has no 'descr'".into()))?
        .to_string();
    let fortran = dict_value(header, "fortran_order")
        .map(|v| v.starts_with("True"))
        .ok_or_else(|| bad("header has no 'fortran_order'".into()))?;
    let shape_text = dict_value(header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| bad("header has no 'shape'".into()))?;
    let mut shape = Vec::new();
    for part in shape_text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        shape.push(
            part.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| bad(format!("bad shape entry '{part}'")))?,
        );
    }
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

/// The text after `'key':` in a numpy header dict.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("'{key}':");
    let at = header.find(&pat)? + pat.len();
    Some(header[at..].trim_start())
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
}
