//! Bytes → verified flatbuffer → IR.
//!
//! Only subgraph 0 (the main graph) is lowered; other subgraphs (control-flow bodies) are
//! ignored, as are metadata entries other than the description. Everything the IR holds is
//! validated here, so later stages may index tensors by the graph's own indices.
//!
//! Allocation stays proportional to the file: every vector built here is a copy of a
//! verified flatbuffer vector (whose length the verifier bounded by the file size), and
//! dense constants are checked against their buffer before being copied.

use super::schema_generated::tflite as fb;
use crate::ir::{
    DType, DimensionMetadata, Graph, IndexVector, Model, Op, Operator, Quantization, Signature,
    Sparsity, Tensor,
};

use crate::ir::limits::MAX_TENSOR_BYTES;

/// Why a file could not be read as a TFLite model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error(transparent)]
    Input(#[from] crate::fsutil::InputError),
    #[error("file is {len} bytes, too short for a TFLite model (at least 8 needed)")]
    TooShort { len: usize },
    #[error("not a TFLite model: file identifier is {found:?}, expected \"TFL3\"")]
    WrongIdentifier { found: String },
    #[error("unsupported TFLite schema version {version} (only version 3 is supported)")]
    SchemaVersion { version: u32 },
    #[error("malformed TFLite flatbuffer: {message}")]
    Flatbuffer { message: String },
    #[error("model has no subgraphs")]
    NoSubgraphs,
    #[error("tensor #{tensor} '{name}' uses buffer {buffer}, which is stored outside the flatbuffer (offset {offset}, size {size}); external buffers are not supported")]
    ExternalBuffer {
        tensor: usize,
        name: String,
        buffer: usize,
        offset: u64,
        size: u64,
    },
    #[error("tensor #{tensor} '{name}' has shape {shape:?} ({dtype}), which needs {need} bytes, but its buffer holds only {have}")]
    BufferTooSmall {
        tensor: usize,
        name: String,
        shape: Vec<usize>,
        dtype: DType,
        need: usize,
        have: usize,
    },
    #[error(
        "tensor #{tensor} '{name}' refers to buffer {buffer}, but the model has {count} buffers"
    )]
    BufferIndex {
        tensor: usize,
        name: String,
        buffer: u32,
        count: usize,
    },
    #[error("{what} refers to tensor {index}, but subgraph 0 has {count} tensors")]
    TensorIndex {
        what: String,
        index: i64,
        count: usize,
    },
    #[error("operator #{op} uses opcode {index}, but the model has {count} operator codes")]
    OpcodeIndex { op: usize, index: u32, count: usize },
    #[error("operator #{op} ({op_name}) reads tensor #{tensor} '{name}', which no earlier operator produces and which is neither a graph input nor a constant")]
    UndefinedInput {
        op: usize,
        op_name: String,
        tensor: usize,
        name: String,
    },
    #[error("graph output tensor #{tensor} '{name}' is never produced, and is neither a graph input nor a constant")]
    UndefinedOutput { tensor: usize, name: String },
    #[error("tensor #{tensor} '{name}' has a bad shape: {message}")]
    BadShape {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("tensor #{tensor} '{name}' has type {type_name}, which ferrolite does not support")]
    UnsupportedType {
        tensor: usize,
        name: String,
        type_name: String,
    },
    #[error("operator #{op} uses {name} (code {code}), which ferrolite does not support")]
    UnsupportedOp { op: usize, name: String, code: i32 },
    #[error("operator #{op} is the custom op '{custom_code}', which ferrolite does not support")]
    UnsupportedCustomOp { op: usize, custom_code: String },
    #[error("operator #{op} ({op_name}): {message}")]
    BadOperator {
        op: usize,
        op_name: String,
        message: String,
    },
    #[error("tensor #{tensor} '{name}' has bad quantization: {message}")]
    BadQuantization {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("tensor #{tensor} '{name}' has bad sparsity parameters: {message}")]
    BadSparsity {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("bad signature: {message}")]
    BadSignature { message: String },
    #[error(transparent)]
    Graph(#[from] crate::ir::GraphError),
}

/// Reads a `.tflite` file's bytes into the IR. Only subgraph 0 is lowered.
pub fn read(bytes: &[u8]) -> Result<Model, ReadError> {
    read_with(bytes, false)
}

/// Like [`read`], but an operator ferrolite lacks becomes [`Op::Unsupported`] instead of
/// an error, so that `inspect` can list the whole model and name every missing op. The
/// result cannot be planned or written.
pub fn read_for_inspection(bytes: &[u8]) -> Result<Model, ReadError> {
    read_with(bytes, true)
}

fn read_with(bytes: &[u8], keep_unsupported: bool) -> Result<Model, ReadError> {
    if bytes.len() < 8 {
        return Err(ReadError::TooShort { len: bytes.len() });
    }
    let ident = &bytes[4..8];
    if ident != b"TFL3" {
        return Err(ReadError::WrongIdentifier {
            found: String::from_utf8_lossy(ident).into_owned(),
        });
    }
    // Every table is at least a 4-byte offset to its vtable, so a file cannot hold more
    // tables than a quarter of its bytes; the default limit would allow far more.
    let opts = flatbuffers::VerifierOptions {
        max_depth: 64,
        max_tables: bytes.len() / 4 + 16,
        max_apparent_size: bytes.len().saturating_mul(4).max(1 << 20),
        ignore_missing_null_terminator: false,
    };
    let model = flatbuffers::root_with_opts::<fb::Model>(&opts, bytes).map_err(|e| {
        ReadError::Flatbuffer {
            message: one_line(&e.to_string()),
        }
    })?;
    if model.version() != 3 {
        return Err(ReadError::SchemaVersion {
            version: model.version(),
        });
    }
    let subgraph = model
        .subgraphs()
        .and_then(|s| s.iter().next())
        .ok_or(ReadError::NoSubgraphs)?;
    let graph = lower_graph(&model, &subgraph, keep_unsupported)?;
    let signature = lower_signature(&model, graph.tensors.len())?;
    let model = Model {
        graph,
        description: model.description().map(str::to_string),
        signature,
    };
    // Lowering already refused out-of-range indices, oversized shapes and short buffers
    // with file-specific messages; this adds operand counts and quantization tables, and
    // is the same check every in-code producer passes.
    model.validate()?;
    Ok(model)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lower_graph(
    model: &fb::Model,
    subgraph: &fb::SubGraph,
    keep_unsupported: bool,
) -> Result<Graph, ReadError> {
    let fb_tensors = subgraph.tensors();
    let mut tensors = Vec::new();
    if let Some(list) = fb_tensors {
        for (i, t) in list.iter().enumerate() {
            tensors.push(lower_tensor(model, i, &t)?);
        }
    }
    let count = tensors.len();
    let graph_index = |what: &str, v: i32| -> Result<usize, ReadError> {
        usize::try_from(v)
            .ok()
            .filter(|&i| i < count)
            .ok_or_else(|| ReadError::TensorIndex {
                what: what.to_string(),
                index: v.into(),
                count,
            })
    };
    let inputs = subgraph
        .inputs()
        .map(|v| {
            v.iter()
                .map(|i| graph_index("graph input list", i))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let outputs = subgraph
        .outputs()
        .map(|v| {
            v.iter()
                .map(|i| graph_index("graph output list", i))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();

    let opcodes = model.operator_codes();
    let opcode_count = opcodes.map_or(0, |o| o.len());
    let mut defined = vec![false; count];
    for &i in &inputs {
        defined[i] = true;
    }
    for (i, t) in tensors.iter().enumerate() {
        // A tensor with no elements has nothing to be missing (its buffer is necessarily
        // empty, so it cannot be told apart from a runtime tensor); variables hold state.
        if t.is_constant() || t.is_variable || t.num_elements() == 0 {
            defined[i] = true;
        }
    }

    let mut operators = Vec::new();
    if let Some(ops) = subgraph.operators() {
        for (op_index, fop) in ops.iter().enumerate() {
            let code_index = fop.opcode_index();
            let opcode = opcodes
                .filter(|_| (code_index as usize) < opcode_count)
                .map(|o| o.get(code_index as usize))
                .ok_or(ReadError::OpcodeIndex {
                    op: op_index,
                    index: code_index,
                    count: opcode_count,
                })?;
            let code = opcode
                .builtin_code()
                .0
                .max(i32::from(opcode.deprecated_builtin_code()));
            let op =
                match lower_op(op_index, code, &opcode, &fop) {
                    Err(
                        ReadError::UnsupportedOp { .. } | ReadError::UnsupportedCustomOp { .. },
                    ) if keep_unsupported => Op::Unsupported {
                        code,
                        custom_code: opcode.custom_code().map(str::to_string),
                    },
                    other => other?,
                };
            let name = op.name();

            let mut op_inputs = Vec::new();
            if let Some(list) = fop.inputs() {
                for (slot, v) in list.iter().enumerate() {
                    if v == -1 {
                        op_inputs.push(None);
                        continue;
                    }
                    let t = graph_index(&format!("operator #{op_index} ({name}) input {slot}"), v)?;
                    if !defined[t] {
                        return Err(ReadError::UndefinedInput {
                            op: op_index,
                            op_name: name.to_string(),
                            tensor: t,
                            name: tensors[t].name.clone(),
                        });
                    }
                    op_inputs.push(Some(t));
                }
            }
            let mut op_outputs = Vec::new();
            if let Some(list) = fop.outputs() {
                for (slot, v) in list.iter().enumerate() {
                    let t =
                        graph_index(&format!("operator #{op_index} ({name}) output {slot}"), v)?;
                    op_outputs.push(t);
                }
            }
            for &t in &op_outputs {
                defined[t] = true;
            }
            operators.push(Operator {
                op,
                inputs: op_inputs,
                outputs: op_outputs,
            });
        }
    }
    for &t in &outputs {
        if !defined[t] {
            return Err(ReadError::UndefinedOutput {
                tensor: t,
                name: tensors[t].name.clone(),
            });
        }
    }
    Ok(Graph {
        name: subgraph.name().map(str::to_string),
        tensors,
        inputs,
        outputs,
        operators,
    })
}

/// The IR type of a schema tensor type, `None` for types ferrolite does not support.
pub(crate) fn lower_dtype(t: fb::TensorType) -> Option<DType> {
    Some(match t {
        fb::TensorType::FLOAT32 => DType::F32,
        fb::TensorType::FLOAT16 => DType::F16,
        fb::TensorType::INT32 => DType::I32,
        fb::TensorType::UINT8 => DType::U8,
        fb::TensorType::INT64 => DType::I64,
        fb::TensorType::BOOL => DType::Bool,
        fb::TensorType::INT16 => DType::I16,
        fb::TensorType::INT8 => DType::I8,
        _ => return None,
    })
}

/// A schema tensor type's name, or its number when the schema does not know it.
pub(crate) fn type_name(t: fb::TensorType) -> String {
    t.variant_name()
        .map_or_else(|| format!("#{}", t.0), str::to_string)
}

fn lower_tensor(model: &fb::Model, index: usize, t: &fb::Tensor) -> Result<Tensor, ReadError> {
    let name = t.name().unwrap_or("").to_string();
    let bad_shape = |message: String| ReadError::BadShape {
        tensor: index,
        name: name.clone(),
        message,
    };
    let dtype = lower_dtype(t.type_()).ok_or_else(|| ReadError::UnsupportedType {
        tensor: index,
        name: name.clone(),
        type_name: type_name(t.type_()),
    })?;

    let mut shape = Vec::new();
    if let Some(dims) = t.shape() {
        for (axis, d) in dims.iter().enumerate() {
            let d = usize::try_from(d).map_err(|_| {
                bad_shape(format!(
                    "dimension {axis} is {d}; shape dimensions must be >= 0"
                ))
            })?;
            shape.push(d);
        }
    }
    let dense_bytes = shape
        .iter()
        .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d))
        .filter(|&b| b <= MAX_TENSOR_BYTES)
        .ok_or_else(|| {
            bad_shape(format!(
                "{shape:?} of {dtype} exceeds the {MAX_TENSOR_BYTES}-byte tensor limit"
            ))
        })?;

    let shape_signature = match t.shape_signature() {
        None => None,
        Some(sig) => {
            let sig: Vec<i32> = sig.iter().collect();
            if sig.len() != shape.len() {
                return Err(bad_shape(format!(
                    "shape_signature {sig:?} has rank {}, but the shape {shape:?} has rank {}",
                    sig.len(),
                    shape.len()
                )));
            }
            if let Some(d) = sig.iter().find(|&&d| d < -1) {
                return Err(bad_shape(format!(
                    "shape_signature {sig:?} has dimension {d}; only -1 may be negative"
                )));
            }
            Some(sig)
        }
    };

    let quantization = t
        .quantization()
        .map(|q| lower_quantization(index, &name, &shape, &q))
        .transpose()?
        .flatten();
    let sparsity = t
        .sparsity()
        .map(|s| lower_sparsity(index, &name, &shape, &s))
        .transpose()?;

    let data = tensor_data(model, index, &name, t.buffer())?;
    let data = match data {
        None => None,
        Some(bytes) if sparsity.is_some() => {
            if bytes.len() % dtype.size() != 0 {
                return Err(ReadError::BadSparsity {
                    tensor: index,
                    name,
                    message: format!(
                        "{} stored bytes are not a whole number of {dtype} values",
                        bytes.len()
                    ),
                });
            }
            Some(bytes.to_vec())
        }
        Some(bytes) => {
            // TF pads some buffers; the IR keeps exactly the dense contents.
            let Some(dense) = bytes.get(..dense_bytes) else {
                return Err(ReadError::BufferTooSmall {
                    tensor: index,
                    name,
                    shape,
                    dtype,
                    need: dense_bytes,
                    have: bytes.len(),
                });
            };
            Some(dense.to_vec())
        }
    };

    Ok(Tensor {
        name,
        dtype,
        shape,
        shape_signature,
        data,
        quantization,
        sparsity,
        is_variable: t.is_variable(),
    })
}

/// The constant bytes of a tensor, or `None` for a runtime tensor (buffer 0 or empty).
fn tensor_data<'a>(
    model: &fb::Model<'a>,
    tensor: usize,
    name: &str,
    buffer: u32,
) -> Result<Option<&'a [u8]>, ReadError> {
    if buffer == 0 {
        return Ok(None);
    }
    let buffers = model.buffers();
    let count = buffers.map_or(0, |b| b.len());
    let b = buffers
        .filter(|_| (buffer as usize) < count)
        .map(|b| b.get(buffer as usize))
        .ok_or_else(|| ReadError::BufferIndex {
            tensor,
            name: name.to_string(),
            buffer,
            count,
        })?;
    if b.offset() > 1 || b.size() > 1 {
        return Err(ReadError::ExternalBuffer {
            tensor,
            name: name.to_string(),
            buffer: buffer as usize,
            offset: b.offset(),
            size: b.size(),
        });
    }
    Ok(b.data().map(|d| d.bytes()).filter(|d| !d.is_empty()))
}

fn lower_quantization(
    tensor: usize,
    name: &str,
    shape: &[usize],
    q: &fb::QuantizationParameters,
) -> Result<Option<Quantization>, ReadError> {
    let bad = |message: String| ReadError::BadQuantization {
        tensor,
        name: name.to_string(),
        message,
    };
    let scale: Vec<f32> = q.scale().map(|v| v.iter().collect()).unwrap_or_default();
    if scale.is_empty() {
        // TF writes empty parameter tables on float tensors.
        return Ok(None);
    }
    let zero_point: Vec<i64> = q
        .zero_point()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    if zero_point.len() != scale.len() {
        return Err(bad(format!(
            "{} scales but {} zero points",
            scale.len(),
            zero_point.len()
        )));
    }
    let qd = q.quantized_dimension();
    let in_range = |d: &usize| *d < shape.len() || (shape.is_empty() && *d == 0);
    let qd_usize = match usize::try_from(qd) {
        Ok(d) if in_range(&d) => Some(d),
        // An axis past the rank can still mean only one thing when there is one scale
        // (the whole tensor) or a rank-1 tensor with one scale per entry (its only axis).
        // tflite-micro runs such files (its person-detection model has per-channel
        // rank-1 biases with axis 3), so the axis becomes 0 here and `quirks` reports it.
        Ok(_) if axis_is_moot(shape, scale.len()) => Some(0),
        _ => None,
    };
    let Some(qd_usize) = qd_usize else {
        return Err(bad(format!(
            "quantized_dimension {qd} is out of range for rank {}",
            shape.len()
        )));
    };
    if scale.len() != 1 {
        let extent = shape.get(qd_usize).copied();
        if extent != Some(scale.len()) {
            return Err(bad(format!(
                "{} scales, but a per-axis tensor needs one per entry of dimension {qd_usize} (extent {})",
                scale.len(),
                extent.map_or("none".to_string(), |e| e.to_string())
            )));
        }
    }
    Ok(Some(Quantization {
        scale,
        zero_point,
        quantized_dimension: qd_usize,
        min: q.min().map(|v| v.iter().collect()).unwrap_or_default(),
        max: q.max().map(|v| v.iter().collect()).unwrap_or_default(),
    }))
}

/// Whether a quantization with `scales` scales on `shape` can only mean one axis.
fn axis_is_moot(shape: &[usize], scales: usize) -> bool {
    scales == 1 || (shape.len() == 1 && shape[0] == scales)
}

/// What [`read`] tolerated in a file it accepted and that a stricter runtime would refuse,
/// one sentence each, for `inspect` to report. Empty for a file `read` refuses.
pub fn quirks(bytes: &[u8]) -> Vec<String> {
    let Ok(model) = read(bytes) else {
        return Vec::new();
    };
    // `read` verified the buffer, so this second look cannot fail.
    let Ok(file) = flatbuffers::root::<fb::Model>(bytes) else {
        return Vec::new();
    };
    let Some(tensors) = file
        .subgraphs()
        .and_then(|s| s.iter().next())
        .and_then(|g| g.tensors())
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (i, t) in tensors.iter().enumerate() {
        let (Some(q), Some(ir)) = (t.quantization(), model.graph.tensors.get(i)) else {
            continue;
        };
        let axis = q.quantized_dimension();
        let scales = q.scale().map_or(0, |s| s.len());
        if scales > 0
            && axis_is_moot(&ir.shape, scales)
            && usize::try_from(axis).is_ok_and(|a| a >= ir.shape.len().max(1))
        {
            found.push(format!(
                "tensor #{i} '{}' ({} {}, rank {}) says quantized_dimension {axis}; only one axis \
                 can be meant, so ferrolite uses it (tflite-micro runs this file, LiteRT refuses it)",
                ir.name,
                scales,
                if scales == 1 { "scale" } else { "scales" },
                ir.shape.len()
            ));
        }
    }
    found
}

fn lower_index_vector(
    ty: fb::SparseIndexVector,
    as_i32: Option<fb::Int32Vector>,
    as_u16: Option<fb::Uint16Vector>,
    as_u8: Option<fb::Uint8Vector>,
) -> Option<IndexVector> {
    match ty {
        fb::SparseIndexVector::Int32Vector => {
            Some(IndexVector::I32(as_i32?.values()?.iter().collect()))
        }
        fb::SparseIndexVector::Uint16Vector => {
            Some(IndexVector::U16(as_u16?.values()?.iter().collect()))
        }
        fb::SparseIndexVector::Uint8Vector => {
            Some(IndexVector::U8(as_u8?.values()?.iter().collect()))
        }
        _ => None,
    }
}

fn lower_sparsity(
    tensor: usize,
    name: &str,
    shape: &[usize],
    s: &fb::SparsityParameters,
) -> Result<Sparsity, ReadError> {
    let bad = |message: String| ReadError::BadSparsity {
        tensor,
        name: name.to_string(),
        message,
    };
    let rank = shape.len();
    let to_index = |what: &str, v: i32, limit: usize| -> Result<usize, ReadError> {
        usize::try_from(v)
            .ok()
            .filter(|&x| x < limit)
            .ok_or_else(|| bad(format!("{what} entry {v} is out of range 0..{limit}")))
    };
    let block_map_raw: Vec<i32> = s
        .block_map()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let mut block_map = Vec::new();
    for v in block_map_raw {
        block_map.push(to_index("block_map", v, rank)?);
    }
    let levels = rank + block_map.len();
    let order_raw: Vec<i32> = s
        .traversal_order()
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    if order_raw.len() != levels {
        return Err(bad(format!(
            "traversal_order has {} entries, but rank {rank} plus {} block dimensions needs {levels}",
            order_raw.len(),
            block_map.len()
        )));
    }
    let mut seen = vec![false; levels];
    let mut traversal_order = Vec::new();
    for v in order_raw {
        let i = to_index("traversal_order", v, levels)?;
        if std::mem::replace(&mut seen[i], true) {
            return Err(bad(format!("traversal_order repeats dimension {i}")));
        }
        traversal_order.push(i);
    }
    let metas = s.dim_metadata();
    let meta_count = metas.map_or(0, |m| m.len());
    if meta_count != levels {
        return Err(bad(format!(
            "dim_metadata has {meta_count} entries, but traversal_order has {levels}"
        )));
    }
    let mut dim_metadata = Vec::new();
    if let Some(metas) = metas {
        for (level, m) in metas.iter().enumerate() {
            dim_metadata.push(match m.format() {
                fb::DimensionType::DENSE => {
                    let size = usize::try_from(m.dense_size()).map_err(|_| {
                        bad(format!("level {level} has dense_size {}", m.dense_size()))
                    })?;
                    DimensionMetadata::Dense { size }
                }
                fb::DimensionType::SPARSE_CSR => {
                    let segments = lower_index_vector(
                        m.array_segments_type(),
                        m.array_segments_as_int_32_vector(),
                        m.array_segments_as_uint_16_vector(),
                        m.array_segments_as_uint_8_vector(),
                    )
                    .ok_or_else(|| bad(format!("sparse level {level} lacks its array_segments")))?;
                    let indices = lower_index_vector(
                        m.array_indices_type(),
                        m.array_indices_as_int_32_vector(),
                        m.array_indices_as_uint_16_vector(),
                        m.array_indices_as_uint_8_vector(),
                    )
                    .ok_or_else(|| bad(format!("sparse level {level} lacks its array_indices")))?;
                    DimensionMetadata::SparseCsr { segments, indices }
                }
                other => return Err(bad(format!("level {level} has unknown format {}", other.0))),
            });
        }
    }
    Ok(Sparsity {
        traversal_order,
        block_map,
        dim_metadata,
    })
}

fn lower_signature(model: &fb::Model, tensor_count: usize) -> Result<Option<Signature>, ReadError> {
    let Some(defs) = model.signature_defs() else {
        return Ok(None);
    };
    let Some(def) = defs.iter().find(|d| d.subgraph_index() == 0) else {
        return Ok(None);
    };
    let key = def
        .signature_key()
        .ok_or_else(|| ReadError::BadSignature {
            message: "the signature for subgraph 0 has no signature_key".into(),
        })?
        .to_string();
    let maps = |list: Option<flatbuffers::Vector<flatbuffers::ForwardsUOffset<fb::TensorMap>>>,
                side: &str|
     -> Result<Vec<(String, usize)>, ReadError> {
        let mut out = Vec::new();
        for (i, m) in list.iter().flatten().enumerate() {
            let name = m.name().ok_or_else(|| ReadError::BadSignature {
                message: format!("signature '{key}' {side} #{i} has no name"),
            })?;
            let index = m.tensor_index() as usize;
            if index >= tensor_count {
                return Err(ReadError::BadSignature {
                    message: format!(
                        "signature '{key}' {side} '{name}' refers to tensor {index}, but subgraph 0 has {tensor_count} tensors"
                    ),
                });
            }
            out.push((name.to_string(), index));
        }
        Ok(out)
    };
    let inputs = maps(def.inputs(), "input")?;
    let outputs = maps(def.outputs(), "output")?;
    Ok(Some(Signature {
        key,
        inputs,
        outputs,
    }))
}

/// Maps an operator to the IR through its registry entry's `read` hook (custom ops are
/// found by their custom code); codes without an entry are unsupported (a custom op is
/// named by its custom code).
fn lower_op(
    index: usize,
    code: i32,
    opcode: &fb::OperatorCode,
    fop: &fb::Operator,
) -> Result<Op, ReadError> {
    match crate::ops::by_code(code) {
        Some(def) => (def.read)(&crate::ops::ReadCtx {
            index,
            name: def.name,
            fop: *fop,
        }),
        None if code == fb::BuiltinOperator::CUSTOM.0 => {
            let custom_code = opcode.custom_code().unwrap_or("");
            match crate::ops::by_custom_code(custom_code) {
                Some(def) => (def.read)(&crate::ops::ReadCtx {
                    index,
                    name: def.name,
                    fop: *fop,
                }),
                None => Err(ReadError::UnsupportedCustomOp {
                    op: index,
                    custom_code: custom_code.to_string(),
                }),
            }
        }
        None => Err(ReadError::UnsupportedOp {
            op: index,
            name: fb::BuiltinOperator(code)
                .variant_name()
                .unwrap_or("an unknown operator")
                .to_string(),
            code,
        }),
    }
}
