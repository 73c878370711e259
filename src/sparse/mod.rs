//! Sparse tensor encodings (TACO-style, as TFLite stores them): densify and encode.
//!
//! A sparse tensor of dense shape `[d0, …, d(n-1)]` is described by `n + k` traversal
//! levels: a permutation of the n original dims, then the k block dims (block dim `n+i`
//! splits original dim `block_map[i]`, whose level then walks `d / block_size` blocks).
//! Each level is DENSE (every coordinate present) or SPARSE_CSR (per parent position,
//! `segments[p]..segments[p+1]` delimit the `indices` present below parent `p`). The
//! stored values are the leaves in traversal order. Semantics follow TFLite's
//! `sparsity_format_converter.cc` (`FormatConverter::SparseToDense`), with two
//! deliberate differences for inputs TFLite mishandles or leaves unchecked:
//! * the block size of block dim `n+i` is the DENSE size of the level that traverses it
//!   (TFLite reads `dense_size[traversal_order[n+i]]`, which agrees for up to two block
//!   dims but not for a 3-cycle of block dims);
//! * a SPARSE_CSR block level (no stated size) takes its size from the DENSE level of
//!   the dim it splits; a repeated index within one segment is refused.
//!
//! Like TFLite, a block size that does not divide its dim is accepted: the blocked extent
//! is ⌊dim / block⌋ and the trailing partial block is implicitly zero. [`encode`]
//! produces such layouts only when that remainder really is zero, so no value is lost.

use crate::ir::limits::MAX_TENSOR_BYTES;
use crate::ir::{DimensionMetadata, IndexVector, Sparsity, TensorBuf};

mod sparsify;
#[cfg(test)]
mod tests;

pub use sparsify::{sparsify, stored_bytes, SparseEncoding, SparseTensorReport, SparsifyOptions};

/// Why a sparse encoding could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SparseError {
    #[error("invalid sparse encoding: {0}")]
    Invalid(String),
    /// The block size leaves a partial trailing block along `dim` (stored as implicit
    /// zeros) but the element at dense offset `offset` there is nonzero.
    #[error("the blocked encoding would drop the nonzero element at offset {offset} (partial trailing block along dim {dim})")]
    WouldDropNonZero { dim: usize, offset: usize },
    /// A rewritten tensor did not densify back to its original bytes.
    #[error("sparse encoding of tensor {tensor} ('{name}') does not densify back to the original")]
    RoundTripMismatch { tensor: usize, name: String },
    /// The model could not be serialized to measure an encoding's size.
    #[error("measuring the written size: {0}")]
    Measure(String),
}

fn invalid(msg: impl Into<String>) -> SparseError {
    SparseError::Invalid(msg.into())
}

/// More traversal levels than any real tensor needs; bounds the recursion depth of
/// [`SparseLayout::expand_into`] for hostile files.
const MAX_LEVELS: usize = 64;

/// One traversal level after validation.
#[derive(Clone, Debug)]
struct Level {
    /// Number of coordinates at this level (blocked extent or block size).
    extent: usize,
    /// Dense row-major offset of one step of this level's coordinate.
    stride: usize,
    /// `None` for DENSE; the CSR arrays otherwise.
    csr: Option<(IndexVector, IndexVector)>,
}

/// A validated sparse encoding for one dense shape: every index is in range, every
/// segment array is well formed, and the number of stored values is known, so
/// expanding cannot fail or write out of bounds.
#[derive(Clone, Debug)]
pub struct SparseLayout {
    dense_len: usize,
    stored_len: usize,
    levels: Vec<Level>,
}

impl SparseLayout {
    /// Validates `sparsity` against `dense_shape`.
    pub fn new(sparsity: &Sparsity, dense_shape: &[usize]) -> Result<SparseLayout, SparseError> {
        let n = dense_shape.len();
        let k = sparsity.block_map.len();
        let total = n + k;
        if total > MAX_LEVELS {
            return Err(invalid(format!(
                "{total} traversal levels (more than {MAX_LEVELS})"
            )));
        }
        let dense_len = dense_shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .filter(|&len| len <= MAX_TENSOR_BYTES)
            .ok_or_else(|| invalid(format!("dense shape {dense_shape:?} is too large")))?;
        if k > n {
            return Err(invalid(format!("{k} block dims for a rank-{n} tensor")));
        }
        let mut block_of_dim: Vec<Option<usize>> = vec![None; n];
        for (b, &d) in sparsity.block_map.iter().enumerate() {
            match block_of_dim.get_mut(d) {
                None => {
                    return Err(invalid(format!(
                        "block_map[{b}] = {d} is not a dimension of the rank-{n} dense shape"
                    )))
                }
                Some(Some(_)) => {
                    return Err(invalid(format!("block_map splits dimension {d} twice")))
                }
                Some(slot) => *slot = Some(b),
            }
        }
        if sparsity.traversal_order.len() != total {
            return Err(invalid(format!(
                "traversal_order has {} entries, expected {total} ({n} dims + {k} block dims)",
                sparsity.traversal_order.len()
            )));
        }
        if sparsity.dim_metadata.len() != total {
            return Err(invalid(format!(
                "dim_metadata has {} entries, expected {total} ({n} dims + {k} block dims)",
                sparsity.dim_metadata.len()
            )));
        }
        // level_of[dim] = traversal position of expanded dim `dim`.
        let mut level_of: Vec<Option<usize>> = vec![None; total];
        for (pos, &dim) in sparsity.traversal_order.iter().enumerate() {
            let range_ok = if pos < n {
                dim < n
            } else {
                dim >= n && dim < total
            };
            let slot = level_of.get_mut(dim).filter(|_| range_ok);
            match slot {
                Some(s @ None) => *s = Some(pos),
                _ => {
                    return Err(invalid(format!(
                        "traversal_order {:?} is not a permutation of 0..{n} followed by a permutation of {n}..{total}",
                        sparsity.traversal_order
                    )))
                }
            }
        }
        let level_of: Vec<usize> = level_of.into_iter().map(|p| p.unwrap_or(0)).collect();
        let meta = &sparsity.dim_metadata;

        // Block sizes: the extent of the block level. A SPARSE_CSR block level does not
        // state its extent, so it is recovered from the DENSE level of the split dim.
        let mut block_size = vec![1usize; k];
        for (b, &d) in sparsity.block_map.iter().enumerate() {
            let dim_len = dense_shape.get(d).copied().unwrap_or(0);
            let size = match (meta.get(level_of[n + b]), meta.get(level_of[d])) {
                (Some(DimensionMetadata::Dense { size }), _) => *size,
                (_, Some(DimensionMetadata::Dense { size: outer })) if *outer > 0 && dim_len % outer == 0 => {
                    dim_len / outer
                }
                _ => {
                    return Err(invalid(format!(
                        "cannot tell the block size of block dim {}: both its level and the level of dimension {d} are SPARSE_CSR",
                        n + b
                    )))
                }
            };
            // A size that does not divide the dim leaves a partial trailing block, which
            // TFLite's FormatConverter treats as implicit zeros (blocked extent
            // ⌊dim / size⌋); TensorFlow's 1×16 FC encodings of odd depths rely on it.
            if size == 0 || size > dim_len {
                return Err(invalid(format!(
                    "block size {size} does not fit dimension {d} of size {dim_len}"
                )));
            }
            block_size[b] = size;
        }

        let mut dense_stride = vec![1usize; n];
        for d in (0..n.saturating_sub(1)).rev() {
            dense_stride[d] = dense_stride[d + 1] * dense_shape[d + 1];
        }

        let mut levels = Vec::with_capacity(total);
        let mut positions = 1usize;
        for (pos, (&dim, m)) in sparsity.traversal_order.iter().zip(meta).enumerate() {
            let (extent, stride) = if dim < n {
                match block_of_dim[dim] {
                    Some(b) => (
                        dense_shape[dim] / block_size[b],
                        dense_stride[dim] * block_size[b],
                    ),
                    None => (dense_shape[dim], dense_stride[dim]),
                }
            } else {
                let b = dim - n;
                let split = sparsity.block_map[b];
                (block_size[b], dense_stride[split])
            };
            let csr = match m {
                DimensionMetadata::Dense { size } => {
                    if *size != extent {
                        return Err(invalid(format!(
                            "level {pos} (dim {dim}) is DENSE with size {size}, but that dim has extent {extent}"
                        )));
                    }
                    positions = positions
                        .checked_mul(extent)
                        .ok_or_else(|| invalid("too many stored positions"))?;
                    None
                }
                DimensionMetadata::SparseCsr { segments, indices } => {
                    positions = check_csr(pos, positions, extent, segments, indices)?;
                    Some((segments.clone(), indices.clone()))
                }
            };
            levels.push(Level {
                extent,
                stride,
                csr,
            });
        }
        Ok(SparseLayout {
            dense_len,
            stored_len: positions,
            levels,
        })
    }

    /// Elements of the dense tensor.
    pub fn dense_len(&self) -> usize {
        self.dense_len
    }

    /// Number of values the encoding stores.
    pub fn stored_len(&self) -> usize {
        self.stored_len
    }

    /// Writes the dense tensor into `out` (zeros where nothing is stored).
    pub fn expand_into<T: Copy + Default>(
        &self,
        values: &[T],
        out: &mut [T],
    ) -> Result<(), SparseError> {
        if values.len() != self.stored_len {
            return Err(invalid(format!(
                "{} values are stored, the encoding describes {}",
                values.len(),
                self.stored_len
            )));
        }
        if out.len() != self.dense_len {
            return Err(invalid(format!(
                "output holds {} elements, the dense shape has {}",
                out.len(),
                self.dense_len
            )));
        }
        out.fill(T::default());
        let mut next = 0usize;
        self.fill(0, 0, 0, values, &mut next, out)
    }

    /// Allocates and returns the dense tensor.
    pub fn expand<T: Copy + Default>(&self, values: &[T]) -> Result<Vec<T>, SparseError> {
        let mut out = vec![T::default(); self.dense_len];
        self.expand_into(values, &mut out)?;
        Ok(out)
    }

    /// Visits the subtree below `parent` (a position of level `level - 1`) whose dense
    /// offset so far is `base`.
    fn fill<T: Copy>(
        &self,
        level: usize,
        parent: usize,
        base: usize,
        values: &[T],
        next: &mut usize,
        out: &mut [T],
    ) -> Result<(), SparseError> {
        let broken = || invalid("sparse layout out of step with its arrays");
        let Some(lv) = self.levels.get(level) else {
            let v = values.get(*next).ok_or_else(broken)?;
            *out.get_mut(base).ok_or_else(broken)? = *v;
            *next += 1;
            return Ok(());
        };
        match &lv.csr {
            None => {
                for c in 0..lv.extent {
                    self.fill(
                        level + 1,
                        parent * lv.extent + c,
                        base + c * lv.stride,
                        values,
                        next,
                        out,
                    )?;
                }
            }
            Some((segments, indices)) => {
                let start = segments.get(parent).ok_or_else(broken)?;
                let end = segments.get(parent + 1).ok_or_else(broken)?;
                for p in start..end {
                    let c = indices.get(p).ok_or_else(broken)?;
                    self.fill(level + 1, p, base + c * lv.stride, values, next, out)?;
                }
            }
        }
        Ok(())
    }
}

/// Checks one SPARSE_CSR level below `parents` positions with coordinates in
/// `0..extent`; returns the number of positions at this level.
fn check_csr(
    level: usize,
    parents: usize,
    extent: usize,
    segments: &IndexVector,
    indices: &IndexVector,
) -> Result<usize, SparseError> {
    let want = parents
        .checked_add(1)
        .ok_or_else(|| invalid("too many stored positions"))?;
    if segments.len() != want {
        return Err(invalid(format!(
            "level {level}: array_segments has {} entries, expected {want} (one per parent position plus one)",
            segments.len()
        )));
    }
    let seg = |i: usize| {
        segments
            .get(i)
            .ok_or_else(|| invalid(format!("level {level}: array_segments[{i}] is negative")))
    };
    if seg(0)? != 0 {
        return Err(invalid(format!(
            "level {level}: array_segments does not start at 0"
        )));
    }
    // Coordinates seen in the current segment, so a duplicate (two stored values for one
    // dense element) is refused; cleared after each segment. A set of what the segment
    // holds, not a flag per coordinate: with another dimension 0 the dense shape has no
    // elements and `extent` is unbounded (fuzzing found 3.3 GB asked for here).
    let mut seen = std::collections::HashSet::new();
    let mut prev = 0usize;
    for p in 0..parents {
        let end = seg(p + 1)?;
        if end < prev {
            return Err(invalid(format!(
                "level {level}: array_segments decreases at entry {}",
                p + 1
            )));
        }
        if end > indices.len() {
            return Err(invalid(format!(
                "level {level}: array_segments[{}] = {end} is past the {} indices",
                p + 1,
                indices.len()
            )));
        }
        if end - prev > extent {
            return Err(invalid(format!(
                "level {level}: segment {p} lists {} indices for a level of size {extent}",
                end - prev
            )));
        }
        for i in prev..end {
            let c = indices
                .get(i)
                .ok_or_else(|| invalid(format!("level {level}: array_indices[{i}] is negative")))?;
            if c >= extent {
                return Err(invalid(format!(
                    "level {level}: array_indices[{i}] = {c} is not below the level size {extent}"
                )));
            }
            if !seen.insert(c) {
                return Err(invalid(format!(
                    "level {level}: index {c} appears twice under parent position {p}"
                )));
            }
        }
        seen.clear();
        prev = end;
    }
    if prev != indices.len() {
        return Err(invalid(format!(
            "level {level}: array_segments ends at {prev} but there are {} indices",
            indices.len()
        )));
    }
    Ok(prev)
}

/// Applies `$body` to the elements of whichever variant `$buf` is, rewrapping the
/// resulting vector in the same variant.
macro_rules! map_buf {
    ($buf:expr, $v:ident => $body:expr) => {
        match $buf {
            TensorBuf::F32($v) => TensorBuf::F32($body),
            TensorBuf::F16($v) => TensorBuf::F16($body),
            TensorBuf::I8($v) => TensorBuf::I8($body),
            TensorBuf::U8($v) => TensorBuf::U8($body),
            TensorBuf::I16($v) => TensorBuf::I16($body),
            TensorBuf::I32($v) => TensorBuf::I32($body),
            TensorBuf::I64($v) => TensorBuf::I64($body),
            TensorBuf::Bool($v) => TensorBuf::Bool($body),
        }
    };
}

/// Expands the stored `values` of a tensor with dense shape `dense_shape` and encoding
/// `sparsity` into a dense row-major buffer of the same element type.
pub fn densify(
    sparsity: &Sparsity,
    dense_shape: &[usize],
    values: &TensorBuf,
) -> Result<TensorBuf, SparseError> {
    let layout = SparseLayout::new(sparsity, dense_shape)?;
    if layout.dense_len().saturating_mul(values.dtype().size()) > MAX_TENSOR_BYTES {
        return Err(invalid(format!(
            "dense shape {dense_shape:?} of {} would exceed {MAX_TENSOR_BYTES} bytes",
            values.dtype()
        )));
    }
    Ok(map_buf!(values, v => layout.expand(v)?))
}

/// Encodes `dense` (row-major, shape `shape`) the way TensorFlow's converter does:
/// identity traversal order, DENSE levels for all original dims but the last, which is
/// SPARSE_CSR, then one DENSE level per blocked dim. `block` gives a block size per
/// dim (1 = not blocked; e.g. `[1, 4]` for FC 1×4 blocks). A block is kept whole when
/// any of its elements is nonzero. Index vectors use the narrowest width. A block size
/// that does not divide its dim leaves a partial trailing block, stored as implicit
/// zeros as TFLite does; [`SparseError::WouldDropNonZero`] if that block holds a nonzero.
pub fn encode(
    dense: &TensorBuf,
    shape: &[usize],
    block: Option<&[usize]>,
) -> Result<(Sparsity, TensorBuf), SparseError> {
    let n = shape.len();
    if n == 0 {
        return Err(invalid("cannot sparse-encode a scalar"));
    }
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| invalid(format!("shape {shape:?} is too large")))?;
    if len != dense.len() {
        return Err(invalid(format!(
            "{} values given for shape {shape:?} ({len} elements)",
            dense.len()
        )));
    }
    if shape.iter().any(|&d| d > i32::MAX as usize) {
        return Err(invalid(format!(
            "shape {shape:?} has a dim too large for the index vectors"
        )));
    }
    let ones = vec![1usize; n];
    let block = block.unwrap_or(&ones);
    if block.len() != n {
        return Err(invalid(format!(
            "block {block:?} does not have one size per dim of {shape:?}"
        )));
    }
    for (d, (&b, &s)) in block.iter().zip(shape).enumerate() {
        if b == 0 || (b > 1 && b > s) {
            return Err(invalid(format!(
                "block size {b} does not fit dim {d} of size {s}"
            )));
        }
    }
    if let Some((dim, offset)) = first_nonzero_in_partial_block(dense, shape, block) {
        return Err(SparseError::WouldDropNonZero { dim, offset });
    }
    let geometry = BlockGeometry::new(shape, block);
    let (segments, indices, kept) = map_encode(dense, &geometry);
    if segments.last().copied().unwrap_or(0) > i32::MAX as usize {
        return Err(invalid("too many kept blocks for the index vectors"));
    }
    let mut dim_metadata: Vec<DimensionMetadata> = geometry.blocked[..n - 1]
        .iter()
        .map(|&size| DimensionMetadata::Dense { size })
        .collect();
    dim_metadata.push(DimensionMetadata::SparseCsr {
        segments: IndexVector::narrowest(&segments),
        indices: IndexVector::narrowest(&indices),
    });
    dim_metadata.extend(
        geometry
            .block_map
            .iter()
            .map(|&d| DimensionMetadata::Dense { size: block[d] }),
    );
    let sparsity = Sparsity {
        traversal_order: (0..n + geometry.block_map.len()).collect(),
        block_map: geometry.block_map.clone(),
        dim_metadata,
    };
    Ok((sparsity, kept))
}

/// The block decomposition TensorFlow's encoder uses.
struct BlockGeometry {
    block: Vec<usize>,
    /// Blocked extent of each dim (`shape / block`).
    blocked: Vec<usize>,
    /// Dims with a block size above 1, in ascending order.
    block_map: Vec<usize>,
    dense_stride: Vec<usize>,
}

impl BlockGeometry {
    fn new(shape: &[usize], block: &[usize]) -> BlockGeometry {
        let n = shape.len();
        let mut dense_stride = vec![1usize; n];
        for d in (0..n.saturating_sub(1)).rev() {
            dense_stride[d] = dense_stride[d + 1] * shape[d + 1];
        }
        BlockGeometry {
            block: block.to_vec(),
            blocked: shape.iter().zip(block).map(|(&s, &b)| s / b).collect(),
            block_map: (0..n).filter(|&d| block[d] != 1).collect(),
            dense_stride,
        }
    }

    /// Dense offsets of a block's elements relative to its first element, in the order
    /// of the block levels (block dims in `block_map` order, row-major among them).
    fn block_offsets(&self) -> Vec<usize> {
        let mut offsets = vec![0usize];
        for &d in &self.block_map {
            offsets = offsets
                .iter()
                .flat_map(|&o| (0..self.block[d]).map(move |c| o + c * self.dense_stride[d]))
                .collect();
        }
        offsets
    }
}

/// The dim and dense offset of the first nonzero element lying in a partial trailing
/// block (coordinate ≥ ⌊dim / block⌋·block along some blocked dim), which a blocked
/// encoding could not hold.
fn first_nonzero_in_partial_block(
    dense: &TensorBuf,
    shape: &[usize],
    block: &[usize],
) -> Option<(usize, usize)> {
    macro_rules! typed {
        ($v:expr) => {
            first_nonzero_outside_blocks($v, shape, block)
        };
    }
    match dense {
        TensorBuf::F32(v) => typed!(v),
        TensorBuf::F16(v) => typed!(v),
        TensorBuf::I8(v) => typed!(v),
        TensorBuf::U8(v) => typed!(v),
        TensorBuf::I16(v) => typed!(v),
        TensorBuf::I32(v) => typed!(v),
        TensorBuf::I64(v) => typed!(v),
        TensorBuf::Bool(v) => typed!(v),
    }
}

fn first_nonzero_outside_blocks<T: Copy + PartialEq + Default>(
    dense: &[T],
    shape: &[usize],
    block: &[usize],
) -> Option<(usize, usize)> {
    let covered: Vec<usize> = shape.iter().zip(block).map(|(&s, &b)| s / b * b).collect();
    if covered.as_slice() == shape {
        return None;
    }
    let mut coord = vec![0usize; shape.len()];
    for (offset, x) in dense.iter().enumerate() {
        // Row-major odometer over the dense shape, in step with `offset`.
        if offset > 0 {
            for d in (0..shape.len()).rev() {
                coord[d] += 1;
                if coord[d] < shape[d] {
                    break;
                }
                coord[d] = 0;
            }
        }
        if *x != T::default() {
            if let Some(dim) = (0..shape.len()).find(|&d| coord[d] >= covered[d]) {
                return Some((dim, offset));
            }
        }
    }
    None
}

/// `(segments, indices, kept values)` of TensorFlow's encoding.
type Encoded<T> = (Vec<usize>, Vec<usize>, Vec<T>);

fn map_encode(dense: &TensorBuf, g: &BlockGeometry) -> (Vec<usize>, Vec<usize>, TensorBuf) {
    macro_rules! typed {
        ($variant:ident, $v:expr) => {{
            let (segments, indices, kept) = encode_typed($v, g);
            (segments, indices, TensorBuf::$variant(kept))
        }};
    }
    match dense {
        TensorBuf::F32(v) => typed!(F32, v),
        TensorBuf::F16(v) => typed!(F16, v),
        TensorBuf::I8(v) => typed!(I8, v),
        TensorBuf::U8(v) => typed!(U8, v),
        TensorBuf::I16(v) => typed!(I16, v),
        TensorBuf::I32(v) => typed!(I32, v),
        TensorBuf::I64(v) => typed!(I64, v),
        TensorBuf::Bool(v) => typed!(Bool, v),
    }
}

/// Zero is `T::default()`, compared with `==`, as TensorFlow's `IsZero` does (so -0.0
/// counts as zero and NaN does not).
fn encode_typed<T: Copy + PartialEq + Default>(dense: &[T], g: &BlockGeometry) -> Encoded<T> {
    let n = g.blocked.len();
    let offsets = g.block_offsets();
    let last = n - 1;
    let outer_count: usize = g.blocked[..last].iter().product();
    let mut segments = Vec::with_capacity(outer_count + 1);
    segments.push(0usize);
    let mut indices = Vec::new();
    let mut kept = Vec::new();
    // Blocked coordinates of the outer dims, as an odometer.
    let mut coord = vec![0usize; last];
    for _ in 0..outer_count {
        let row_base: usize = coord
            .iter()
            .enumerate()
            .map(|(d, &c)| c * g.block[d] * g.dense_stride[d])
            .sum();
        for j in 0..g.blocked[last] {
            let base = row_base + j * g.block[last] * g.dense_stride[last];
            let elems = offsets
                .iter()
                .map(|&o| dense.get(base + o).copied().unwrap_or_default());
            if elems.clone().any(|x| x != T::default()) {
                indices.push(j);
                kept.extend(elems);
            }
        }
        segments.push(indices.len());
        for d in (0..last).rev() {
            coord[d] += 1;
            if coord[d] < g.blocked[d] {
                break;
            }
            coord[d] = 0;
        }
    }
    (segments, indices, kept)
}
