//! The per-element integer arithmetic of int8/uint8 ADD, SUB, MUL and DIV (TFLite's
//! reference kernels `reference/integer_ops/{add,mul}.h`, `reference/sub.h`,
//! `reference/div.h`): the specification the vectorised rows in `x86::quant_binary`
//! must reproduce bit for bit, and `QuantBinary`, the row loop over a broadcast
//! layout that picks a table, the reference rows or the AVX2 rows.
//!
//! The per-element function is the same with and without broadcasting:
//! * ADD / SUB: each input `(q - zp) << 20` is rescaled by `s_i / (2 max(s1, s2))`
//!   (MBQM "smaller than one"), the two are added (subtracted), the result is rescaled
//!   by `2 max(s1, s2) / (2^20 s_out)`, offset by the output zero point and clamped to
//!   the fused activation's quantized range ([`AddRescale`]).
//! * MUL: `MBQM((q1 - zp1)(q2 - zp2), m, s) + zp_out`, `(m, s)` from `s1 * s2 / s_out`
//!   evaluated in float, then clamped.
//! * DIV (`div.cc`, `reference/div.h` `DivElementwise`): with `v1 = q1 - zp1`,
//!   `v2 = q2 - zp2` (signs flipped together so that `v2 > 0`), the quotient is
//!   `SRDHM(v1 << headroom(v1), GetReciprocal(v2))` rescaled by the multiplier of
//!   `s1 / (s2 * s_out)` (float) and a shift corrected for the reciprocal's exponent
//!   and the headroom. A divisor equal to its zero point is an error, as in TFLite.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::fixed_point::{
    get_reciprocal, multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    multiply_by_quantized_multiplier_smaller_than_one_exp, AddRescale,
};
use crate::kernels::reference::elementwise::Layout;

/// The integer arithmetic of one quantized binary op, every constant from prepare.
#[derive(Clone, Copy, Debug)]
pub enum QuantArith {
    /// ADD (`negate_second` false) or SUB (true).
    AddSub {
        negate_second: bool,
        rescale: AddRescale,
        input1_zero_point: i32,
        input2_zero_point: i32,
        output_zero_point: i32,
    },
    Mul {
        multiplier: i32,
        shift: i32,
        input1_zero_point: i32,
        input2_zero_point: i32,
        output_zero_point: i32,
    },
    /// `run` has checked that no divisor equals `input2_zero_point`.
    Div {
        multiplier: i32,
        shift: i32,
        input1_zero_point: i32,
        input2_zero_point: i32,
        output_zero_point: i32,
    },
}

/// GCC's `__builtin_clrsb` as TFLite's `CountLeadingSignBits<int32_t>` uses it: the
/// number of bits after the sign bit that equal it (31 for 0 and -1).
pub fn count_leading_sign_bits(x: i32) -> i32 {
    let magnitude_bits = if x >= 0 { x } else { !x };
    magnitude_bits.leading_zeros() as i32 - 1
}

impl QuantArith {
    /// One output value before the activation clamp, from two integer inputs; the
    /// C++ int32 arithmetic never overflows for 8-bit inputs (|q - zp| < 2^9, shifted
    /// by 20), wrapping only mirrors it for hostile scales.
    #[inline(always)]
    pub fn apply(&self, x: i32, y: i32) -> i32 {
        match *self {
            QuantArith::AddSub {
                negate_second,
                rescale,
                input1_zero_point,
                input2_zero_point,
                output_zero_point,
            } => {
                let shifted1 = (x - input1_zero_point) << rescale.left_shift;
                let shifted2 = (y - input2_zero_point) << rescale.left_shift;
                let scaled1 = multiply_by_quantized_multiplier_smaller_than_one_exp(
                    shifted1,
                    rescale.input1.0,
                    rescale.input1.1,
                );
                let scaled2 = multiply_by_quantized_multiplier_smaller_than_one_exp(
                    shifted2,
                    rescale.input2.0,
                    rescale.input2.1,
                );
                let raw = if negate_second {
                    scaled1.wrapping_sub(scaled2)
                } else {
                    scaled1.wrapping_add(scaled2)
                };
                multiply_by_quantized_multiplier_smaller_than_one_exp(
                    raw,
                    rescale.output.0,
                    rescale.output.1,
                )
                .wrapping_add(output_zero_point)
            }
            QuantArith::Mul {
                multiplier,
                shift,
                input1_zero_point,
                input2_zero_point,
                output_zero_point,
            } => {
                let product = (x - input1_zero_point) * (y - input2_zero_point);
                multiply_by_quantized_multiplier(product, multiplier, shift)
                    .wrapping_add(output_zero_point)
            }
            QuantArith::Div {
                multiplier,
                shift,
                input1_zero_point,
                input2_zero_point,
                output_zero_point,
            } => {
                let mut numerator = x - input1_zero_point;
                let mut denominator = y - input2_zero_point;
                // The reciprocal needs a positive divisor.
                if denominator < 0 {
                    numerator = -numerator;
                    denominator = -denominator;
                }
                let (reciprocal, reciprocal_shift) = get_reciprocal(denominator, 31);
                let headroom = count_leading_sign_bits(numerator);
                let unscaled = multiply_by_quantized_multiplier_greater_than_one(
                    numerator, reciprocal, headroom,
                );
                let total_shift = shift - reciprocal_shift - headroom;
                multiply_by_quantized_multiplier_smaller_than_one_exp(
                    unscaled,
                    multiplier,
                    total_shift,
                )
                .wrapping_add(output_zero_point)
            }
        }
    }
}

/// An 8-bit quantized element type: int8 or uint8.
pub trait QByte: Copy + Send + Sync + 'static {
    const SIGNED: bool;
    fn widen(self) -> i32;
    /// `value` must already lie in the type's range.
    fn narrow(value: i32) -> Self;
    /// The element whose bits are `byte`.
    fn from_byte(byte: u8) -> Self;
    /// The element's bits, the index into a 256-entry table.
    fn byte(self) -> u8;
}

impl QByte for i8 {
    const SIGNED: bool = true;
    #[inline(always)]
    fn widen(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn narrow(value: i32) -> i8 {
        value as i8
    }
    #[inline(always)]
    fn from_byte(byte: u8) -> i8 {
        byte as i8
    }
    #[inline(always)]
    fn byte(self) -> u8 {
        self as u8
    }
}

impl QByte for u8 {
    const SIGNED: bool = false;
    #[inline(always)]
    fn widen(self) -> i32 {
        i32::from(self)
    }
    #[inline(always)]
    fn narrow(value: i32) -> u8 {
        value as u8
    }
    #[inline(always)]
    fn from_byte(byte: u8) -> u8 {
        byte
    }
    #[inline(always)]
    fn byte(self) -> u8 {
        self
    }
}

/// How one input runs along a row of the output: element `i` of the row reads
/// `Row[i]`, the single `Splat` value, or `Strided.0[i * Strided.1]`.
#[derive(Clone, Copy, Debug)]
pub enum Operand<'s, T> {
    Row(&'s [T]),
    Splat(T),
    Strided(&'s [T], usize),
}

impl<T: Copy> Operand<'_, T> {
    #[inline(always)]
    fn get(&self, i: usize) -> Option<T> {
        match *self {
            Operand::Row(r) => r.get(i).copied(),
            Operand::Splat(v) => Some(v),
            Operand::Strided(r, s) => r.get(i.checked_mul(s)?).copied(),
        }
    }
}

impl QuantArith {
    /// One output element: [`QuantArith::apply`] clamped to `[lo, hi]` (a range inside
    /// the type's, checked at prepare).
    #[inline(always)]
    pub fn element<T: QByte>(&self, x: T, y: T, lo: i32, hi: i32) -> T {
        T::narrow(self.apply(x.widen(), y.widen()).clamp(lo, hi))
    }

    /// The reference row loop: `out[i] = element(a[i], b[i])`. A row shorter than `out`
    /// (which callers rule out) leaves the rest of `out` untouched.
    pub fn row<T: QByte>(
        &self,
        a: Operand<'_, T>,
        b: Operand<'_, T>,
        out: &mut [T],
        lo: i32,
        hi: i32,
    ) {
        for (i, o) in out.iter_mut().enumerate() {
            let (Some(x), Some(y)) = (a.get(i), b.get(i)) else {
                return;
            };
            *o = self.element(x, y, lo, hi);
        }
    }

    /// With one input fixed at `fixed`, every output as a function of the other input's
    /// byte: `table[byte]` is the output for that byte (first input varying when
    /// `vary_first`). Exact by construction, since it is the reference at each byte.
    pub fn table_with_fixed<T: QByte>(
        &self,
        fixed: T,
        vary_first: bool,
        lo: i32,
        hi: i32,
    ) -> [T; 256] {
        let mut table = [T::from_byte(0); 256];
        for (byte, entry) in (0..=255u8).zip(table.iter_mut()) {
            let v = T::from_byte(byte);
            *entry = if vary_first {
                self.element(v, fixed, lo, hi)
            } else {
                self.element(fixed, v, lo, hi)
            };
        }
        table
    }
}

/// How `run` computes a row of a quantized op, picked at prepare.
#[derive(Clone, Copy, Debug)]
pub(crate) enum QuantPath {
    /// The reference loop (DIV, no AVX2, or constants outside the lanes' exact range).
    Reference,
    #[cfg(target_arch = "x86_64")]
    Avx2(crate::kernels::x86::quant_binary::VecArith),
}

/// A row at least this long against a single value goes through a table of the 256
/// possible outputs when the reference loop would run (the table costs 256 elements).
const ROW_TABLE_MIN: usize = 1024;

/// An int8/uint8 ADD, SUB, MUL or DIV after prepare: the arithmetic, the broadcast and
/// the way each row is computed.
pub(crate) struct QuantBinary {
    pub(crate) arith: QuantArith,
    pub(crate) layout: Layout,
    /// The fused activation's clamp, inside the type's range.
    pub(crate) lo: i32,
    pub(crate) hi: i32,
    pub(crate) path: QuantPath,
    /// One input a constant single element: the output byte for each byte of the other
    /// input, from the reference at prepare.
    pub(crate) table: Option<Box<[u8; 256]>>,
    /// Look the table up 32 bytes per step with AVX2 (detected at prepare).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) lut_avx2: bool,
}

impl QuantBinary {
    /// `out = a op b` over the layout. The caller has checked the buffer lengths against
    /// the layout. A divisor of real value 0 is an error.
    pub(crate) fn run<T: QByte>(&self, a: &[T], b: &[T], out: &mut [T]) -> Result<(), KernelError> {
        let (arith, lo, hi) = (self.arith, self.lo, self.hi);
        if let QuantArith::Div {
            input2_zero_point, ..
        } = arith
        {
            // div.cc `CheckNonZero`: a divisor of real value 0.
            if b.iter().any(|&v| v.widen() == input2_zero_point) {
                kbail!("division by zero");
            }
        }
        if let Some(table) = &self.table {
            let varying = if matches!(self.layout, Layout::ScalarA) {
                b
            } else {
                a
            };
            #[cfg(target_arch = "x86_64")]
            if self.lut_avx2 {
                // SAFETY: `lut_avx2` is only true when the CPU reported AVX2 at prepare.
                unsafe { crate::kernels::x86::lut::lookup(table, varying, out) };
                return Ok(());
            }
            for (o, &x) in out.iter_mut().zip(varying) {
                *o = T::from_byte(table[usize::from(x.byte())]);
            }
            return Ok(());
        }
        match self.path {
            QuantPath::Reference => self.layout.rows(a, b, out, &mut |x, y, o| {
                if o.len() >= ROW_TABLE_MIN {
                    let table = match (x, y) {
                        (Operand::Splat(v), Operand::Row(r)) => {
                            Some((arith.table_with_fixed(v, false, lo, hi), r))
                        }
                        (Operand::Row(r), Operand::Splat(v)) => {
                            Some((arith.table_with_fixed(v, true, lo, hi), r))
                        }
                        _ => None,
                    };
                    if let Some((table, r)) = table {
                        for (o, &x) in o.iter_mut().zip(r) {
                            *o = table[usize::from(x.byte())];
                        }
                        return;
                    }
                }
                arith.row(x, y, o, lo, hi)
            }),
            #[cfg(target_arch = "x86_64")]
            QuantPath::Avx2(vec) => {
                // SAFETY: `prepare` picks this path only when the detected CpuFeatures
                // has AVX2.
                let rows =
                    unsafe { crate::kernels::x86::quant_binary::Avx2Rows::new(&vec, lo, hi) };
                self.layout.rows(a, b, out, &mut |x, y, o| {
                    // SAFETY: as above, AVX2 was detected.
                    if !unsafe { rows.row(x, y, o) } {
                        arith.row(x, y, o, lo, hi)
                    }
                })
            }
        }
        Ok(())
    }
}

/// The table of a single constant element `fixed` against the other input's bytes.
pub(crate) fn constant_table<T: QByte>(
    arith: &QuantArith,
    fixed: T,
    vary_first: bool,
    lo: i32,
    hi: i32,
) -> Box<[u8; 256]> {
    let table = arith.table_with_fixed(fixed, vary_first, lo, hi);
    Box::new(table.map(QByte::byte))
}

#[cfg(test)]
mod tests {
    use super::count_leading_sign_bits;

    #[test]
    fn leading_sign_bits_match_gcc_clrsb() {
        assert_eq!(count_leading_sign_bits(0), 31);
        assert_eq!(count_leading_sign_bits(-1), 31);
        assert_eq!(count_leading_sign_bits(1), 30);
        assert_eq!(count_leading_sign_bits(-2), 30);
        assert_eq!(count_leading_sign_bits(6), 28);
        assert_eq!(count_leading_sign_bits(i32::MIN), 0);
        assert_eq!(count_leading_sign_bits(i32::MAX), 0);
    }
}
