//! The AVX2 path of the int8 sparse FULLY_CONNECTED over 1×16 blocks (see
//! `kernels::reference::sparse_fc_i8`): integer sums, so any order gives the same bits.

use crate::kernels::reference::sparse_fc::BlockRows;
use crate::kernels::reference::sparse_fc_i8::SparseFcI8;
use std::arch::x86_64::*;

/// Batch rows that share each load and widening of a weight block: four
/// accumulators plus the block and one input fit the 16 vector registers with room
/// to spare, and each block then feeds four independent multiply-adds.
const ROWS: usize = 4;

/// `input` and `out` hold whole batch rows (checked by `run`); depth and units are
/// positive (checked by `run`).
#[target_feature(enable = "avx2")]
pub(crate) fn run(k: &SparseFcI8, input: &[i8], bias: Option<&[i32]>, out: &mut [i8]) {
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
