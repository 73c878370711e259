//! MAX_POOL_2D and AVERAGE_POOL_2D as plain loops over NHWC slices, float and 8-bit.
//!
//! The window taps that fall inside the image were resolved per output row and column
//! at prepare (shared with the convolutions), so these loops have no bounds tests and an
//! average divides by the number of in-image taps, as TFLite does. `kernels::x86::pool`
//! compiles the same bodies with AVX2 enabled and holds the float max-pool intrinsics.

use crate::kernels::common::clamp;
use crate::kernels::reference::quant_binary::QByte;
use crate::kernels::window::Window2d;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PoolKind {
    Max,
    Average,
}

impl PoolKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            PoolKind::Max => "MAX_POOL_2D",
            PoolKind::Average => "AVERAGE_POOL_2D",
        }
    }
}

/// A pooling after prepare: which reduction, the window geometry and the channel count.
#[derive(Clone, Debug)]
pub(crate) struct PoolShape {
    pub(crate) kind: PoolKind,
    pub(crate) win: Window2d,
    pub(crate) channels: usize,
}

impl PoolShape {
    pub(crate) fn input_len(&self) -> usize {
        self.win.batch * self.win.h.input * self.win.w.input * self.channels
    }

    pub(crate) fn output_len(&self) -> usize {
        self.win.batch * self.win.h.output * self.win.w.output * self.channels
    }

    /// Elements of the scratch row the 8-bit kernels need (the reduced input row of max
    /// pooling plus its lane padding; none for average pooling), so that the caller can
    /// own it and a run does not allocate.
    pub(crate) fn q8_scratch_len(&self) -> usize {
        match self.kind {
            PoolKind::Max => self.win.w.input * self.channels + Q8_LANES,
            PoolKind::Average => 0,
        }
    }
}

/// Channels per step of the 8-bit max pooling.
const Q8_LANES: usize = 16;

/// Float pooling with the fused activation's `range`. The caller has checked the buffer
/// lengths against `s` (and that they are non-zero); `avx2` is true only when the CPU
/// reported AVX2 and FMA.
pub(crate) fn pool_f32(
    s: &PoolShape,
    input: &[f32],
    out: &mut [f32],
    range: (f32, f32),
    avx2: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 (and FMA) at prepare.
        unsafe { crate::kernels::x86::pool::pool_f32_avx2(s, input, out, range) };
        return;
    }
    let _ = avx2;
    pool_f32_body(s, input, out, range);
}

/// Buffer lengths were checked by the caller (and are non-zero); the tap ranges keep every
/// read inside the image.
#[inline(always)]
pub(crate) fn pool_f32_body(p: &PoolShape, input: &[f32], out: &mut [f32], range: (f32, f32)) {
    if p.kind == PoolKind::Max {
        // TFLite starts a max from the lowest finite float, not -inf, and keeps the
        // accumulator when x is NaN or equal (std::max(acc, x)), so of equal values
        // (0.0 and -0.0) the first in tap order wins.
        max_pool::<f32, 8>(&p.win, p.channels, input, out, f32::MIN, range);
        return;
    }
    let (h, w, c) = (p.win.h.input, p.win.w.input, p.channels);
    let image_len = h * w * c;
    let mut out_pixels = out.chunks_exact_mut(c);
    for n in 0..p.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &p.win.h.taps {
            for tx in &p.win.w.taps {
                let Some(pixel) = out_pixels.next() else {
                    return;
                };
                let window = Window {
                    image,
                    row_len: w * c,
                    channels: c,
                    rows: ty.first_input..ty.first_input + (ty.hi - ty.lo),
                    cols: tx.first_input..tx.first_input + (tx.hi - tx.lo),
                };
                // The output pixel itself accumulates, all channels per tap, so few
                // channels cost no chunk bookkeeping; each channel still sees its taps
                // in the reference order, so sums round identically.
                pixel.fill(0.0);
                fold_window(&window, pixel, |a, x| a + x);
                let count = (window.rows.len() * window.cols.len()) as f32;
                for v in pixel.iter_mut() {
                    *v = clamp(*v / count, range);
                }
            }
        }
    }
}

/// What max pooling needs of an element type.
pub(crate) trait PoolMax: Copy {
    /// The reference's `std::max(acc, x)`: `x` only when it is greater, so for floats
    /// a NaN `x` or one equal to `acc` (0.0 against -0.0) keeps `acc`.
    fn take_max(self, x: Self) -> Self;
    /// The fused activation's clamp.
    fn clamp_to(self, lo: Self, hi: Self) -> Self;
}

impl PoolMax for f32 {
    #[inline(always)]
    fn take_max(self, x: f32) -> f32 {
        if self < x {
            x
        } else {
            self
        }
    }
    #[inline(always)]
    fn clamp_to(self, lo: f32, hi: f32) -> f32 {
        clamp(self, (lo, hi))
    }
}

impl PoolMax for i8 {
    #[inline(always)]
    fn take_max(self, x: i8) -> i8 {
        self.max(x)
    }
    #[inline(always)]
    fn clamp_to(self, lo: i8, hi: i8) -> i8 {
        clamp(self, (lo, hi))
    }
}

impl PoolMax for u8 {
    #[inline(always)]
    fn take_max(self, x: u8) -> u8 {
        self.max(x)
    }
    #[inline(always)]
    fn clamp_to(self, lo: u8, hi: u8) -> u8 {
        clamp(self, (lo, hi))
    }
}

/// One max-pool output pixel's geometry: its image, window rows and columns.
struct MaxWindow<'a, E> {
    input: &'a [E],
    image_at: usize,
    width: usize,
    channels: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    lowest: E,
    range: (E, E),
}

impl<E: PoolMax> MaxWindow<'_, E> {
    /// Channels `cs..cs + L` folded over the window's in-image taps in the reference
    /// order (rows, then columns), then clamped; None when a read would leave `input`.
    #[inline(always)]
    fn chunk<const L: usize>(&self, cs: usize) -> Option<[E; L]> {
        let mut acc = [self.lowest; L];
        for iy in self.rows.clone() {
            let row_at = self.image_at + iy * self.width * self.channels + cs;
            for ix in self.cols.clone() {
                let x = self
                    .input
                    .get(row_at + ix * self.channels..)?
                    .first_chunk::<L>()?;
                for l in 0..L {
                    acc[l] = acc[l].take_max(x[l]);
                }
            }
        }
        for a in acc.iter_mut() {
            *a = a.clamp_to(self.range.0, self.range.1);
        }
        Some(acc)
    }

    /// Channel `ch` alone.
    #[inline(always)]
    fn channel(&self, ch: usize) -> E {
        let mut acc = self.lowest;
        for iy in self.rows.clone() {
            for ix in self.cols.clone() {
                let at = self.image_at + (iy * self.width + ix) * self.channels + ch;
                if let Some(&x) = self.input.get(at) {
                    acc = acc.take_max(x);
                }
            }
        }
        acc.clamp_to(self.range.0, self.range.1)
    }
}

/// Max pooling for any element type: every output pixel takes its channels L at a
/// time. With at least L channels the last chunk of a pixel is moved back to end at
/// the last channel (its overlap is recomputed identically); with fewer, a chunk
/// reads and writes L lanes and the lanes past the pixel's channels land on the next
/// pixel, which is written after it, so they are overwritten; a pixel too close to
/// the end of a buffer for that takes its channels one by one. Buffer lengths were
/// checked by the caller.
#[inline(always)]
fn max_pool<E: PoolMax, const L: usize>(
    win: &Window2d,
    channels: usize,
    input: &[E],
    out: &mut [E],
    lowest: E,
    range: (E, E),
) {
    let (w, c) = (win.w.input, channels);
    let image_len = win.h.input * w * c;
    if c == 0 {
        return;
    }
    let mut at = 0;
    for n in 0..win.batch {
        for ty in &win.h.taps {
            for tx in &win.w.taps {
                let px = MaxWindow {
                    input,
                    image_at: n * image_len,
                    width: w,
                    channels: c,
                    rows: ty.first_input..ty.first_input + (ty.hi - ty.lo),
                    cols: tx.first_input..tx.first_input + (tx.hi - tx.lo),
                    lowest,
                    range,
                };
                // Input offset just past the last in-image tap's L lanes.
                let reads_end = match (px.rows.clone().last(), px.cols.clone().last()) {
                    (Some(r), Some(col)) => Some(px.image_at + (r * w + col) * c + L),
                    _ => None,
                };
                let wide =
                    c >= L || (reads_end.is_some_and(|e| e <= input.len()) && at + L <= out.len());
                let mut done = false;
                if wide {
                    let mut cs = 0;
                    loop {
                        let start = if c >= L { cs.min(c - L) } else { 0 };
                        let Some(values) = px.chunk::<L>(start) else {
                            break;
                        };
                        let Some(dst) = out
                            .get_mut(at + start..)
                            .and_then(|d| d.first_chunk_mut::<L>())
                        else {
                            break;
                        };
                        *dst = values;
                        if start + L >= c {
                            done = true;
                            break;
                        }
                        cs += L;
                    }
                }
                if !done {
                    for ch in 0..c {
                        if let Some(d) = out.get_mut(at + ch) {
                            *d = px.channel(ch);
                        }
                    }
                }
                at += c;
            }
        }
    }
}

/// Max pooling for integers, where the max is associative and commutative: the window
/// rows of an output row are first reduced over the whole input row (contiguous,
/// every tap of every pixel at once), then each output pixel folds its window columns
/// of that reduced row, L channels at a time as in [`max_pool`]. The reduced row is
/// padded by L lanes so every chunk read stays inside it; it lives in the caller's
/// `scratch` (at least `row_len + L` long). Buffer lengths were checked by the caller.
#[inline(always)]
fn max_pool_rows_first<E: PoolMax, const L: usize>(
    win: &Window2d,
    channels: usize,
    input: &[E],
    out: &mut [E],
    lowest: E,
    range: (E, E),
    scratch: &mut [E],
) {
    let c = channels;
    let row_len = win.w.input * c;
    let image_len = win.h.input * row_len;
    if c == 0 {
        return;
    }
    let Some(reduced) = scratch.get_mut(..row_len + L) else {
        return;
    };
    // The padding lanes are only read; they hold `lowest` as a fresh row would.
    reduced[row_len..].fill(lowest);
    let mut at = 0;
    for n in 0..win.batch {
        let Some(image) = input.get(n * image_len..(n + 1) * image_len) else {
            return;
        };
        for ty in &win.h.taps {
            let acc_row = &mut reduced[..row_len];
            acc_row.fill(lowest);
            for iy in ty.first_input..ty.first_input + (ty.hi - ty.lo) {
                let Some(src) = image.get(iy * row_len..(iy + 1) * row_len) else {
                    return;
                };
                for (a, &x) in acc_row.iter_mut().zip(src) {
                    *a = a.take_max(x);
                }
            }
            for tx in &win.w.taps {
                let first = tx.first_input * c;
                let mut cs = 0;
                loop {
                    let start = if c >= L { cs.min(c - L) } else { 0 };
                    let mut acc = [lowest; L];
                    for k in 0..tx.hi - tx.lo {
                        let Some(x) = reduced
                            .get(first + k * c + start..)
                            .and_then(|r| r.first_chunk::<L>())
                        else {
                            return;
                        };
                        for l in 0..L {
                            acc[l] = acc[l].take_max(x[l]);
                        }
                    }
                    for a in acc.iter_mut() {
                        *a = a.clamp_to(range.0, range.1);
                    }
                    // With fewer than L channels the extra lanes land on the next
                    // pixel, written after this one; at the very end only the pixel's
                    // own channels are written.
                    match out
                        .get_mut(at + start..)
                        .and_then(|d| d.first_chunk_mut::<L>())
                    {
                        Some(dst) => *dst = acc,
                        None => {
                            let own = (c - start).min(L);
                            for (d, &v) in out.iter_mut().skip(at + start).zip(&acc[..own]) {
                                *d = v;
                            }
                        }
                    }
                    if start + L >= c {
                        break;
                    }
                    cs += L;
                }
                at += c;
            }
        }
    }
}

/// The in-image part of one pooling window.
struct Window<'a, T = f32> {
    image: &'a [T],
    row_len: usize,
    channels: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
}

/// `dst[c] = f(dst[c], x[c])` for every in-image tap of the window, row by row, channel
/// runs contiguous in input and output.
#[inline(always)]
fn fold_window<T: Copy>(win: &Window<'_, T>, dst: &mut [T], f: impl Fn(T, T) -> T) {
    if win.channels == 0 {
        return;
    }
    for iy in win.rows.clone() {
        let row = &win.image[iy * win.row_len..(iy + 1) * win.row_len];
        let taps = &row[win.cols.start * win.channels..win.cols.end * win.channels];
        for x in taps.chunks_exact(win.channels) {
            for (d, &x) in dst.iter_mut().zip(x) {
                *d = f(*d, x);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// 8-bit quantized pooling (TFLite `reference_integer_ops` MaxPool / AveragePool)
//
// No zero-point arithmetic: TFLite expects the output to share the input's scale and
// zero point and works on the stored integers directly.

/// 8-bit pooling; `range` is the fused activation's clamp in stored integers. The caller
/// has checked the buffer lengths against `s` (and that they are non-zero) and passes
/// `scratch` of at least [`PoolShape::q8_scratch_len`] elements; `avx2` is true only when
/// the CPU reported AVX2.
pub(crate) fn pool_q8<T: QByte + PoolMax>(
    s: &PoolShape,
    input: &[T],
    out: &mut [T],
    range: (i32, i32),
    avx2: bool,
    scratch: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
        unsafe { crate::kernels::x86::pool::pool_q8_avx2(s, input, out, range, scratch) };
        return;
    }
    let _ = avx2;
    pool_q8_body(s, input, out, range, scratch);
}

/// Buffer lengths were checked by the caller (and are non-zero).
#[inline(always)]
pub(crate) fn pool_q8_body<T: QByte + PoolMax>(
    p: &PoolShape,
    input: &[T],
    out: &mut [T],
    range: (i32, i32),
    scratch: &mut [T],
) {
    if p.kind == PoolKind::Max {
        // The max of the stored integers (lowest value as the start, as TFLite),
        // then the clamp.
        // The activation range lies inside the type's range (prepare computed it
        // for this type), so narrowing it is exact.
        let narrow_range = (T::narrow(range.0), T::narrow(range.1));
        let lowest = T::narrow(quantized_lowest::<T>());
        max_pool_rows_first::<T, Q8_LANES>(
            &p.win,
            p.channels,
            input,
            out,
            lowest,
            narrow_range,
            scratch,
        );
        return;
    }
    let (h, w, c) = (p.win.h.input, p.win.w.input, p.channels);
    let image_len = h * w * c;
    let mut out_pixels = out.chunks_exact_mut(c);
    for n in 0..p.win.batch {
        let image = &input[n * image_len..(n + 1) * image_len];
        for ty in &p.win.h.taps {
            for tx in &p.win.w.taps {
                let Some(pixel) = out_pixels.next() else {
                    return;
                };
                let window = Window {
                    image,
                    row_len: w * c,
                    channels: c,
                    rows: ty.first_input..ty.first_input + (ty.hi - ty.lo),
                    cols: tx.first_input..tx.first_input + (tx.hi - tx.lo),
                };
                let mut ch = 0;
                while ch < c {
                    ch += match c - ch {
                        r if r >= 16 => average_chunk::<T, 16>(&window, ch, pixel, range),
                        r if r >= 4 => average_chunk::<T, 4>(&window, ch, pixel, range),
                        _ => average_chunk::<T, 1>(&window, ch, pixel, range),
                    };
                }
            }
        }
    }
}

/// Average of channels `ch..ch+L` of one window (the caller guarantees they
/// exist); returns L.
#[inline(always)]
fn average_chunk<T: QByte, const L: usize>(
    win: &Window<'_, T>,
    ch: usize,
    pixel: &mut [T],
    range: (i32, i32),
) -> usize {
    let mut acc = [0i32; L];
    for iy in win.rows.clone() {
        let row = &win.image[iy * win.row_len..(iy + 1) * win.row_len];
        for ix in win.cols.clone() {
            let Some(x) = row[ix * win.channels + ch..].first_chunk::<L>() else {
                return L;
            };
            for j in 0..L {
                acc[j] = acc[j].wrapping_add(x[j].widen());
            }
        }
    }
    // Half away from zero through truncating division, as TFLite rounds.
    let count = (win.rows.len() * win.cols.len()) as i32;
    for a in acc.iter_mut() {
        *a = if *a > 0 {
            a.wrapping_add(count / 2) / count
        } else {
            a.wrapping_sub(count / 2) / count
        };
    }
    for (j, a) in acc.iter().enumerate() {
        pixel[ch + j] = T::narrow((*a).clamp(range.0, range.1));
    }
    L
}

/// The smallest value of an 8-bit type, where TFLite starts a max.
fn quantized_lowest<T: QByte>() -> i32 {
    if T::SIGNED {
        -128
    } else {
        0
    }
}
