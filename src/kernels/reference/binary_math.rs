//! The loops of the broadcasting binary math ops MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and
//! POW, on the broadcast `Layout` of `elementwise`.
//!
//! * MAXIMUM / MINIMUM compare stored values as they are, for every numeric type. With a
//!   NaN on either side the second operand comes out, as the C++ `a > b ? a : b` gives.
//! * SQUARED_DIFFERENCE: float and int32 `(a - b)²`; int8 through
//!   [`SquaredDifferenceQuant`].
//! * POW: float `powf`, int32 `pow` on doubles truncated, negative int32 exponents
//!   refused. When the shapes differ and the exponent is one value within 1e-5 of an
//!   integer n >= 1, LiteRT multiplies by repeated squaring instead, which rounds
//!   differently; that path is reproduced too.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::reference::elementwise::Layout;
use crate::kernels::reference::unary::{
    pow_by_squaring_f32, pow_by_squaring_i32, pow_i32, SquaredDifferenceQuant,
};

pub(crate) fn maximum<T: PartialOrd>(a: T, b: T) -> T {
    if a > b {
        a
    } else {
        b
    }
}

pub(crate) fn minimum<T: PartialOrd>(a: T, b: T) -> T {
    if a < b {
        a
    } else {
        b
    }
}

/// The exponent LiteRT's broadcast POW treats as an integer: one value within 1e-5 of a
/// whole number n >= 1 (compared in float, as the C++ does).
fn squaring_exponent(exponent: f32) -> Option<u32> {
    let rounded = exponent.round();
    if !(1.0..=i32::MAX as f32).contains(&rounded) {
        return None;
    }
    ((exponent - rounded).abs() < 1e-5).then_some(rounded as u32)
}

/// MAXIMUM (`max` true) or MINIMUM of `a` and `b` over `layout`; the caller has
/// checked the lengths.
pub(crate) fn max_min<T: Copy + PartialOrd>(
    max: bool,
    layout: &Layout,
    a: &[T],
    b: &[T],
    out: &mut [T],
) {
    if max {
        layout.apply(a, b, out, maximum);
    } else {
        layout.apply(a, b, out, minimum);
    }
}

/// Float `(a - b)²` over `layout`; the caller has checked the lengths.
pub(crate) fn squared_difference_f32(layout: &Layout, a: &[f32], b: &[f32], out: &mut [f32]) {
    layout.apply(a, b, out, |x, y| {
        let d = x - y;
        d * d
    });
}

/// Int32 `(a - b)²` over `layout`, wrapping; the caller has checked the lengths.
pub(crate) fn squared_difference_i32(layout: &Layout, a: &[i32], b: &[i32], out: &mut [i32]) {
    layout.apply(a, b, out, |x, y| {
        let d = x.wrapping_sub(y);
        d.wrapping_mul(d)
    });
}

/// Int8 SQUARED_DIFFERENCE over `layout`; the caller has checked the lengths.
pub(crate) fn squared_difference_i8(
    q: &SquaredDifferenceQuant,
    layout: &Layout,
    a: &[i8],
    b: &[i8],
    out: &mut [i8],
) {
    // The result is clamped to [-128, 127], so the narrowing is exact.
    layout.apply(a, b, out, |x, y| {
        q.apply(i32::from(x), i32::from(y), -128, 127) as i8
    });
}

/// Float POW over `layout`. `single_exponent`: the shapes differ and `b` is one value
/// (LiteRT's squaring path maps `a` element by element onto the output). The caller has
/// checked the lengths.
pub(crate) fn pow_f32(
    layout: &Layout,
    single_exponent: bool,
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    let n = b
        .first()
        .filter(|_| single_exponent)
        .and_then(|&e| squaring_exponent(e));
    match n {
        Some(n) if a.len() == out.len() => {
            for (o, &x) in out.iter_mut().zip(a.iter()) {
                *o = pow_by_squaring_f32(x, n);
            }
        }
        _ => layout.apply(a, b, out, f32::powf),
    }
}

/// Int32 POW over `layout`, as [`pow_f32`]; a negative exponent is an error.
pub(crate) fn pow_int32(
    layout: &Layout,
    single_exponent: bool,
    a: &[i32],
    b: &[i32],
    out: &mut [i32],
) -> Result<(), KernelError> {
    if b.iter().any(|&e| e < 0) {
        kbail!("POW does not support negative int32 exponents");
    }
    match b.first() {
        Some(&n) if single_exponent && n >= 1 && a.len() == out.len() => {
            for (o, &x) in out.iter_mut().zip(a.iter()) {
                *o = pow_by_squaring_i32(x, n.unsigned_abs());
            }
        }
        _ => layout.apply(a, b, out, pow_i32),
    }
    Ok(())
}
