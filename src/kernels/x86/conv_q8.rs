//! The AVX2 interior path of the 8-bit CONV_2D: pixels whose whole window lies inside
//! the image, computed as an i16 dot product with `vpmaddwd`.
//!
//! For such a pixel the reference sum Σ (w + w_off)·(x + in_off) splits into
//! Σ (w + w_off)·x plus in_off·Σ (w + w_off); the second term depends only on the
//! output channel, so it is folded into the bias once at prepare. (Border pixels skip
//! their padded taps, so their fold would differ; they stay on the general path.) The
//! rest is a dot product of the widened input with the widened weights over the
//! reduction axis (filter row, filter column, input channel), which `vpmaddwd` takes
//! two elements at a time: a pair of neighbouring inputs broadcast as one i32 lane
//! against the same pair of weights for 8 output channels gives 8 i32 sums. Every
//! product and pair sum fits i32 (|w + w_off|, |x| <= 255), and the i32 sums wrap as
//! the reference's do, so the order of accumulation changes no bit of the result.
//!
//! The reduction axis is cut into segments that are contiguous in the input (one
//! filter row when taps and channels of a row follow each other, else one tap's
//! channels), each padded to an even length with a zero weight; the pad reads one
//! element past the segment, which the widened copy of the image always has.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::kernels::reference::conv::ConvShape;
use crate::kernels::reference::conv_q8::{conv_q8_body, ConvQ8Params, LaneTables};
use crate::kernels::reference::quant_binary::QByte;
use crate::kernels::window::TapRange;

/// The 8-bit CONV_2D body compiled with AVX2, with the interior path when the plan has
/// one: each image is widened into `scratch` (a scratch shorter than the plan's widened
/// image leaves every pixel to the reference loops).
#[target_feature(enable = "avx2")]
pub(crate) fn conv_q8_avx2<T: QByte>(
    k: &ConvQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
    scratch: &mut [i16],
) {
    let s = &k.shape;
    let widened_len = MaddPlan::widened_len(s);
    let plan = k.madd.as_ref().zip(k.requant.lanes.as_ref());
    let (full_lo, full_hi) = s.win.w.full;
    let interior_rows = s.win.h.full.0..s.win.h.full.1;
    let widened = match scratch.get_mut(..widened_len) {
        Some(widened) if plan.is_some() && full_lo < full_hi && !interior_rows.is_empty() => {
            // `widen` leaves the element past the image alone; the interior loop reads
            // it as 0.
            if let Some(last) = widened.last_mut() {
                *last = 0;
            }
            Some(widened)
        }
        _ => None,
    };
    let (Some((plan, lanes)), Some(widened)) = (plan, widened) else {
        conv_q8_body(k, input, bias, out, |_, _| (0, 0));
        return;
    };
    conv_q8_body(k, input, bias, out, |image, out_image| {
        widen(image, widened);
        let job = Interior {
            shape: s,
            plan,
            lanes,
            output_zero_point: k.requant.output_zero_point,
            range: k.requant.range,
            bias,
            image: widened,
            row_taps: &s.win.h.taps,
            column_taps: &s.win.w.taps,
            rows: interior_rows.clone(),
            columns: full_lo..full_hi,
            out: out_image,
        };
        // SAFETY: this function runs only when the CPU reported AVX2 (and AVX-512 when
        // the plan uses it); `widened` has the plan's length and the plan was made for
        // this shape.
        unsafe { interior(job) };
        (full_lo, full_hi)
    });
}

/// Output channels per vector (AVX2).
const V: usize = 8;
/// Output channels per vector (AVX-512).
const W512: usize = 16;

/// What prepare works out for the interior path of one conv.
#[derive(Clone, Debug)]
pub(crate) struct MaddPlan {
    /// Per group: [segment][pair][channel (padded to V)][2] widened weights (with the
    /// filter offset), a zero weight in each odd segment's last pair.
    weights: Vec<i16>,
    group_weights: usize,
    /// Per pair along the reduction axis: its first input element relative to the
    /// pixel's first one (the weights run through the pairs in the same order).
    pair_offsets: Vec<usize>,
    /// Elements of the widened image one pixel's reads span (from its first element).
    span: usize,
    /// Output channels per group rounded up to the vector width (V, or W512 for the
    /// AVX-512 variant).
    channels_padded: usize,
    /// Use the AVX-512 variant (16 channels per vector, masked stores).
    avx512: bool,
    /// ... with AVX-512 VNNI's fused multiply-add of pairs (`vpdpwssd`).
    vnni: bool,
    /// in_off · Σ (w + w_off) per output channel, wrapping: the folded input offset.
    offset_sums: Vec<i32>,
}

impl MaddPlan {
    /// `filter` is [out_c, k_h, k_w, group_in] with the filter offset already added;
    /// `(avx512, vnni)` say which instruction sets the CPU has.
    pub(crate) fn new(
        s: &ConvShape,
        filter: &[i16],
        input_offset: i32,
        (avx512, vnni): (bool, bool),
    ) -> MaddPlan {
        let (in_w, in_c) = (s.win.w.input, s.in_c);
        let row_step = s.win.h.dilation * in_w * in_c;
        // Segment starts over (ky, kx, ic), and their length.
        let (segments, seg_len): (Vec<usize>, usize) = if s.contiguous_taps {
            ((0..s.k_h).map(|ky| ky * row_step).collect(), s.k_w * in_c)
        } else {
            let col_step = s.win.w.dilation * in_c;
            let starts = (0..s.k_h)
                .flat_map(|ky| (0..s.k_w).map(move |kx| ky * row_step + kx * col_step))
                .collect();
            (starts, s.group_in)
        };
        let pairs_per_segment = seg_len.div_ceil(2);
        let width = if avx512 { W512 } else { V };
        let channels_padded = s.group_out.div_ceil(width) * width;
        let group_weights = segments.len() * pairs_per_segment * channels_padded * 2;
        let mut weights = vec![0i16; s.groups * group_weights];
        let taps = s.k_h * s.k_w * s.group_in;
        let mut offset_sums = vec![0i32; s.out_c];
        for oc in 0..s.out_c {
            let (g, j) = (oc / s.group_out, oc % s.group_out);
            let w = &filter[oc * taps..(oc + 1) * taps];
            let sum = w.iter().fold(0i32, |a, &v| a.wrapping_add(i32::from(v)));
            offset_sums[oc] = sum.wrapping_mul(input_offset);
            // Reduction index r = (ky·k_w + kx)·group_in + ic runs through the segments
            // in order, seg_len at a time.
            for (r, &v) in w.iter().enumerate() {
                let (seg, e) = (r / seg_len, r % seg_len);
                let pair = seg * pairs_per_segment + e / 2;
                let at = g * group_weights + (pair * channels_padded + j) * 2 + e % 2;
                weights[at] = v;
            }
        }
        let pair_offsets: Vec<usize> = segments
            .iter()
            .flat_map(|&seg| (0..pairs_per_segment).map(move |k| seg + 2 * k))
            .collect();
        let span = pair_offsets.iter().max().map_or(0, |&l| l + 2);
        MaddPlan {
            weights,
            group_weights,
            pair_offsets,
            span,
            channels_padded,
            avx512,
            vnni: avx512 && vnni,
            offset_sums,
        }
    }

    /// Length of the widened image buffer: the image plus the one element an odd
    /// segment's pad reads past the end.
    pub(crate) fn widened_len(s: &ConvShape) -> usize {
        s.win.h.input * s.win.w.input * s.in_c + 1
    }
}

/// Copies one image into `dst` as i16 (the last element stays 0).
#[inline(always)]
pub(crate) fn widen<T: QByte>(image: &[T], dst: &mut [i16]) {
    for (d, &x) in dst.iter_mut().zip(image) {
        *d = x.widen() as i16;
    }
}

/// Everything the interior pixels of one image need.
pub(crate) struct Interior<'a, T> {
    pub shape: &'a ConvShape,
    pub plan: &'a MaddPlan,
    pub lanes: &'a LaneTables,
    pub output_zero_point: i32,
    pub range: (i32, i32),
    pub bias: Option<&'a [i32]>,
    /// The current image, widened by [`widen`].
    pub image: &'a [i16],
    /// Per output row and column: its taps (only `first_input` is used; the pixels
    /// of `rows` x `columns` have every tap inside the image).
    pub row_taps: &'a [TapRange],
    pub column_taps: &'a [TapRange],
    pub rows: std::ops::Range<usize>,
    pub columns: std::ops::Range<usize>,
    /// The image's output.
    pub out: &'a mut [T],
}

/// Requantization constants of one vector of output channels.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct VecRequant {
    bias: __m256i,
    multiplier: __m256i,
    /// `multiplier` with its odd lanes moved to the even positions.
    multiplier_odd: __m256i,
    left: __m256i,
    right: __m256i,
    mask: __m256i,
    half_mask: __m256i,
}

/// Computes the interior pixels of one image, all groups and channels.
///
/// # Safety
/// The CPU must support AVX2, and AVX-512 F, BW and VL when the plan was made for
/// them. `row.image` must hold the widened image
/// ([`MaddPlan::widened_len`] elements) and `row.out` the image's output; the plan
/// must have been made for `row.shape`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn interior<T: QByte>(mut row: Interior<'_, T>) {
    let s = row.shape;
    let p = row.plan;
    if p.avx512 {
        for g in 0..s.groups {
            for start in (0..s.group_out).step_by(W512) {
                if p.vnni {
                    block512_vnni(&mut row, g, start);
                } else {
                    block512::<T, false>(&mut row, g, start);
                }
            }
        }
        return;
    }
    for g in 0..s.groups {
        let mut start = 0;
        while start < s.group_out {
            if p.channels_padded - start >= 2 * V {
                block::<T, 2>(&mut row, g, start);
                start += 2 * V;
            } else {
                block::<T, 1>(&mut row, g, start);
                start += V;
            }
        }
    }
}

/// Output channels `start..start + NV·V` of group `g` (within the padded range).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn block<T: QByte, const NV: usize>(row: &mut Interior<'_, T>, g: usize, start: usize) {
    let s = row.shape;
    let p = row.plan;
    let first = g * s.group_out + start;
    let valid = (s.group_out - start).min(NV * V);
    // Lane tables are padded by BLOCK >= NV·V entries; channels past `valid` get bias
    // 0 and are never stored.
    let mut bias = [0i32; 16];
    for (l, b) in bias.iter_mut().enumerate().take(valid) {
        let oc = first + l;
        *b = row
            .bias
            .map_or(0, |b| b[oc])
            .wrapping_add(p.offset_sums[oc]);
    }
    let lane = |table: &[i32], v: usize| -> __m256i {
        let t = &table[first + v * V..first + v * V + V];
        _mm256_loadu_si256(t.as_ptr().cast())
    };
    let lane_u = |table: &[u32], v: usize| -> __m256i {
        let t = &table[first + v * V..first + v * V + V];
        _mm256_loadu_si256(t.as_ptr().cast())
    };
    let ones = _mm256_set1_epi32(1);
    let q: [VecRequant; NV] = std::array::from_fn(|v| {
        let right = lane_u(&row.lanes.right, v);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(ones, right), ones);
        let multiplier = lane(&row.lanes.multiplier, v);
        VecRequant {
            bias: _mm256_loadu_si256(bias[v * V..].as_ptr().cast()),
            multiplier,
            multiplier_odd: _mm256_shuffle_epi32::<0b11_11_01_01>(multiplier),
            left: lane_u(&row.lanes.left, v),
            right,
            mask,
            half_mask: _mm256_srai_epi32::<1>(mask),
        }
    });
    let zero_point = _mm256_set1_epi32(row.output_zero_point);
    let lo = _mm256_set1_epi32(row.range.0);
    let hi = _mm256_set1_epi32(row.range.1);
    let weights = &p.weights[g * p.group_weights..(g + 1) * p.group_weights];
    let pair_stride = p.channels_padded * 2;
    // The weights of this block: pair k's NV vectors start at k·pair_stride.
    let block_weights = &weights[start * 2..];
    debug_assert!(p.pair_offsets.len() * pair_stride <= weights.len());
    // One pixel per output column: Σ over pairs of madd(x pair, w pairs).
    let in_row = s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    // Only the single block of a one-group conv may store whole vectors that run into
    // the next pixel of the row: that pixel is written after this one.
    let spill = s.groups == 1 && s.out_c <= NV * V;
    for oy in row.rows.clone() {
        let row_base = row.row_taps[oy].first_input * in_row + g * s.group_in;
        let out_row = &mut row.out[oy * out_row_len..(oy + 1) * out_row_len];
        for ox in row.columns.clone() {
            let base = row_base + row.column_taps[ox].first_input * s.in_c;
            let pixel = &row.image[base..base + p.span];
            let mut acc = [_mm256_setzero_si256(); NV];
            let mut w = block_weights.as_ptr();
            for &off in &p.pair_offsets {
                // SAFETY: every pair offset + 2 <= span (MaddPlan::new), so the i32 read
                // lies inside `pixel`; each pair's row of weights holds channels_padded·2
                // i16 and start + NV·V <= channels_padded, so the NV vectors from `w` lie
                // inside it.
                let xp = pixel.as_ptr().add(off).cast::<i32>().read_unaligned();
                let x = _mm256_set1_epi32(xp);
                for (v, acc) in acc.iter_mut().enumerate() {
                    let wv = _mm256_loadu_si256(w.add(v * 2 * V).cast());
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(x, wv));
                }
                w = w.add(pair_stride);
            }
            let values: [__m256i; NV] =
                std::array::from_fn(|v| requant(acc[v], &q[v], zero_point, lo, hi));
            let at = ox * s.out_c + first;
            store::<T, NV>(&mut out_row[at..], &values, valid, spill);
        }
    }
}

/// MultiplyByQuantizedMultiplier, output offset and clamp on 8 lanes, exactly as
/// `requant_lanes` (whose comment derives it) computes them. The 64-bit products come
/// from `vpmuldq` on the even lanes and, shifted down, the odd ones; the wanted high
/// half is bits 31..62 of product + 2^30, which a logical shift moves into place as
/// well as an arithmetic one would.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn requant(
    acc: __m256i,
    q: &VecRequant,
    zero_point: __m256i,
    lo: __m256i,
    hi: __m256i,
) -> __m256i {
    let x = _mm256_sllv_epi32(_mm256_add_epi32(acc, q.bias), q.left);
    let nudge = _mm256_set1_epi64x(1 << 30);
    let even = _mm256_add_epi64(_mm256_mul_epi32(x, q.multiplier), nudge);
    // vpmuldq reads the low dword of each qword: move the odd lanes there.
    let x_odd = _mm256_shuffle_epi32::<0b11_11_01_01>(x);
    let odd = _mm256_add_epi64(_mm256_mul_epi32(x_odd, q.multiplier_odd), nudge);
    // Even results to the low dword of their qword, odd ones to the high dword.
    let even = _mm256_srli_epi64::<31>(even);
    let odd = _mm256_slli_epi64::<1>(odd);
    let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);
    let remainder = _mm256_and_si256(high, q.mask);
    let threshold = _mm256_sub_epi32(q.half_mask, _mm256_srai_epi32::<31>(high));
    let round_up = _mm256_cmpgt_epi32(remainder, threshold);
    let rounded = _mm256_sub_epi32(_mm256_srav_epi32(high, q.right), round_up);
    let shifted = _mm256_add_epi32(rounded, zero_point);
    _mm256_min_epi32(_mm256_max_epi32(shifted, lo), hi)
}

/// Narrows NV vectors of in-range values to 8 bits and writes the first `valid` to
/// `dst`; with `spill` whole vectors may be written when `dst` has room (the extra
/// lanes land on channels written later).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn store<T: QByte, const NV: usize>(
    dst: &mut [T],
    values: &[__m256i; NV],
    valid: usize,
    spill: bool,
) {
    let halves =
        |v: __m256i| _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let low = halves(values[0]);
    let high = if NV > 1 { halves(values[NV - 1]) } else { low };
    // Values are clamped to the type's range, so the saturating packs only narrow.
    let bytes = if !T::SIGNED {
        _mm_packus_epi16(low, high)
    } else {
        _mm_packs_epi16(low, high)
    };
    let width = NV * V;
    if valid == width || (spill && dst.len() >= width) {
        if width == 16 {
            if let Some(d) = dst.first_chunk_mut::<16>() {
                _mm_storeu_si128(d.as_mut_ptr().cast(), bytes);
                return;
            }
        } else if let Some(d) = dst.first_chunk_mut::<8>() {
            _mm_storel_epi64(d.as_mut_ptr().cast(), bytes);
            return;
        }
    }
    let mut tmp = [0u8; 16];
    _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
    let dst = &mut dst[..valid];
    let mut at = 0;
    while dst.len() - at >= 4 {
        for l in 0..4 {
            dst[at + l] = T::from_byte(tmp[at + l]);
        }
        at += 4;
    }
    for l in at..valid {
        dst[l] = T::from_byte(tmp[l]);
    }
}

/// [`block512`] compiled with VNNI.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn block512_vnni<T: QByte>(row: &mut Interior<'_, T>, g: usize, start: usize) {
    block512::<T, true>(row, g, start);
}

/// [`block`] for the AVX-512 variant: output channels `start..start + 16` of group `g`
/// in one vector, stored through a byte mask (so never past the valid channels).
/// `VNNI` only when called from a function compiled with it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn block512<T: QByte, const VNNI: bool>(row: &mut Interior<'_, T>, g: usize, start: usize) {
    let s = row.shape;
    let p = row.plan;
    let first = g * s.group_out + start;
    let valid = (s.group_out - start).min(W512);
    let mut bias = [0i32; W512];
    for (l, b) in bias.iter_mut().enumerate().take(valid) {
        let oc = first + l;
        *b = row
            .bias
            .map_or(0, |b| b[oc])
            .wrapping_add(p.offset_sums[oc]);
    }
    // Lane tables are padded by BLOCK = 16 entries, so 16 from `first` exist; lanes
    // past `valid` are never stored.
    let load = |t: &[i32]| _mm512_loadu_si512(t[first..first + W512].as_ptr().cast());
    let load_u = |t: &[u32]| _mm512_loadu_si512(t[first..first + W512].as_ptr().cast());
    let ones = _mm512_set1_epi32(1);
    let right = load_u(&row.lanes.right);
    let mask = _mm512_sub_epi32(_mm512_sllv_epi32(ones, right), ones);
    let multiplier = load(&row.lanes.multiplier);
    let q = Requant512 {
        bias: _mm512_loadu_si512(bias.as_ptr().cast()),
        multiplier,
        multiplier_odd: _mm512_shuffle_epi32::<0b11_11_01_01>(multiplier),
        left: load_u(&row.lanes.left),
        right,
        mask,
        half_mask: _mm512_srai_epi32::<1>(mask),
        zero_point: _mm512_set1_epi32(row.output_zero_point),
        lo: _mm512_set1_epi32(row.range.0),
        hi: _mm512_set1_epi32(row.range.1),
    };
    let store_mask: __mmask16 = ((1u32 << valid) - 1) as u16;
    let weights = &p.weights[g * p.group_weights..(g + 1) * p.group_weights];
    let pair_stride = p.channels_padded * 2;
    let block_weights = &weights[start * 2..];
    debug_assert!(p.pair_offsets.len() * pair_stride <= weights.len());
    let in_row = s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    for oy in row.rows.clone() {
        let row_base = row.row_taps[oy].first_input * in_row + g * s.group_in;
        let out_row = &mut row.out[oy * out_row_len..(oy + 1) * out_row_len];
        for ox in row.columns.clone() {
            let base = row_base + row.column_taps[ox].first_input * s.in_c;
            let pixel = &row.image[base..base + p.span];
            let mut acc = _mm512_setzero_si512();
            let mut w = block_weights.as_ptr();
            for &off in &p.pair_offsets {
                // SAFETY: as in `block`: the i32 read lies inside `pixel`, and the 32 i16
                // from `w` inside this pair's row of weights (start + 16 <= channels_padded).
                let xp = pixel.as_ptr().add(off).cast::<i32>().read_unaligned();
                let wv = _mm512_loadu_si512(w.cast());
                let x = _mm512_set1_epi32(xp);
                acc = if VNNI {
                    _mm512_dpwssd_epi32(acc, x, wv)
                } else {
                    _mm512_add_epi32(acc, _mm512_madd_epi16(x, wv))
                };
                w = w.add(pair_stride);
            }
            // In range for the element type after the clamp, so truncating narrows exactly.
            let bytes = _mm512_cvtepi32_epi8(requant512(acc, &q));
            let at = ox * s.out_c + first;
            let dst = &mut out_row[at..at + valid];
            // SAFETY: the mask writes exactly `valid` bytes, all inside `dst`.
            _mm_mask_storeu_epi8(dst.as_mut_ptr().cast(), store_mask, bytes);
        }
    }
}

/// Requantization constants of one AVX-512 vector of output channels.
#[cfg(target_arch = "x86_64")]
struct Requant512 {
    bias: __m512i,
    multiplier: __m512i,
    multiplier_odd: __m512i,
    left: __m512i,
    right: __m512i,
    mask: __m512i,
    half_mask: __m512i,
    zero_point: __m512i,
    lo: __m512i,
    hi: __m512i,
}

/// [`requant`] on 16 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
unsafe fn requant512(acc: __m512i, q: &Requant512) -> __m512i {
    let x = _mm512_sllv_epi32(_mm512_add_epi32(acc, q.bias), q.left);
    let nudge = _mm512_set1_epi64(1 << 30);
    let even = _mm512_add_epi64(_mm512_mul_epi32(x, q.multiplier), nudge);
    let x_odd = _mm512_shuffle_epi32::<0b11_11_01_01>(x);
    let odd = _mm512_add_epi64(_mm512_mul_epi32(x_odd, q.multiplier_odd), nudge);
    let even = _mm512_srli_epi64::<31>(even);
    let odd = _mm512_slli_epi64::<1>(odd);
    let high = _mm512_mask_blend_epi32(0b1010_1010_1010_1010, even, odd);
    let remainder = _mm512_and_si512(high, q.mask);
    let threshold = _mm512_sub_epi32(q.half_mask, _mm512_srai_epi32::<31>(high));
    let round_up = _mm512_cmpgt_epi32_mask(remainder, threshold);
    let shifted = _mm512_srav_epi32(high, q.right);
    let rounded = _mm512_mask_add_epi32(shifted, round_up, shifted, _mm512_set1_epi32(1));
    let offset = _mm512_add_epi32(rounded, q.zero_point);
    _mm512_min_epi32(_mm512_max_epi32(offset, q.lo), q.hi)
}
