//! Int8 FULLY_CONNECTED over 1×16 blocks of weights (see `sparse_fc` for the encoding
//! and the arithmetic LiteRT uses).
//!
//! acc = Σ w·x + in_off·Σ w + bias per unit, in wrapping int32: the middle term is taken
//! once per row at prepare, so the inner loop is a plain integer dot product. Integer
//! sums do not depend on the order of their terms, so the vector path (which adds
//! pairs of products in a different order) gives the bits of the portable one.

use super::sparse_fc::{BlockRows, Int8Requant};
use super::Kernel;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::kbail;

pub(super) struct SparseFcI8 {
    batches: usize,
    weights: BlockRows<i8, 16>,
    /// Σ of each row's stored weights, to fold the input offset out of the inner loop.
    row_sums: Vec<i32>,
    requant: Int8Requant,
    /// The CPU has AVX2 (seen at prepare).
    avx2: bool,
}

impl SparseFcI8 {
    pub(super) fn new(
        batches: usize,
        weights: BlockRows<i8, 16>,
        requant: Int8Requant,
        avx2: bool,
    ) -> SparseFcI8 {
        let row_sums = (0..weights.rows())
            .map(|r| {
                weights
                    .row(r)
                    .1
                    .iter()
                    .fold(0i32, |s, &w| s.wrapping_add(i32::from(w)))
            })
            .collect();
        SparseFcI8 {
            batches,
            weights,
            row_sums,
            requant,
            avx2,
        }
    }

    fn depth(&self) -> usize {
        self.weights.depth
    }

    fn units(&self) -> usize {
        self.weights.rows()
    }

    /// The output of unit `u` from its Σ w·x: Σ w·(x + offset) = Σ w·x + offset·Σ w,
    /// exactly, in wrapping int32.
    #[inline(always)]
    fn finish(&self, dot: i32, u: usize, bias: Option<&[i32]>) -> i8 {
        let acc = dot
            .wrapping_add(self.requant.input_offset.wrapping_mul(self.row_sums[u]))
            .wrapping_add(bias.map_or(0, |b| b[u]));
        self.requant.output(acc, u)
    }

    /// One batch row at a time; what the vector path is tested against.
    fn run_portable(&self, input: &[i8], bias: Option<&[i32]>, out: &mut [i8]) {
        for (x, y) in input
            .chunks_exact(self.depth())
            .zip(out.chunks_exact_mut(self.units()))
        {
            for (u, o) in y.iter_mut().enumerate() {
                let (columns, values) = self.weights.row(u);
                *o = self.finish(row_dot_block16(columns, values, x), u, bias);
            }
        }
    }
}

/// Σ w·x over one row's 1×16 blocks, in wrapping int32.
#[inline]
fn row_dot_block16(columns: &[u32], values: &[i8], x: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    for (&c, w) in columns.iter().zip(values.chunks_exact(16)) {
        let c = c as usize;
        if let Some(xs) = x.get(c..c + 16) {
            for j in 0..16 {
                acc[j] = acc[j].wrapping_add(i32::from(i16::from(w[j]) * i16::from(xs[j])));
            }
        }
    }
    acc.iter().fold(0i32, |s, &a| s.wrapping_add(a))
}

impl Kernel for SparseFcI8 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = match inputs.first() {
            Some(v) => v.i8()?,
            None => kbail!("input 0 is missing"),
        };
        let bias = match inputs.get(2) {
            None | Some(View::Absent) => None,
            Some(v) => Some(v.i32()?),
        };
        let out = match outputs.first_mut() {
            Some(v) => v.i8()?,
            None => kbail!("output 0 is missing"),
        };
        if input.len() != self.batches * self.depth()
            || out.len() != self.batches * self.units()
            || bias.is_some_and(|b| b.len() != self.units())
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        // Depth is positive (`fc_geometry`); with no units there is nothing to compute,
        // and the row loops below need both positive.
        if self.units() == 0 {
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { avx2::run(self, input, bias, out) };
            return Ok(());
        }
        self.run_portable(input, bias, out);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BlockRows, SparseFcI8};
    use std::arch::x86_64::*;

    /// Batch rows that share each load and widening of a weight block: four
    /// accumulators plus the block and one input fit the 16 vector registers with room
    /// to spare, and each block then feeds four independent multiply-adds.
    const ROWS: usize = 4;

    /// `input` and `out` hold whole batch rows (checked by `run`); depth and units are
    /// positive (checked by `run`).
    #[target_feature(enable = "avx2")]
    pub(super) fn run(k: &SparseFcI8, input: &[i8], bias: Option<&[i32]>, out: &mut [i8]) {
        let (depth, units) = (k.depth(), k.units());
        let mut groups = input.chunks_exact(ROWS * depth);
        let mut outs = out.chunks_exact_mut(ROWS * units);
        for (x, y) in (&mut groups).zip(&mut outs) {
            let rows: [&[i8]; ROWS] = std::array::from_fn(|r| &x[r * depth..(r + 1) * depth]);
            for u in 0..units {
                let dots = dot_rows(&k.weights, u, rows);
                for (r, &dot) in dots.iter().enumerate() {
                    y[r * units + u] = k.finish(dot, u, bias);
                }
            }
        }
        for (x, y) in groups
            .remainder()
            .chunks_exact(depth)
            .zip(outs.into_remainder().chunks_exact_mut(units))
        {
            for (u, o) in y.iter_mut().enumerate() {
                let [dot] = dot_rows(&k.weights, u, [x]);
                *o = k.finish(dot, u, bias);
            }
        }
    }

    /// Σ w·x of row `u` of the weights with each of `rows` (each `depth` long). Each
    /// block is widened to 16 i16 once; `vpmaddwd` then multiplies it with 16 widened
    /// inputs and adds neighbouring products into 8 i32 lanes (|w·x| ≤ 2^14, so a pair
    /// sum cannot overflow).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn dot_rows<const R: usize>(w: &BlockRows<i8, 16>, u: usize, rows: [&[i8]; R]) -> [i32; R] {
        debug_assert!(rows.iter().all(|r| r.len() == w.depth));
        let (columns, values) = w.row(u);
        let mut acc = [_mm256_setzero_si256(); R];
        for (&c, block) in columns.iter().zip(values.chunks_exact(16)) {
            // SAFETY: `block` is 16 bytes long.
            let wv = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(block.as_ptr().cast()) });
            for r in 0..R {
                // SAFETY: BlockRows keeps c + 16 <= depth, and each row is depth long.
                let xs = unsafe { rows[r].as_ptr().add(c as usize) };
                let xv = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(xs.cast()) });
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(wv, xv));
            }
        }
        let mut dots = [0i32; R];
        for r in 0..R {
            dots[r] = horizontal_sum(acc[r]);
        }
        dots
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn horizontal_sum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }
}
