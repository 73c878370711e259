//! AVX2 lookup in a 256-entry byte table, 32 bytes per step, for the int8/uint8 ops
//! whose output is a function of one input byte (activations built as tables, binary
//! ops against a constant single value). Exact by construction: every output is a
//! table entry.
//!
//! `vpshufb` looks up 16 entries by the low nibble, giving zero where the index byte
//! has its top bit set. Indices below 128 are resolved against the XOR-differences of
//! consecutive 16-entry rows 0..8: after subtracting 16 k times (saturating, so a
//! negative index stays negative) the index is non-negative exactly for the rows up to
//! its own, and the differences telescope to that row's entry. Indices of 128 and up
//! take the same chain over rows 8..16 with the top bit flipped; each chain gives zero
//! for the other half, so their XOR is the entry.

use crate::kernels::reference::quant_binary::QByte;
use std::arch::x86_64::*;

/// Bytes per step.
const STEP: usize = 32;

/// `out[i] = table[input[i]]` (by the element's bits) for `min(input.len(), out.len())`
/// elements.
///
/// # Safety
/// The CPU must support AVX2 (seen in a detected `CpuFeatures`).
#[target_feature(enable = "avx2")]
pub unsafe fn lookup<T: QByte>(table: &[u8; 256], input: &[T], out: &mut [T]) {
    let n = input.len().min(out.len());
    let row = |k: usize| -> __m256i {
        let r = &table[16 * k..16 * k + 16];
        // SAFETY: `r` holds 16 bytes.
        _mm256_broadcastsi128_si256(unsafe { _mm_loadu_si128(r.as_ptr().cast()) })
    };
    let diffs: [__m256i; 16] = std::array::from_fn(|k| {
        if k % 8 == 0 {
            row(k)
        } else {
            _mm256_xor_si256(row(k), row(k - 1))
        }
    });
    let sixteen = _mm256_set1_epi8(16);
    let top = _mm256_set1_epi8(i8::MIN);
    let step = |x: __m256i| -> __m256i {
        let mut lo_index = x;
        let mut hi_index = _mm256_xor_si256(x, top);
        let mut lo = _mm256_shuffle_epi8(diffs[0], lo_index);
        let mut hi = _mm256_shuffle_epi8(diffs[8], hi_index);
        for k in 1..8 {
            lo_index = _mm256_subs_epi8(lo_index, sixteen);
            hi_index = _mm256_subs_epi8(hi_index, sixteen);
            lo = _mm256_xor_si256(lo, _mm256_shuffle_epi8(diffs[k], lo_index));
            hi = _mm256_xor_si256(hi, _mm256_shuffle_epi8(diffs[8 + k], hi_index));
        }
        _mm256_xor_si256(lo, hi)
    };
    let mut i = 0;
    while i + STEP <= n {
        // SAFETY: i + 32 <= n, within both slices.
        unsafe {
            let x = _mm256_loadu_si256(input.as_ptr().add(i).cast());
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), step(x));
        }
        i += STEP;
    }
    if i < n {
        let rest = n - i;
        let mut tmp = [T::from_byte(0); STEP];
        tmp[..rest].copy_from_slice(&input[i..n]);
        // SAFETY: `tmp` holds 32 elements.
        unsafe {
            let x = _mm256_loadu_si256(tmp.as_ptr().cast());
            _mm256_storeu_si256(tmp.as_mut_ptr().cast(), step(x));
        }
        out[i..n].copy_from_slice(&tmp[..rest]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn lookup_is_the_table_entry(
            table in proptest::collection::vec(any::<u8>(), 256),
            input in proptest::collection::vec(any::<i8>(), 0..200),
        ) {
            if !crate::kernels::cpu::CpuFeatures::detect().avx2() {
                return Ok(());
            }
            let table: [u8; 256] = table.try_into().unwrap();
            let mut out = vec![0i8; input.len()];
            // SAFETY: AVX2 was detected above.
            unsafe { lookup(&table, &input, &mut out) };
            let want: Vec<i8> = input.iter().map(|&x| table[x as u8 as usize] as i8).collect();
            prop_assert_eq!(out, want);
        }
    }

    /// Every byte value against a table with no two equal neighbours, at every offset
    /// of the tail.
    #[test]
    fn every_byte_at_every_position() {
        if !crate::kernels::cpu::CpuFeatures::detect().avx2() {
            return;
        }
        let table: [u8; 256] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
        for shift in 0..STEP {
            let input: Vec<u8> = (0..=255u8).cycle().skip(shift).take(256 + shift).collect();
            let mut out = vec![0u8; input.len()];
            // SAFETY: AVX2 was detected above.
            unsafe { lookup(&table, &input, &mut out) };
            for (&x, &y) in input.iter().zip(&out) {
                assert_eq!(y, table[usize::from(x)], "byte {x}");
            }
        }
    }
}
