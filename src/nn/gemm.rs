//! Safe, deterministic wrappers around `matrixmultiply::sgemm`.
//!
//! Work is split across rayon tasks in blocks chosen from the matrix sizes alone, never
//! from the thread count, and partial sums are added in block order: the same shapes
//! give the same bits however many threads run them.

use rayon::prelude::*;

/// A strided read-only matrix operand: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }

    fn covers(&self, rows: usize, cols: usize) -> bool {
        if rows == 0 || cols == 0 {
            return true;
        }
        let last = (rows - 1).checked_mul(self.rs).and_then(|r| {
            (cols - 1)
                .checked_mul(self.cs)
                .and_then(|c| r.checked_add(c))
        });
        matches!(last, Some(l) if l < self.data.len())
    }

    /// The operand starting at row `row` (same strides).
    fn at_row(self, row: usize) -> Mat<'a> {
        Mat {
            data: self.data.get(row * self.rs..).unwrap_or_default(),
            ..self
        }
    }

    /// The operand starting at column `col` (same strides).
    fn at_col(self, col: usize) -> Mat<'a> {
        Mat {
            data: self.data.get(col * self.cs..).unwrap_or_default(),
            ..self
        }
    }
}

/// `c = a·b + beta·c` for an m×k `a`, k×n `b` and row-major m×n `c`, single-threaded.
pub(crate) fn gemm(m: usize, k: usize, n: usize, a: Mat, b: Mat, c: &mut [f32], beta: f32) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= m * n, "gemm: output too small");
    if k == 0 {
        c[..m * n].iter_mut().for_each(|v| *v *= beta);
        return;
    }
    assert!(a.covers(m, k) && b.covers(k, n), "gemm: operand too small");
    // SAFETY: the asserts above check that every element the strides address lies
    // inside the slices; c is exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Below this many multiply-adds a single call beats spawning tasks.
const PAR_MIN_WORK: usize = 1 << 16;
/// Most blocks a product is split into.
const MAX_BLOCKS: usize = 8;

/// `c = a·b` (c overwritten), split across rayon tasks: by rows of `c` when there are
/// enough, otherwise along `k` with partial products summed in block order.
pub(crate) fn par_gemm(m: usize, k: usize, n: usize, a: Mat, b: Mat, c: &mut [f32]) {
    let work = m.saturating_mul(k).saturating_mul(n);
    if work < PAR_MIN_WORK || m == 0 || n == 0 || k == 0 {
        gemm(m, k, n, a, b, c, 0.0);
        return;
    }
    if m >= 32 {
        let block = m.div_ceil(MAX_BLOCKS).max(16);
        c[..m * n]
            .par_chunks_mut(block * n)
            .enumerate()
            .for_each(|(i, c_block)| {
                let rows = c_block.len() / n;
                gemm(rows, k, n, a.at_row(i * block), b, c_block, 0.0);
            });
        return;
    }
    let block = k.div_ceil(MAX_BLOCKS).max(64);
    let blocks = k.div_ceil(block);
    let partials: Vec<Vec<f32>> = (0..blocks)
        .into_par_iter()
        .map(|i| {
            let start = i * block;
            let len = block.min(k - start);
            let mut part = vec![0.0f32; m * n];
            gemm(m, len, n, a.at_col(start), b.at_row(start), &mut part, 0.0);
            part
        })
        .collect();
    let out = &mut c[..m * n];
    out.fill(0.0);
    for part in &partials {
        out.iter_mut().zip(part).for_each(|(o, p)| *o += p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
        let mut c = vec![0.0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] += f64::from(a[i * k + p]) * f64::from(b[p * n + j]);
                }
            }
        }
        c
    }

    #[test]
    fn par_gemm_matches_naive_for_row_and_k_splits() {
        for &(m, k, n) in &[(3, 5, 4), (100, 70, 30), (9, 20000, 12), (1, 1, 1)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..k * n)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 5.0)
                .collect();
            let mut c = vec![f32::NAN; m * n];
            par_gemm(m, k, n, Mat::rows(&a, k), Mat::rows(&b, n), &mut c);
            let want = naive(m, k, n, &a, &b);
            for (got, want) in c.iter().zip(&want) {
                assert!(
                    (f64::from(*got) - want).abs() < 1e-3 * (1.0 + want.abs()),
                    "{m}x{k}x{n}"
                );
            }
        }
    }

    #[test]
    fn transposed_operand() {
        // a is stored as its transpose (k×m row-major).
        let (m, k, n) = (2, 3, 2);
        let at = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // rows of at: [1,2],[3,4],[5,6]
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [0.0; 4];
        gemm(
            m,
            k,
            n,
            Mat::transposed(&at, m),
            Mat::rows(&b, n),
            &mut c,
            0.0,
        );
        // a = [[1,3,5],[2,4,6]]
        assert_eq!(c, [6.0, 8.0, 8.0, 10.0]);
    }
}
