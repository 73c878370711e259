//! The loops of the binary element-wise ops ADD, SUB, MUL and DIV on float32, int32 and
//! int64 with NumPy broadcasting, and the broadcast `Layout` the other binary families
//! (`binary_math`, the 8-bit rows of `quant_binary`) run on.
//!
//! TFLite clamps every result to the fused activation range, and with no activation
//! that range is [lowest, max] of the type: a float result of ±inf comes out as
//! ±f32::MAX, NaN passes through. Integer arithmetic wraps (TFLite's C++ overflow is
//! undefined; wrapping is what it does in practice).

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::common::{broadcast_strides, clamp};
use crate::kernels::reference::quant_binary::Operand;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// How the two inputs line up with the output, decided once at prepare.
#[derive(Clone, Debug)]
pub(crate) enum Layout {
    /// Equal shapes: element i with element i.
    Same,
    /// The left input is a single element.
    ScalarA,
    /// The right input is a single element.
    ScalarB,
    /// General broadcast over a simplified shape (unit dims dropped, contiguous runs
    /// merged); the output is row-major over `shape`, inputs read with `sa`/`sb`
    /// (0 along broadcast dims).
    Broadcast {
        shape: Vec<usize>,
        sa: Vec<usize>,
        sb: Vec<usize>,
    },
    /// The output has no elements.
    Empty,
}

impl Layout {
    pub(crate) fn new(a: &[usize], b: &[usize], out: &[usize]) -> Layout {
        let n_a: usize = a.iter().product();
        let n_b: usize = b.iter().product();
        let n_out: usize = out.iter().product();
        if n_out == 0 {
            return Layout::Empty;
        }
        if a == b {
            return Layout::Same;
        }
        if n_a == 1 {
            return Layout::ScalarA;
        }
        if n_b == 1 {
            return Layout::ScalarB;
        }
        let full_a = broadcast_strides(a, out);
        let full_b = broadcast_strides(b, out);
        let mut dims: Vec<(usize, usize, usize)> = Vec::new();
        for ((&n, &sa), &sb) in out.iter().zip(&full_a).zip(&full_b) {
            if n == 1 {
                continue;
            }
            if let Some(last) = dims.last_mut() {
                if last.1 == sa * n && last.2 == sb * n {
                    *last = (last.0 * n, sa, sb);
                    continue;
                }
            }
            dims.push((n, sa, sb));
        }
        if let [(_, 1, 1)] = dims[..] {
            // Only possible when the element orders coincide.
            return Layout::Same;
        }
        Layout::Broadcast {
            shape: dims.iter().map(|d| d.0).collect(),
            sa: dims.iter().map(|d| d.1).collect(),
            sb: dims.iter().map(|d| d.2).collect(),
        }
    }

    #[inline(always)]
    pub(crate) fn apply<T: Copy, F: Fn(T, T) -> T>(&self, a: &[T], b: &[T], out: &mut [T], f: F) {
        match self {
            Layout::Empty => {}
            Layout::Same => {
                for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                    *o = f(x, y);
                }
            }
            Layout::ScalarA => {
                if let Some(&x) = a.first() {
                    for (o, &y) in out.iter_mut().zip(b) {
                        *o = f(x, y);
                    }
                }
            }
            Layout::ScalarB => {
                if let Some(&y) = b.first() {
                    for (o, &x) in out.iter_mut().zip(a) {
                        *o = f(x, y);
                    }
                }
            }
            Layout::Broadcast { shape, sa, sb } => {
                // Rows of a matrix against a row or a column (a per-channel scale or
                // bias, a squeeze-excite gate): inline, so the caller's build of `f`
                // (AVX2 when the CPU has it) reaches the loops.
                if let ([rows, n], [ra, 1], [rb, 1 | 0]) | ([rows, n], [ra, 0], [rb, 1]) =
                    (&shape[..], &sa[..], &sb[..])
                {
                    let (n, cb) = (*n, sb[1]);
                    for (r, o) in out.chunks_exact_mut(n).take(*rows).enumerate() {
                        let (oa, ob) = (r * ra, r * rb);
                        match (sa[1], cb) {
                            (1, 1) => {
                                for ((o, &x), &y) in
                                    o.iter_mut().zip(&a[oa..oa + n]).zip(&b[ob..ob + n])
                                {
                                    *o = f(x, y);
                                }
                            }
                            (1, _) => {
                                let y = b[ob];
                                for (o, &x) in o.iter_mut().zip(&a[oa..oa + n]) {
                                    *o = f(x, y);
                                }
                            }
                            _ => {
                                let x = a[oa];
                                for (o, &y) in o.iter_mut().zip(&b[ob..ob + n]) {
                                    *o = f(x, y);
                                }
                            }
                        }
                    }
                    return;
                }
                broadcast_rec(shape, sa, sb, a, 0, b, 0, out, &f)
            }
        }
    }
}

impl Layout {
    /// Calls `f` on each run of the output along the innermost (simplified) dim, with
    /// how each input runs along it. Lengths were checked against the layout.
    pub(crate) fn rows<'d, T: Copy>(
        &self,
        a: &'d [T],
        b: &'d [T],
        out: &mut [T],
        f: &mut impl FnMut(Operand<'d, T>, Operand<'d, T>, &mut [T]),
    ) {
        match self {
            Layout::Empty => {}
            Layout::Same => f(Operand::Row(a), Operand::Row(b), out),
            Layout::ScalarA => {
                if let Some(&x) = a.first() {
                    f(Operand::Splat(x), Operand::Row(b), out)
                }
            }
            Layout::ScalarB => {
                if let Some(&y) = b.first() {
                    f(Operand::Row(a), Operand::Splat(y), out)
                }
            }
            Layout::Broadcast { shape, sa, sb } => rows_rec(shape, sa, sb, a, 0, b, 0, out, f),
        }
    }
}

/// The operand of an input read from `offset` with `stride` over `n` elements.
fn operand<T: Copy>(v: &[T], offset: usize, stride: usize, n: usize) -> Option<Operand<'_, T>> {
    Some(match stride {
        0 => Operand::Splat(*v.get(offset)?),
        1 => Operand::Row(v.get(offset..offset.checked_add(n)?)?),
        s => Operand::Strided(v.get(offset..)?, s),
    })
}

#[allow(clippy::too_many_arguments)]
fn rows_rec<'d, T: Copy>(
    shape: &[usize],
    sa: &[usize],
    sb: &[usize],
    a: &'d [T],
    oa: usize,
    b: &'d [T],
    ob: usize,
    out: &mut [T],
    f: &mut impl FnMut(Operand<'d, T>, Operand<'d, T>, &mut [T]),
) {
    match (shape, sa, sb) {
        ([], _, _) => {
            if let (Some(x), Some(y), Some(o)) = (a.get(oa), b.get(ob), out.get_mut(..1)) {
                f(Operand::Splat(*x), Operand::Splat(*y), o)
            }
        }
        ([n], [s], [t]) => {
            if let (Some(x), Some(y)) = (operand(a, oa, *s, *n), operand(b, ob, *t, *n)) {
                f(x, y, out)
            }
        }
        ([_, inner @ ..], [s, sa_in @ ..], [t, sb_in @ ..]) => {
            let block: usize = inner.iter().product();
            for (i, chunk) in out.chunks_exact_mut(block).enumerate() {
                rows_rec(inner, sa_in, sb_in, a, oa + i * s, b, ob + i * t, chunk, f);
            }
        }
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn broadcast_rec<T: Copy, F: Fn(T, T) -> T>(
    shape: &[usize],
    sa: &[usize],
    sb: &[usize],
    a: &[T],
    oa: usize,
    b: &[T],
    ob: usize,
    out: &mut [T],
    f: &F,
) {
    match (shape, sa, sb) {
        ([], _, _) => {
            if let Some(o) = out.first_mut() {
                *o = f(a[oa], b[ob]);
            }
        }
        // The innermost dim: the common cases as plain slice loops.
        ([n], [1], [1]) => {
            for ((o, &x), &y) in out.iter_mut().zip(&a[oa..oa + n]).zip(&b[ob..ob + n]) {
                *o = f(x, y);
            }
        }
        ([n], [0], [1]) => {
            let x = a[oa];
            for (o, &y) in out.iter_mut().zip(&b[ob..ob + n]) {
                *o = f(x, y);
            }
        }
        ([n], [1], [0]) => {
            let y = b[ob];
            for (o, &x) in out.iter_mut().zip(&a[oa..oa + n]) {
                *o = f(x, y);
            }
        }
        ([_], [s], [t]) => {
            for (i, o) in out.iter_mut().enumerate() {
                *o = f(a[oa + i * s], b[ob + i * t]);
            }
        }
        ([_, inner @ ..], [s, sa_in @ ..], [t, sb_in @ ..]) => {
            let block: usize = inner.iter().product();
            for (i, chunk) in out.chunks_exact_mut(block).enumerate() {
                broadcast_rec(inner, sa_in, sb_in, a, oa + i * s, b, ob + i * t, chunk, f);
            }
        }
        _ => {}
    }
}

/// Element types with the four operations as TFLite computes them.
pub(crate) trait Arith: Copy + PartialOrd {
    const ZERO: Self;
    fn add(self, o: Self) -> Self;
    fn sub(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// Integers truncate toward zero (C++ `/`); callers rule out a zero divisor.
    fn div(self, o: Self) -> Self;
    /// Integer division by zero is an error; float division gives ±inf/NaN.
    const CHECK_ZERO_DIVISOR: bool;
}

impl Arith for f32 {
    const ZERO: f32 = 0.0;
    const CHECK_ZERO_DIVISOR: bool = false;
    fn add(self, o: f32) -> f32 {
        self + o
    }
    fn sub(self, o: f32) -> f32 {
        self - o
    }
    fn mul(self, o: f32) -> f32 {
        self * o
    }
    fn div(self, o: f32) -> f32 {
        self / o
    }
}

macro_rules! int_arith {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            const ZERO: $t = 0;
            const CHECK_ZERO_DIVISOR: bool = true;
            fn add(self, o: $t) -> $t {
                self.wrapping_add(o)
            }
            fn sub(self, o: $t) -> $t {
                self.wrapping_sub(o)
            }
            fn mul(self, o: $t) -> $t {
                self.wrapping_mul(o)
            }
            fn div(self, o: $t) -> $t {
                // MIN / -1 overflows; wrapping keeps it defined. o == 0 is excluded.
                self.checked_div(o).unwrap_or(self.wrapping_neg())
            }
        }
    )*};
}
int_arith!(i32, i64);

/// `out = clamp(a op b, (lo, hi))` over the broadcast `layout`. The caller has checked
/// the buffer lengths against the layout. Integer division by zero is an error.
#[inline(always)]
pub(crate) fn binary<T: Arith>(
    op: BinOp,
    layout: &Layout,
    a: &[T],
    b: &[T],
    out: &mut [T],
    lo: T,
    hi: T,
) -> Result<(), KernelError> {
    let l = layout;
    match op {
        BinOp::Add => l.apply(a, b, out, |x, y| clamp(x.add(y), (lo, hi))),
        BinOp::Sub => l.apply(a, b, out, |x, y| clamp(x.sub(y), (lo, hi))),
        BinOp::Mul => l.apply(a, b, out, |x, y| clamp(x.mul(y), (lo, hi))),
        BinOp::Div => {
            if T::CHECK_ZERO_DIVISOR && b.contains(&T::ZERO) {
                kbail!("integer division by zero");
            }
            l.apply(a, b, out, |x, y| clamp(x.div(y), (lo, hi)))
        }
    }
    Ok(())
}

/// [`binary`] on float32; `avx2` (true only when the CPU reported AVX2 and FMA) builds
/// the loops for AVX2.
pub(crate) fn binary_f32(
    op: BinOp,
    layout: &Layout,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    (lo, hi): (f32, f32),
    avx2: bool,
) -> Result<(), KernelError> {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is set only when the prepare-time CpuFeatures had AVX2 + FMA.
        return unsafe {
            crate::kernels::x86::elementwise::with_avx2(|| {
                binary::<f32>(op, layout, a, b, out, lo, hi)
            })
        };
    }
    let _ = avx2;
    binary::<f32>(op, layout, a, b, out, lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::common::broadcast_shapes;

    /// Every pairing of a few shapes: the layout's loops against a naive per-element
    /// broadcast, for each simplification `Layout::new` may pick.
    #[test]
    fn layout_matches_naive_indexing() {
        let shapes: [&[usize]; 9] = [
            &[],
            &[1],
            &[3],
            &[2, 1],
            &[2, 3],
            &[1, 2, 1, 3],
            &[4, 1, 1, 3],
            &[4, 2, 1, 1],
            &[0, 3],
        ];
        for a_shape in shapes {
            for b_shape in shapes {
                let Ok(out) = broadcast_shapes(a_shape, b_shape) else {
                    continue;
                };
                let rank = out.len();
                let pad = |s: &[usize]| {
                    let mut p = vec![1; rank - s.len()];
                    p.extend_from_slice(s);
                    p
                };
                let (pa, pb) = (pad(a_shape), pad(b_shape));
                let av: Vec<i64> = (0..a_shape.iter().product::<usize>() as i64).collect();
                let bv: Vec<i64> = (0..b_shape.iter().product::<usize>() as i64)
                    .map(|v| 1000 * v)
                    .collect();
                let flat = |idx: &[usize], shape: &[usize]| {
                    idx.iter()
                        .zip(shape)
                        .fold(0, |acc, (&i, &d)| acc * d + if d == 1 { 0 } else { i })
                };
                let n: usize = out.iter().product();
                let mut want = Vec::with_capacity(n);
                for k in 0..n {
                    let mut idx = vec![0; rank];
                    let mut r = k;
                    for d in (0..rank).rev() {
                        idx[d] = r % out[d];
                        r /= out[d];
                    }
                    want.push(av[flat(&idx, &pa)] - bv[flat(&idx, &pb)]);
                }
                let layout = Layout::new(a_shape, b_shape, &out);
                let mut got = vec![0i64; n];
                binary(BinOp::Sub, &layout, &av, &bv, &mut got, i64::MIN, i64::MAX).unwrap();
                assert_eq!(got, want, "{a_shape:?} - {b_shape:?} as {layout:?}");
            }
        }
    }

    #[test]
    fn clamps_and_refuses_integer_division_by_zero() {
        let layout = Layout::new(&[4], &[4], &[4]);
        let mut out = [0i32; 4];
        binary(
            BinOp::Div,
            &layout,
            &[-7, 7, 9, -9],
            &[2, 2, -4, -4],
            &mut out,
            0,
            6,
        )
        .unwrap();
        // C++ division truncates toward zero: -3, 3, -2, 2, then clamped to [0, 6].
        assert_eq!(out, [0, 3, 0, 2]);
        let err = binary(
            BinOp::Div,
            &layout,
            &[1, 1, 1, 1],
            &[1, 0, 1, 1],
            &mut out,
            0,
            6,
        );
        assert!(err.is_err());
        // Float: ±inf saturates to the range given, NaN passes through.
        let mut f = [0f32; 3];
        let range = (f32::MIN, f32::MAX);
        let l3 = Layout::new(&[3], &[], &[3]);
        binary_f32(
            BinOp::Div,
            &l3,
            &[1.0, -1.0, f32::NAN],
            &[0.0],
            &mut f,
            range,
            false,
        )
        .unwrap();
        assert_eq!(f[..2], [f32::MAX, f32::MIN]);
        assert!(f[2].is_nan());
    }
}
