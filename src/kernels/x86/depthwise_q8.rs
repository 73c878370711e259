//! AVX2 int8/uint8 DEPTHWISE_CONV_2D with a depth multiplier of 1, sixteen channels per
//! step.
//!
//! The image is first copied, widened to i16 with the input offset added, into a
//! zero-bordered scratch image whose channels are padded to a multiple of 16. A tap
//! outside the image then reads 0 and adds nothing, which is what the reference's
//! skipped taps add, so every output pixel runs the same loop. Taps go in pairs: the
//! two taps' inputs are interleaved (`vpunpck{l,h}wd`) and `vpmaddwd` against weights
//! interleaved the same way at prepare adds both products per i32 lane. Integer sums
//! wrap and are associative, so the order of the taps changes no bit.
//!
//! The unpacks work within 128-bit halves, so the "low" accumulator holds channels
//! 0-3 and 8-11 of the block and the "high" one 4-7 and 12-15; the per-channel lane
//! tables are stored in that order, and `vpackssdw` of the two puts the channels back
//! in order.

use crate::kernels::reference::conv_q8::{depthwise_q8_body, DepthwiseQ8Params};
use crate::kernels::reference::quant_binary::QByte;
use crate::kernels::window::WindowAxis;
use std::arch::x86_64::*;

/// Channels per step.
const BLOCK: usize = 16;

/// The channel of lane `l` (0..16) of a block's accumulators: low half then high half.
fn lane_channel(l: usize) -> usize {
    let (half, lane) = (l / 8, l % 8);
    // Lanes 0-3 of each accumulator are the first 128-bit half of the block's 16.
    (lane / 4) * 8 + half * 4 + lane % 4
}

/// One spatial axis of the window, resolved against a zero border.
#[derive(Clone, Copy, Debug)]
pub struct Axis {
    pub input: usize,
    pub output: usize,
    pub stride: usize,
    pub dilation: usize,
    pub kernel: usize,
    /// Zero rows (columns) before the image.
    pub pad: usize,
}

impl Axis {
    /// The window axis as the bordered-image loop sees it, if its tap ranges are exactly
    /// those of a window starting `pad` before the image (checked output by output).
    pub(crate) fn bordered(a: &WindowAxis, kernel: usize) -> Option<Axis> {
        let t0 = a.taps.first()?;
        let pad = (t0.lo * a.dilation).checked_sub(t0.first_input)?;
        for (o, t) in a.taps.iter().enumerate() {
            // Taps k with 0 <= o*stride - pad + k*dilation < input, as the reference skips.
            let start = (o * a.stride) as i64 - pad as i64;
            let valid: Vec<usize> = (0..kernel)
                .filter(|&k| {
                    let i = start + (k * a.dilation) as i64;
                    i >= 0 && i < a.input as i64
                })
                .collect();
            let (lo, hi) = match (valid.first(), valid.last()) {
                (Some(&lo), Some(&hi)) => (lo, hi + 1),
                _ => return None,
            };
            let first = (start + (lo * a.dilation) as i64) as usize;
            if (t.lo, t.hi, t.first_input) != (lo, hi, first) || valid.len() != hi - lo {
                return None;
            }
        }
        Some(Axis {
            input: a.input,
            output: a.output,
            stride: a.stride,
            dilation: a.dilation,
            kernel,
            pad,
        })
    }

    /// Rows (columns) of the bordered image: the image and every tap of every output.
    fn padded(&self) -> usize {
        let reach = (self.output - 1) * self.stride + (self.kernel - 1) * self.dilation + 1;
        reach.max(self.pad + self.input)
    }
}

/// Everything the loop needs, made at prepare.
#[derive(Clone, Debug)]
pub struct DepthwisePlan {
    batch: usize,
    h: Axis,
    w: Axis,
    channels: usize,
    /// Channels rounded up to BLOCK: the scratch image's pixel stride.
    padded_channels: usize,
    padded_w: usize,
    /// Per tap pair, the two taps' offsets (in i16 elements) from the window origin.
    pairs: Vec<(usize, usize)>,
    /// Per pair and block: 16 i16 pairs for the low accumulator, then 16 for the high.
    weights: Vec<i16>,
    /// Per block, 16 lanes in accumulator order (low 8, high 8).
    multiplier: Vec<i32>,
    left: Vec<i32>,
    right: Vec<i32>,
    output_zero_point: i32,
    range: (i32, i32),
}

impl DepthwisePlan {
    /// `filter` is `[k_h, k_w, channels]`, each weight with the filter offset added;
    /// `multipliers` per channel `(multiplier, shift)`, each with a multiplier other
    /// than `i32::MIN` and a shift in -31..=30 (the caller checks).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        batch: usize,
        h: Axis,
        w: Axis,
        channels: usize,
        filter: &[i16],
        multipliers: &[(i32, i32)],
        output_zero_point: i32,
        range: (i32, i32),
    ) -> Option<DepthwisePlan> {
        let taps = h.kernel * w.kernel;
        if channels == 0
            || h.output == 0
            || w.output == 0
            || taps == 0
            || filter.len() != taps * channels
            || multipliers.len() != channels
        {
            return None;
        }
        let padded_channels = channels.div_ceil(BLOCK) * BLOCK;
        let blocks = padded_channels / BLOCK;
        let padded_w = w.padded();
        let offset = |t: usize| {
            let (ky, kx) = (t / w.kernel, t % w.kernel);
            (ky * h.dilation * padded_w + kx * w.dilation) * padded_channels
        };
        // An odd last tap pairs with itself under zero weights.
        let pair_taps: Vec<(usize, Option<usize>)> = (0..taps)
            .step_by(2)
            .map(|t| (t, (t + 1 < taps).then_some(t + 1)))
            .collect();
        let pairs = pair_taps
            .iter()
            .map(|&(t0, t1)| (offset(t0), offset(t1.unwrap_or(t0))))
            .collect();
        let weight = |t: usize, c: usize| -> i16 {
            if c < channels {
                filter[t * channels + c]
            } else {
                0
            }
        };
        let mut weights = Vec::with_capacity(pair_taps.len() * blocks * 2 * BLOCK);
        for &(t0, t1) in &pair_taps {
            for b in 0..blocks {
                for l in 0..BLOCK {
                    let c = b * BLOCK + lane_channel(l);
                    weights.push(weight(t0, c));
                    weights.push(t1.map_or(0, |t1| weight(t1, c)));
                }
            }
        }
        let lane_table = |f: &dyn Fn((i32, i32)) -> i32| -> Vec<i32> {
            (0..blocks * BLOCK)
                .map(|i| {
                    let c = (i / BLOCK) * BLOCK + lane_channel(i % BLOCK);
                    multipliers.get(c).map_or(0, |&m| f(m))
                })
                .collect()
        };
        Some(DepthwisePlan {
            batch,
            h,
            w,
            channels,
            padded_channels,
            padded_w,
            pairs,
            weights,
            multiplier: lane_table(&|(m, _)| m),
            left: lane_table(&|(_, s)| s.max(0)),
            right: lane_table(&|(_, s)| -s.min(0)),
            output_zero_point,
            range,
        })
    }

    /// i16 elements of the scratch image; zeroed once, its border stays zero.
    pub fn scratch_len(&self) -> usize {
        self.h.padded() * self.padded_w * self.padded_channels
    }

    fn image_len(&self) -> usize {
        self.h.input * self.w.input * self.channels
    }

    fn out_image_len(&self) -> usize {
        self.h.output * self.w.output * self.channels
    }
}

/// Runs the whole op. Returns false, writing nothing, when a length does not match
/// the plan.
///
/// # Safety
/// The CPU must support AVX2 (seen in a detected `CpuFeatures`).
#[target_feature(enable = "avx2")]
pub unsafe fn depthwise_q8<T: QByte>(
    plan: &DepthwisePlan,
    input: &[T],
    input_offset: i32,
    bias: Option<&[i32]>,
    scratch: &mut [i16],
    out: &mut [T],
) -> bool {
    let p = plan;
    if input.len() != p.batch * p.image_len()
        || out.len() != p.batch * p.out_image_len()
        || scratch.len() != p.scratch_len()
        || bias.is_some_and(|b| b.len() != p.channels)
        || p.weights.len() != p.pairs.len() * p.padded_channels * 2
    {
        return false;
    }
    for (image, out_image) in input
        .chunks_exact(p.image_len())
        .zip(out.chunks_exact_mut(p.out_image_len()))
    {
        fill(p, image, input_offset, scratch);
        for b in 0..p.padded_channels / BLOCK {
            // SAFETY: AVX2 as for this function; lengths checked above.
            unsafe { block(p, b, bias, scratch, out_image) };
        }
    }
    true
}

/// The image, offset and widened, into the inside of the bordered scratch.
#[target_feature(enable = "avx2")]
fn fill<T: QByte>(p: &DepthwisePlan, image: &[T], offset: i32, scratch: &mut [i16]) {
    let row_len = p.w.input * p.channels;
    for (y, row) in image.chunks_exact(row_len).enumerate() {
        let start = ((y + p.h.pad) * p.padded_w + p.w.pad) * p.padded_channels;
        let dst_row = &mut scratch[start..start + p.w.input * p.padded_channels];
        for (src, dst) in row
            .chunks_exact(p.channels)
            .zip(dst_row.chunks_exact_mut(p.padded_channels))
        {
            for (d, &s) in dst.iter_mut().zip(src) {
                // |x + offset| <= 255 for an offset that is minus a zero point.
                *d = (s.widen() + offset) as i16;
            }
        }
    }
}

/// All output pixels of channel block `b`.
///
/// # Safety
/// AVX2; the lengths were checked by [`depthwise_q8`].
#[target_feature(enable = "avx2")]
unsafe fn block<T: QByte>(
    p: &DepthwisePlan,
    b: usize,
    bias: Option<&[i32]>,
    scratch: &[i16],
    out: &mut [T],
) {
    let lanes = |t: &[i32], half: usize| -> __m256i {
        let at = b * BLOCK + half * 8;
        // SAFETY: the lane tables hold BLOCK entries per block.
        unsafe { _mm256_loadu_si256(t[at..at + 8].as_ptr().cast()) }
    };
    let mut bias_lanes = [0i32; BLOCK];
    if let Some(bias) = bias {
        for (l, v) in bias_lanes.iter_mut().enumerate() {
            *v = bias.get(b * BLOCK + lane_channel(l)).copied().unwrap_or(0);
        }
    }
    let ones = _mm256_set1_epi32(1);
    let requant = |half: usize| {
        let right = lanes(&p.right, half);
        let mask = _mm256_sub_epi32(_mm256_sllv_epi32(ones, right), ones);
        // SAFETY: bias_lanes holds 16 entries.
        let bias = unsafe { _mm256_loadu_si256(bias_lanes[half * 8..].as_ptr().cast()) };
        Requant {
            bias,
            multiplier: lanes(&p.multiplier, half),
            left: lanes(&p.left, half),
            right,
            mask,
            half_mask: _mm256_srai_epi32::<1>(mask),
        }
    };
    let (q_lo, q_hi) = (requant(0), requant(1));
    let zero_point = _mm256_set1_epi32(p.output_zero_point);
    let lo = _mm256_set1_epi32(p.range.0);
    let hi = _mm256_set1_epi32(p.range.1);
    let pair_stride = p.padded_channels * 2;
    let weights = &p.weights[b * 2 * BLOCK..];
    let valid = (p.channels - b * BLOCK).min(BLOCK);
    let base_channel = b * BLOCK;
    for oy in 0..p.h.output {
        let row_origin = oy * p.h.stride * p.padded_w;
        for ox in 0..p.w.output {
            let origin = (row_origin + ox * p.w.stride) * p.padded_channels + base_channel;
            let window = &scratch[origin..];
            let mut acc_lo = q_lo.bias;
            let mut acc_hi = q_hi.bias;
            let mut w = weights.as_ptr();
            for &(o0, o1) in &p.pairs {
                // SAFETY: every tap of every output lies inside the bordered image
                // (Axis::padded), and a block's 16 channels inside the padded pixel;
                // each pair's weights hold padded_channels * 2 i16 from `w`.
                unsafe {
                    let x0 = _mm256_loadu_si256(window.as_ptr().add(o0).cast());
                    let x1 = _mm256_loadu_si256(window.as_ptr().add(o1).cast());
                    let w_lo = _mm256_loadu_si256(w.cast());
                    let w_hi = _mm256_loadu_si256(w.add(BLOCK).cast());
                    acc_lo = _mm256_add_epi32(
                        acc_lo,
                        _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), w_lo),
                    );
                    acc_hi = _mm256_add_epi32(
                        acc_hi,
                        _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), w_hi),
                    );
                    w = w.add(pair_stride);
                }
            }
            let v_lo = q_lo.apply(acc_lo, zero_point, lo, hi);
            let v_hi = q_hi.apply(acc_hi, zero_point, lo, hi);
            // Channels back in order: [0-3, 4-7 | 8-11, 12-15] as i16.
            let words = _mm256_packs_epi32(v_lo, v_hi);
            let (w0, w1) = (
                _mm256_castsi256_si128(words),
                _mm256_extracti128_si256::<1>(words),
            );
            let bytes = if T::SIGNED {
                _mm_packs_epi16(w0, w1)
            } else {
                _mm_packus_epi16(w0, w1)
            };
            let at = (oy * p.w.output + ox) * p.channels + base_channel;
            if valid == BLOCK {
                let dst = &mut out[at..at + BLOCK];
                // SAFETY: `dst` holds 16 elements.
                unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes) };
            } else {
                let mut tmp = [T::from_byte(0); BLOCK];
                // SAFETY: `tmp` holds 16 elements.
                unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes) };
                out[at..at + valid].copy_from_slice(&tmp[..valid]);
            }
        }
    }
}

/// Per-lane constants of MultiplyByQuantizedMultiplier on eight channels.
#[derive(Clone, Copy)]
struct Requant {
    bias: __m256i,
    multiplier: __m256i,
    left: __m256i,
    right: __m256i,
    mask: __m256i,
    half_mask: __m256i,
}

impl Requant {
    /// MBQM (double rounding) of `acc`, plus the zero point, clamped: SRDHM as
    /// `(x·m + 2^30) >> 31` (exact, the multiplier is never i32::MIN), then gemmlowp's
    /// mask/threshold RoundingDivideByPOT (exact for exponents up to 31).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn apply(&self, acc: __m256i, zero_point: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
        let x = _mm256_sllv_epi32(acc, self.left);
        let nudge = _mm256_set1_epi64x(1 << 30);
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, self.multiplier), nudge);
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(
                _mm256_srli_epi64::<32>(x),
                _mm256_srli_epi64::<32>(self.multiplier),
            ),
            nudge,
        );
        let high = _mm256_blend_epi32::<0b1010_1010>(
            _mm256_srli_epi64::<31>(even),
            _mm256_slli_epi64::<1>(odd),
        );
        let remainder = _mm256_and_si256(high, self.mask);
        let threshold = _mm256_sub_epi32(self.half_mask, _mm256_srai_epi32::<31>(high));
        let round_up = _mm256_cmpgt_epi32(remainder, threshold);
        let rounded = _mm256_sub_epi32(_mm256_srav_epi32(high, self.right), round_up);
        let shifted = _mm256_add_epi32(rounded, zero_point);
        _mm256_min_epi32(_mm256_max_epi32(shifted, lo), hi)
    }
}

/// The general 8-bit DEPTHWISE_CONV_2D body (any depth multiplier, any requantization)
/// compiled with AVX2, for what the bordered loop above does not take.
#[target_feature(enable = "avx2")]
pub(crate) fn depthwise_q8_avx2<T: QByte>(
    k: &DepthwiseQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
) {
    depthwise_q8_body(k, input, bias, out);
}
