//! The reductions of SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD as one loop: the input
//! is visited in row-major order and each element is folded into the output element it
//! reduces to, which is the order LiteRT's reference `Reduce` uses, so float sums and
//! products round exactly as there.
//!
//! The geometry is given as `(extent, output stride)` per input dimension (stride 0 on
//! reduced dimensions); callers drop unit dimensions and merge neighbours first.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier_i64;

fn fold_rec<T: Copy, A: Copy>(
    dims: &[(usize, usize)],
    input: &[T],
    out: &mut [A],
    at: usize,
    f: &mut impl FnMut(A, T) -> A,
) {
    match dims {
        [] => {
            if let (Some(&x), Some(slot)) = (input.first(), out.get_mut(at)) {
                *slot = f(*slot, x);
            }
        }
        [(_, 0)] => {
            if let Some(slot) = out.get_mut(at) {
                let mut acc = *slot;
                for &x in input {
                    acc = f(acc, x);
                }
                *slot = acc;
            }
        }
        [(_, stride)] => {
            for (i, &x) in input.iter().enumerate() {
                if let Some(slot) = out.get_mut(at + i * stride) {
                    *slot = f(*slot, x);
                }
            }
        }
        [(_, stride), inner @ ..] => {
            let block: usize = inner.iter().map(|d| d.0).product();
            if block == 0 {
                return;
            }
            for (i, chunk) in input.chunks_exact(block).enumerate() {
                fold_rec(inner, chunk, out, at + i * stride, f);
            }
        }
    }
}

/// Folds every input element into its output slot with `f`, in row-major input order.
/// `out` must already hold each reduction's initial value.
pub fn reduce_fold<T: Copy, A: Copy>(
    dims: &[(usize, usize)],
    input: &[T],
    out: &mut [A],
    mut f: impl FnMut(A, T) -> A,
) -> Result<(), KernelError> {
    let len: usize = dims.iter().map(|d| d.0).product();
    if input.len() != len {
        kbail!(
            "reduction input has {} elements, expected {len}",
            input.len()
        );
    }
    if len > 0 {
        fold_rec(dims, input, out, 0, &mut f);
    }
    Ok(())
}

/// LiteRT's quantized REDUCE_PROD (`reference_ops::QuantizedReduceProd`): the first
/// element of each reduction starts the product as `x - zp`; every further one is
/// multiplied in 64 bits and scaled back by `(multiplier, shift)` (the input scale over
/// the n-th root of the output scale, so n factors end up scaled n times with the final
/// step below); the result is scaled once more, offset by the output zero point and
/// clamped to `range`.
pub struct QuantProd {
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    pub multiplier: i32,
    pub shift: i32,
    pub range: (i32, i32),
}

impl QuantProd {
    pub fn run<T: Copy>(
        &self,
        dims: &[(usize, usize)],
        input: &[T],
        scratch: &mut [Option<i32>],
        out: &mut [T],
        widen: impl Fn(T) -> i32,
        narrow: impl Fn(i32) -> T,
    ) -> Result<(), KernelError> {
        if scratch.len() != out.len() {
            kbail!(
                "REDUCE_PROD scratch has {} slots for {} outputs",
                scratch.len(),
                out.len()
            );
        }
        scratch.fill(None);
        reduce_fold(dims, input, scratch, |acc, x| {
            let v = widen(x) - self.input_zero_point;
            Some(match acc {
                None => v,
                Some(p) => multiply_by_quantized_multiplier_i64(
                    i64::from(p) * i64::from(v),
                    self.multiplier,
                    self.shift,
                ),
            })
        })?;
        for (y, p) in out.iter_mut().zip(scratch.iter()) {
            // An output nothing reduced into keeps LiteRT's zeroed scratch.
            let p = p.unwrap_or(0);
            let v = multiply_by_quantized_multiplier_i64(i64::from(p), self.multiplier, self.shift)
                .wrapping_add(self.output_zero_point);
            *y = narrow(v.clamp(self.range.0, self.range.1));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_in_row_major_order_into_strided_outputs() {
        // [2, 3] reduced over dim 0 (output stride 0 there, 1 on dim 1): columns.
        let x = [1, 2, 3, 10, 20, 30];
        let mut out = [0; 3];
        reduce_fold(&[(2, 0), (3, 1)], &x, &mut out, |a, b| a + b).unwrap();
        assert_eq!(out, [11, 22, 33]);
        // Over dim 1: rows; the order shows in a non-commutative fold (a·10 + b).
        let mut out = [0; 2];
        reduce_fold(&[(2, 1), (3, 0)], &x, &mut out, |a, b| a * 10 + b).unwrap();
        assert_eq!(out, [123, 10 * 100 + 20 * 10 + 30]);
        assert!(reduce_fold(&[(2, 1)], &x, &mut out, |a, b| a + b).is_err());
    }

    #[test]
    fn quantized_product_scales_each_step() {
        // Zero point 1, values 3, 5, 2 → factors 2, 4, 1. Multiplier 2^30 with shift 0
        // is 0.5 per step (the i64 MBQM rounds it to 2^14 / 2^15): 2 → 2·4·0.5 = 4 →
        // 4·1·0.5 = 2 → final 2·0.5 = 1, plus output zero point -3 → -2.
        let p = QuantProd {
            input_zero_point: 1,
            output_zero_point: -3,
            multiplier: 1 << 30,
            shift: 0,
            range: (-128, 127),
        };
        let mut scratch = [None; 1];
        let mut out = [0i8; 1];
        p.run(
            &[(3, 0)],
            &[3i8, 5, 2],
            &mut scratch,
            &mut out,
            i32::from,
            |v| v as i8,
        )
        .unwrap();
        assert_eq!(out, [-2]);
    }
}
