//! The 8-bit quantized convolutions, CONV_2D and DEPTHWISE_CONV_2D (int8 per channel,
//! uint8 per tensor), as plain loops over NHWC slices: `prepare` resolved the geometry,
//! widened and repacked the filter and computed the requantization, so these only
//! compute. `kernels::x86` compiles the same bodies with AVX2 enabled, and CONV_2D's
//! body takes a hook through which that build hands the pixels whose window lies inside
//! the image to the `vpmaddwd` path of `x86::conv_q8`. The bodies run no x86 code; only
//! the dispatchers `conv_q8` and `depthwise_q8` choose the AVX2 build.
//!
//! Both follow TFLite's reference kernels: acc = Σ (w + w_off)·(x + in_off) over the taps
//! inside the image, plus the int32 bias, then MultiplyByQuantizedMultiplier with the
//! output channel's multiplier, plus the output zero point, clamped to the fused
//! activation's range. Every product fits in i32 and the sums wrap as the compiled C++
//! does, so the order of accumulation does not change a single bit of the result.

use crate::kernels::fixed_point::multiply_by_quantized_multiplier;
use crate::kernels::reference::conv::{ConvShape, DepthwiseShape, BLOCK, LANES, TILE};
use crate::kernels::reference::quant_binary::QByte;
use crate::kernels::window::TapRange;

/// What every 8-bit conv kernel needs besides its geometry and filter.
#[derive(Clone, Debug)]
pub(crate) struct Requant {
    /// `(multiplier, shift)` per output channel, as `QuantizeMultiplier` encodes them.
    pub(crate) multipliers: Vec<(i32, i32)>,
    pub(crate) input_offset: i32,
    pub(crate) output_zero_point: i32,
    pub(crate) range: (i32, i32),
    /// The multipliers split for [`requant_lanes`] (padded with `BLOCK` idle lanes so
    /// every block reads whole arrays), or None when some channel's is outside what
    /// that form reproduces exactly.
    pub(crate) lanes: Option<LaneTables>,
}

#[derive(Clone, Debug)]
pub(crate) struct LaneTables {
    pub(crate) multiplier: Vec<i32>,
    pub(crate) left: Vec<u32>,
    pub(crate) right: Vec<u32>,
}

impl LaneTables {
    pub(crate) fn new(multipliers: &[(i32, i32)]) -> Option<LaneTables> {
        if !multipliers.iter().all(|&(m, shift)| lane_exact(m, shift)) {
            return None;
        }
        let idle = std::iter::repeat_n((0, 0), BLOCK);
        let padded = || multipliers.iter().copied().chain(idle.clone());
        Some(LaneTables {
            multiplier: padded().map(|(m, _)| m).collect(),
            left: padded().map(|(_, s)| s.max(0).unsigned_abs()).collect(),
            right: padded().map(|(_, s)| s.min(0).unsigned_abs()).collect(),
        })
    }
}

impl Requant {
    /// Bias added, rescaled, offset and clamped, as TFLite finishes each output.
    #[inline(always)]
    pub(crate) fn finish(&self, acc: i32, bias: Option<&[i32]>, channel: usize) -> i32 {
        let bias = bias.map_or(0, |b| b[channel]);
        let (m, shift) = self.multipliers[channel];
        multiply_by_quantized_multiplier(acc.wrapping_add(bias), m, shift)
            .wrapping_add(self.output_zero_point)
            .clamp(self.range.0, self.range.1)
    }
}

/// The requantization of one block of W output channels, laid out lane by lane so all
/// W run at once. `lanes` is None when some channel's multiplier falls outside what
/// [`requant_lanes`] reproduces exactly; those blocks take [`Requant::finish`].
struct BlockFinish<const W: usize> {
    lanes: Option<LaneRequant<W>>,
    bias: Option<[i32; W]>,
    first: usize,
}

pub(crate) struct LaneRequant<const W: usize> {
    pub(crate) bias: [i32; W],
    pub(crate) multiplier: [i32; W],
    pub(crate) left: [u32; W],
    pub(crate) right: [u32; W],
    pub(crate) zero_point: i32,
    pub(crate) range: (i32, i32),
}

impl<const W: usize> BlockFinish<W> {
    /// Output channels `first..first + valid` (lanes beyond `valid` are never stored).
    fn new(r: &Requant, bias: Option<&[i32]>, first: usize, valid: usize) -> BlockFinish<W> {
        let mut block_bias = [0i32; W];
        if let Some(b) = bias {
            block_bias[..valid].copy_from_slice(&b[first..first + valid]);
        }
        // Lanes past `valid` read the next channels' (or idle) entries and are never
        // stored.
        let lanes = r.lanes.as_ref().map(|t| LaneRequant {
            bias: block_bias,
            multiplier: lane_block(&t.multiplier, first),
            left: lane_block(&t.left, first),
            right: lane_block(&t.right, first),
            zero_point: r.output_zero_point,
            range: r.range,
        });
        BlockFinish {
            lanes,
            bias: bias.map(|_| block_bias),
            first,
        }
    }

    /// Requantizes `acc` and writes its first `dst.len()` lanes.
    #[inline(always)]
    fn store<T: QByte>(&self, dst: &mut [T], acc: &[i32; W], r: &Requant) {
        match &self.lanes {
            Some(q) => {
                let values = requant_lanes(acc, q);
                for (d, &v) in dst.iter_mut().zip(&values) {
                    *d = T::narrow(v);
                }
            }
            None => {
                for (l, (d, &a)) in dst.iter_mut().zip(acc).enumerate() {
                    let with_bias = a.wrapping_add(self.bias.map_or(0, |b| b[l]));
                    *d = T::narrow(r.finish(with_bias, None, self.first + l));
                }
            }
        }
    }
}

/// `table[first..first + W]`; the lane tables are padded by `BLOCK >= W` entries.
#[inline(always)]
fn lane_block<X: Copy + Default, const W: usize>(table: &[X], first: usize) -> [X; W] {
    match table.get(first..).and_then(|t| t.first_chunk::<W>()) {
        Some(b) => *b,
        None => [X::default(); W],
    }
}

/// True when [`requant_lanes`] gives exactly `multiply_by_quantized_multiplier`: the
/// left shift fits an i32 lane shift, the right shift is at most 31, and the
/// multiplier is not i32::MIN (the one input SaturatingRoundingDoublingHighMul
/// saturates, together with x = i32::MIN). `QuantizeMultiplier` never produces
/// anything else for the scales real models have.
pub(crate) fn lane_exact(multiplier: i32, shift: i32) -> bool {
    multiplier != i32::MIN && (-31..=30).contains(&shift)
}

/// MultiplyByQuantizedMultiplier, output offset and clamp on W lanes, written with i32
/// lane operations (and one widening multiply) so it vectorizes. Exactness: with
/// p = x·m, gemmlowp's SaturatingRoundingDoublingHighMul is (p + nudge) / 2^31
/// truncated, nudge = 2^30 for p >= 0 and 1 - 2^30 for p < 0; for p < 0 truncation is
/// ceil(a / 2^31) = floor((a + 2^31 - 1) / 2^31) with a = p + 1 - 2^30, i.e.
/// floor((p + 2^30) / 2^31) in both cases, an arithmetic shift (x = m = i32::MIN is
/// excluded by [`lane_exact`]). RoundingDivideByPOT follows gemmlowp's mask/threshold
/// form, valid for exponents up to 31.
#[inline(always)]
pub(crate) fn requant_lanes<const W: usize>(acc: &[i32; W], q: &LaneRequant<W>) -> [i32; W] {
    let mut out = [0i32; W];
    for l in 0..W {
        let x = acc[l].wrapping_add(q.bias[l]).wrapping_shl(q.left[l]);
        let product = i64::from(x) * i64::from(q.multiplier[l]);
        let high = ((product + (1 << 30)) >> 31) as i32;
        let exponent = q.right[l];
        let mask = (1u32.wrapping_shl(exponent).wrapping_sub(1)) as i32;
        let remainder = high & mask;
        let threshold = (mask >> 1) + i32::from(high < 0);
        let rounded = (high >> exponent) + i32::from(remainder > threshold);
        out[l] = rounded
            .wrapping_add(q.zero_point)
            .clamp(q.range.0, q.range.1);
    }
    out
}

// ---------------------------------------------------------------------------------------
// CONV_2D

/// What an 8-bit CONV_2D computes with, made at prepare.
#[derive(Clone, Debug)]
pub(crate) struct ConvQ8Params {
    pub(crate) shape: ConvShape,
    /// [groups, k_h, k_w, group_in, group_out_padded], each weight plus the filter
    /// offset (so uint8 weights need no offset in the loop), widened to i16.
    pub(crate) filter: Vec<i16>,
    pub(crate) requant: Requant,
    /// The `vpmaddwd` path for pixels whose window lies inside the image, when AVX2
    /// and the lane requantization are both available.
    #[cfg(target_arch = "x86_64")]
    pub(crate) madd: Option<crate::kernels::x86::conv_q8::MaddPlan>,
}

impl ConvQ8Params {
    /// Elements of the i16 scratch the kernel needs: the image widened for the AVX2
    /// interior path when the plan has one, else none. The caller owns it, so that a run
    /// does not allocate.
    pub(crate) fn scratch_len(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        if self.madd.is_some() && self.requant.lanes.is_some() {
            return crate::kernels::x86::conv_q8::MaddPlan::widened_len(&self.shape);
        }
        0
    }
}

/// An 8-bit CONV_2D over buffers whose lengths the caller checked against `p.shape`,
/// with `scratch` of [`ConvQ8Params::scratch_len`] elements.
pub(crate) fn conv_q8<T: QByte>(
    p: &ConvQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
    avx2: bool,
    scratch: &mut [i16],
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
        unsafe { crate::kernels::x86::conv_q8::conv_q8_avx2(p, input, bias, out, scratch) };
        return;
    }
    let _ = (avx2, scratch);
    conv_q8_body(p, input, bias, out, |_, _| (0, 0));
}

/// The convolution proper, one output row, group and channel block at a time: pixels
/// whose windows lie wholly inside the image horizontally go TILE at a time (each
/// filter block loaded once per tap for all of them), the border pixels one by one
/// over their valid taps. Lengths were checked by `run`; tap ranges keep every read
/// inside the image.
///
/// `interior(image, out_image)` runs first on each image and returns the output columns
/// `(lo, hi)` it has already written on the rows of `s.win.h.full`, which the loops
/// below then skip: the reference passes one that writes nothing, the AVX2 build
/// (`x86::conv_q8`) its `vpmaddwd` path for windows wholly inside the image.
#[inline(always)]
pub(crate) fn conv_q8_body<T: QByte>(
    k: &ConvQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
    mut interior: impl FnMut(&[T], &mut [T]) -> (usize, usize),
) {
    let s = &k.shape;
    let image_len = s.win.h.input * s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    let group_filter_len = s.k_h * s.k_w * s.group_in * s.group_out_padded;
    if out_row_len == 0 {
        return;
    }
    let interior_rows = s.win.h.full.0..s.win.h.full.1;
    let out_image_len = s.win.h.output * out_row_len;
    if out_image_len == 0 {
        return;
    }
    for (n, out_image) in out.chunks_exact_mut(out_image_len).enumerate() {
        let image = &input[n * image_len..(n + 1) * image_len];
        let skip = interior(image, out_image);
        for (oy, (ty, out_row)) in s
            .win
            .h
            .taps
            .iter()
            .zip(out_image.chunks_exact_mut(out_row_len))
            .enumerate()
        {
            let skip = if interior_rows.contains(&oy) {
                skip
            } else {
                (0, 0)
            };
            if skip == (0, s.win.w.output) {
                continue;
            }
            for g in 0..s.groups {
                let mut start = 0;
                while start < s.group_out {
                    let row = RowQ8 {
                        k,
                        image,
                        filter: &k.filter[g * group_filter_len..(g + 1) * group_filter_len],
                        ty,
                        channel0: g * s.group_in,
                        start,
                        out_channel0: g * s.group_out + start,
                    };
                    // Blocks of 16 output channels, then one of 8 (the packed rows are
                    // padded to a multiple of 8, so every block reads inside them).
                    if s.group_out_padded - start >= BLOCK {
                        conv_q8_row::<T, BLOCK>(&row, bias, out_row, skip);
                        start += BLOCK;
                    } else {
                        conv_q8_row::<T, LANES>(&row, bias, out_row, skip);
                        start += LANES;
                    }
                }
            }
        }
    }
}

/// One output row, one group, one block of output channels of an 8-bit conv.
struct RowQ8<'a, T> {
    k: &'a ConvQ8Params,
    /// The current batch element.
    image: &'a [T],
    /// The current group's packed filter.
    filter: &'a [i16],
    ty: &'a TapRange,
    /// First input channel of the group.
    channel0: usize,
    /// First output channel of the block within the group.
    start: usize,
    /// First output channel of the block within the pixel.
    out_channel0: usize,
}

/// Output columns in `skip.0..skip.1` were written by the interior path and are left
/// alone.
#[inline(always)]
fn conv_q8_row<T: QByte, const W: usize>(
    c: &RowQ8<'_, T>,
    bias: Option<&[i32]>,
    out_row: &mut [T],
    skip: (usize, usize),
) {
    let s = &c.k.shape;
    let valid = (s.group_out - c.start).min(W);
    let finish = BlockFinish::<W>::new(&c.k.requant, bias, c.out_channel0, valid);
    let (full_lo, full_hi) = s.win.w.full;
    let mut ox = 0;
    while ox < s.win.w.output {
        if ox >= skip.0 && ox < skip.1 {
            ox = skip.1;
        } else if ox >= full_lo && ox < full_hi && full_hi - full_lo >= TILE {
            // As in the float kernel, the last interior tile is moved back to end at the
            // edge; the pixels computed twice get identical values.
            let first = ox.min(full_hi - TILE);
            let acc = conv_q8_tile::<T, W>(c, s.win.w.taps[first].first_input);
            for (t, acc) in acc.iter().enumerate() {
                let at = (first + t) * s.out_c + c.out_channel0;
                finish.store(&mut out_row[at..at + valid], acc, &c.k.requant);
            }
            ox = first + TILE;
        } else {
            let acc = conv_q8_pixel::<T, W>(c, &s.win.w.taps[ox]);
            let at = ox * s.out_c + c.out_channel0;
            finish.store(&mut out_row[at..at + valid], &acc, &c.k.requant);
            ox += 1;
        }
    }
}

/// A W-long block of widened packed weights (the packed filter is padded so every block
/// is whole).
#[inline(always)]
pub(crate) fn weights_i32<const W: usize>(s: &[i16]) -> [i32; W] {
    match s.first_chunk::<W>() {
        Some(b) => b.map(i32::from),
        None => unreachable!("packed filter blocks are padded to whole lanes"),
    }
}

/// `acc[l] += w[l]·x` in wrapping i32, as the compiled C++ accumulates.
#[inline(always)]
pub(crate) fn mac_lanes<const W: usize>(acc: &mut [i32; W], w: &[i32; W], x: i32) {
    for l in 0..W {
        acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(x));
    }
}

/// TILE neighbouring output pixels whose windows lie wholly inside the image
/// horizontally; `first_col` is the input column of the first pixel's first tap.
#[inline(always)]
fn conv_q8_tile<T: QByte, const W: usize>(c: &RowQ8<'_, T>, first_col: usize) -> [[i32; W]; TILE] {
    let s = &c.k.shape;
    let off = c.k.requant.input_offset;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let stride = s.win.w.stride * in_c;
    let dilation = s.win.w.dilation * in_c;
    let tap_len = s.group_in * s.group_out_padded;
    let x0 = first_col * in_c + c.channel0;
    let mut acc = [[0i32; W]; TILE];
    if s.contiguous_taps {
        // One filter row's taps read one contiguous run of the input row, and their
        // packed blocks follow each other: a single loop over (kx, ic).
        let run = s.k_w * in_c;
        let row_filter = run * s.group_out_padded;
        for ky in c.ty.lo..c.ty.hi {
            let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
            let at = iy * in_w * in_c + x0;
            let xs: [&[T]; TILE] =
                std::array::from_fn(|t| &c.image[at + t * stride..at + t * stride + run]);
            let taps = &c.filter[ky * row_filter + c.start..(ky + 1) * row_filter];
            for (j, w) in taps.chunks(s.group_out_padded).enumerate() {
                let w = weights_i32::<W>(w);
                for (acc, xs) in acc.iter_mut().zip(xs) {
                    mac_lanes(acc, &w, xs[j].widen() + off);
                }
            }
        }
        return acc;
    }
    let span = (TILE - 1) * stride + s.group_in;
    for ky in c.ty.lo..c.ty.hi {
        let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
        let row = &c.image[iy * in_w * in_c..(iy + 1) * in_w * in_c];
        for kx in 0..s.k_w {
            let p = x0 + kx * dilation;
            let xs = &row[p..p + span];
            let tap = &c.filter[(ky * s.k_w + kx) * tap_len..(ky * s.k_w + kx + 1) * tap_len];
            for ic in 0..s.group_in {
                let o = ic * s.group_out_padded + c.start;
                let w = weights_i32::<W>(&tap[o..o + W]);
                for (t, acc) in acc.iter_mut().enumerate() {
                    mac_lanes(acc, &w, xs[t * stride + ic].widen() + off);
                }
            }
        }
    }
    acc
}

/// One output pixel, reading only the taps inside the image.
#[inline(always)]
fn conv_q8_pixel<T: QByte, const W: usize>(c: &RowQ8<'_, T>, tx: &TapRange) -> [i32; W] {
    let s = &c.k.shape;
    let off = c.k.requant.input_offset;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let tap_len = s.group_in * s.group_out_padded;
    let mut acc = [0i32; W];
    for ky in c.ty.lo..c.ty.hi {
        let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
        for kx in tx.lo..tx.hi {
            let ix = tx.first_input + (kx - tx.lo) * s.win.w.dilation;
            let px = (iy * in_w + ix) * in_c + c.channel0;
            let pixel = &c.image[px..px + s.group_in];
            let tap = &c.filter[(ky * s.k_w + kx) * tap_len..(ky * s.k_w + kx + 1) * tap_len];
            for (ic, &x) in pixel.iter().enumerate() {
                let o = ic * s.group_out_padded + c.start;
                mac_lanes(&mut acc, &weights_i32::<W>(&tap[o..o + W]), x.widen() + off);
            }
        }
    }
    acc
}

// ---------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D

/// What an 8-bit DEPTHWISE_CONV_2D computes with, made at prepare.
#[derive(Clone, Debug)]
pub(crate) struct DepthwiseQ8Params {
    pub(crate) shape: DepthwiseShape,
    /// [k_h, k_w, out_c]: each weight plus the filter offset, widened to i16.
    pub(crate) filter: Vec<i16>,
    pub(crate) requant: Requant,
}

/// An 8-bit DEPTHWISE_CONV_2D over buffers whose lengths the caller checked against
/// `p.shape`.
pub(crate) fn depthwise_q8<T: QByte>(
    p: &DepthwiseQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
        unsafe { crate::kernels::x86::depthwise_q8::depthwise_q8_avx2(p, input, bias, out) };
        return;
    }
    let _ = avx2;
    depthwise_q8_body(p, input, bias, out);
}

/// One output row and channel block at a time. With a depth multiplier of 1 the
/// interior pixels go TILE at a time (input, filter and output channels all
/// contiguous); otherwise, and at the borders, pixel by pixel over the valid taps.
/// Lengths were checked by `run`; tap ranges keep every read inside the image.
#[inline(always)]
pub(crate) fn depthwise_q8_body<T: QByte>(
    k: &DepthwiseQ8Params,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
) {
    let s = &k.shape;
    let image_len = s.win.h.input * s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    if out_row_len == 0 {
        return;
    }
    let mut rows = out.chunks_exact_mut(out_row_len);
    for n in 0..s.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &s.win.h.taps {
            let Some(out_row) = rows.next() else { return };
            let mut c = 0;
            while c < s.out_c {
                let at = DepthwiseAt { k, image, ty, c };
                c += match s.out_c - c {
                    r if r >= BLOCK => depthwise_q8_row::<T, BLOCK>(&at, bias, out_row),
                    r if r >= LANES => depthwise_q8_row::<T, LANES>(&at, bias, out_row),
                    _ => depthwise_q8_row::<T, 1>(&at, bias, out_row),
                };
            }
        }
    }
}

struct DepthwiseAt<'a, T> {
    k: &'a DepthwiseQ8Params,
    image: &'a [T],
    ty: &'a TapRange,
    /// First output channel of the block.
    c: usize,
}

/// Output channels `c..c+W` (the caller guarantees they exist) of one output row.
/// Returns W.
#[inline(always)]
fn depthwise_q8_row<T: QByte, const W: usize>(
    at: &DepthwiseAt<'_, T>,
    bias: Option<&[i32]>,
    out_row: &mut [T],
) -> usize {
    let s = &at.k.shape;
    let r = &at.k.requant;
    let finish = BlockFinish::<W>::new(r, bias, at.c, W);
    let (full_lo, full_hi) = s.win.w.full;
    let tiles = s.multiplier == 1 && full_hi - full_lo >= TILE;
    let mut ox = 0;
    while ox < s.win.w.output {
        if tiles && ox >= full_lo && ox < full_hi {
            let first = ox.min(full_hi - TILE);
            let acc = depthwise_q8_tile::<T, W>(at, s.win.w.taps[first].first_input);
            for (t, acc) in acc.iter().enumerate() {
                let o = (first + t) * s.out_c + at.c;
                finish.store(&mut out_row[o..o + W], acc, r);
            }
            ox = first + TILE;
        } else {
            let acc = depthwise_q8_pixel::<T, W>(at, &s.win.w.taps[ox]);
            let o = ox * s.out_c + at.c;
            finish.store(&mut out_row[o..o + W], &acc, r);
            ox += 1;
        }
    }
    W
}

/// TILE neighbouring interior pixels with a depth multiplier of 1, so output channel c
/// reads input channel c. `first_col` is the input column of the first pixel's first
/// tap.
#[inline(always)]
fn depthwise_q8_tile<T: QByte, const W: usize>(
    at: &DepthwiseAt<'_, T>,
    first_col: usize,
) -> [[i32; W]; TILE] {
    let s = &at.k.shape;
    let off = at.k.requant.input_offset;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let stride = s.win.w.stride * in_c;
    let dilation = s.win.w.dilation * in_c;
    let x0 = first_col * in_c + at.c;
    let mut acc = [[0i32; W]; TILE];
    for ky in at.ty.lo..at.ty.hi {
        let iy = at.ty.first_input + (ky - at.ty.lo) * s.win.h.dilation;
        let row = &at.image[iy * in_w * in_c..(iy + 1) * in_w * in_c];
        for kx in 0..s.k_w {
            let tap = (ky * s.k_w + kx) * s.out_c + at.c;
            let w = weights_i32::<W>(&at.k.filter[tap..tap + W]);
            let p = x0 + kx * dilation;
            for (t, acc) in acc.iter_mut().enumerate() {
                let Some(x) = row[p + t * stride..].first_chunk::<W>() else {
                    unreachable!("interior windows lie inside the input row");
                };
                for l in 0..W {
                    let xv = x[l].widen() + off;
                    acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(xv));
                }
            }
        }
    }
    acc
}

/// Output channels `c..c+W` of one pixel, over the taps inside the image.
#[inline(always)]
fn depthwise_q8_pixel<T: QByte, const W: usize>(
    at: &DepthwiseAt<'_, T>,
    tx: &TapRange,
) -> [i32; W] {
    let s = &at.k.shape;
    let (in_w, m) = (s.win.w.input, s.multiplier);
    let off = at.k.requant.input_offset;
    let mut acc = [0i32; W];
    for ky in at.ty.lo..at.ty.hi {
        let iy = at.ty.first_input + (ky - at.ty.lo) * s.win.h.dilation;
        for kx in tx.lo..tx.hi {
            let ix = tx.first_input + (kx - tx.lo) * s.win.w.dilation;
            let px = (iy * in_w + ix) * s.in_c;
            let x = &at.image[px..px + s.in_c];
            let tap = (ky * s.k_w + kx) * s.out_c + at.c;
            let w = weights_i32::<W>(&at.k.filter[tap..tap + W]);
            if m == 1 {
                let Some(x) = x[at.c..].first_chunk::<W>() else {
                    unreachable!("the block's channels exist");
                };
                for l in 0..W {
                    acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(x[l].widen() + off));
                }
            } else {
                for l in 0..W {
                    let xv = x[(at.c + l) / m].widen() + off;
                    acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(xv));
                }
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::fixed_point::multiply_by_quantized_multiplier;
    use crate::kernels::test_rng::Rng;

    #[test]
    #[allow(clippy::needless_range_loop)] // lanes of several arrays at once
    fn lane_requantization_matches_the_scalar_one() {
        // Every shift the lane form accepts, multipliers from the ends of the range,
        // accumulators at the i32 extremes (wrapping bias add, wrapping left shift) and
        // random ones; each lane checked against the scalar fixed-point path.
        let mut rng = Rng(0x5151_2024_0BAD_F00D);
        let edges = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX - 1, i32::MAX];
        for shift in -31..=30 {
            for case in 0..64 {
                let mut q = LaneRequant::<8> {
                    bias: [0; 8],
                    multiplier: [0; 8],
                    left: [shift.max(0) as u32; 8],
                    right: [(-shift).max(0) as u32; 8],
                    zero_point: rng.range(0, 255) as i32 - 128,
                    range: (-128, 127),
                };
                if case % 4 == 0 {
                    q.range = (i32::MIN, i32::MAX);
                }
                let mut acc = [0i32; 8];
                for l in 0..8 {
                    let wide = |rng: &mut Rng| rng.next_u64() as i32;
                    q.multiplier[l] = match rng.range(0, 3) {
                        0 => [1 << 30, i32::MAX, i32::MIN + 1, 0][rng.range(0, 3)],
                        1 => (1 << 30) + (wide(&mut rng) & 0x3FFF_FFFF),
                        _ => wide(&mut rng).max(i32::MIN + 1),
                    };
                    acc[l] = if rng.range(0, 2) == 0 {
                        edges[rng.range(0, edges.len() - 1)]
                    } else {
                        wide(&mut rng) >> rng.range(0, 31)
                    };
                    q.bias[l] = wide(&mut rng) >> rng.range(0, 31);
                }
                let got = requant_lanes(&acc, &q);
                for l in 0..8 {
                    let x = acc[l].wrapping_add(q.bias[l]);
                    let want = multiply_by_quantized_multiplier(x, q.multiplier[l], shift)
                        .wrapping_add(q.zero_point)
                        .clamp(q.range.0, q.range.1);
                    assert_eq!(got[l], want, "x {x} m {} shift {shift}", q.multiplier[l]);
                }
            }
        }
        assert!(!lane_exact(i32::MIN, 0) && !lane_exact(1 << 30, 31));
        assert!(!lane_exact(1 << 30, -32) && lane_exact(1 << 30, -31));
    }
}
