//! BATCH_MATMUL as a plain loop: each output element is `Σ_k a[i, k] · b[k, j]` with k
//! ascending, the order LiteRT's reference accumulates in (so float sums round the same
//! way); 8-bit products are of zero-point-corrected values summed in wrapping int32,
//! then requantized as LiteRT does.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;

/// Shapes resolved at prepare: per output matrix, the element offsets of its left and
/// right operands (batch dimensions already broadcast).
#[derive(Clone, Debug)]
pub struct MatmulGeometry {
    pub batches: Vec<(usize, usize)>,
    pub rows: usize,
    pub cols: usize,
    pub depth: usize,
    /// The left operand is stored [depth, rows] (transposed).
    pub adj_x: bool,
    /// The right operand is stored [cols, depth] (transposed).
    pub adj_y: bool,
    pub lhs_len: usize,
    pub rhs_len: usize,
}

impl MatmulGeometry {
    fn check(&self, lhs: usize, rhs: usize, out: usize) -> Result<(), KernelError> {
        let inside = self
            .batches
            .iter()
            .all(|&(a, b)| a + self.lhs_matrix() <= lhs && b + self.rhs_matrix() <= rhs);
        if lhs != self.lhs_len
            || rhs != self.rhs_len
            || out != self.batches.len() * self.rows * self.cols
            || !inside
        {
            kbail!("BATCH_MATMUL buffers do not match the planned shapes");
        }
        Ok(())
    }

    fn lhs_matrix(&self) -> usize {
        self.rows * self.depth
    }

    fn rhs_matrix(&self) -> usize {
        self.depth * self.cols
    }

    #[inline(always)]
    fn lhs_at(&self, i: usize, k: usize) -> usize {
        if self.adj_x {
            k * self.rows + i
        } else {
            i * self.depth + k
        }
    }

    #[inline(always)]
    fn rhs_at(&self, k: usize, j: usize) -> usize {
        if self.adj_y {
            j * self.depth + k
        } else {
            k * self.cols + j
        }
    }

    /// Calls `cell(lhs offset of row i, rhs offset of column j, output slot)` for every
    /// output element, in output order.
    fn for_each<T>(&self, out: &mut [T], mut cell: impl FnMut(usize, usize, &mut T)) {
        let per = self.rows * self.cols;
        if per == 0 {
            return;
        }
        for (&(a, b), block) in self.batches.iter().zip(out.chunks_exact_mut(per)) {
            for i in 0..self.rows {
                for j in 0..self.cols {
                    cell(
                        a + self.lhs_at(i, 0),
                        b + self.rhs_at(0, j),
                        &mut block[i * self.cols + j],
                    );
                }
            }
        }
    }

    /// Steps between consecutive k of a row of the left operand and a column of the right.
    fn k_steps(&self) -> (usize, usize) {
        (
            if self.adj_x { self.rows } else { 1 },
            if self.adj_y { 1 } else { self.cols },
        )
    }
}

pub fn batch_matmul_f32(
    g: &MatmulGeometry,
    lhs: &[f32],
    rhs: &[f32],
    out: &mut [f32],
) -> Result<(), KernelError> {
    g.check(lhs.len(), rhs.len(), out.len())?;
    let (sa, sb) = g.k_steps();
    g.for_each(out, |a, b, y| {
        let mut total = 0.0f32;
        for k in 0..g.depth {
            total += lhs[a + k * sa] * rhs[b + k * sb];
        }
        *y = total;
    });
    Ok(())
}

/// Requantization of an 8-bit BATCH_MATMUL (no fused activation: the type's range).
#[derive(Clone, Debug)]
pub struct MatmulRequant {
    pub lhs_zero_point: i32,
    pub rhs_zero_point: i32,
    pub multiplier: i32,
    pub shift: i32,
    pub output_zero_point: i32,
}

pub fn batch_matmul_i8(
    g: &MatmulGeometry,
    q: &MatmulRequant,
    lhs: &[i8],
    rhs: &[i8],
    out: &mut [i8],
) -> Result<(), KernelError> {
    g.check(lhs.len(), rhs.len(), out.len())?;
    let (sa, sb) = g.k_steps();
    g.for_each(out, |a, b, y| {
        let mut total = 0i32;
        for k in 0..g.depth {
            let x = i32::from(lhs[a + k * sa]) - q.lhs_zero_point;
            let w = i32::from(rhs[b + k * sb]) - q.rhs_zero_point;
            total = total.wrapping_add(x * w);
        }
        let v = multiply_by_quantized_multiplier(total, q.multiplier, q.shift)
            .wrapping_add(q.output_zero_point);
        *y = v.clamp(-128, 127) as i8;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(adj_x: bool, adj_y: bool) -> MatmulGeometry {
        MatmulGeometry {
            batches: vec![(0, 0), (6, 0)],
            rows: 2,
            cols: 2,
            depth: 3,
            adj_x,
            adj_y,
            lhs_len: 12,
            rhs_len: 6,
        }
    }

    #[test]
    fn plain_and_adjoint_operands_broadcast_the_right_one() {
        // A0 = [[1,2,3],[4,5,6]], A1 = [[1,0,0],[0,1,0]];
        // B = [[1,2],[3,4],[5,6]] shared by both batches.
        // A0·B = [[22, 28], [49, 64]]; A1·B = [[1, 2], [3, 4]].
        let a = [1., 2., 3., 4., 5., 6., 1., 0., 0., 0., 1., 0.];
        let b = [1., 2., 3., 4., 5., 6.];
        let want = [22., 28., 49., 64., 1., 2., 3., 4.];
        let mut out = [0.0f32; 8];
        batch_matmul_f32(&g(false, false), &a, &b, &mut out).unwrap();
        assert_eq!(out, want);
        // The same product with both operands stored transposed.
        let at = [1., 4., 2., 5., 3., 6., 1., 0., 0., 1., 0., 0.];
        let bt = [1., 3., 5., 2., 4., 6.];
        batch_matmul_f32(&g(true, true), &at, &bt, &mut out).unwrap();
        assert_eq!(out, want);
    }

    #[test]
    fn int8_subtracts_zero_points_and_requantizes() {
        // Zero points 1 (lhs) and -1 (rhs): stored a+1 and b-1 give back A0·B above;
        // multiplier 2^30 with shift -1 is ×0.25 in two roundings (SRDHM halves with
        // ties up, RDBP halves with ties away from zero): 22 → 11 → 6; 28 → 14 → 7;
        // 49 → 25 → 13 (not 12: double rounding); 64 → 32 → 16; zero point 3.
        let a: Vec<i8> = [1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0]
            .iter()
            .map(|v| v + 1)
            .collect();
        let b: Vec<i8> = [1, 2, 3, 4, 5, 6].iter().map(|v| v - 1).collect();
        let q = MatmulRequant {
            lhs_zero_point: 1,
            rhs_zero_point: -1,
            multiplier: 1 << 30,
            shift: -1,
            output_zero_point: 3,
        };
        let mut out = [0i8; 8];
        batch_matmul_i8(&g(false, false), &q, &a, &b, &mut out).unwrap();
        assert_eq!(out[..4], [9, 10, 16, 19]);
    }
}
