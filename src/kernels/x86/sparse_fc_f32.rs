//! The AVX2 + FMA path of the float sparse FULLY_CONNECTED (see
//! `kernels::reference::sparse_fc_f32`).
//!
//! Every input load below relies on the [`BlockRows`] promise `column + B <= depth` and
//! on `run` having checked that `input` holds whole rows of `depth` values.

use crate::kernels::reference::sparse_fc::BlockRows;
use crate::kernels::reference::sparse_fc_f32::{Regrouped, SparseFcF32};
use std::arch::x86_64::*;

/// Batch rows that share each load of a block of weights: two accumulators per row
/// plus the weights and one input fit the 16 vector registers.
const ROWS: usize = 4;
/// Batch rows per transposed group: one vector of inputs per column.
const LANES: usize = 8;

// ---------------------------------------------------------------------------------------
// 1×4 blocks (regrouped)

#[target_feature(enable = "avx2,fma")]
pub(crate) fn run_blocks(
    k: &SparseFcF32,
    g: &Regrouped,
    input: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (depth, units) = (k.depth(), k.units());
    let mut groups = input.chunks_exact(ROWS * depth);
    let mut outs = out.chunks_exact_mut(ROWS * units);
    for (x, y) in (&mut groups).zip(&mut outs) {
        let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &x[r * depth..(r + 1) * depth]);
        for u in 0..units {
            let totals = blocks_dot_rows(g, u, rows);
            for (r, &t) in totals.iter().enumerate() {
                y[r * units + u] = k.finish(t, u, bias);
            }
        }
    }
    for (x, y) in groups
        .remainder()
        .chunks_exact(depth)
        .zip(outs.into_remainder().chunks_exact_mut(units))
    {
        for (u, o) in y.iter_mut().enumerate() {
            *o = k.finish(blocks_dot(g, u, x), u, bias);
        }
    }
}

/// Row `u` of the weights with one batch row. One row gives no independent work across
/// rows, so four accumulators (two 16-wide blocks per step) keep the multiply-add
/// latency hidden.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn blocks_dot(g: &Regrouped, u: usize, x: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), g.wide.depth);
    let xp = x.as_ptr();
    let mut acc = [_mm256_setzero_ps(); 4];
    let (columns, values) = g.wide.row(u);
    let mut pairs_c = columns.chunks_exact(2);
    let mut pairs_v = values.chunks_exact(32);
    for (c, v) in (&mut pairs_c).zip(&mut pairs_v) {
        let (w, x0, x1) = (v.as_ptr(), c[0] as usize, c[1] as usize);
        // SAFETY: `v` holds 32 values; c + 16 <= depth (BlockRows).
        unsafe {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w), _mm256_loadu_ps(xp.add(x0)), acc[0]);
            acc[1] = _mm256_fmadd_ps(
                _mm256_loadu_ps(w.add(8)),
                _mm256_loadu_ps(xp.add(x0 + 8)),
                acc[1],
            );
            acc[2] = _mm256_fmadd_ps(
                _mm256_loadu_ps(w.add(16)),
                _mm256_loadu_ps(xp.add(x1)),
                acc[2],
            );
            acc[3] = _mm256_fmadd_ps(
                _mm256_loadu_ps(w.add(24)),
                _mm256_loadu_ps(xp.add(x1 + 8)),
                acc[3],
            );
        }
    }
    for (&c, v) in pairs_c
        .remainder()
        .iter()
        .zip(pairs_v.remainder().chunks_exact(16))
    {
        let (w, c) = (v.as_ptr(), c as usize);
        // SAFETY: `v` holds 16 values; c + 16 <= depth (BlockRows).
        unsafe {
            acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w), _mm256_loadu_ps(xp.add(c)), acc[0]);
            acc[1] = _mm256_fmadd_ps(
                _mm256_loadu_ps(w.add(8)),
                _mm256_loadu_ps(xp.add(c + 8)),
                acc[1],
            );
        }
    }
    let (columns, values) = g.narrow.row(u);
    let mut quads_c = columns.chunks_exact(4);
    let mut quads_v = values.chunks_exact(16);
    for (c, v) in (&mut quads_c).zip(&mut quads_v) {
        let w = v.as_ptr();
        // SAFETY: `v` holds 16 values; each c + 4 <= depth (BlockRows).
        unsafe {
            let xa = two_slices(xp, c[0], c[1]);
            let xb = two_slices(xp, c[2], c[3]);
            acc[2] = _mm256_fmadd_ps(_mm256_loadu_ps(w), xa, acc[2]);
            acc[3] = _mm256_fmadd_ps(_mm256_loadu_ps(w.add(8)), xb, acc[3]);
        }
    }
    let mut tail = _mm_setzero_ps();
    for (c, v) in quads_c
        .remainder()
        .iter()
        .zip(quads_v.remainder().chunks_exact(4))
    {
        // SAFETY: `v` holds 4 values; c + 4 <= depth (BlockRows).
        unsafe {
            tail = _mm_fmadd_ps(
                _mm_loadu_ps(v.as_ptr()),
                _mm_loadu_ps(xp.add(*c as usize)),
                tail,
            );
        }
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    horizontal_sum(sum) + horizontal_sum_128(tail)
}

/// Row `u` of the weights with [`ROWS`] batch rows; each load of weights feeds one
/// multiply-add per row.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn blocks_dot_rows(g: &Regrouped, u: usize, rows: [&[f32]; ROWS]) -> [f32; ROWS] {
    debug_assert!(rows.iter().all(|r| r.len() == g.wide.depth));
    let xp = rows.map(|r| r.as_ptr());
    let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
    let (columns, values) = g.wide.row(u);
    for (&c, v) in columns.iter().zip(values.chunks_exact(16)) {
        let c = c as usize;
        // SAFETY: `v` holds 16 values; c + 16 <= depth (BlockRows).
        unsafe {
            let w0 = _mm256_loadu_ps(v.as_ptr());
            let w1 = _mm256_loadu_ps(v.as_ptr().add(8));
            for r in 0..ROWS {
                acc[r][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xp[r].add(c)), acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xp[r].add(c + 8)), acc[r][1]);
            }
        }
    }
    let (columns, values) = g.narrow.row(u);
    let mut quads_c = columns.chunks_exact(4);
    let mut quads_v = values.chunks_exact(16);
    for (c, v) in (&mut quads_c).zip(&mut quads_v) {
        // SAFETY: `v` holds 16 values; each c + 4 <= depth (BlockRows).
        unsafe {
            let wa = _mm256_loadu_ps(v.as_ptr());
            let wb = _mm256_loadu_ps(v.as_ptr().add(8));
            for r in 0..ROWS {
                acc[r][0] = _mm256_fmadd_ps(wa, two_slices(xp[r], c[0], c[1]), acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(wb, two_slices(xp[r], c[2], c[3]), acc[r][1]);
            }
        }
    }
    let mut tail = [_mm_setzero_ps(); ROWS];
    for (c, v) in quads_c
        .remainder()
        .iter()
        .zip(quads_v.remainder().chunks_exact(4))
    {
        // SAFETY: `v` holds 4 values; c + 4 <= depth (BlockRows).
        unsafe {
            let w = _mm_loadu_ps(v.as_ptr());
            for r in 0..ROWS {
                tail[r] = _mm_fmadd_ps(w, _mm_loadu_ps(xp[r].add(*c as usize)), tail[r]);
            }
        }
    }
    let mut totals = [0.0f32; ROWS];
    for r in 0..ROWS {
        totals[r] =
            horizontal_sum(_mm256_add_ps(acc[r][0], acc[r][1])) + horizontal_sum_128(tail[r]);
    }
    totals
}

/// The four inputs at `a` and the four at `b`, as one vector.
///
/// # Safety
/// `x.add(a)` and `x.add(b)` must each start 4 readable floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn two_slices(x: *const f32, a: u32, b: u32) -> __m256 {
    // SAFETY: the caller's promise.
    unsafe {
        _mm256_set_m128(
            _mm_loadu_ps(x.add(b as usize)),
            _mm_loadu_ps(x.add(a as usize)),
        )
    }
}

// ---------------------------------------------------------------------------------------
// Random sparse

#[target_feature(enable = "avx2,fma")]
pub(crate) fn run_random(
    k: &SparseFcF32,
    w: &BlockRows<f32, 1>,
    input: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let (depth, units) = (k.depth(), k.units());
    if k.batches == 1 {
        for (u, o) in out.iter_mut().enumerate().take(units) {
            *o = k.finish(scalar_dot(w, u, input), u, bias);
        }
        return;
    }
    // [depth][LANES]: the group's inputs at column d are at d*LANES..(d+1)*LANES; rows
    // past the end of the batch stay zero.
    let mut transposed = vec![0.0f32; depth * LANES];
    let mut lanes = [0.0f32; LANES];
    for (x, y) in input
        .chunks(LANES * depth)
        .zip(out.chunks_mut(LANES * units))
    {
        let rows = x.len() / depth;
        transpose(x, rows, depth, &mut transposed);
        let t = transposed.as_ptr();
        for u in 0..units {
            let (columns, values) = w.row(u);
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut quads_c = columns.chunks_exact(4);
            let mut quads_v = values.chunks_exact(4);
            for (c, v) in (&mut quads_c).zip(&mut quads_v) {
                for j in 0..4 {
                    // SAFETY: c < depth (BlockRows), and `transposed` has depth·LANES
                    // values.
                    let xs = unsafe { _mm256_loadu_ps(t.add(c[j] as usize * LANES)) };
                    acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(v[j]), xs, acc[j]);
                }
            }
            for (&c, &v) in quads_c.remainder().iter().zip(quads_v.remainder()) {
                // SAFETY: as above.
                let xs = unsafe { _mm256_loadu_ps(t.add(c as usize * LANES)) };
                acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(v), xs, acc[0]);
            }
            let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            // SAFETY: `lanes` holds LANES = 8 floats.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), sum) };
            for (r, &total) in lanes.iter().enumerate().take(rows) {
                y[r * units + u] = k.finish(total, u, bias);
            }
        }
    }
}

/// Σ w·x over row `u` of random sparse weights with one batch row: scalar fused
/// multiply-adds into eight partial sums, without bounds checks. A version with
/// `vgatherdps` (eight inputs per instruction) was slower on the AMD EPYC this was
/// measured on: 0.5–0.8× the dense kernel's speed against 0.5–0.9× for this one.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn scalar_dot(w: &BlockRows<f32, 1>, u: usize, x: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), w.depth);
    let (columns, values) = w.row(u);
    let xp = x.as_ptr();
    let mut acc = [0.0f32; 8];
    let mut chunks_c = columns.chunks_exact(8);
    let mut chunks_v = values.chunks_exact(8);
    for (c, v) in (&mut chunks_c).zip(&mut chunks_v) {
        for j in 0..8 {
            // SAFETY: c < depth (BlockRows), and `x` is depth long.
            acc[j] = v[j].mul_add(unsafe { *xp.add(c[j] as usize) }, acc[j]);
        }
    }
    for (&c, &v) in chunks_c.remainder().iter().zip(chunks_v.remainder()) {
        // SAFETY: as above.
        acc[0] = v.mul_add(unsafe { *xp.add(c as usize) }, acc[0]);
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// Writes rows `0..rows` (at most LANES) of `x` (rows of `depth`) into `t` as
/// [depth][LANES], zero in the lanes of missing rows.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose(x: &[f32], rows: usize, depth: usize, t: &mut [f32]) {
    debug_assert!(rows <= LANES && x.len() == rows * depth && t.len() == depth * LANES);
    let mut d = 0;
    if rows == LANES {
        while d + 8 <= depth {
            // SAFETY: rows r < 8 of depth values each, columns d..d+8 < depth; the
            // stores write t[(d + j)·8 ..][..8] for j < 8, inside depth·8.
            unsafe {
                let mut r = [_mm256_setzero_ps(); 8];
                for (i, row) in r.iter_mut().enumerate() {
                    *row = _mm256_loadu_ps(x.as_ptr().add(i * depth + d));
                }
                for (j, column) in transpose8(r).into_iter().enumerate() {
                    _mm256_storeu_ps(t.as_mut_ptr().add((d + j) * LANES), column);
                }
            }
            d += 8;
        }
    }
    for d in d..depth {
        for r in 0..LANES {
            t[d * LANES + r] = if r < rows { x[r * depth + d] } else { 0.0 };
        }
    }
}

/// The 8×8 transpose of `r` (r[i] is row i; the result's j is column j).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped.
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum(v: __m256) -> f32 {
    horizontal_sum_128(_mm_add_ps(
        _mm256_castps256_ps128(v),
        _mm256_extractf128_ps::<1>(v),
    ))
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn horizontal_sum_128(v: __m128) -> f32 {
    let s = _mm_add_ps(v, _mm_movehl_ps(v, v));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}
