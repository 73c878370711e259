//! IR → `.tflite` bytes.
//!
//! The layout follows TensorFlow's exporter: buffer 0 is the empty sentinel, every constant
//! tensor gets its own buffer (data aligned to 16 bytes, the schema's `force_align`), runtime
//! tensors use buffer 0, the opcode table has one entry per (builtin code, version), and a
//! `min_runtime_version` metadata entry names the oldest runtime that registers every op.
//! The output depends only on the IR, so the same model always gives the same bytes.

use flatbuffers::{
    FlatBufferBuilder, ForwardsUOffset, PushAlignment, UnionWIPOffset, Vector, WIPOffset,
};

use super::schema_generated::tflite as fb;
use super::versions;
use crate::ir::{DType, DimensionMetadata, Graph, IndexVector, Model, Sparsity, Tensor};

/// Why a model could not be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    #[error("{what} refers to tensor {index}, but the graph has {count} tensors")]
    TensorIndex {
        what: String,
        index: usize,
        count: usize,
    },
    #[error("tensor #{tensor} '{name}': {message}")]
    BadTensor {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("operator #{op} is {name}, which ferrolite does not support and cannot write")]
    Unsupported { op: usize, name: &'static str },
    #[error("model is too large for a flatbuffer ({bytes} bytes of constants; the format's limit is 2 GiB)")]
    TooLarge { bytes: usize },
}

/// Flatbuffers cannot exceed 2 GiB; leave room for everything that is not constant data.
const MAX_CONSTANT_BYTES: usize = crate::ir::limits::MAX_FLATBUFFER_BYTES - (64 << 20);

/// A byte of constant data. The schema asks for `Buffer.data` to be 16-byte aligned
/// (`force_align: 16`), which the Rust builder has no option for; giving the element type
/// an alignment of 16 makes `create_vector` pad the vector start to 16 within the file.
#[derive(Clone, Copy)]
struct AlignedByte(u8);

impl flatbuffers::Push for AlignedByte {
    type Output = u8;

    unsafe fn push(&self, dst: &mut [u8], _written_len: usize) {
        if let Some(b) = dst.first_mut() {
            *b = self.0;
        }
    }

    fn alignment() -> PushAlignment {
        PushAlignment::new(16)
    }
}

fn check_index(
    what: impl FnOnce() -> String,
    index: usize,
    count: usize,
) -> Result<(), WriteError> {
    if index < count {
        Ok(())
    } else {
        Err(WriteError::TensorIndex {
            what: what(),
            index,
            count,
        })
    }
}

/// Checks everything the builder would otherwise have to clamp, before building anything.
fn validate(model: &Model) -> Result<(), WriteError> {
    let g = &model.graph;
    let count = g.tensors.len();
    for &i in &g.inputs {
        check_index(|| "graph input list".into(), i, count)?;
    }
    for &o in &g.outputs {
        check_index(|| "graph output list".into(), o, count)?;
    }
    for (k, op) in g.operators.iter().enumerate() {
        if matches!(op.op, crate::ir::Op::Unsupported { .. }) {
            return Err(WriteError::Unsupported {
                op: k,
                name: op.op.name(),
            });
        }
        for (slot, i) in op.inputs.iter().enumerate() {
            if let Some(i) = *i {
                check_index(
                    || format!("operator #{k} ({}) input {slot}", op.op.name()),
                    i,
                    count,
                )?;
            }
        }
        for (slot, &o) in op.outputs.iter().enumerate() {
            check_index(
                || format!("operator #{k} ({}) output {slot}", op.op.name()),
                o,
                count,
            )?;
        }
    }
    if let Some(sig) = &model.signature {
        for (name, i) in sig.inputs.iter().chain(&sig.outputs) {
            check_index(
                || format!("signature '{}' entry '{name}'", sig.key),
                *i,
                count,
            )?;
        }
    }
    if i32::try_from(count).is_err() {
        return Err(WriteError::TensorIndex {
            what: "tensor table".into(),
            index: count,
            count,
        });
    }
    let mut total = 0usize;
    for (i, t) in g.tensors.iter().enumerate() {
        let bad = |message: String| WriteError::BadTensor {
            tensor: i,
            name: t.name.clone(),
            message,
        };
        if t.shape.iter().any(|&d| i32::try_from(d).is_err()) {
            return Err(bad(format!(
                "shape {:?} has a dimension too large for the format",
                t.shape
            )));
        }
        if let Some(q) = &t.quantization {
            if i32::try_from(q.quantized_dimension).is_err() {
                return Err(bad(format!(
                    "quantized_dimension {} is too large",
                    q.quantized_dimension
                )));
            }
        }
        if let Some(s) = &t.sparsity {
            let too_big = s.traversal_order.iter().chain(&s.block_map).any(|&v| i32::try_from(v).is_err())
                || s.dim_metadata.iter().any(|m| matches!(m, DimensionMetadata::Dense { size } if i32::try_from(*size).is_err()));
            if too_big {
                return Err(bad(
                    "sparsity parameters hold values too large for the format".into(),
                ));
            }
        }
        total = total.saturating_add(t.data.as_ref().map_or(0, |d| d.len() + 16));
    }
    if total > MAX_CONSTANT_BYTES {
        return Err(WriteError::TooLarge { bytes: total });
    }
    Ok(())
}

/// The schema type of an IR tensor type.
pub(crate) fn tensor_type(d: DType) -> fb::TensorType {
    match d {
        DType::F32 => fb::TensorType::FLOAT32,
        DType::F16 => fb::TensorType::FLOAT16,
        DType::I8 => fb::TensorType::INT8,
        DType::U8 => fb::TensorType::UINT8,
        DType::I16 => fb::TensorType::INT16,
        DType::I32 => fb::TensorType::INT32,
        DType::I64 => fb::TensorType::INT64,
        DType::Bool => fb::TensorType::BOOL,
    }
}

/// Dimensions and indices were range-checked by `validate`.
fn to_i32s(v: &[usize]) -> Vec<i32> {
    v.iter()
        .map(|&x| i32::try_from(x).unwrap_or(i32::MAX))
        .collect()
}

type Fbb<'a> = FlatBufferBuilder<'a>;

fn index_vector(
    fbb: &mut Fbb,
    v: &IndexVector,
) -> (fb::SparseIndexVector, WIPOffset<UnionWIPOffset>) {
    match v {
        IndexVector::U8(x) => {
            let values = Some(fbb.create_vector(x));
            let t = fb::Uint8Vector::create(fbb, &fb::Uint8VectorArgs { values });
            (fb::SparseIndexVector::Uint8Vector, t.as_union_value())
        }
        IndexVector::U16(x) => {
            let values = Some(fbb.create_vector(x));
            let t = fb::Uint16Vector::create(fbb, &fb::Uint16VectorArgs { values });
            (fb::SparseIndexVector::Uint16Vector, t.as_union_value())
        }
        IndexVector::I32(x) => {
            let values = Some(fbb.create_vector(x));
            let t = fb::Int32Vector::create(fbb, &fb::Int32VectorArgs { values });
            (fb::SparseIndexVector::Int32Vector, t.as_union_value())
        }
    }
}

fn sparsity<'a>(fbb: &mut Fbb<'a>, s: &Sparsity) -> WIPOffset<fb::SparsityParameters<'a>> {
    let mut metas = Vec::new();
    for m in &s.dim_metadata {
        let args = match m {
            DimensionMetadata::Dense { size } => fb::DimensionMetadataArgs {
                format: fb::DimensionType::DENSE,
                dense_size: i32::try_from(*size).unwrap_or(i32::MAX),
                ..Default::default()
            },
            DimensionMetadata::SparseCsr { segments, indices } => {
                let (st, sv) = index_vector(fbb, segments);
                let (it, iv) = index_vector(fbb, indices);
                fb::DimensionMetadataArgs {
                    format: fb::DimensionType::SPARSE_CSR,
                    dense_size: 0,
                    array_segments_type: st,
                    array_segments: Some(sv),
                    array_indices_type: it,
                    array_indices: Some(iv),
                }
            }
        };
        metas.push(fb::DimensionMetadata::create(fbb, &args));
    }
    let traversal_order = Some(fbb.create_vector(&to_i32s(&s.traversal_order)));
    let block_map = (!s.block_map.is_empty()).then(|| fbb.create_vector(&to_i32s(&s.block_map)));
    let dim_metadata = Some(fbb.create_vector(&metas));
    fb::SparsityParameters::create(
        fbb,
        &fb::SparsityParametersArgs {
            traversal_order,
            block_map,
            dim_metadata,
        },
    )
}

fn tensor<'a>(fbb: &mut Fbb<'a>, t: &Tensor, buffer: u32) -> WIPOffset<fb::Tensor<'a>> {
    let shape = Some(fbb.create_vector(&to_i32s(&t.shape)));
    let name = Some(fbb.create_string(&t.name));
    let quantization = t.quantization.as_ref().map(|q| {
        let min = (!q.min.is_empty()).then(|| fbb.create_vector(&q.min));
        let max = (!q.max.is_empty()).then(|| fbb.create_vector(&q.max));
        let scale = Some(fbb.create_vector(&q.scale));
        let zero_point = Some(fbb.create_vector(&q.zero_point));
        fb::QuantizationParameters::create(
            fbb,
            &fb::QuantizationParametersArgs {
                min,
                max,
                scale,
                zero_point,
                quantized_dimension: i32::try_from(q.quantized_dimension).unwrap_or(i32::MAX),
                ..Default::default()
            },
        )
    });
    let sparsity = t.sparsity.as_ref().map(|s| sparsity(fbb, s));
    let shape_signature = t.shape_signature.as_ref().map(|s| fbb.create_vector(s));
    fb::Tensor::create(
        fbb,
        &fb::TensorArgs {
            shape,
            type_: tensor_type(t.dtype),
            buffer,
            name,
            quantization,
            is_variable: t.is_variable,
            sparsity,
            shape_signature,
            ..Default::default()
        },
    )
}

/// One opcode table entry: builtin code, version, and the custom code of a custom op.
type OpcodeKey = (i32, i32, Option<&'static str>);

/// The opcode table: one entry per (code, version, custom code) in order of first use,
/// and each operator's index into it.
fn opcode_table(g: &Graph) -> (Vec<OpcodeKey>, Vec<u32>) {
    let mut codes: Vec<OpcodeKey> = Vec::new();
    let mut indices = Vec::with_capacity(g.operators.len());
    for op in &g.operators {
        let code = op.op.builtin_code();
        let custom = (code == fb::BuiltinOperator::CUSTOM.0).then(|| op.op.name());
        let key = (code, versions::op_version(g, op), custom);
        let i = match codes.iter().position(|&k| k == key) {
            Some(i) => i,
            None => {
                codes.push(key);
                codes.len() - 1
            }
        };
        indices.push(u32::try_from(i).unwrap_or(u32::MAX));
    }
    (codes, indices)
}

fn tensor_maps<'a>(
    fbb: &mut Fbb<'a>,
    list: &[(String, usize)],
) -> WIPOffset<Vector<'a, ForwardsUOffset<fb::TensorMap<'a>>>> {
    let mut maps = Vec::new();
    for (name, index) in list {
        let name = Some(fbb.create_string(name));
        let tensor_index = u32::try_from(*index).unwrap_or(u32::MAX);
        maps.push(fb::TensorMap::create(
            fbb,
            &fb::TensorMapArgs { name, tensor_index },
        ));
    }
    fbb.create_vector(&maps)
}

/// The name TF gives the metadata entry holding the minimum runtime version string.
pub const MIN_RUNTIME_VERSION: &str = "min_runtime_version";

/// Writes `model` as a `.tflite` file (schema version 3, identifier `TFL3`).
pub fn write(model: &Model) -> Result<Vec<u8>, WriteError> {
    validate(model)?;
    let g = &model.graph;
    let mut fbb = FlatBufferBuilder::new();

    // Buffers: 0 is the sentinel, then one per constant tensor, then the metadata string.
    let empty = fb::Buffer::create(&mut fbb, &fb::BufferArgs::default());
    let mut buffers = vec![empty];
    let mut tensor_buffer = Vec::with_capacity(g.tensors.len());
    for t in &g.tensors {
        match &t.data {
            Some(d) => {
                let aligned: Vec<AlignedByte> = d.iter().map(|&b| AlignedByte(b)).collect();
                let data = Some(fbb.create_vector(&aligned));
                buffers.push(fb::Buffer::create(
                    &mut fbb,
                    &fb::BufferArgs {
                        data,
                        ..Default::default()
                    },
                ));
                tensor_buffer.push(u32::try_from(buffers.len() - 1).unwrap_or(u32::MAX));
            }
            None => tensor_buffer.push(0),
        }
    }
    let (codes, opcode_index) = opcode_table(g);
    let mut version_bytes = [0u8; 16];
    if let Some(v) = versions::min_runtime_version(codes.iter().map(|&(c, v, _)| (c, v))) {
        // TF writes nothing when the string would fill the buffer; ours are all shorter.
        if v.len() < version_bytes.len() {
            version_bytes[..v.len()].copy_from_slice(v.as_bytes());
        }
    }
    let aligned: Vec<AlignedByte> = version_bytes.iter().map(|&b| AlignedByte(b)).collect();
    let data = Some(fbb.create_vector(&aligned));
    buffers.push(fb::Buffer::create(
        &mut fbb,
        &fb::BufferArgs {
            data,
            ..Default::default()
        },
    ));
    let version_buffer = u32::try_from(buffers.len() - 1).unwrap_or(u32::MAX);

    let mut tensors = Vec::with_capacity(g.tensors.len());
    for (t, &b) in g.tensors.iter().zip(&tensor_buffer) {
        tensors.push(tensor(&mut fbb, t, b));
    }
    let mut operators = Vec::with_capacity(g.operators.len());
    for (op, &code_index) in g.operators.iter().zip(&opcode_index) {
        let ins: Vec<i32> = op
            .inputs
            .iter()
            .map(|i| i.map_or(-1, |i| i32::try_from(i).unwrap_or(-1)))
            .collect();
        let inputs = Some(fbb.create_vector(&ins));
        let outputs = Some(fbb.create_vector(&to_i32s(&op.outputs)));
        // The op's registry entry writes its options table (TF writes the empty ones too).
        let (builtin_options_type, builtin_options) = (op.op.def().write)(&mut fbb, &op.op);
        // A custom op's parameters are the raw bytes its own runtime kernel reads.
        let custom_options =
            crate::ops::custom_options(&op.op).map(|bytes| fbb.create_vector(&bytes));
        operators.push(fb::Operator::create(
            &mut fbb,
            &fb::OperatorArgs {
                opcode_index: code_index,
                inputs,
                outputs,
                builtin_options_type,
                builtin_options,
                custom_options,
                ..Default::default()
            },
        ));
    }
    let subgraph = {
        let tensors = Some(fbb.create_vector(&tensors));
        let inputs = Some(fbb.create_vector(&to_i32s(&g.inputs)));
        let outputs = Some(fbb.create_vector(&to_i32s(&g.outputs)));
        let operators = Some(fbb.create_vector(&operators));
        let name = g.name.as_ref().map(|n| fbb.create_string(n));
        fb::SubGraph::create(
            &mut fbb,
            &fb::SubGraphArgs {
                tensors,
                inputs,
                outputs,
                operators,
                name,
            },
        )
    };

    let mut opcodes = Vec::with_capacity(codes.len());
    for &(code, version, custom) in &codes {
        let custom_code = custom.map(|name| fbb.create_string(name));
        opcodes.push(fb::OperatorCode::create(
            &mut fbb,
            &fb::OperatorCodeArgs {
                // Codes above 126 live only in `builtin_code`; 127 tells old readers to look there.
                deprecated_builtin_code: i8::try_from(code.min(127)).unwrap_or(127),
                custom_code,
                version,
                builtin_code: fb::BuiltinOperator(code),
            },
        ));
    }

    let default_signature;
    let signature = match &model.signature {
        Some(s) => s,
        None => {
            let named = |list: &[usize]| {
                list.iter()
                    .map(|&i| (g.tensors[i].name.clone(), i))
                    .collect()
            };
            default_signature = crate::ir::Signature {
                key: "serving_default".to_string(),
                inputs: named(&g.inputs),
                outputs: named(&g.outputs),
            };
            &default_signature
        }
    };
    let signature_def = {
        let inputs = Some(tensor_maps(&mut fbb, &signature.inputs));
        let outputs = Some(tensor_maps(&mut fbb, &signature.outputs));
        let signature_key = Some(fbb.create_string(&signature.key));
        fb::SignatureDef::create(
            &mut fbb,
            &fb::SignatureDefArgs {
                inputs,
                outputs,
                signature_key,
                subgraph_index: 0,
            },
        )
    };

    let metadata = {
        let name = Some(fbb.create_string(MIN_RUNTIME_VERSION));
        fb::Metadata::create(
            &mut fbb,
            &fb::MetadataArgs {
                name,
                buffer: version_buffer,
            },
        )
    };
    let root = {
        let operator_codes = Some(fbb.create_vector(&opcodes));
        let subgraphs = Some(fbb.create_vector(&[subgraph]));
        let description = model.description.as_ref().map(|d| fbb.create_string(d));
        let buffers = Some(fbb.create_vector(&buffers));
        let metadata = Some(fbb.create_vector(&[metadata]));
        let signature_defs = Some(fbb.create_vector(&[signature_def]));
        fb::Model::create(
            &mut fbb,
            &fb::ModelArgs {
                version: 3,
                operator_codes,
                subgraphs,
                description,
                buffers,
                metadata_buffer: None,
                metadata,
                signature_defs,
            },
        )
    };
    fbb.finish(root, Some(fb::MODEL_IDENTIFIER));
    Ok(fbb.finished_data().to_vec())
}

/// `model` with every tensor named by its index and without graph name or description,
/// for the smallest file. The signature keeps its key and input/output names (made from
/// the tensor names first when the model has none), so callers address the model as
/// before; only tensor-name lookups change.
pub fn strip_names(model: &Model) -> Model {
    let mut out = model.clone();
    let g = &model.graph;
    let named = |list: &[usize]| -> Vec<(String, usize)> {
        list.iter()
            .filter_map(|&i| g.tensors.get(i).map(|t| (t.name.clone(), i)))
            .collect()
    };
    out.signature = Some(
        model
            .signature
            .clone()
            .unwrap_or_else(|| crate::ir::Signature {
                key: "serving_default".to_string(),
                inputs: named(&g.inputs),
                outputs: named(&g.outputs),
            }),
    );
    for (i, t) in out.graph.tensors.iter_mut().enumerate() {
        t.name = i.to_string();
    }
    out.graph.name = None;
    out.description = None;
    out
}
