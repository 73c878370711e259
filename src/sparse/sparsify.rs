//! IR → IR pass that stores pruned weights as genuine sparse tensors.
//!
//! Candidates are the constant weights (operand 1) of FULLY_CONNECTED, CONV_2D and
//! DEPTHWISE_CONV_2D with at least [`SparsifyOptions::min_zero_fraction`] exact zeros
//! (TensorFlow's `kMinSparsityLevel`, 0.3). Each candidate is tried in every encoding
//! LiteRT can run for its consumers (docs §5.3–5.4) and the one giving the smallest
//! file is kept, provided the file shrinks at all:
//! * float32 FC: random CSR or 1×4 blocks, both read directly by the FC kernel;
//! * full-integer int8 FC with symmetric weights: 1×16 blocks, read directly;
//! * float32 FC, conv or depthwise: CSR plus a DENSIFY op in front of the consumer
//!   (not int8: LiteRT's default XNNPACK delegate fails to prepare an int8 FC fed by
//!   DENSIFY, TensorFlow's own sparse int8 MNIST file included).
//!
//! Sizes are measured by writing the model, so "smaller" is what the file says, index
//! vectors, metadata and the DENSIFY op included.
//!
//! Left dense on purpose: hybrid (dynamic-range) consumers, whose sparse LiteRT path
//! the interpreter does not implement and whose DENSIFY-fed variant is unverified
//! against LiteRT; float16 models, whose weights reach the op through DEQUANTIZE (not a
//! constant operand 1; DEQUANTIZE has no sparse path); shared weights whose consumers
//! disagree; and anything that is a graph input or output.
//!
//! No value is ever dropped: blocked encodings whose partial trailing block holds a
//! nonzero are not candidates ([`SparseError::WouldDropNonZero`]), and every encoding
//! is densified back and compared bit for bit with the weights before use. Negative
//! zero is first written as +0.0: both are "zero" to TensorFlow's encoder and add
//! nothing to any dot product, and without that a pruned float tensor (w·0 = -0.0 for
//! negative w) could never round-trip.

use super::{densify, encode, SparseError};
use crate::ir::TensorBuf;
use crate::ir::{DType, DimensionMetadata, IndexVector, Model, Op, Operator, Sparsity, Tensor};

/// Settings of [`sparsify`].
#[derive(Clone, Debug, PartialEq)]
pub struct SparsifyOptions {
    /// A weight with a smaller fraction of exact zeros is left dense.
    pub min_zero_fraction: f64,
}

impl Default for SparsifyOptions {
    fn default() -> Self {
        SparsifyOptions {
            min_zero_fraction: 0.3,
        }
    }
}

/// How a weight ended up stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SparseEncoding {
    /// [DENSE rows, SPARSE_CSR columns], read by the float FC kernel.
    RandomCsr,
    /// [DENSE rows, SPARSE_CSR block columns, DENSE 4], read by the float FC kernel.
    Block1x4,
    /// [DENSE rows, SPARSE_CSR block columns, DENSE 16], read by the int8 FC kernel.
    Block1x16,
    /// TensorFlow's CSR layout expanded by a DENSIFY op before the consumer.
    CsrDensify,
}

impl SparseEncoding {
    pub fn name(self) -> &'static str {
        match self {
            SparseEncoding::RandomCsr => "csr",
            SparseEncoding::Block1x4 => "1x4",
            SparseEncoding::Block1x16 => "1x16",
            SparseEncoding::CsrDensify => "csr+densify",
        }
    }
}

/// What the pass did to one weight.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseTensorReport {
    /// Index, in the output model, of the tensor holding the sparse values.
    pub tensor: usize,
    pub name: String,
    pub encoding: SparseEncoding,
    /// Elements of the dense shape and how many of them are exactly zero.
    pub elements: usize,
    pub zeros: usize,
    /// Bytes of the dense constant.
    pub dense_bytes: usize,
    /// Bytes of the stored values plus index vectors.
    pub sparse_bytes: usize,
    /// How much smaller the written file got with this tensor sparse.
    pub file_bytes_saved: usize,
}

/// Stored values plus index vectors of a sparse tensor.
pub fn stored_bytes(t: &Tensor) -> usize {
    let values = t.data.as_ref().map_or(0, |d| d.len());
    let indices: usize = t.sparsity.as_ref().map_or(0, |s| {
        s.dim_metadata
            .iter()
            .map(|m| match m {
                DimensionMetadata::Dense { .. } => 0,
                DimensionMetadata::SparseCsr { segments, indices } => {
                    index_bytes(segments) + index_bytes(indices)
                }
            })
            .sum()
    });
    values + indices
}

fn index_bytes(v: &IndexVector) -> usize {
    match v {
        IndexVector::U8(x) => x.len(),
        IndexVector::U16(x) => 2 * x.len(),
        IndexVector::I32(x) => 4 * x.len(),
    }
}

/// Rewrites the eligible weights of `model` as sparse tensors (see the module docs).
/// Returns the new model and one report per rewritten weight; the input is unchanged.
pub fn sparsify(
    model: &Model,
    options: &SparsifyOptions,
) -> Result<(Model, Vec<SparseTensorReport>), SparseError> {
    let mut current = model.clone();
    let mut current_size = written_size(&current)?;
    let mut reports = Vec::new();
    for index in 0..model.graph.tensors.len() {
        let Some(candidate) = Candidate::find(&current, index, options)? else {
            continue;
        };
        let mut best: Option<(Model, usize, SparseEncoding, usize)> = None;
        for &encoding in &candidate.encodings {
            let Some((trial, stored)) = candidate.apply(&current, encoding)? else {
                continue;
            };
            let size = written_size(&trial)?;
            if size < current_size && best.as_ref().is_none_or(|b| size < b.1) {
                best = Some((trial, size, encoding, stored));
            }
        }
        if let Some((trial, size, encoding, stored_index)) = best {
            let stored = &trial.graph.tensors[stored_index];
            reports.push(SparseTensorReport {
                tensor: stored_index,
                name: candidate.name.clone(),
                encoding,
                elements: candidate.dense.len(),
                zeros: candidate.zeros,
                dense_bytes: candidate.dense_bytes,
                sparse_bytes: stored_bytes(stored),
                file_bytes_saved: current_size - size,
            });
            current = trial;
            current_size = size;
        }
    }
    Ok((current, reports))
}

fn written_size(model: &Model) -> Result<usize, SparseError> {
    crate::tflite::write(model)
        .map(|b| b.len())
        .map_err(|e| SparseError::Measure(e.to_string()))
}

/// A weight that may be stored sparse, with the encodings its consumers accept.
struct Candidate {
    index: usize,
    name: String,
    shape: Vec<usize>,
    /// The weights with -0.0 written as +0.0.
    dense: TensorBuf,
    dense_bytes: usize,
    zeros: usize,
    encodings: Vec<SparseEncoding>,
}

impl Candidate {
    fn find(
        model: &Model,
        index: usize,
        options: &SparsifyOptions,
    ) -> Result<Option<Candidate>, SparseError> {
        let g = &model.graph;
        let Some(t) = g.tensors.get(index) else {
            return Ok(None);
        };
        let Some(data) = &t.data else { return Ok(None) };
        if t.sparsity.is_some()
            || t.is_variable
            || !matches!(t.dtype, DType::F32 | DType::I8)
            || !matches!(t.shape.len(), 2 | 4)
            || t.num_elements() == 0
            || data.len() != t.dense_bytes()
            || g.inputs.contains(&index)
            || g.outputs.contains(&index)
        {
            return Ok(None);
        }
        let consumers = g.consumers(index);
        if consumers.is_empty() {
            return Ok(None);
        }
        let mut all_fc = true;
        for &c in &consumers {
            let op = &g.operators[c];
            let weight_only = op
                .inputs
                .iter()
                .enumerate()
                .all(|(slot, &input)| (input == Some(index)) == (slot == 1));
            if !weight_only {
                return Ok(None);
            }
            // Same-type input: float with float weights, or full-integer int8. A float
            // input with int8 weights is a hybrid op (left dense, see module docs).
            let input_type = op.input(0).and_then(|i| g.tensors.get(i)).map(|i| i.dtype);
            let output_type = op
                .outputs
                .first()
                .and_then(|&o| g.tensors.get(o))
                .map(|o| o.dtype);
            if input_type != Some(t.dtype) || output_type != Some(t.dtype) {
                return Ok(None);
            }
            match &op.op {
                Op::FullyConnected(o) if !o.shuffled_weights => {}
                Op::Conv2d(_) | Op::DepthwiseConv2d(_) => all_fc = false,
                _ => return Ok(None),
            }
        }
        let mut dense = TensorBuf::from_le_bytes(t.dtype, data);
        if let TensorBuf::F32(v) = &mut dense {
            for x in v.iter_mut() {
                if *x == 0.0 {
                    *x = 0.0;
                }
            }
        }
        let zeros = match &dense {
            TensorBuf::F32(v) => v.iter().filter(|&&x| x == 0.0).count(),
            TensorBuf::I8(v) => v.iter().filter(|&&x| x == 0).count(),
            _ => 0,
        };
        if (zeros as f64) < options.min_zero_fraction * t.num_elements() as f64 {
            return Ok(None);
        }
        let mut encodings = Vec::new();
        if all_fc && t.shape.len() == 2 {
            let depth = t.shape[1];
            match t.dtype {
                DType::F32 => {
                    encodings.push(SparseEncoding::RandomCsr);
                    if depth >= 4 {
                        encodings.push(SparseEncoding::Block1x4);
                    }
                }
                DType::I8 => {
                    let symmetric = t
                        .quantization
                        .as_ref()
                        .is_some_and(|q| q.is_quantized() && q.zero_point.iter().all(|&z| z == 0));
                    if symmetric && depth >= 16 {
                        encodings.push(SparseEncoding::Block1x16);
                    }
                }
                _ => {}
            }
        }
        // LiteRT's default runtime (XNNPACK delegate) refuses an int8 FULLY_CONNECTED
        // fed by DENSIFY ("failed to delegate FULLY_CONNECTED"), TensorFlow's own
        // EXPERIMENTAL_SPARSITY int8 MNIST file included; int8 conv behind DENSIFY is
        // untested there. So int8 weights are only ever stored in 1×16 blocks.
        if t.dtype == DType::F32 {
            encodings.push(SparseEncoding::CsrDensify);
        }
        if encodings.is_empty() {
            return Ok(None);
        }
        Ok(Some(Candidate {
            index,
            name: t.name.clone(),
            shape: t.shape.clone(),
            dense_bytes: data.len(),
            dense,
            zeros,
            encodings,
        }))
    }

    /// The sparsity and stored values of `encoding`, checked to densify back to the
    /// weights bit for bit; `None` when the encoding cannot hold them (a nonzero in a
    /// partial trailing block).
    fn encode_checked(
        &self,
        encoding: SparseEncoding,
    ) -> Result<Option<(Sparsity, TensorBuf)>, SparseError> {
        let block: Option<Vec<usize>> = match encoding {
            SparseEncoding::RandomCsr | SparseEncoding::CsrDensify => None,
            SparseEncoding::Block1x4 => Some(vec![1, 4]),
            SparseEncoding::Block1x16 => Some(vec![1, 16]),
        };
        let (sparsity, kept) = match encode(&self.dense, &self.shape, block.as_deref()) {
            Ok(encoded) => encoded,
            Err(SparseError::WouldDropNonZero { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let back = densify(&sparsity, &self.shape, &kept)?;
        if back.to_le_bytes() != self.dense.to_le_bytes() {
            return Err(SparseError::RoundTripMismatch {
                tensor: self.index,
                name: self.name.clone(),
            });
        }
        Ok(Some((sparsity, kept)))
    }

    /// `model` with this weight stored in `encoding`, and the index of the tensor that
    /// holds the sparse values.
    fn apply(
        &self,
        model: &Model,
        encoding: SparseEncoding,
    ) -> Result<Option<(Model, usize)>, SparseError> {
        let Some((sparsity, kept)) = self.encode_checked(encoding)? else {
            return Ok(None);
        };
        let mut out = model.clone();
        let g = &mut out.graph;
        let original = g.tensors[self.index].clone();
        let sparse = Tensor {
            data: Some(kept.to_le_bytes()),
            sparsity: Some(sparsity),
            ..original.clone()
        };
        if encoding != SparseEncoding::CsrDensify {
            g.tensors[self.index] = sparse;
            return Ok(Some((out, self.index)));
        }
        // The dense tensor keeps its index (so consumers need no rewiring) and becomes
        // DENSIFY's output; the sparse constant is appended as its input.
        let sparse_index = g.tensors.len();
        g.tensors.push(Tensor {
            name: format!("{}_sparse", original.name),
            ..sparse
        });
        g.tensors[self.index] = Tensor {
            data: None,
            sparsity: None,
            ..original
        };
        let first_consumer = g.consumers(self.index).into_iter().min().unwrap_or(0);
        g.operators.insert(
            first_consumer,
            Operator::new(Op::Densify, vec![sparse_index], vec![self.index]),
        );
        Ok(Some((out, sparse_index)))
    }
}
