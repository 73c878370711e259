//! The float convolutions, CONV_2D and DEPTHWISE_CONV_2D, as plain loops over NHWC
//! slices: the geometry was resolved by `prepare` (window taps that land inside the image,
//! a repacked filter), so these only compute. Each body is generic over `FUSED`: the
//! portable build multiplies and adds, `kernels::x86` compiles the same body with
//! AVX2 + FMA enabled and fused multiply-adds.

use crate::kernels::common::clamp;
use crate::kernels::window::{TapRange, Window2d};

/// Output channels are computed in blocks of this many (and one final block of
/// `LANES`), held in registers across all taps of one output pixel.
pub(crate) const BLOCK: usize = 16;
pub(crate) const LANES: usize = 8;

/// Output pixels of one row computed together in the image interior: their
/// accumulators (TILE x block width) stay in registers while each filter block is
/// loaded once per tap and reused for all of them.
pub(crate) const TILE: usize = 4;

/// Shapes of a float convolution after validation.
#[derive(Clone, Debug)]
pub(crate) struct ConvShape {
    pub(crate) win: Window2d,
    pub(crate) in_c: usize,
    /// Input channels per group (the filter's last dim).
    pub(crate) group_in: usize,
    pub(crate) groups: usize,
    pub(crate) out_c: usize,
    /// Output channels per group.
    pub(crate) group_out: usize,
    /// `group_out` rounded up to `LANES`: the stride of one tap row in the packed filter.
    pub(crate) group_out_padded: usize,
    pub(crate) k_h: usize,
    pub(crate) k_w: usize,
    /// One group and no horizontal dilation: the taps of a filter row read one
    /// contiguous run of input.
    pub(crate) contiguous_taps: bool,
    /// The float filter is packed in column panels for the AVX2 micro-kernel
    /// ([`ConvShape::pack_panels`]) instead of the tap-major layout the loops here read.
    pub(crate) panels: bool,
}

impl ConvShape {
    pub(crate) fn packed_len(&self) -> usize {
        self.groups * self.k_h * self.k_w * self.group_in * self.group_out_padded
    }

    /// Rewrites a [out_c, k_h, k_w, group_in] filter as
    /// [groups, k_h, k_w, group_in, group_out_padded] (zero padded) into `packed`.
    pub(crate) fn pack_filter(&self, filter: &[f32], packed: &mut [f32]) {
        if self.panels {
            self.pack_panels(filter, packed);
        } else {
            self.pack_filter_with(filter, packed, |w| w);
        }
    }

    /// The panel layout of the AVX2 micro-kernel (one group only): output channels in
    /// blocks of 16 (a last block of 8 when `group_out_padded` leaves 8), each block
    /// stored as [k_h * k_w * in_c rows][block width] and zero padded, blocks one after
    /// the other, so block `start` begins at `start * rows` and a kernel pass over it
    /// reads one contiguous stream (the tap-major layout strides a whole padded
    /// channel row, one TLB page per step on wide layers).
    pub(crate) fn pack_panels(&self, filter: &[f32], packed: &mut [f32]) {
        packed.fill(0.0);
        let rows = self.k_h * self.k_w * self.group_in;
        let mut start = 0;
        while start < self.group_out_padded {
            let width = if self.group_out_padded - start >= BLOCK {
                BLOCK
            } else {
                LANES
            };
            let base = start * rows;
            for j in 0..width.min(self.out_c.saturating_sub(start)) {
                let src = &filter[(start + j) * rows..(start + j + 1) * rows];
                for (r, &w) in src.iter().enumerate() {
                    packed[base + r * width + j] = w;
                }
            }
            start += width;
        }
    }

    /// [`ConvShape::pack_filter`] with each value converted by `convert` (the integer
    /// kernels widen and fold in the filter offset); padding stays `D::default()`.
    pub(crate) fn pack_filter_with<S: Copy, D: Copy + Default>(
        &self,
        filter: &[S],
        packed: &mut [D],
        convert: impl Fn(S) -> D,
    ) {
        packed.fill(D::default());
        let tap_len = self.group_in * self.group_out_padded;
        for g in 0..self.groups {
            for j in 0..self.group_out {
                let oc = g * self.group_out + j;
                for ky in 0..self.k_h {
                    for kx in 0..self.k_w {
                        let src = ((oc * self.k_h + ky) * self.k_w + kx) * self.group_in;
                        let dst = ((g * self.k_h + ky) * self.k_w + kx) * tap_len + j;
                        for ic in 0..self.group_in {
                            packed[dst + ic * self.group_out_padded] = convert(filter[src + ic]);
                        }
                    }
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct DepthwiseShape {
    pub(crate) win: Window2d,
    pub(crate) in_c: usize,
    pub(crate) multiplier: usize,
    pub(crate) out_c: usize,
    pub(crate) k_h: usize,
    pub(crate) k_w: usize,
}

impl DepthwiseShape {
    pub(crate) fn output_shape(&self) -> Vec<usize> {
        vec![
            self.win.batch,
            self.win.h.output,
            self.win.w.output,
            self.out_c,
        ]
    }
}

/// `acc + a*b`, fused when the caller was compiled for FMA (a plain `mul_add` would be a
/// slow library call otherwise).
#[inline(always)]
pub(crate) fn madd<const FUSED: bool>(acc: f32, a: f32, b: f32) -> f32 {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

pub(crate) fn conv_f32(
    s: &ConvShape,
    input: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
    fused: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if fused {
        // SAFETY: `fused` is only true when the CpuFeatures given to prepare had AVX2 and FMA.
        unsafe { crate::kernels::x86::conv::conv_f32_avx2(s, input, packed, bias, out, range) };
        return;
    }
    let _ = fused;
    conv_f32_body::<false>(s, input, packed, bias, out, range);
}

/// The convolution proper, one output row and channel block at a time. Buffer lengths
/// were checked against `s` by the caller and the tap ranges keep every input coordinate
/// inside the image, so the slicing below stays in bounds by construction.
#[inline(always)]
pub(crate) fn conv_f32_body<const FUSED: bool>(
    s: &ConvShape,
    input: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    let image_len = s.win.h.input * s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    let group_filter_len = s.k_h * s.k_w * s.group_in * s.group_out_padded;
    if out_row_len == 0 {
        return;
    }
    let mut rows = out.chunks_exact_mut(out_row_len);
    for n in 0..s.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &s.win.h.taps {
            let Some(out_row) = rows.next() else { return };
            for g in 0..s.groups {
                let mut start = 0;
                while start < s.group_out {
                    let row = RowCtx {
                        s,
                        image,
                        filter: &packed[g * group_filter_len..(g + 1) * group_filter_len],
                        ty,
                        channel0: g * s.group_in,
                        start,
                        out_channel0: g * s.group_out + start,
                    };
                    if s.group_out_padded - start >= BLOCK {
                        conv_row::<BLOCK, FUSED>(&row, bias, out_row, range);
                        start += BLOCK;
                    } else {
                        conv_row::<LANES, FUSED>(&row, bias, out_row, range);
                        start += LANES;
                    }
                }
            }
        }
    }
}

/// One output row, one group, one block of output channels.
struct RowCtx<'a> {
    s: &'a ConvShape,
    /// The current batch element.
    image: &'a [f32],
    /// The current group's packed filter.
    filter: &'a [f32],
    ty: &'a TapRange,
    /// First input channel of the group.
    channel0: usize,
    /// First output channel of the block within the group.
    start: usize,
    /// First output channel of the block within the pixel.
    out_channel0: usize,
}

#[inline(always)]
fn conv_row<const W: usize, const FUSED: bool>(
    c: &RowCtx<'_>,
    bias: Option<&[f32]>,
    out_row: &mut [f32],
    range: (f32, f32),
) {
    let s = c.s;
    let valid = (s.group_out - c.start).min(W);
    let mut block_bias = [0.0f32; W];
    if let Some(b) = bias {
        block_bias[..valid].copy_from_slice(&b[c.out_channel0..c.out_channel0 + valid]);
    }
    let (full_lo, full_hi) = s.win.w.full;
    let mut ox = 0;
    while ox < s.win.w.output {
        if ox >= full_lo && ox < full_hi && full_hi - full_lo >= TILE {
            // The last tile of the interior is moved back to end at its edge rather than
            // finishing with single pixels: the few pixels computed twice get identical
            // values, and the tile keeps TILE independent accumulator chains busy.
            let first = ox.min(full_hi - TILE);
            let acc = conv_tile::<W, FUSED>(c, s.win.w.taps[first].first_input);
            for (t, acc) in acc.iter().enumerate() {
                let at = (first + t) * s.out_c + c.out_channel0;
                store(&mut out_row[at..at + valid], acc, &block_bias, range);
            }
            ox = first + TILE;
        } else {
            let acc = conv_pixel::<W, FUSED>(c, &s.win.w.taps[ox]);
            let at = ox * s.out_c + c.out_channel0;
            store(&mut out_row[at..at + valid], &acc, &block_bias, range);
            ox += 1;
        }
    }
}

/// TILE neighbouring output pixels whose windows lie wholly inside the image
/// horizontally; `first_col` is the input column of the first pixel's first tap.
#[inline(always)]
fn conv_tile<const W: usize, const FUSED: bool>(
    c: &RowCtx<'_>,
    first_col: usize,
) -> [[f32; W]; TILE] {
    let s = c.s;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let stride = s.win.w.stride * in_c;
    let dilation = s.win.w.dilation * in_c;
    let tap_len = s.group_in * s.group_out_padded;
    let x0 = first_col * in_c + c.channel0;
    let mut acc = [[0.0f32; W]; TILE];
    if s.contiguous_taps {
        // One filter row's taps read one contiguous run of the input row, and their
        // packed blocks follow each other: a single loop over (kx, ic).
        let run = s.k_w * in_c;
        let row_filter = run * s.group_out_padded;
        for ky in c.ty.lo..c.ty.hi {
            let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
            let at = iy * in_w * in_c + x0;
            // Exact-length slices let the compiler drop the bounds checks in the loop.
            let xs: [&[f32]; TILE] =
                std::array::from_fn(|t| &c.image[at + t * stride..at + t * stride + run]);
            let taps = &c.filter[ky * row_filter + c.start..(ky + 1) * row_filter];
            for (j, w) in taps.chunks(s.group_out_padded).enumerate() {
                let w: &[f32; W] = as_block(w);
                for (acc, xs) in acc.iter_mut().zip(xs) {
                    let x = xs[j];
                    for k in 0..W {
                        acc[k] = madd::<FUSED>(acc[k], x, w[k]);
                    }
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
                let w: &[f32; W] = as_block(&tap[o..o + W]);
                for (t, acc) in acc.iter_mut().enumerate() {
                    let x = xs[t * stride + ic];
                    for j in 0..W {
                        acc[j] = madd::<FUSED>(acc[j], x, w[j]);
                    }
                }
            }
        }
    }
    acc
}

/// One output pixel, reading only the taps inside the image.
#[inline(always)]
fn conv_pixel<const W: usize, const FUSED: bool>(c: &RowCtx<'_>, tx: &TapRange) -> [f32; W] {
    let s = c.s;
    let (in_w, in_c) = (s.win.w.input, s.in_c);
    let tap_len = s.group_in * s.group_out_padded;
    let mut acc = [0.0f32; W];
    for ky in c.ty.lo..c.ty.hi {
        let iy = c.ty.first_input + (ky - c.ty.lo) * s.win.h.dilation;
        for kx in tx.lo..tx.hi {
            let ix = tx.first_input + (kx - tx.lo) * s.win.w.dilation;
            let px = (iy * in_w + ix) * in_c + c.channel0;
            let pixel = &c.image[px..px + s.group_in];
            let tap = &c.filter[(ky * s.k_w + kx) * tap_len..(ky * s.k_w + kx + 1) * tap_len];
            for (ic, &x) in pixel.iter().enumerate() {
                let o = ic * s.group_out_padded + c.start;
                let w: &[f32; W] = as_block(&tap[o..o + W]);
                for j in 0..W {
                    acc[j] = madd::<FUSED>(acc[j], x, w[j]);
                }
            }
        }
    }
    acc
}

/// A W-long slice as an array reference (the packed filter is padded so every block is
/// whole).
#[inline(always)]
fn as_block<const W: usize>(s: &[f32]) -> &[f32; W] {
    match s.first_chunk::<W>() {
        Some(b) => b,
        None => unreachable!("packed filter blocks are padded to whole lanes"),
    }
}

/// Writes one block of accumulators: bias added after the taps (as TFLite does, which
/// keeps rounding closer to it), then the fused activation.
#[inline(always)]
fn store<const W: usize>(dst: &mut [f32], acc: &[f32; W], bias: &[f32; W], range: (f32, f32)) {
    let mut values = [0.0f32; W];
    for j in 0..W {
        values[j] = clamp(acc[j] + bias[j], range);
    }
    if let Some(dst) = dst.first_chunk_mut::<W>() {
        *dst = values;
        return;
    }
    // A partial block (a channel count that is not a multiple of W): fixed-size pieces
    // compile to vector stores where a variable-length copy would call memcpy.
    let mut at = 0;
    while dst.len() - at >= 4 {
        dst[at..at + 4].copy_from_slice(&values[at..at + 4]);
        at += 4;
    }
    for (d, v) in dst[at..].iter_mut().zip(&values[at..]) {
        *d = *v;
    }
}

/// Float DEPTHWISE_CONV_2D over buffers whose lengths the caller checked against `s`;
/// `fused` selects the AVX2 + FMA build and must only be true when the CPU has both.
pub(crate) fn depthwise_f32(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
    fused: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if fused {
        // SAFETY: `fused` is only true when the CpuFeatures given to prepare had AVX2 and FMA.
        unsafe {
            crate::kernels::x86::conv::depthwise_f32_avx2(s, input, filter, bias, out, range)
        };
        return;
    }
    let _ = fused;
    depthwise_f32_body::<false>(s, input, filter, bias, out, range);
}

/// Accumulates straight into the output pixel, one tap at a time, so the loop over
/// channels is contiguous in input, filter and output. Lengths were checked by `run`.
#[inline(always)]
pub(crate) fn depthwise_f32_body<const FUSED: bool>(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    let (in_h, in_w) = (s.win.h.input, s.win.w.input);
    let (dil_h, dil_w) = (s.win.h.dilation, s.win.w.dilation);
    let image_len = in_h * in_w * s.in_c;
    let mut out_pixels = out.chunks_exact_mut(s.out_c);
    for n in 0..s.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &s.win.h.taps {
            for tx in &s.win.w.taps {
                let Some(pixel) = out_pixels.next() else {
                    return;
                };
                pixel.fill(0.0);
                for ky in ty.lo..ty.hi {
                    let iy = ty.first_input + (ky - ty.lo) * dil_h;
                    for kx in tx.lo..tx.hi {
                        let ix = tx.first_input + (kx - tx.lo) * dil_w;
                        let px = (iy * in_w + ix) * s.in_c;
                        let x = &image[px..px + s.in_c];
                        let w =
                            &filter[(ky * s.k_w + kx) * s.out_c..(ky * s.k_w + kx + 1) * s.out_c];
                        if s.multiplier == 1 {
                            for ((o, &x), &w) in pixel.iter_mut().zip(x).zip(w) {
                                *o = madd::<FUSED>(*o, x, w);
                            }
                        } else {
                            let m = s.multiplier;
                            for ((o, &x), w) in
                                pixel.chunks_exact_mut(m).zip(x).zip(w.chunks_exact(m))
                            {
                                for (o, &w) in o.iter_mut().zip(w) {
                                    *o = madd::<FUSED>(*o, x, w);
                                }
                            }
                        }
                    }
                }
                match bias {
                    Some(b) => {
                        for (o, &b) in pixel.iter_mut().zip(b) {
                            *o = clamp(*o + b, range);
                        }
                    }
                    None => {
                        for o in pixel.iter_mut() {
                            *o = clamp(*o, range);
                        }
                    }
                }
            }
        }
    }
}
