//! The stored form of sparse FULLY_CONNECTED weights and the int8 requantization of
//! their kernels. Decoding TensorFlow's encoding into [`BlockRows`] is graph-side work
//! (`ops::exec::sparse_fc`); everything here works on plain arrays.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;

/// Rows of kept blocks: row `r` owns entries `row_start[r]..row_start[r + 1]`; entry `e`
/// starts at input column `column[e]` and has `B` values at `values[e*B..(e+1)*B]`.
///
/// Every constructor keeps `column[e] + B <= depth`, `row_start` nondecreasing from 0 to
/// `column.len()`, and `values.len() == B * column.len()`; the vector kernels load
/// inputs without bounds checks on that promise, which is why the fields are not public.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockRows<T, const B: usize> {
    pub(in crate::kernels) depth: usize,
    pub(in crate::kernels) row_start: Vec<usize>,
    pub(in crate::kernels) column: Vec<u32>,
    pub(in crate::kernels) values: Vec<T>,
}

impl<T: Copy + Default + PartialEq, const B: usize> BlockRows<T, B> {
    pub(crate) fn rows(&self) -> usize {
        self.row_start.len().saturating_sub(1)
    }

    /// The entries of row `r`: their first columns and their values.
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> (&[u32], &[T]) {
        let (s, e) = (self.row_start[r], self.row_start[r + 1]);
        (&self.column[s..e], &self.values[s * B..e * B])
    }

    /// An empty matrix of `depth` columns, to be filled row by row with `push_block`
    /// (each `column + B <= depth`) and `end_row`.
    pub(crate) fn empty(depth: usize) -> Self {
        BlockRows {
            depth,
            row_start: vec![0],
            column: Vec::new(),
            values: Vec::new(),
        }
    }

    pub(crate) fn end_row(&mut self) {
        self.row_start.push(self.column.len());
    }

    /// Keeps the nonzero blocks of a dense row-major [units, depth] matrix (the fallback
    /// for encodings other than TensorFlow's, and a reference in tests).
    pub fn from_dense(dense: &[T], units: usize, depth: usize) -> Result<Self, KernelError> {
        if B == 0 || dense.len() != units * depth || depth > u32::MAX as usize {
            kbail!("dense weights do not have the shape [{units}, {depth}]");
        }
        let mut rows = Self::empty(depth);
        for row in dense.chunks_exact(depth.max(1)).take(units) {
            for (b, block) in row.chunks_exact(B).enumerate() {
                rows.push_block(b * B, block);
            }
            rows.end_row();
        }
        // `chunks_exact` yields no rows when depth is 0.
        while rows.rows() < units {
            rows.end_row();
        }
        Ok(rows)
    }

    /// Keeps the block unless all its values are zero.
    pub(crate) fn push_block(&mut self, column: usize, block: &[T]) {
        debug_assert!(column + B <= self.depth && block.len() == B);
        if block.iter().any(|v| *v != T::default()) {
            self.column.push(column as u32);
            self.values.extend_from_slice(block);
        }
    }

    /// The dense [units, depth] matrix (for tests).
    pub fn to_dense(&self, depth: usize) -> Vec<T> {
        let mut dense = vec![T::default(); self.rows() * depth];
        for r in 0..self.rows() {
            for e in self.row_start[r]..self.row_start[r + 1] {
                let c = self.column[e] as usize;
                dense[r * depth + c..r * depth + c + B]
                    .copy_from_slice(&self.values[e * B..(e + 1) * B]);
            }
        }
        dense
    }
}

/// Requantization of the int8 sparse FC: one (multiplier, shift) per unit.
pub struct Int8Requant {
    pub input_offset: i32,
    pub output_offset: i32,
    pub multipliers: Vec<(i32, i32)>,
    pub range: (i32, i32),
}

impl Int8Requant {
    /// `acc` (Σ w·(x − in_zp) + bias) to an output byte, as the 1×16 kernel does it.
    #[inline]
    pub fn output(&self, acc: i32, unit: usize) -> i8 {
        let (m, s) = self.multipliers.get(unit).copied().unwrap_or((0, 0));
        let v = multiply_by_quantized_multiplier(acc, m, s).wrapping_add(self.output_offset);
        v.clamp(self.range.0, self.range.1) as i8
    }
}
