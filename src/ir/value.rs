//! Typed tensor storage and borrowed views handed to kernels.
//!
//! These live in the IR, below every consumer, because the data readers, the sparsifier,
//! the quantizer's reports and the interpreter all exchange tensors as these types; the
//! interpreter re-exports them under `interp` for its public API.

use super::{decode, DType, Tensor};
use half::f16;

/// A complaint about a tensor's contents (wrong element type, wrong length), without
/// context; the interpreter's planner adds which operator it was, which is why kernels
/// return it too (re-exported as `interp::KernelError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KernelError(pub String);

impl KernelError {
    pub fn new(msg: impl Into<String>) -> KernelError {
        KernelError(msg.into())
    }
}

/// Owned elements of one tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorBuf {
    F32(Vec<f32>),
    F16(Vec<f16>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
}

impl TensorBuf {
    /// `len` zeros of `dtype`.
    pub fn zeros(dtype: DType, len: usize) -> TensorBuf {
        match dtype {
            DType::F32 => TensorBuf::F32(vec![0.0; len]),
            DType::F16 => TensorBuf::F16(vec![f16::ZERO; len]),
            DType::I8 => TensorBuf::I8(vec![0; len]),
            DType::U8 => TensorBuf::U8(vec![0; len]),
            DType::I16 => TensorBuf::I16(vec![0; len]),
            DType::I32 => TensorBuf::I32(vec![0; len]),
            DType::I64 => TensorBuf::I64(vec![0; len]),
            DType::Bool => TensorBuf::Bool(vec![false; len]),
        }
    }

    /// Decodes little-endian bytes (a constant's buffer) into elements of `dtype`.
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> TensorBuf {
        match dtype {
            DType::F32 => TensorBuf::F32(decode::f32s(bytes)),
            DType::F16 => TensorBuf::F16(decode::f16s(bytes)),
            DType::I8 => TensorBuf::I8(decode::i8s(bytes)),
            DType::U8 => TensorBuf::U8(bytes.to_vec()),
            DType::I16 => TensorBuf::I16(decode::i16s(bytes)),
            DType::I32 => TensorBuf::I32(decode::i32s(bytes)),
            DType::I64 => TensorBuf::I64(decode::i64s(bytes)),
            DType::Bool => TensorBuf::Bool(decode::bools(bytes)),
        }
    }

    /// The constant contents of an IR tensor (for a sparse tensor: its stored values).
    pub fn from_tensor(t: &Tensor) -> Option<TensorBuf> {
        t.data
            .as_ref()
            .map(|d| TensorBuf::from_le_bytes(t.dtype, d))
    }

    /// Little-endian bytes, as a `.tflite` buffer stores them.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TensorBuf::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorBuf::F16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorBuf::I8(v) => v.iter().map(|&x| x as u8).collect(),
            TensorBuf::U8(v) => v.clone(),
            TensorBuf::I16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorBuf::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorBuf::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorBuf::Bool(v) => v.iter().map(|&x| x as u8).collect(),
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            TensorBuf::F32(_) => DType::F32,
            TensorBuf::F16(_) => DType::F16,
            TensorBuf::I8(_) => DType::I8,
            TensorBuf::U8(_) => DType::U8,
            TensorBuf::I16(_) => DType::I16,
            TensorBuf::I32(_) => DType::I32,
            TensorBuf::I64(_) => DType::I64,
            TensorBuf::Bool(_) => DType::Bool,
        }
    }

    pub fn len(&self) -> usize {
        self.view().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn view(&self) -> View<'_> {
        match self {
            TensorBuf::F32(v) => View::F32(v),
            TensorBuf::F16(v) => View::F16(v),
            TensorBuf::I8(v) => View::I8(v),
            TensorBuf::U8(v) => View::U8(v),
            TensorBuf::I16(v) => View::I16(v),
            TensorBuf::I32(v) => View::I32(v),
            TensorBuf::I64(v) => View::I64(v),
            TensorBuf::Bool(v) => View::Bool(v),
        }
    }

    pub fn view_mut(&mut self) -> ViewMut<'_> {
        match self {
            TensorBuf::F32(v) => ViewMut::F32(v),
            TensorBuf::F16(v) => ViewMut::F16(v),
            TensorBuf::I8(v) => ViewMut::I8(v),
            TensorBuf::U8(v) => ViewMut::U8(v),
            TensorBuf::I16(v) => ViewMut::I16(v),
            TensorBuf::I32(v) => ViewMut::I32(v),
            TensorBuf::I64(v) => ViewMut::I64(v),
            TensorBuf::Bool(v) => ViewMut::Bool(v),
        }
    }

    /// Every element as f64 (for reports and comparisons).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            TensorBuf::F32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorBuf::F16(v) => v.iter().map(|&x| x.to_f64()).collect(),
            TensorBuf::I8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorBuf::U8(v) => v.iter().map(|&x| x as f64).collect(),
            TensorBuf::I16(v) => v.iter().map(|&x| x as f64).collect(),
            TensorBuf::I32(v) => v.iter().map(|&x| x as f64).collect(),
            TensorBuf::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorBuf::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
        }
    }
}

/// A tensor value: shape plus elements, what a caller feeds and gets back.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub shape: Vec<usize>,
    pub data: TensorBuf,
}

impl Value {
    pub fn new(shape: Vec<usize>, data: TensorBuf) -> Value {
        Value { shape, data }
    }

    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }
}

/// Read-only elements of one kernel input. `Absent` stands for an omitted optional
/// input (TFLite's -1), e.g. a conv without bias.
#[derive(Clone, Copy, Debug)]
pub enum View<'a> {
    Absent,
    F32(&'a [f32]),
    F16(&'a [f16]),
    I8(&'a [i8]),
    U8(&'a [u8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    Bool(&'a [bool]),
}

/// Writable elements of one kernel output.
#[derive(Debug)]
pub enum ViewMut<'a> {
    F32(&'a mut [f32]),
    F16(&'a mut [f16]),
    I8(&'a mut [i8]),
    U8(&'a mut [u8]),
    I16(&'a mut [i16]),
    I32(&'a mut [i32]),
    I64(&'a mut [i64]),
    Bool(&'a mut [bool]),
}

macro_rules! typed_accessors {
    ($($get:ident, $variant:ident, $t:ty);* $(;)?) => {
        impl<'a> View<'a> {
            $(
                /// The elements if this view has that type, else a kernel error.
                pub fn $get(&self) -> Result<&'a [$t], KernelError> {
                    match *self {
                        View::$variant(s) => Ok(s),
                        other => Err(KernelError::new(format!(
                            "expected {} data, got {}", stringify!($t), other.type_name()
                        ))),
                    }
                }
            )*
        }
        impl<'a> ViewMut<'a> {
            $(
                pub fn $get(&mut self) -> Result<&mut [$t], KernelError> {
                    let name = self.type_name();
                    match self {
                        ViewMut::$variant(s) => Ok(s),
                        _ => Err(KernelError::new(format!(
                            "expected {} output, got {}", stringify!($t), name
                        ))),
                    }
                }
            )*
        }
    };
}

typed_accessors! {
    f32, F32, f32;
    f16, F16, f16;
    i8, I8, i8;
    u8, U8, u8;
    i16, I16, i16;
    i32, I32, i32;
    i64, I64, i64;
    bool, Bool, bool;
}

impl<'a> View<'a> {
    pub fn is_absent(&self) -> bool {
        matches!(self, View::Absent)
    }

    pub fn len(&self) -> usize {
        match self {
            View::Absent => 0,
            View::F32(s) => s.len(),
            View::F16(s) => s.len(),
            View::I8(s) => s.len(),
            View::U8(s) => s.len(),
            View::I16(s) => s.len(),
            View::I32(s) => s.len(),
            View::I64(s) => s.len(),
            View::Bool(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            View::Absent => "no",
            View::F32(_) => "float32",
            View::F16(_) => "float16",
            View::I8(_) => "int8",
            View::U8(_) => "uint8",
            View::I16(_) => "int16",
            View::I32(_) => "int32",
            View::I64(_) => "int64",
            View::Bool(_) => "bool",
        }
    }

    /// Integer contents widened to i64 (shape-like inputs may be int32 or int64).
    pub fn to_i64s(&self) -> Result<Vec<i64>, KernelError> {
        match *self {
            View::I32(s) => Ok(s.iter().map(|&x| x as i64).collect()),
            View::I64(s) => Ok(s.to_vec()),
            other => Err(KernelError::new(format!(
                "expected int32 or int64 data, got {}",
                other.type_name()
            ))),
        }
    }

    pub fn to_buf(&self) -> Option<TensorBuf> {
        Some(match *self {
            View::Absent => return None,
            View::F32(s) => TensorBuf::F32(s.to_vec()),
            View::F16(s) => TensorBuf::F16(s.to_vec()),
            View::I8(s) => TensorBuf::I8(s.to_vec()),
            View::U8(s) => TensorBuf::U8(s.to_vec()),
            View::I16(s) => TensorBuf::I16(s.to_vec()),
            View::I32(s) => TensorBuf::I32(s.to_vec()),
            View::I64(s) => TensorBuf::I64(s.to_vec()),
            View::Bool(s) => TensorBuf::Bool(s.to_vec()),
        })
    }
}

impl<'a> ViewMut<'a> {
    pub fn type_name(&self) -> &'static str {
        match self {
            ViewMut::F32(_) => "float32",
            ViewMut::F16(_) => "float16",
            ViewMut::I8(_) => "int8",
            ViewMut::U8(_) => "uint8",
            ViewMut::I16(_) => "int16",
            ViewMut::I32(_) => "int32",
            ViewMut::I64(_) => "int64",
            ViewMut::Bool(_) => "bool",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ViewMut::F32(s) => s.len(),
            ViewMut::F16(s) => s.len(),
            ViewMut::I8(s) => s.len(),
            ViewMut::U8(s) => s.len(),
            ViewMut::I16(s) => s.len(),
            ViewMut::I32(s) => s.len(),
            ViewMut::I64(s) => s.len(),
            ViewMut::Bool(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `src` in when both have the same type and length (byte-moving ops).
    pub fn copy_from(&mut self, src: &View<'_>) -> Result<(), KernelError> {
        fn copy<T: Copy>(d: &mut [T], s: &[T]) -> Result<(), KernelError> {
            if d.len() != s.len() {
                return Err(KernelError::new(format!(
                    "copy of {} elements into {}",
                    s.len(),
                    d.len()
                )));
            }
            d.copy_from_slice(s);
            Ok(())
        }
        match (self, src) {
            (ViewMut::F32(d), View::F32(s)) => copy(d, s),
            (ViewMut::F16(d), View::F16(s)) => copy(d, s),
            (ViewMut::I8(d), View::I8(s)) => copy(d, s),
            (ViewMut::U8(d), View::U8(s)) => copy(d, s),
            (ViewMut::I16(d), View::I16(s)) => copy(d, s),
            (ViewMut::I32(d), View::I32(s)) => copy(d, s),
            (ViewMut::I64(d), View::I64(s)) => copy(d, s),
            (ViewMut::Bool(d), View::Bool(s)) => copy(d, s),
            (d, s) => Err(KernelError::new(format!(
                "copy of {} data into {} tensor",
                s.type_name(),
                d.type_name()
            ))),
        }
    }
}
