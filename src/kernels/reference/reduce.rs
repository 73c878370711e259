//! The reductions of SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD as one loop: the input
//! is visited in row-major order and each element is folded into the output element it
//! reduces to, which is the order LiteRT's reference `Reduce` uses, so float sums and
//! products round exactly as there.
//!
//! The geometry is given as `(extent, output stride)` per input dimension (stride 0 on
//! reduced dimensions); callers drop unit dimensions and merge neighbours first.
//!
//! MEAN is here too: the float mean as TFLite's reference `Mean` (an f32 running sum per
//! output in row-major input order, divided once), and the quantized MEAN / SUM as
//! `QuantizedMeanOrSum` ([`QuantMean`]).

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::fixed_point::{
    multiply_by_quantized_multiplier, multiply_by_quantized_multiplier_i64,
};

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reducer {
    Sum,
    Max,
    Min,
    Prod,
}

/// The element types the plain reductions run on, with their identities.
pub trait Reducible: Copy + PartialOrd {
    const ZERO: Self;
    const ONE: Self;
    const LOWEST: Self;
    const HIGHEST: Self;
    fn add(self, other: Self) -> Self;
    fn mul(self, other: Self) -> Self;
}

macro_rules! reducible_int {
    ($($t:ty),*) => {$(
        impl Reducible for $t {
            const ZERO: Self = 0;
            const ONE: Self = 1;
            const LOWEST: Self = <$t>::MIN;
            const HIGHEST: Self = <$t>::MAX;
            fn add(self, other: Self) -> Self {
                self.wrapping_add(other)
            }
            fn mul(self, other: Self) -> Self {
                self.wrapping_mul(other)
            }
        }
    )*};
}
reducible_int!(i8, u8, i16, i32, i64);

impl Reducible for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const LOWEST: Self = f32::MIN;
    const HIGHEST: Self = f32::MAX;
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn mul(self, other: Self) -> Self {
        self * other
    }
}

/// SUM, REDUCE_PROD, REDUCE_MAX or REDUCE_MIN of plain (unquantized, or quantized with
/// equal input and output parameters) values: `y` starts at the reduction's identity.
pub fn reduce_plain<T: Reducible>(
    reducer: Reducer,
    dims: &[(usize, usize)],
    x: &[T],
    y: &mut [T],
) -> Result<(), KernelError> {
    match reducer {
        Reducer::Sum => {
            y.fill(T::ZERO);
            reduce_fold(dims, x, y, T::add)
        }
        Reducer::Prod => {
            y.fill(T::ONE);
            reduce_fold(dims, x, y, T::mul)
        }
        Reducer::Max => {
            y.fill(T::LOWEST);
            reduce_fold(dims, x, y, |c, v| if v > c { v } else { c })
        }
        Reducer::Min => {
            y.fill(T::HIGHEST);
            reduce_fold(dims, x, y, |c, v| if v < c { v } else { c })
        }
    }
}

/// Quantized MEAN or SUM. Dimensions are split into kept ones (which enumerate the
/// outputs in row-major order) and reduced ones, each as `(extent, input stride)` with
/// unit dims dropped and adjacent dims of the same kind merged.
pub struct QuantMean {
    pub kept: Vec<(usize, usize)>,
    pub reduced: Vec<(usize, usize)>,
    /// Elements summed into each output.
    pub count: i64,
    pub input_zero_point: i32,
    pub output_zero_point: i32,
    /// The output multiplier, with 1/count folded in for MEAN.
    pub multiplier: i32,
    pub shift: i32,
    pub qmin: i32,
    pub qmax: i32,
}

/// Wrapping int32 sum (the C++ accumulator) of the elements at `base` plus every
/// combination of the `dims` strides, each read through `widen`.
fn strided_sum<T: Copy>(
    dims: &[(usize, usize)],
    x: &[T],
    base: usize,
    widen: &impl Fn(T) -> i32,
) -> i32 {
    match dims {
        [] => x.get(base).map_or(0, |&v| widen(v)),
        [(n, stride)] => {
            let mut acc = 0i32;
            for i in 0..*n {
                if let Some(&v) = x.get(base + i * stride) {
                    acc = acc.wrapping_add(widen(v));
                }
            }
            acc
        }
        [(n, stride), inner @ ..] => {
            let mut acc = 0i32;
            for i in 0..*n {
                acc = acc.wrapping_add(strided_sum(inner, x, base + i * stride, widen));
            }
            acc
        }
    }
}

impl QuantMean {
    /// Visits the outputs in order, calling `emit(input base offset)` for each.
    fn for_each_output(dims: &[(usize, usize)], base: usize, emit: &mut impl FnMut(usize)) {
        match dims {
            [] => emit(base),
            [(n, stride), inner @ ..] => {
                for i in 0..*n {
                    Self::for_each_output(inner, base + i * stride, emit);
                }
            }
        }
    }

    /// `QuantizedMeanOrSum` of `x` into `y` (their lengths checked by the caller). An
    /// input with no elements gives zeros.
    pub fn run<T: Into<i32> + TryFrom<i32> + Default + Copy>(&self, x: &[T], y: &mut [T]) {
        self.run_as(x, y, Into::into, |v| T::try_from(v).ok());
    }

    /// [`QuantMean::run`] with the element conversions given: `widen` reads an element
    /// as the C++ instantiation does, `narrow` stores a result already clamped to
    /// `qmin..=qmax` (LiteRT's int8 SUM reads and writes int8 bytes as uint8).
    pub fn run_as<T: Default + Copy>(
        &self,
        x: &[T],
        y: &mut [T],
        widen: impl Fn(T) -> i32,
        narrow: impl Fn(i32) -> Option<T>,
    ) {
        if x.is_empty() {
            y.fill(T::default());
            return;
        }
        // `temp_sum - in_zp * n` in int64, narrowed to int32 as the C++ does.
        let zero_point_sum = i64::from(self.input_zero_point) * self.count;
        let finish = |sum: i32| {
            let centered = (i64::from(sum) - zero_point_sum) as i32;
            let value = multiply_by_quantized_multiplier(centered, self.multiplier, self.shift)
                .wrapping_add(self.output_zero_point)
                .clamp(self.qmin, self.qmax);
            narrow(value)
        };
        if let ([(channels, 1)], [(rows, stride)]) = (&self.kept[..], &self.reduced[..]) {
            if stride == channels && rows * channels == x.len() && y.len() == *channels {
                // The global pool of an NHWC image: rows of channels summed in input
                // order, a block of channels at a time, so the inner loop runs over
                // contiguous elements. Wrapping i32 sums do not depend on the order.
                const BLOCK: usize = 64;
                for (c0, out) in (0..*channels).step_by(BLOCK).zip(y.chunks_mut(BLOCK)) {
                    let width = out.len();
                    let mut acc = [0i32; BLOCK];
                    for row in x.chunks_exact(*channels) {
                        for (a, &v) in acc.iter_mut().zip(&row[c0..c0 + width]) {
                            *a = a.wrapping_add(widen(v));
                        }
                    }
                    for (slot, &sum) in out.iter_mut().zip(&acc) {
                        if let Some(v) = finish(sum) {
                            *slot = v;
                        }
                    }
                }
                return;
            }
        }
        let mut outputs = y.iter_mut();
        Self::for_each_output(&self.kept, 0, &mut |base| {
            let sum = strided_sum(&self.reduced, x, base, &widen);
            if let (Some(slot), Some(v)) = (outputs.next(), finish(sum)) {
                *slot = v;
            }
        });
    }
}

fn sum_rec(shape: &[usize], os: &[usize], x: &[f32], out: &mut [f32], o: usize) {
    match (shape, os) {
        ([], _) => out[o] += x[0],
        ([_], [0]) => {
            let mut acc = out[o];
            for &v in x {
                acc += v;
            }
            out[o] = acc;
        }
        ([n], [1]) => {
            for (y, &v) in out[o..o + n].iter_mut().zip(x) {
                *y += v;
            }
        }
        ([_], [s]) => {
            for (i, &v) in x.iter().enumerate() {
                out[o + i * s] += v;
            }
        }
        ([_, inner @ ..], [s, os_in @ ..]) => {
            let block: usize = inner.iter().product();
            if block == 0 {
                return;
            }
            for (i, chunk) in x.chunks_exact(block).enumerate() {
                sum_rec(inner, os_in, chunk, out, o + i * s);
            }
        }
        _ => {}
    }
}

/// Adds every input into its output (which the caller zeroed) in row-major input order:
/// `shape` is the simplified input shape and `out_strides` the output stride of each of
/// its dims (0 when reduced). The spatial mean of an NHWC tensor ([pixels, channels] after
/// simplification) adds whole pixel rows inline, so an AVX2 caller's build reaches the
/// loop; same additions, same order.
#[inline(always)]
pub fn mean_sum_f32(shape: &[usize], out_strides: &[usize], x: &[f32], y: &mut [f32]) {
    if let ([_, n], [0, 1]) = (shape, out_strides) {
        if y.len() == *n {
            for row in x.chunks_exact(*n) {
                for (y, &v) in y.iter_mut().zip(row) {
                    *y += v;
                }
            }
            return;
        }
    }
    sum_rec(shape, out_strides, x, y, 0);
}

/// Float MEAN of `x` into `y` over the simplified geometry of [`mean_sum_f32`]: zeroed,
/// summed (in a build with AVX2 + FMA enabled when `avx2`, which the caller sets only when
/// the CPU has them; the same additions in the same order), then divided once by `count`.
/// An empty reduction gives 0/0 = NaN, as in TFLite.
pub fn mean_f32(
    shape: &[usize],
    out_strides: &[usize],
    count: usize,
    x: &[f32],
    y: &mut [f32],
    avx2: bool,
) {
    y.fill(0.0);
    if !x.is_empty() {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is set only when the prepare-time CpuFeatures had AVX2 + FMA.
            unsafe {
                crate::kernels::x86::elementwise::with_avx2(|| {
                    mean_sum_f32(shape, out_strides, x, y)
                })
            };
        } else {
            mean_sum_f32(shape, out_strides, x, y);
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = avx2;
            mean_sum_f32(shape, out_strides, x, y);
        }
    }
    let count = count as f32;
    for v in y.iter_mut() {
        *v /= count;
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
