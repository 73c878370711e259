//! Tensors: element types, shapes, quantization and sparsity.

use half::f16;

/// Element types ferrolite handles. Other TFLite types are refused by the reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    I8,
    U8,
    I16,
    I32,
    I64,
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::I64 => 8,
        }
    }

    /// The name numpy and TFLite users know (`float32`, `int8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F16 => "float16",
            DType::I8 => "int8",
            DType::U8 => "uint8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::Bool => "bool",
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`, per tensor (one entry) or
/// per slice along `quantized_dimension`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: usize,
    /// Calibration range as TensorFlow records it; informational only.
    pub min: Vec<f32>,
    pub max: Vec<f32>,
}

impl Quantization {
    /// Per-tensor parameters.
    pub fn per_tensor(scale: f32, zero_point: i64) -> Quantization {
        Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            ..Default::default()
        }
    }

    /// True when there is one scale for the whole tensor.
    pub fn is_per_tensor(&self) -> bool {
        self.scale.len() == 1
    }

    /// True when the tensor carries scales at all (TensorFlow writes empty
    /// quantization tables on float tensors).
    pub fn is_quantized(&self) -> bool {
        !self.scale.is_empty()
    }
}

/// An index vector of a sparse dimension, in the width the file stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IndexVector {
    U8(Vec<u8>),
    U16(Vec<u16>),
    I32(Vec<i32>),
}

impl IndexVector {
    pub fn len(&self) -> usize {
        match self {
            IndexVector::U8(v) => v.len(),
            IndexVector::U16(v) => v.len(),
            IndexVector::I32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` widened; `None` past the end or for a negative i32 entry.
    pub fn get(&self, i: usize) -> Option<usize> {
        match self {
            IndexVector::U8(v) => v.get(i).map(|&x| x as usize),
            IndexVector::U16(v) => v.get(i).map(|&x| x as usize),
            IndexVector::I32(v) => v.get(i).and_then(|&x| usize::try_from(x).ok()),
        }
    }

    /// The narrowest vector (u8, u16, else i32) that holds every value, as TensorFlow's
    /// exporter chooses. Values must fit in i32.
    pub fn narrowest(values: &[usize]) -> IndexVector {
        let max = values.iter().copied().max().unwrap_or(0);
        if max <= u8::MAX as usize {
            IndexVector::U8(values.iter().map(|&v| v as u8).collect())
        } else if max <= u16::MAX as usize {
            IndexVector::U16(values.iter().map(|&v| v as u16).collect())
        } else {
            IndexVector::I32(values.iter().map(|&v| v as i32).collect())
        }
    }
}

/// Storage format of one traversal level of a sparse tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DimensionMetadata {
    Dense {
        size: usize,
    },
    SparseCsr {
        segments: IndexVector,
        indices: IndexVector,
    },
}

/// TACO-style sparsity description (see docs §5): `traversal_order` lists the n dense
/// dims then the k block dims; `block_map[i]` is the dense dim that block dim n+i splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sparsity {
    pub traversal_order: Vec<usize>,
    pub block_map: Vec<usize>,
    pub dim_metadata: Vec<DimensionMetadata>,
}

/// One tensor of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    /// Concrete shape as stored (batch 1 for TensorFlow models).
    pub shape: Vec<usize>,
    /// The shape with -1 where a dimension may be resized (usually the batch).
    pub shape_signature: Option<Vec<i32>>,
    /// Constant contents, little-endian. For a sparse tensor these are the stored
    /// values only; `shape` is still the dense shape.
    pub data: Option<Vec<u8>>,
    pub quantization: Option<Quantization>,
    pub sparsity: Option<Sparsity>,
    pub is_variable: bool,
}

impl Tensor {
    /// A runtime (non-constant) tensor.
    pub fn activation(name: impl Into<String>, dtype: DType, shape: Vec<usize>) -> Tensor {
        Tensor {
            name: name.into(),
            dtype,
            shape,
            shape_signature: None,
            data: None,
            quantization: None,
            sparsity: None,
            is_variable: false,
        }
    }

    /// A dense constant from raw little-endian bytes.
    pub fn constant(
        name: impl Into<String>,
        dtype: DType,
        shape: Vec<usize>,
        data: Vec<u8>,
    ) -> Tensor {
        Tensor {
            data: Some(data),
            ..Tensor::activation(name, dtype, shape)
        }
    }

    pub fn constant_f32(name: impl Into<String>, shape: Vec<usize>, values: &[f32]) -> Tensor {
        Tensor::constant(
            name,
            DType::F32,
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    pub fn constant_i32(name: impl Into<String>, shape: Vec<usize>, values: &[i32]) -> Tensor {
        Tensor::constant(
            name,
            DType::I32,
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        )
    }

    pub fn constant_i8(name: impl Into<String>, shape: Vec<usize>, values: &[i8]) -> Tensor {
        Tensor::constant(
            name,
            DType::I8,
            shape,
            values.iter().map(|&v| v as u8).collect(),
        )
    }

    pub fn is_constant(&self) -> bool {
        self.data.is_some()
    }

    /// Number of elements of the dense shape (saturating: the reader bounds shapes).
    pub fn num_elements(&self) -> usize {
        self.shape.iter().fold(1usize, |a, &d| a.saturating_mul(d))
    }

    /// Bytes of the dense shape.
    pub fn dense_bytes(&self) -> usize {
        self.num_elements().saturating_mul(self.dtype.size())
    }

    /// Per-tensor scale and zero point, if the tensor is quantized per tensor.
    pub fn scale_zero_point(&self) -> Option<(f32, i64)> {
        let q = self.quantization.as_ref()?;
        match (q.scale.as_slice(), q.zero_point.as_slice()) {
            ([s], [z]) => Some((*s, *z)),
            _ => None,
        }
    }

    /// True when the batch dimension may be resized (shape_signature starts with -1).
    pub fn has_dynamic_batch(&self) -> bool {
        self.shape_signature
            .as_ref()
            .is_some_and(|s| s.first() == Some(&-1))
    }
}

/// Decoding of little-endian constant bytes into typed vectors. Trailing bytes that do
/// not make a whole element are ignored; callers check lengths against shapes.
pub mod decode {
    use super::f16;

    pub fn f32s(bytes: &[u8]) -> Vec<f32> {
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    pub fn f16s(bytes: &[u8]) -> Vec<f16> {
        bytes
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    pub fn i32s(bytes: &[u8]) -> Vec<i32> {
        bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    pub fn i64s(bytes: &[u8]) -> Vec<i64> {
        bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect()
    }

    pub fn i16s(bytes: &[u8]) -> Vec<i16> {
        bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect()
    }

    pub fn i8s(bytes: &[u8]) -> Vec<i8> {
        bytes.iter().map(|&b| b as i8).collect()
    }

    pub fn bools(bytes: &[u8]) -> Vec<bool> {
        bytes.iter().map(|&b| b != 0).collect()
    }
}
