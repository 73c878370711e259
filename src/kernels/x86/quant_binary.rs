//! AVX2 rows of int8/uint8 ADD, SUB and MUL: eight outputs per step in i32 lanes, each
//! step the integer arithmetic of [`QuantArith::apply`] done lane by lane, so the bytes
//! are those of the reference loop.
//!
//! The one primitive that needs care is `SaturatingRoundingDoublingHighMul`: its nudge
//! and truncating division reduce to `(a·b + 2^30) >> 31` (floor) for every sign of the
//! product, so the wanted value is bits 31..62 of a 64-bit sum, which `vpmuldq` and a
//! logical shift deliver. It saturates only for `a = b = i32::MIN`, which
//! [`VecArith::new`] rules out by refusing a multiplier of `i32::MIN`.

use crate::kernels::reference::quant_binary::{Operand, QByte, QuantArith};
use std::arch::x86_64::*;

/// The constants of a vectorisable op, each in the range where the lane arithmetic is
/// the scalar one: multipliers other than `i32::MIN`, shifts below 32.
#[derive(Clone, Copy, Debug)]
pub enum VecArith {
    AddSub {
        negate_second: bool,
        left_shift: i32,
        zero_points: (i32, i32),
        input1: (i32, i32),
        input2: (i32, i32),
        output: (i32, i32),
        output_zero_point: i32,
    },
    Mul {
        zero_points: (i32, i32),
        multiplier: i32,
        left_shift: i32,
        right_shift: i32,
        output_zero_point: i32,
    },
}

/// A multiplier and exponent of the "smaller than one" form as (multiplier, right
/// shift), if the lanes can apply it: the scalar treats a positive exponent as 0.
fn smaller_than_one(m: (i32, i32)) -> Option<(i32, i32)> {
    let right = -m.1.min(0);
    (m.0 != i32::MIN && right <= 31).then_some((m.0, right))
}

impl VecArith {
    /// The vector form of `arith`, or `None` (DIV, or constants outside the lanes'
    /// exact range) to keep the reference loop.
    pub fn new(arith: &QuantArith) -> Option<VecArith> {
        match *arith {
            QuantArith::AddSub {
                negate_second,
                rescale,
                input1_zero_point,
                input2_zero_point,
                output_zero_point,
            } => {
                if !(0..=30).contains(&rescale.left_shift) {
                    return None;
                }
                Some(VecArith::AddSub {
                    negate_second,
                    left_shift: rescale.left_shift,
                    zero_points: (input1_zero_point, input2_zero_point),
                    input1: smaller_than_one(rescale.input1)?,
                    input2: smaller_than_one(rescale.input2)?,
                    output: smaller_than_one(rescale.output)?,
                    output_zero_point,
                })
            }
            QuantArith::Mul {
                multiplier,
                shift,
                input1_zero_point,
                input2_zero_point,
                output_zero_point,
            } => {
                let left_shift = shift.max(0);
                let right_shift = -shift.min(0);
                if multiplier == i32::MIN || left_shift > 31 || right_shift > 31 {
                    return None;
                }
                Some(VecArith::Mul {
                    zero_points: (input1_zero_point, input2_zero_point),
                    multiplier,
                    left_shift,
                    right_shift,
                    output_zero_point,
                })
            }
            QuantArith::Div { .. } => None,
        }
    }
}

/// A multiplier by `m` then a rounding division by `2^right`, as lane constants.
#[derive(Clone, Copy)]
struct Rescale {
    multiplier: __m256i,
    right: __m128i,
    mask: __m256i,
    half_mask: __m256i,
}

impl Rescale {
    #[target_feature(enable = "avx2")]
    #[inline]
    fn new((multiplier, right): (i32, i32)) -> Rescale {
        // right <= 31, so the mask is a non-negative i32.
        let mask = ((1u32 << right) - 1) as i32;
        Rescale {
            multiplier: _mm256_set1_epi32(multiplier),
            right: _mm_cvtsi32_si128(right),
            mask: _mm256_set1_epi32(mask),
            half_mask: _mm256_set1_epi32(mask >> 1),
        }
    }

    /// `RoundingDivideByPOT(SRDHM(x, m), right)` on each lane.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn apply(&self, x: __m256i) -> __m256i {
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, self.multiplier), nudge);
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_srli_epi64::<32>(x), self.multiplier),
            nudge,
        );
        // Bits 31..62: to the low dword for even lanes, the high dword for odd ones.
        let high = _mm256_blend_epi32::<0b1010_1010>(
            _mm256_srli_epi64::<31>(even),
            _mm256_slli_epi64::<1>(odd),
        );
        // Ties away from zero: the threshold is one higher for negative values.
        let remainder = _mm256_and_si256(high, self.mask);
        let threshold = _mm256_sub_epi32(self.half_mask, _mm256_srai_epi32::<31>(high));
        let round_up = _mm256_cmpgt_epi32(remainder, threshold);
        _mm256_sub_epi32(_mm256_sra_epi32(high, self.right), round_up)
    }
}

/// The whole op as lane constants (built once per run, so the MUL variant's smaller
/// size does not matter).
#[derive(Clone, Copy)]
#[allow(clippy::large_enum_variant)]
enum Lanes {
    AddSub {
        negate_second: bool,
        left_shift: __m128i,
        input1: Rescale,
        input2: Rescale,
        output: Rescale,
    },
    Mul {
        left_shift: __m128i,
        rescale: Rescale,
    },
}

/// Eight elements of one input as i32 lanes: loaded, or the splat value.
#[derive(Clone, Copy)]
enum Source<T> {
    Row(*const T),
    Splat(__m256i),
}

/// Sign- or zero-extends eight bytes at `p`.
///
/// # Safety
/// Eight elements from `p` must be readable.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load8<T: QByte>(p: *const T) -> __m256i {
    // SAFETY: the caller guarantees eight readable bytes.
    let bytes = unsafe { _mm_loadl_epi64(p.cast()) };
    if T::SIGNED {
        _mm256_cvtepi8_epi32(bytes)
    } else {
        _mm256_cvtepu8_epi32(bytes)
    }
}

/// The constants of one op as lanes, made once per run.
#[derive(Clone, Copy)]
pub struct Avx2Rows {
    lanes: Lanes,
    zp1: __m256i,
    zp2: __m256i,
    zp_out: __m256i,
    lo: __m256i,
    hi: __m256i,
}

impl Avx2Rows {
    /// The lanes of `arith` with the clamp `[lo, hi]` (inside the type's range).
    ///
    /// # Safety
    /// The CPU must support AVX2 (seen in a detected `CpuFeatures`).
    #[target_feature(enable = "avx2")]
    pub unsafe fn new(arith: &VecArith, lo: i32, hi: i32) -> Avx2Rows {
        let (zp1, zp2, zp_out, lanes) = match *arith {
            VecArith::AddSub {
                negate_second,
                left_shift,
                zero_points,
                input1,
                input2,
                output,
                output_zero_point,
            } => (
                zero_points.0,
                zero_points.1,
                output_zero_point,
                Lanes::AddSub {
                    negate_second,
                    left_shift: _mm_cvtsi32_si128(left_shift),
                    input1: Rescale::new(input1),
                    input2: Rescale::new(input2),
                    output: Rescale::new(output),
                },
            ),
            VecArith::Mul {
                zero_points,
                multiplier,
                left_shift,
                right_shift,
                output_zero_point,
            } => (
                zero_points.0,
                zero_points.1,
                output_zero_point,
                Lanes::Mul {
                    left_shift: _mm_cvtsi32_si128(left_shift),
                    rescale: Rescale::new((multiplier, right_shift)),
                },
            ),
        };
        Avx2Rows {
            lanes,
            zp1: _mm256_set1_epi32(zp1),
            zp2: _mm256_set1_epi32(zp2),
            zp_out: _mm256_set1_epi32(zp_out),
            lo: _mm256_set1_epi32(lo),
            hi: _mm256_set1_epi32(hi),
        }
    }

    /// Eight outputs from eight (x, y) lanes, clamped.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn step(&self, x: __m256i, y: __m256i) -> __m256i {
        let x = _mm256_sub_epi32(x, self.zp1);
        let y = _mm256_sub_epi32(y, self.zp2);
        let raw = match self.lanes {
            Lanes::AddSub {
                negate_second,
                left_shift,
                input1,
                input2,
                output,
            } => {
                let x = input1.apply(_mm256_sll_epi32(x, left_shift));
                let y = input2.apply(_mm256_sll_epi32(y, left_shift));
                let sum = if negate_second {
                    _mm256_sub_epi32(x, y)
                } else {
                    _mm256_add_epi32(x, y)
                };
                output.apply(sum)
            }
            Lanes::Mul {
                left_shift,
                rescale,
            } => rescale.apply(_mm256_sll_epi32(_mm256_mullo_epi32(x, y), left_shift)),
        };
        let shifted = _mm256_add_epi32(raw, self.zp_out);
        _mm256_min_epi32(_mm256_max_epi32(shifted, self.lo), self.hi)
    }

    /// `out[i] = reference(a[i], b[i])` for a whole row, sixteen lanes at a time; the
    /// last partial step goes through stack copies, so nothing is read or written
    /// outside the slices. Returns false, writing nothing, for a strided input or a
    /// row shorter than `out` (the caller then runs the reference loop).
    ///
    /// # Safety
    /// The CPU must support AVX2 (seen in a detected `CpuFeatures`).
    #[target_feature(enable = "avx2")]
    pub unsafe fn row<T: QByte>(
        &self,
        a: Operand<'_, T>,
        b: Operand<'_, T>,
        out: &mut [T],
    ) -> bool {
        let n = out.len();
        let source = |o: Operand<'_, T>| -> Option<Source<T>> {
            match o {
                Operand::Row(r) if r.len() >= n => Some(Source::Row(r.as_ptr())),
                Operand::Splat(v) => Some(Source::Splat(_mm256_set1_epi32(v.widen()))),
                _ => None,
            }
        };
        let (Some(sa), Some(sb)) = (source(a), source(b)) else {
            return false;
        };
        let mut i = 0;
        let dst = out.as_mut_ptr();
        while i + 16 <= n {
            // SAFETY: i + 16 <= n, and a row source holds at least n elements.
            let (x0, y0, x1, y1) = unsafe {
                (
                    fetch(sa, i),
                    fetch(sb, i),
                    fetch(sa, i + 8),
                    fetch(sb, i + 8),
                )
            };
            let bytes = narrow::<T>(self.step(x0, y0), self.step(x1, y1));
            // SAFETY: i + 16 <= n = out.len().
            unsafe { _mm_storeu_si128(dst.add(i).cast(), bytes) };
            i += 16;
        }
        if i < n {
            // The last 1..=15 elements through padded copies.
            let rest = n - i;
            let padded = |o: Operand<'_, T>, s: Source<T>, t: &mut [T; 16]| -> Source<T> {
                match (o, s) {
                    (Operand::Row(r), Source::Row(_)) => {
                        t[..rest].copy_from_slice(&r[i..n]);
                        Source::Row(t.as_ptr())
                    }
                    _ => s,
                }
            };
            let mut ta = [T::from_byte(0); 16];
            let mut tb = [T::from_byte(0); 16];
            let pa = padded(a, sa, &mut ta);
            let pb = padded(b, sb, &mut tb);
            // SAFETY: a row source is now a 16-element stack copy.
            let (x0, y0, x1, y1) =
                unsafe { (fetch(pa, 0), fetch(pb, 0), fetch(pa, 8), fetch(pb, 8)) };
            let bytes = narrow::<T>(self.step(x0, y0), self.step(x1, y1));
            let mut to = [T::from_byte(0); 16];
            // SAFETY: `to` holds 16 elements.
            unsafe { _mm_storeu_si128(to.as_mut_ptr().cast(), bytes) };
            out[i..].copy_from_slice(&to[..rest]);
        }
        true
    }
}

/// Eight lanes of a source from element `at`.
///
/// # Safety
/// For a row source, elements `at..at + 8` must be readable.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn fetch<T: QByte>(s: Source<T>, at: usize) -> __m256i {
    match s {
        // SAFETY: the caller guarantees the eight elements.
        Source::Row(p) => unsafe { load8(p.add(at)) },
        Source::Splat(v) => v,
    }
}

/// Narrows two vectors of in-range values to sixteen bytes in order (saturating packs
/// that only narrow, since the values are already clamped to the type's range).
#[target_feature(enable = "avx2")]
#[inline]
fn narrow<T: QByte>(v0: __m256i, v1: __m256i) -> __m128i {
    // packs works within 128-bit halves: [v0 0..4, v1 0..4 | v0 4..8, v1 4..8].
    let words = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(v0, v1));
    let (w0, w1) = (
        _mm256_castsi256_si128(words),
        _mm256_extracti128_si256::<1>(words),
    );
    if T::SIGNED {
        _mm_packs_epi16(w0, w1)
    } else {
        _mm_packus_epi16(w0, w1)
    }
}
