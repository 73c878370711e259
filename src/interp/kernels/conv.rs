//! CONV_2D and DEPTHWISE_CONV_2D.
//!
//! `prepare` dispatches on the (input, filter) element types so integer variants can sit
//! beside the float ones. Everything that depends only on shapes is resolved there: the
//! output size, the filter taps that land inside the image for every output row and
//! column (so inner loops need no bounds tests and padding costs nothing), and a copy of
//! the conv filter repacked so the innermost loop runs over contiguous output channels.

use std::marker::PhantomData;
use std::sync::Mutex;

use super::common::{activation_range_f32, positive, window_dim};
use super::{Kernel, PrepareCtx, Prepared};
use crate::interp::fixed_point::{
    calculate_activation_range_quantized, effective_scale_per_channel, effective_scale_per_tensor,
    multiply_by_quantized_multiplier, quantize_multiplier, quantized_range,
};
use crate::interp::value::{View, ViewMut};
use crate::interp::{KernelError, TensorInfo};
use crate::ir::{Activation, DType, Op, Padding, Quantization};
use crate::kbail;

#[path = "conv_q8_madd.rs"]
mod madd;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    if super::hybrid::applies(ctx) {
        return super::hybrid::prepare_conv(ctx);
    }
    match &ctx.op.op {
        Op::Conv2d(o) => {
            let params = WindowParams {
                padding: o.padding,
                stride_h: o.stride_h,
                stride_w: o.stride_w,
                dilation_h: o.dilation_h,
                dilation_w: o.dilation_w,
                activation: o.activation,
            };
            prepare_conv(ctx, &params)
        }
        // The depth multiplier option is redundant with the shapes and TFLite itself
        // derives it from them, so the option is not consulted.
        Op::DepthwiseConv2d(o) => {
            let params = WindowParams {
                padding: o.padding,
                stride_h: o.stride_h,
                stride_w: o.stride_w,
                dilation_h: o.dilation_h,
                dilation_w: o.dilation_w,
                activation: o.activation,
            };
            prepare_depthwise(ctx, &params)
        }
        other => kbail!("the convolution kernel cannot run {}", other.name()),
    }
}

/// The options both convolutions share.
struct WindowParams {
    padding: Padding,
    stride_h: i32,
    stride_w: i32,
    dilation_h: i32,
    dilation_w: i32,
    activation: Activation,
}

/// One spatial axis of a sliding window, resolved for concrete sizes.
#[derive(Clone, Debug)]
pub(crate) struct WindowAxis {
    pub input: usize,
    pub output: usize,
    pub stride: usize,
    pub dilation: usize,
    /// Output positions `full.0..full.1` use every filter tap (the unpadded interior;
    /// positions with all taps inside the image form one contiguous run).
    pub full: (usize, usize),
    /// For each output position: the first input coordinate its window reads (tap
    /// `lo`), and the range `lo..hi` of filter taps that fall inside the input.
    pub taps: Vec<TapRange>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TapRange {
    pub first_input: usize,
    pub lo: usize,
    pub hi: usize,
}

impl WindowAxis {
    /// Output size and per-position valid taps of one axis, with TFLite's padding rule.
    pub fn new(
        padding: Padding,
        input: usize,
        filter: usize,
        stride: usize,
        dilation: usize,
    ) -> Result<WindowAxis, KernelError> {
        let (output, pad) = window_dim(padding, input, filter, stride, dilation)?;
        let (input_i, filter_i, stride_i, dilation_i, pad_i) = (
            to_i128(input),
            to_i128(filter),
            to_i128(stride),
            to_i128(dilation),
            to_i128(pad),
        );
        let mut taps = Vec::with_capacity(output);
        for o in 0..output {
            // Input coordinate of tap k is start + k*dilation; keep the taps in range.
            let start = to_i128(o) * stride_i - pad_i;
            let lo = if start < 0 {
                (-start + dilation_i - 1) / dilation_i
            } else {
                0
            };
            let hi = if start >= input_i {
                0
            } else {
                (input_i - start + dilation_i - 1) / dilation_i
            };
            let lo = lo.min(filter_i);
            let hi = hi.min(filter_i).max(lo);
            let first = start + lo * dilation_i;
            taps.push(TapRange {
                first_input: if lo < hi { first as usize } else { 0 },
                lo: lo as usize,
                hi: hi as usize,
            });
        }
        let is_full = |t: &TapRange| t.lo == 0 && t.hi == filter;
        let full = match taps.iter().position(is_full) {
            Some(lo) => (
                lo,
                lo + taps[lo..].iter().take_while(|t| is_full(t)).count(),
            ),
            None => (0, 0),
        };
        Ok(WindowAxis {
            input,
            output,
            stride,
            dilation,
            full,
            taps,
        })
    }
}

fn to_i128(v: usize) -> i128 {
    v as i128
}

/// Spatial geometry of a windowed NHWC op.
#[derive(Clone, Debug)]
pub(crate) struct Window2d {
    pub batch: usize,
    pub h: WindowAxis,
    pub w: WindowAxis,
}

/// Checks an input is a rank-4 NHWC tensor and returns its dims.
pub(crate) fn nhwc(info: &TensorInfo, what: &str) -> Result<[usize; 4], KernelError> {
    match info.shape.as_slice() {
        &[n, h, w, c] => Ok([n, h, w, c]),
        s => kbail!("{what} must be 4-D (NHWC), got shape {s:?}"),
    }
}

/// Checks a float output is declared float32 (the float kernels write nothing else).
fn expect_f32_output(ctx: &PrepareCtx<'_>, input: DType, filter: DType) -> Result<(), KernelError> {
    let out = ctx.output(0)?.dtype;
    if out != DType::F32 {
        kbail!("{input} input with {filter} filter must produce float32 output, the model declares {out}");
    }
    Ok(())
}

/// Validates an optional float bias of `len` elements.
fn check_bias(ctx: &PrepareCtx<'_>, len: usize) -> Result<(), KernelError> {
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::F32 {
            kbail!(
                "bias must be float32 for float convolution, got {}",
                bias.dtype
            );
        }
        if bias.num_elements() != len {
            kbail!(
                "bias has {} elements, the output has {len} channels",
                bias.num_elements()
            );
        }
    }
    Ok(())
}

fn window2d(
    params: &WindowParams,
    batch: usize,
    in_h: usize,
    in_w: usize,
    k_h: usize,
    k_w: usize,
) -> Result<Window2d, KernelError> {
    let stride_h = positive(params.stride_h, "stride_h")?;
    let stride_w = positive(params.stride_w, "stride_w")?;
    let dilation_h = positive(params.dilation_h, "dilation_h")?;
    let dilation_w = positive(params.dilation_w, "dilation_w")?;
    Ok(Window2d {
        batch,
        h: WindowAxis::new(params.padding, in_h, k_h, stride_h, dilation_h)?,
        w: WindowAxis::new(params.padding, in_w, k_w, stride_w, dilation_w)?,
    })
}

// ---------------------------------------------------------------------------------------
// CONV_2D

fn prepare_conv(ctx: &PrepareCtx<'_>, params: &WindowParams) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    match (input.dtype, filter.dtype) {
        (DType::F32, DType::F32) => prepare_conv_f32(ctx, params, input, filter),
        (DType::I8, DType::I8) => prepare_conv_q8::<i8>(ctx, params, input, filter),
        (DType::U8, DType::U8) => prepare_conv_q8::<u8>(ctx, params, input, filter),
        (i, f) => kbail!("CONV_2D with {i} input and {f} filter is not supported"),
    }
}

/// Output channels are computed in blocks of this many (and one final block of
/// `LANES`), held in registers across all taps of one output pixel.
const BLOCK: usize = 16;
const LANES: usize = 8;

/// Shapes of a float convolution after validation.
#[derive(Clone, Debug)]
struct ConvShape {
    win: Window2d,
    in_c: usize,
    /// Input channels per group (the filter's last dim).
    group_in: usize,
    groups: usize,
    out_c: usize,
    /// Output channels per group.
    group_out: usize,
    /// `group_out` rounded up to `LANES`: the stride of one tap row in the packed filter.
    group_out_padded: usize,
    k_h: usize,
    k_w: usize,
    /// One group and no horizontal dilation: the taps of a filter row read one
    /// contiguous run of input.
    contiguous_taps: bool,
}

impl ConvShape {
    fn packed_len(&self) -> usize {
        self.groups * self.k_h * self.k_w * self.group_in * self.group_out_padded
    }

    /// Rewrites a [out_c, k_h, k_w, group_in] filter as
    /// [groups, k_h, k_w, group_in, group_out_padded] (zero padded) into `packed`.
    fn pack_filter(&self, filter: &[f32], packed: &mut [f32]) {
        self.pack_filter_with(filter, packed, |w| w);
    }

    /// [`ConvShape::pack_filter`] with each value converted by `convert` (the integer
    /// kernels widen and fold in the filter offset); padding stays `D::default()`.
    fn pack_filter_with<S: Copy, D: Copy + Default>(
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

enum PackedFilter {
    /// Packed once at prepare from a constant filter.
    Constant(Vec<f32>),
    /// The filter arrives at run time; it is packed into this buffer (sized at
    /// prepare) on every run.
    Runtime(Mutex<Vec<f32>>),
}

struct ConvF32 {
    shape: ConvShape,
    filter: PackedFilter,
    range: (f32, f32),
    fused: bool,
}

/// Validates a CONV_2D input and filter and resolves the geometry both element types use.
fn conv_shape(
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<ConvShape, KernelError> {
    let [n, in_h, in_w, in_c] = nhwc(input, "input")?;
    let [out_c, k_h, k_w, group_in] = nhwc(filter, "filter")?;
    if group_in == 0 || !in_c.is_multiple_of(group_in) {
        kbail!(
            "input has {in_c} channels, not a multiple of the filter's {group_in} input channels"
        );
    }
    let groups = in_c / group_in;
    if groups == 0 || !out_c.is_multiple_of(groups) {
        kbail!("{out_c} output channels cannot be split into {groups} groups");
    }
    let win = window2d(params, n, in_h, in_w, k_h, k_w)?;
    let group_out = out_c / groups;
    Ok(ConvShape {
        in_c,
        group_in,
        groups,
        out_c,
        group_out,
        group_out_padded: group_out.div_ceil(LANES) * LANES,
        k_h,
        k_w,
        contiguous_taps: groups == 1 && win.w.dilation == 1,
        win,
    })
}

fn prepare_conv_f32(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    expect_f32_output(ctx, input.dtype, filter.dtype)?;
    let shape = conv_shape(params, input, filter)?;
    let (n, out_c) = (shape.win.batch, shape.out_c);
    check_bias(ctx, out_c)?;
    let range = activation_range_f32(params.activation)?;
    let output_shape = vec![n, shape.win.h.output, shape.win.w.output, out_c];
    let packed_len = shape.packed_len();
    let filter = match filter.constant.as_deref() {
        Some(buf) => {
            let View::F32(values) = buf.view() else {
                kbail!("filter constant is not float32");
            };
            if values.len() != filter.num_elements() {
                kbail!(
                    "filter has {} values, its shape needs {}",
                    values.len(),
                    filter.num_elements()
                );
            }
            let mut packed = vec![0.0; packed_len];
            shape.pack_filter(values, &mut packed);
            PackedFilter::Constant(packed)
        }
        None => PackedFilter::Runtime(Mutex::new(vec![0.0; packed_len])),
    };
    Ok(Prepared::new(
        vec![output_shape],
        ConvF32 {
            shape,
            filter,
            range,
            fused: fma_available(),
        },
    ))
}

impl Kernel for ConvF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = input_f32(inputs, 0)?;
        let bias = optional_f32(inputs, 2)?;
        let out = output_f32(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len || out.len() != out_len || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("CONV_2D buffers do not match the planned shapes");
        }
        match &self.filter {
            PackedFilter::Constant(packed) => {
                conv_f32(s, input, packed, bias, out, self.range, self.fused)
            }
            PackedFilter::Runtime(scratch) => {
                let filter = input_f32(inputs, 1)?;
                if filter.len() != s.out_c * s.k_h * s.k_w * s.group_in {
                    kbail!("CONV_2D filter does not match the planned shape");
                }
                let mut packed = scratch.lock().map_err(|_| {
                    KernelError::new("CONV_2D filter scratch was poisoned by an earlier panic")
                })?;
                s.pack_filter(filter, &mut packed);
                conv_f32(s, input, &packed, bias, out, self.range, self.fused)
            }
        }
        Ok(())
    }
}

fn input_f32<'a>(inputs: &[View<'a>], i: usize) -> Result<&'a [f32], KernelError> {
    match inputs.get(i) {
        Some(v) => v.f32(),
        None => kbail!("input {i} is missing"),
    }
}

fn optional_f32<'a>(inputs: &[View<'a>], i: usize) -> Result<Option<&'a [f32]>, KernelError> {
    match inputs.get(i) {
        None | Some(View::Absent) => Ok(None),
        Some(v) => v.f32().map(Some),
    }
}

fn output_f32<'a, 'b>(outputs: &'a mut [ViewMut<'b>]) -> Result<&'a mut [f32], KernelError> {
    match outputs.first_mut() {
        Some(v) => v.f32(),
        None => kbail!("output 0 is missing"),
    }
}

#[cfg(test)]
thread_local! {
    /// Lets tests on an AVX2 machine exercise the portable loops too.
    pub(crate) static PORTABLE_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Lets tests on an AVX-512 machine exercise the AVX2 variants too.
    pub(crate) static AVX2_ONLY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Lets tests on a VNNI machine exercise the plain AVX-512 variant too.
    pub(crate) static NO_VNNI: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// True when the CPU can run the AVX2 + FMA variants of the inner loops.
pub(crate) fn fma_available() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `acc + a*b`, fused when the caller was compiled for FMA (a plain `mul_add` would be a
/// slow library call otherwise).
#[inline(always)]
fn madd<const FUSED: bool>(acc: f32, a: f32, b: f32) -> f32 {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

fn conv_f32(
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
        // SAFETY: `fused` is only true when `fma_available` saw AVX2 and FMA at run time.
        unsafe { conv_f32_avx2(s, input, packed, bias, out, range) };
        return;
    }
    let _ = fused;
    conv_f32_body::<false>(s, input, packed, bias, out, range);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn conv_f32_avx2(
    s: &ConvShape,
    input: &[f32],
    packed: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    conv_f32_body::<true>(s, input, packed, bias, out, range);
}

/// Output pixels of one row computed together in the image interior: their
/// accumulators (TILE x block width) stay in registers while each filter block is
/// loaded once per tap and reused for all of them.
const TILE: usize = 4;

/// The convolution proper, one output row and channel block at a time. Buffer lengths
/// were checked against `s` by the caller and the tap ranges keep every input coordinate
/// inside the image, so the slicing below stays in bounds by construction.
#[inline(always)]
fn conv_f32_body<const FUSED: bool>(
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

/// Fused-activation clamp that lets NaN through, as TFLite's min/max does.
#[inline(always)]
pub(crate) fn clamp(x: f32, (lo, hi): (f32, f32)) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

// ---------------------------------------------------------------------------------------
// DEPTHWISE_CONV_2D

fn prepare_depthwise(ctx: &PrepareCtx<'_>, params: &WindowParams) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    match (input.dtype, filter.dtype) {
        (DType::F32, DType::F32) => prepare_depthwise_f32(ctx, params, input, filter),
        (DType::I8, DType::I8) => prepare_depthwise_q8::<i8>(ctx, params, input, filter),
        (DType::U8, DType::U8) => prepare_depthwise_q8::<u8>(ctx, params, input, filter),
        (i, f) => kbail!("DEPTHWISE_CONV_2D with {i} input and {f} filter is not supported"),
    }
}

#[derive(Clone, Debug)]
struct DepthwiseShape {
    win: Window2d,
    in_c: usize,
    multiplier: usize,
    out_c: usize,
    k_h: usize,
    k_w: usize,
}

impl DepthwiseShape {
    fn output_shape(&self) -> Vec<usize> {
        vec![
            self.win.batch,
            self.win.h.output,
            self.win.w.output,
            self.out_c,
        ]
    }
}

/// Validates a DEPTHWISE_CONV_2D input and filter and resolves the geometry.
fn depthwise_shape(
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<DepthwiseShape, KernelError> {
    let [n, in_h, in_w, in_c] = nhwc(input, "input")?;
    let [one, k_h, k_w, out_c] = nhwc(filter, "filter")?;
    if one != 1 {
        kbail!(
            "depthwise filter must have shape [1, KH, KW, C], got {:?}",
            filter.shape
        );
    }
    if in_c == 0 || !out_c.is_multiple_of(in_c) {
        kbail!("filter has {out_c} output channels, not a multiple of the input's {in_c} channels");
    }
    let win = window2d(params, n, in_h, in_w, k_h, k_w)?;
    Ok(DepthwiseShape {
        win,
        in_c,
        multiplier: out_c / in_c,
        out_c,
        k_h,
        k_w,
    })
}

struct DepthwiseF32 {
    shape: DepthwiseShape,
    range: (f32, f32),
    fused: bool,
}

fn prepare_depthwise_f32(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    expect_f32_output(ctx, input.dtype, filter.dtype)?;
    let shape = depthwise_shape(params, input, filter)?;
    check_bias(ctx, shape.out_c)?;
    let range = activation_range_f32(params.activation)?;
    let output_shape = shape.output_shape();
    Ok(Prepared::new(
        vec![output_shape],
        DepthwiseF32 {
            shape,
            range,
            fused: fma_available(),
        },
    ))
}

impl Kernel for DepthwiseF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = input_f32(inputs, 0)?;
        let filter = input_f32(inputs, 1)?;
        let bias = optional_f32(inputs, 2)?;
        let out = output_f32(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len
            || out.len() != out_len
            || filter.len() != s.k_h * s.k_w * s.out_c
            || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("DEPTHWISE_CONV_2D buffers do not match the planned shapes");
        }
        if out.is_empty() {
            return Ok(());
        }
        #[cfg(target_arch = "x86_64")]
        if self.fused {
            // SAFETY: `fused` is only true when `fma_available` saw AVX2 and FMA.
            unsafe { depthwise_f32_avx2(s, input, filter, bias, out, self.range) };
            return Ok(());
        }
        depthwise_f32_body::<false>(s, input, filter, bias, out, self.range);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn depthwise_f32_avx2(
    s: &DepthwiseShape,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    range: (f32, f32),
) {
    depthwise_f32_body::<true>(s, input, filter, bias, out, range);
}

/// Accumulates straight into the output pixel, one tap at a time, so the loop over
/// channels is contiguous in input, filter and output. Lengths were checked by `run`.
#[inline(always)]
fn depthwise_f32_body<const FUSED: bool>(
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

// ---------------------------------------------------------------------------------------
// 8-bit quantized convolutions (int8 per channel, uint8 per tensor)
//
// Both follow TFLite's reference kernels: acc = Σ (w + w_off)·(x + in_off) over the taps
// inside the image, plus the int32 bias, then MultiplyByQuantizedMultiplier with the
// output channel's multiplier, plus the output zero point, clamped to the fused
// activation's range. Every product fits in i32 and the sums wrap as the compiled C++
// does, so the order of accumulation does not change a single bit of the result.

/// An 8-bit quantized element type: int8 (the current spec) or uint8 (legacy models).
pub(crate) trait Q8: Copy + Send + Sync + 'static {
    const DTYPE: DType;
    fn widen(self) -> i32;
    /// `value` must already lie in the type's range.
    fn narrow(value: i32) -> Self;
    /// The element whose bits are `byte`.
    fn from_byte(byte: u8) -> Self;
    fn slice<'a>(view: &View<'a>) -> Result<&'a [Self], KernelError>;
    fn slice_mut<'a>(view: &'a mut ViewMut<'_>) -> Result<&'a mut [Self], KernelError>;
}

impl Q8 for i8 {
    const DTYPE: DType = DType::I8;
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
    fn slice<'a>(view: &View<'a>) -> Result<&'a [i8], KernelError> {
        view.i8()
    }
    fn slice_mut<'a>(view: &'a mut ViewMut<'_>) -> Result<&'a mut [i8], KernelError> {
        view.i8()
    }
}

impl Q8 for u8 {
    const DTYPE: DType = DType::U8;
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
    fn slice<'a>(view: &View<'a>) -> Result<&'a [u8], KernelError> {
        view.u8()
    }
    fn slice_mut<'a>(view: &'a mut ViewMut<'_>) -> Result<&'a mut [u8], KernelError> {
        view.u8()
    }
}

/// Input `i` as 8-bit elements.
pub(crate) fn q8_input<'a, T: Q8>(inputs: &[View<'a>], i: usize) -> Result<&'a [T], KernelError> {
    match inputs.get(i) {
        Some(v) => T::slice(v),
        None => kbail!("input {i} is missing"),
    }
}

/// Output 0 as 8-bit elements.
pub(crate) fn q8_output<'a, T: Q8>(
    outputs: &'a mut [ViewMut<'_>],
) -> Result<&'a mut [T], KernelError> {
    match outputs.first_mut() {
        Some(v) => T::slice_mut(v),
        None => kbail!("output 0 is missing"),
    }
}

/// The optional int32 bias (input 2).
pub(crate) fn optional_i32<'a>(
    inputs: &[View<'a>],
    i: usize,
) -> Result<Option<&'a [i32]>, KernelError> {
    match inputs.get(i) {
        None | Some(View::Absent) => Ok(None),
        Some(v) => v.i32().map(Some),
    }
}

/// Per-tensor (scale, zero point) of an 8-bit activation, checked usable: a positive
/// finite scale and a zero point inside the type's range.
pub(crate) fn q8_params(
    quantization: Option<&Quantization>,
    dtype: DType,
    what: &str,
) -> Result<(f32, i32), KernelError> {
    let Some(q) = quantization else {
        kbail!("{what} is {dtype} but has no quantization parameters");
    };
    let (scale, zero_point) = match (q.scale.as_slice(), q.zero_point.as_slice()) {
        ([s], [z]) => (*s, *z),
        ([s], []) => (*s, 0),
        (s, _) => kbail!(
            "{what} must be quantized per tensor, it has {} scales",
            s.len()
        ),
    };
    if !(scale.is_finite() && scale > 0.0) {
        kbail!("{what} has the unusable scale {scale}");
    }
    let (lo, hi) = quantized_range(dtype)?;
    if zero_point < i64::from(lo) || zero_point > i64::from(hi) {
        kbail!("{what} has zero point {zero_point}, outside the {dtype} range");
    }
    Ok((scale, zero_point as i32))
}

/// Quantization of a weight tensor along output channels: one (scale, zero point) per
/// channel, broadcast from a single pair when quantized per tensor. `per_channel` tells
/// which it was. A per-channel table must run along `axis` and have one entry per
/// channel.
pub(crate) struct ChannelScales {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
    pub per_channel: bool,
}

pub(crate) fn channel_scales(
    info: &TensorInfo,
    channels: usize,
    axis: usize,
    what: &str,
) -> Result<ChannelScales, KernelError> {
    let Some(q) = info.quantization.as_ref() else {
        kbail!(
            "{what} is {} but has no quantization parameters",
            info.dtype
        );
    };
    let per_channel = match q.scale.len() {
        0 => kbail!("{what} is {} but has no scales", info.dtype),
        1 => false,
        n if n == channels && q.quantized_dimension == axis => true,
        n => kbail!(
            "{what} has {n} scales along dimension {}, expected 1 or {channels} along dimension {axis}",
            q.quantized_dimension
        ),
    };
    let scales = if per_channel {
        q.scale.clone()
    } else {
        vec![q.scale[0]; channels]
    };
    if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
        kbail!("{what} has the unusable scale {bad}");
    }
    let zero_points = match q.zero_point.len() {
        0 => vec![0; channels],
        1 => vec![q.zero_point[0]; channels],
        n if n == channels => q.zero_point.clone(),
        n => kbail!("{what} has {n} zero points for {channels} channels"),
    };
    Ok(ChannelScales {
        scales,
        zero_points,
        per_channel,
    })
}

/// Validates an optional int32 bias of `len` elements.
pub(crate) fn check_bias_i32(ctx: &PrepareCtx<'_>, len: usize) -> Result<(), KernelError> {
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::I32 {
            kbail!(
                "bias must be int32 for 8-bit quantized inputs, got {}",
                bias.dtype
            );
        }
        if bias.num_elements() != len {
            kbail!(
                "bias has {} elements, the output has {len} channels",
                bias.num_elements()
            );
        }
    }
    Ok(())
}

/// The constant contents of an 8-bit weight tensor with exactly `len` elements.
pub(crate) fn q8_constant<'a, T: Q8>(
    info: &'a TensorInfo,
    len: usize,
    what: &str,
) -> Result<&'a [T], KernelError> {
    let values = T::slice(&info.constant_or_err(what)?.view())?;
    if values.len() != len {
        kbail!("{what} has {} values, its shape needs {len}", values.len());
    }
    Ok(values)
}

/// What every 8-bit conv kernel needs besides its geometry and filter.
#[derive(Clone, Debug)]
struct Requant {
    /// `(multiplier, shift)` per output channel, as `QuantizeMultiplier` encodes them.
    multipliers: Vec<(i32, i32)>,
    input_offset: i32,
    output_zero_point: i32,
    range: (i32, i32),
    /// The multipliers split for [`requant_lanes`] (padded with `BLOCK` idle lanes so
    /// every block reads whole arrays), or None when some channel's is outside what
    /// that form reproduces exactly.
    lanes: Option<LaneTables>,
}

#[derive(Clone, Debug)]
struct LaneTables {
    multiplier: Vec<i32>,
    left: Vec<u32>,
    right: Vec<u32>,
}

impl LaneTables {
    fn new(multipliers: &[(i32, i32)]) -> Option<LaneTables> {
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
    fn finish(&self, acc: i32, bias: Option<&[i32]>, channel: usize) -> i32 {
        let bias = bias.map_or(0, |b| b[channel]);
        let (m, shift) = self.multipliers[channel];
        multiply_by_quantized_multiplier(acc.wrapping_add(bias), m, shift)
            .wrapping_add(self.output_zero_point)
            .clamp(self.range.0, self.range.1)
    }
}

/// Quantization parameters of an 8-bit conv: per-channel multipliers for int8 (as
/// `PopulateConvolutionQuantizationParams` computes them, a per-tensor filter scale
/// being broadcast), the legacy per-tensor multiplier for uint8
/// (`GetQuantizedConvolutionMultipler`, which takes the scale product in float).
/// Returns the filter offset too (always 0 for int8, whose zero points must be 0).
fn q8_requant<T: Q8>(
    ctx: &PrepareCtx<'_>,
    input: &TensorInfo,
    filter: &TensorInfo,
    out_c: usize,
    filter_axis: usize,
    activation: Activation,
) -> Result<(Requant, i32), KernelError> {
    let output = ctx.output(0)?;
    if output.dtype != T::DTYPE {
        kbail!(
            "{} input must produce {} output, the model declares {}",
            T::DTYPE,
            T::DTYPE,
            output.dtype
        );
    }
    let (in_s, in_zp) = q8_params(input.quantization.as_ref(), T::DTYPE, "input")?;
    let (out_s, out_zp) = q8_params(output.quantization.as_ref(), T::DTYPE, "output")?;
    let w = channel_scales(filter, out_c, filter_axis, "filter")?;
    let (multipliers, filter_offset) = match T::DTYPE {
        DType::I8 => {
            if let Some(z) = w.zero_points.iter().find(|&&z| z != 0) {
                kbail!("int8 filter zero points must be 0, got {z}");
            }
            let m = w
                .scales
                .iter()
                .map(|&ws| quantize_multiplier(effective_scale_per_channel(in_s, ws, out_s)))
                .collect::<Result<Vec<_>, _>>()?;
            (m, 0)
        }
        _ => {
            if w.per_channel {
                kbail!("per-channel filter quantization needs int8 inputs");
            }
            let zp = w.zero_points[0];
            if !(0..=255).contains(&zp) {
                kbail!("uint8 filter zero point {zp} is outside 0..=255");
            }
            let real = effective_scale_per_tensor(in_s, w.scales[0], out_s);
            (vec![quantize_multiplier(real)?; out_c], -(zp as i32))
        }
    };
    let range = calculate_activation_range_quantized(activation, out_s, out_zp, T::DTYPE)?;
    Ok((
        Requant {
            lanes: LaneTables::new(&multipliers),
            multipliers,
            input_offset: -in_zp,
            output_zero_point: out_zp,
            range,
        },
        filter_offset,
    ))
}

/// True when the CPU has AVX-512 F, BW and VL (the 16-lane integer conv path).
pub(crate) fn avx512_available() -> bool {
    #[cfg(test)]
    if AVX2_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU has AVX-512 VNNI.
pub(crate) fn vnni_available() -> bool {
    #[cfg(test)]
    if NO_VNNI.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// True when the CPU has AVX2, for the integer loops (which need no FMA).
pub(crate) fn avx2_available() -> bool {
    #[cfg(test)]
    if PORTABLE_ONLY.with(|p| p.get()) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

struct ConvQ8<T> {
    shape: ConvShape,
    /// [groups, k_h, k_w, group_in, group_out_padded], each weight plus the filter
    /// offset (so uint8 weights need no offset in the loop), widened to i16.
    filter: Vec<i16>,
    requant: Requant,
    avx2: bool,
    /// The `vpmaddwd` path for pixels whose window lies inside the image, when AVX2
    /// and the lane requantization are both available.
    madd: Option<madd::MaddPlan>,
    elem: PhantomData<fn() -> T>,
}

fn prepare_conv_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let shape = conv_shape(params, input, filter)?;
    check_bias_i32(ctx, shape.out_c)?;
    let (requant, filter_offset) =
        q8_requant::<T>(ctx, input, filter, shape.out_c, 0, params.activation)?;
    let values = q8_constant::<T>(filter, filter.num_elements(), "quantized filter")?;
    let mut packed = vec![0i16; shape.packed_len()];
    // |w + offset| <= 255 fits i16.
    let widen = |w: T| (w.widen() + filter_offset) as i16;
    shape.pack_filter_with(values, &mut packed, widen);
    let avx2 = avx2_available();
    let madd = (avx2 && requant.lanes.is_some()).then(|| {
        let filter: Vec<i16> = values.iter().map(|&w| widen(w)).collect();
        let wide = (avx512_available(), vnni_available());
        madd::MaddPlan::new(&shape, &filter, requant.input_offset, wide)
    });
    let output_shape = vec![
        shape.win.batch,
        shape.win.h.output,
        shape.win.w.output,
        shape.out_c,
    ];
    Ok(Prepared::new(
        vec![output_shape],
        ConvQ8::<T> {
            shape,
            filter: packed,
            requant,
            avx2,
            madd,
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for ConvQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len || out.len() != out_len || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("CONV_2D buffers do not match the planned shapes");
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { conv_q8_avx2(self, input, bias, out) };
            return Ok(());
        }
        conv_q8_body::<T, false>(self, input, bias, out);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn conv_q8_avx2<T: Q8>(k: &ConvQ8<T>, input: &[T], bias: Option<&[i32]>, out: &mut [T]) {
    conv_q8_body::<T, true>(k, input, bias, out);
}

/// The convolution proper, one output row, group and channel block at a time: pixels
/// whose windows lie wholly inside the image horizontally go TILE at a time (each
/// filter block loaded once per tap for all of them), the border pixels one by one
/// over their valid taps. Lengths were checked by `run`; tap ranges keep every read
/// inside the image.
#[inline(always)]
fn conv_q8_body<T: Q8, const SIMD: bool>(
    k: &ConvQ8<T>,
    input: &[T],
    bias: Option<&[i32]>,
    out: &mut [T],
) {
    let s = &k.shape;
    let image_len = s.win.h.input * s.win.w.input * s.in_c;
    let out_row_len = s.win.w.output * s.out_c;
    let group_filter_len = s.k_h * s.k_w * s.group_in * s.group_out_padded;
    if out_row_len == 0 {
        return;
    }
    // The interior path needs the image widened to i16; only the AVX2 build has it.
    let interior = if SIMD {
        k.madd.as_ref().zip(k.requant.lanes.as_ref())
    } else {
        None
    };
    let mut widened = match interior {
        Some(_) => vec![0i16; madd::MaddPlan::widened_len(s)],
        None => Vec::new(),
    };
    let (full_lo, full_hi) = s.win.w.full;
    let interior_rows = s.win.h.full.0..s.win.h.full.1;
    let out_image_len = s.win.h.output * out_row_len;
    if out_image_len == 0 {
        return;
    }
    for (n, out_image) in out.chunks_exact_mut(out_image_len).enumerate() {
        let image = &input[n * image_len..(n + 1) * image_len];
        let mut skip = (0, 0);
        #[cfg(target_arch = "x86_64")]
        if let Some((plan, lanes)) = interior {
            if full_lo < full_hi && !interior_rows.is_empty() {
                madd::widen(image, &mut widened);
                let job = madd::Interior {
                    shape: s,
                    plan,
                    lanes,
                    output_zero_point: k.requant.output_zero_point,
                    range: k.requant.range,
                    bias,
                    image: &widened,
                    row_taps: &s.win.h.taps,
                    column_taps: &s.win.w.taps,
                    rows: interior_rows.clone(),
                    columns: full_lo..full_hi,
                    out: &mut *out_image,
                };
                // SAFETY: `interior` is only Some in the AVX2 build (SIMD), which runs
                // when the CPU reported AVX2 (and AVX-512 when the plan uses it);
                // `widened` has the plan's length and the plan was made for this shape.
                unsafe { madd::interior(job) };
                skip = (full_lo, full_hi);
            }
        }
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
    k: &'a ConvQ8<T>,
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
fn conv_q8_row<T: Q8, const W: usize>(
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
fn weights_i32<const W: usize>(s: &[i16]) -> [i32; W] {
    match s.first_chunk::<W>() {
        Some(b) => b.map(i32::from),
        None => unreachable!("packed filter blocks are padded to whole lanes"),
    }
}

/// `acc[l] += w[l]·x` in wrapping i32, as the compiled C++ accumulates.
#[inline(always)]
fn mac_lanes<const W: usize>(acc: &mut [i32; W], w: &[i32; W], x: i32) {
    for l in 0..W {
        acc[l] = acc[l].wrapping_add(w[l].wrapping_mul(x));
    }
}

/// TILE neighbouring output pixels whose windows lie wholly inside the image
/// horizontally; `first_col` is the input column of the first pixel's first tap.
#[inline(always)]
fn conv_q8_tile<T: Q8, const W: usize>(c: &RowQ8<'_, T>, first_col: usize) -> [[i32; W]; TILE] {
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
fn conv_q8_pixel<T: Q8, const W: usize>(c: &RowQ8<'_, T>, tx: &TapRange) -> [i32; W] {
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

/// The requantization of one block of W output channels, laid out lane by lane so all
/// W run at once. `lanes` is None when some channel's multiplier falls outside what
/// [`requant_lanes`] reproduces exactly; those blocks take [`Requant::finish`].
struct BlockFinish<const W: usize> {
    lanes: Option<LaneRequant<W>>,
    bias: Option<[i32; W]>,
    first: usize,
}

struct LaneRequant<const W: usize> {
    bias: [i32; W],
    multiplier: [i32; W],
    left: [u32; W],
    right: [u32; W],
    zero_point: i32,
    range: (i32, i32),
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
    fn store<T: Q8>(&self, dst: &mut [T], acc: &[i32; W], r: &Requant) {
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
fn lane_exact(multiplier: i32, shift: i32) -> bool {
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
fn requant_lanes<const W: usize>(acc: &[i32; W], q: &LaneRequant<W>) -> [i32; W] {
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

struct DepthwiseQ8<T> {
    shape: DepthwiseShape,
    /// [k_h, k_w, out_c]: each weight plus the filter offset, widened to i16.
    filter: Vec<i16>,
    requant: Requant,
    avx2: bool,
    elem: PhantomData<fn() -> T>,
}

fn prepare_depthwise_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let shape = depthwise_shape(params, input, filter)?;
    check_bias_i32(ctx, shape.out_c)?;
    let (requant, filter_offset) =
        q8_requant::<T>(ctx, input, filter, shape.out_c, 3, params.activation)?;
    let values = q8_constant::<T>(filter, filter.num_elements(), "quantized filter")?;
    let packed = values
        .iter()
        .map(|&w| (w.widen() + filter_offset) as i16)
        .collect();
    let output_shape = shape.output_shape();
    Ok(Prepared::new(
        vec![output_shape],
        DepthwiseQ8::<T> {
            shape,
            filter: packed,
            requant,
            avx2: avx2_available(),
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for DepthwiseQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        if input.len() != in_len
            || out.len() != s.output_shape().iter().product::<usize>()
            || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("DEPTHWISE_CONV_2D buffers do not match the planned shapes");
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU reported AVX2 at prepare.
            unsafe { depthwise_q8_avx2(self, input, bias, out) };
            return Ok(());
        }
        depthwise_q8_body(self, input, bias, out);
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn depthwise_q8_avx2<T: Q8>(k: &DepthwiseQ8<T>, input: &[T], bias: Option<&[i32]>, out: &mut [T]) {
    depthwise_q8_body(k, input, bias, out);
}

/// One output row and channel block at a time. With a depth multiplier of 1 the
/// interior pixels go TILE at a time (input, filter and output channels all
/// contiguous); otherwise, and at the borders, pixel by pixel over the valid taps.
/// Lengths were checked by `run`; tap ranges keep every read inside the image.
#[inline(always)]
fn depthwise_q8_body<T: Q8>(k: &DepthwiseQ8<T>, input: &[T], bias: Option<&[i32]>, out: &mut [T]) {
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
    k: &'a DepthwiseQ8<T>,
    image: &'a [T],
    ty: &'a TapRange,
    /// First output channel of the block.
    c: usize,
}

/// Output channels `c..c+W` (the caller guarantees they exist) of one output row.
/// Returns W.
#[inline(always)]
fn depthwise_q8_row<T: Q8, const W: usize>(
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
fn depthwise_q8_tile<T: Q8, const W: usize>(
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
fn depthwise_q8_pixel<T: Q8, const W: usize>(at: &DepthwiseAt<'_, T>, tx: &TapRange) -> [i32; W] {
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

/// Helpers the kernel tests of this directory share: run one op on float tensors, a
/// small deterministic PRNG, and comparison with a tolerance.
#[cfg(test)]
pub(crate) mod testutil {
    use std::sync::Arc;

    use crate::interp::kernels::{prepare, PrepareCtx, Prepared};
    use crate::interp::value::{TensorBuf, View, ViewMut};
    use crate::interp::{KernelError, TensorInfo};
    use crate::ir::{self, DType, Op, Operator};

    /// A float input: shape, values, and whether the planner would know it as a constant.
    pub struct In {
        pub shape: Vec<usize>,
        pub data: Vec<f32>,
        pub constant: bool,
    }

    pub fn var(shape: &[usize], data: Vec<f32>) -> Option<In> {
        Some(In {
            shape: shape.to_vec(),
            data,
            constant: false,
        })
    }

    pub fn cst(shape: &[usize], data: Vec<f32>) -> Option<In> {
        Some(In {
            shape: shape.to_vec(),
            data,
            constant: true,
        })
    }

    pub fn info(i: &In) -> TensorInfo {
        TensorInfo {
            name: "t".into(),
            dtype: DType::F32,
            shape: i.shape.clone(),
            quantization: None,
            sparsity: None,
            constant: i.constant.then(|| Arc::new(TensorBuf::F32(i.data.clone()))),
        }
    }

    /// Prepares `op` with the given tensor infos (None = omitted input).
    pub fn prepare_infos(op: Op, infos: &[Option<TensorInfo>]) -> Result<Prepared, KernelError> {
        let operator = Operator {
            op,
            inputs: (0..infos.len()).map(Some).collect(),
            outputs: vec![infos.len()],
        };
        let out = ir::Tensor::activation("out", DType::F32, vec![]);
        let ctx = PrepareCtx {
            op: &operator,
            inputs: infos.iter().map(|i| i.as_ref()).collect(),
            outputs: vec![&out],
        };
        prepare(&ctx)
    }

    /// Prepares and runs `op` once; returns the output shape and values.
    pub fn run_f32(op: Op, ins: &[Option<In>]) -> Result<(Vec<usize>, Vec<f32>), KernelError> {
        let infos: Vec<Option<TensorInfo>> = ins.iter().map(|i| i.as_ref().map(info)).collect();
        let prepared = prepare_infos(op, &infos)?;
        let shape = prepared.output_shapes[0].clone();
        let mut out = vec![f32::NAN; shape.iter().product()];
        let views: Vec<View<'_>> = ins
            .iter()
            .map(|i| match i {
                Some(i) => View::F32(&i.data),
                None => View::Absent,
            })
            .collect();
        prepared.kernel.run(&views, &mut [ViewMut::F32(&mut out)])?;
        Ok((shape, out))
    }

    /// xorshift64*: deterministic, good enough for test data.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        /// Uniform in lo..=hi.
        pub fn range(&mut self, lo: usize, hi: usize) -> usize {
            lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
        }

        /// Uniform in [-1, 1).
        pub fn unit(&mut self) -> f32 {
            (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }

        pub fn vec(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.unit()).collect()
        }
    }

    /// Element-wise closeness with an absolute tolerance scaled by the data magnitude.
    pub fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol * (1.0 + w.abs()),
                "{what}: element {i}: got {g}, want {w}"
            );
        }
    }
}

/// Helpers for the 8-bit kernel tests: quantized tensor infos, running one op on
/// integer data, and TFLite's reference requantization written out plainly.
#[cfg(test)]
pub(crate) mod q8test {
    use std::sync::Arc;

    use crate::interp::kernels::{prepare, PrepareCtx};
    use crate::interp::value::{TensorBuf, View};
    use crate::interp::{KernelError, TensorInfo};
    use crate::ir::{self, DType, Op, Operator, Quantization};

    /// A quantized tensor for a test: values (as i32), shape, quantization, constness.
    #[derive(Clone)]
    pub struct Q {
        pub dtype: DType,
        pub shape: Vec<usize>,
        pub values: Vec<i32>,
        pub quant: Option<Quantization>,
        pub constant: bool,
    }

    pub fn per_tensor(dtype: DType, shape: &[usize], values: Vec<i32>, s: f32, zp: i64) -> Q {
        Q {
            dtype,
            shape: shape.to_vec(),
            values,
            quant: Some(Quantization::per_tensor(s, zp)),
            constant: false,
        }
    }

    pub fn per_channel(shape: &[usize], values: Vec<i32>, scales: Vec<f32>, axis: usize) -> Q {
        let n = scales.len();
        Q {
            dtype: DType::I8,
            shape: shape.to_vec(),
            values,
            quant: Some(Quantization {
                scale: scales,
                zero_point: vec![0; n],
                quantized_dimension: axis,
                ..Default::default()
            }),
            constant: true,
        }
    }

    pub fn bias(values: Vec<i32>) -> Q {
        Q {
            dtype: DType::I32,
            shape: vec![values.len()],
            values,
            quant: None,
            constant: true,
        }
    }

    impl Q {
        pub fn constant(mut self) -> Q {
            self.constant = true;
            self
        }

        pub fn buf(&self) -> TensorBuf {
            match self.dtype {
                DType::I8 => TensorBuf::I8(self.values.iter().map(|&v| v as i8).collect()),
                DType::U8 => TensorBuf::U8(self.values.iter().map(|&v| v as u8).collect()),
                DType::I32 => TensorBuf::I32(self.values.clone()),
                other => panic!("no test buffers of {other}"),
            }
        }

        pub fn info(&self) -> TensorInfo {
            TensorInfo {
                name: "t".into(),
                dtype: self.dtype,
                shape: self.shape.clone(),
                quantization: self.quant.clone(),
                sparsity: None,
                constant: self.constant.then(|| Arc::new(self.buf())),
            }
        }
    }

    /// Prepares and runs `op` once; `out` gives the output dtype and quantization.
    /// Returns the output shape and values widened to i32.
    pub fn run_q8(
        op: Op,
        ins: &[Option<Q>],
        out_dtype: DType,
        out_scale: f32,
        out_zp: i64,
    ) -> Result<(Vec<usize>, Vec<i32>), KernelError> {
        let infos: Vec<Option<TensorInfo>> = ins.iter().map(|i| i.as_ref().map(Q::info)).collect();
        let operator = Operator {
            op,
            inputs: (0..infos.len()).map(Some).collect(),
            outputs: vec![infos.len()],
        };
        let mut out_tensor = ir::Tensor::activation("out", out_dtype, vec![]);
        out_tensor.quantization = Some(Quantization::per_tensor(out_scale, out_zp));
        let ctx = PrepareCtx {
            op: &operator,
            inputs: infos.iter().map(|i| i.as_ref()).collect(),
            outputs: vec![&out_tensor],
        };
        let prepared = prepare(&ctx)?;
        let shape = prepared.output_shapes[0].clone();
        let bufs: Vec<Option<TensorBuf>> = ins.iter().map(|i| i.as_ref().map(Q::buf)).collect();
        let views: Vec<View<'_>> = bufs
            .iter()
            .map(|b| b.as_ref().map_or(View::Absent, |b| b.view()))
            .collect();
        let mut out = TensorBuf::zeros(out_dtype, shape.iter().product());
        prepared.kernel.run(&views, &mut [out.view_mut()])?;
        let values = out.to_f64().iter().map(|&v| v as i32).collect();
        Ok((shape, values))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{assert_close, cst, run_f32, var, In, Rng};
    use super::*;
    use crate::interp::kernels::common::window_dim;
    use crate::ir::{Conv2dOptions, DepthwiseConv2dOptions};

    fn conv_op(
        padding: Padding,
        stride: (i32, i32),
        dilation: (i32, i32),
        activation: Activation,
    ) -> Op {
        Op::Conv2d(Conv2dOptions {
            padding,
            stride_h: stride.0,
            stride_w: stride.1,
            dilation_h: dilation.0,
            dilation_w: dilation.1,
            activation,
        })
    }

    fn dw_op(
        padding: Padding,
        stride: (i32, i32),
        dilation: (i32, i32),
        activation: Activation,
        mult: i32,
    ) -> Op {
        Op::DepthwiseConv2d(DepthwiseConv2dOptions {
            padding,
            stride_h: stride.0,
            stride_w: stride.1,
            depth_multiplier: mult,
            dilation_h: dilation.0,
            dilation_w: dilation.1,
            activation,
        })
    }

    fn iota(n: usize) -> Vec<f32> {
        (1..=n).map(|v| v as f32).collect()
    }

    #[test]
    fn conv_valid_2x2_with_bias() {
        // Image 1..9 (3x3), filter [[1,2],[3,4]]: top-left window 1*1+2*2+4*3+5*4 = 37,
        // then 47, 67, 77; bias 1 adds one to each.
        let (shape, out) = run_f32(
            conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None),
            &[
                var(&[1, 3, 3, 1], iota(9)),
                cst(&[1, 2, 2, 1], vec![1., 2., 3., 4.]),
                cst(&[1], vec![1.]),
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 2, 2, 1]);
        assert_eq!(out, vec![38., 48., 68., 78.]);
    }

    #[test]
    fn conv_same_padding_borders_and_relu() {
        // 3x3 ones over image 1..9 with one pixel of zero padding: each output is the sum
        // of its 3x3 neighbourhood (12 21 16 / 27 45 33 / 24 39 28); bias -30 then RELU
        // leaves 45-30, 33-30, 39-30.
        let (shape, out) = run_f32(
            conv_op(Padding::Same, (1, 1), (1, 1), Activation::Relu),
            &[
                var(&[1, 3, 3, 1], iota(9)),
                cst(&[1, 3, 3, 1], vec![1.; 9]),
                cst(&[1], vec![-30.]),
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 3, 3, 1]);
        assert_eq!(out, vec![0., 0., 0., 0., 15., 3., 0., 9., 0.]);
    }

    #[test]
    fn conv_same_stride_2_puts_extra_padding_at_the_end() {
        // Image 1..16 (4x4), 3x3 ones, stride 2 SAME: 2x2 output, total padding 1 which
        // goes after the image. Windows: rows/cols 0-2 → 1+2+3+5+6+7+9+10+11 = 54;
        // cols 2-3 → 3+4+7+8+11+12 = 45; rows 2-3 → 9+10+11+13+14+15 = 72;
        // rows and cols 2-3 → 11+12+15+16 = 54.
        let (shape, out) = run_f32(
            conv_op(Padding::Same, (2, 2), (1, 1), Activation::None),
            &[
                var(&[1, 4, 4, 1], iota(16)),
                cst(&[1, 3, 3, 1], vec![1.; 9]),
                None,
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 2, 2, 1]);
        assert_eq!(out, vec![54., 45., 72., 54.]);
    }

    #[test]
    fn conv_dilation_2() {
        // Image 5x5 with value 5r+c+1, filter [[1,2],[3,4]] dilated by 2 (5 wide... no,
        // 3 wide): out(0,0) = 1*1 + 2*3 + 3*11 + 4*13 = 92, and every step of the input
        // by d adds 10*d (the filter sums to 10): out(y,x) = 92 + 10*(5y+x).
        let (shape, out) = run_f32(
            conv_op(Padding::Valid, (1, 1), (2, 2), Activation::None),
            &[
                var(&[1, 5, 5, 1], iota(25)),
                cst(&[1, 2, 2, 1], vec![1., 2., 3., 4.]),
                None,
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 3, 3, 1]);
        let want: Vec<f32> = (0..9)
            .map(|i| 92. + 10. * (5 * (i / 3) + i % 3) as f32)
            .collect();
        assert_eq!(out, want);
    }

    #[test]
    fn conv_channels_groups_and_batch() {
        // One pixel with channels [1, 2]: filters pick ch0, ch1 and their sum (+10).
        let (_, out) = run_f32(
            conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None),
            &[
                var(&[1, 1, 1, 2], vec![1., 2.]),
                cst(&[3, 1, 1, 2], vec![1., 0., 0., 1., 1., 1.]),
                cst(&[3], vec![0., 0., 10.]),
            ],
        )
        .unwrap();
        assert_eq!(out, vec![1., 2., 13.]);
        // Two groups of two input channels: oc0 = 1+2, oc1 = 3-4. Second batch doubled.
        let (shape, out) = run_f32(
            conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None),
            &[
                var(&[2, 1, 1, 4], vec![1., 2., 3., 4., 2., 4., 6., 8.]),
                cst(&[2, 1, 1, 2], vec![1., 1., 1., -1.]),
                None,
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![2, 1, 1, 2]);
        assert_eq!(out, vec![3., -1., 6., -2.]);
    }

    #[test]
    fn conv_relu6_and_relu_n1_to_1() {
        let run = |act| {
            run_f32(
                conv_op(Padding::Valid, (1, 1), (1, 1), act),
                &[
                    var(&[1, 1, 3, 1], vec![-7., 0.5, 9.]),
                    cst(&[1, 1, 1, 1], vec![1.]),
                    None,
                ],
            )
            .unwrap()
            .1
        };
        assert_eq!(run(Activation::Relu6), vec![0., 0.5, 6.]);
        assert_eq!(run(Activation::ReluN1To1), vec![-1., 0.5, 1.]);
        assert_eq!(run(Activation::None), vec![-7., 0.5, 9.]);
    }

    #[test]
    fn conv_rejects_bad_shapes_and_types() {
        let op = || conv_op(Padding::Valid, (1, 1), (1, 1), Activation::None);
        // 3 input channels, filter expects 2 per group.
        assert!(run_f32(
            op(),
            &[
                var(&[1, 2, 2, 3], vec![0.; 12]),
                cst(&[1, 1, 1, 2], vec![0.; 2])
            ]
        )
        .is_err());
        // Bias of the wrong length.
        assert!(run_f32(
            op(),
            &[
                var(&[1, 2, 2, 1], vec![0.; 4]),
                cst(&[2, 1, 1, 1], vec![0.; 2]),
                cst(&[3], vec![0.; 3])
            ]
        )
        .is_err());
        // Zero stride, TANH fused activation.
        assert!(run_f32(
            conv_op(Padding::Valid, (0, 1), (1, 1), Activation::None),
            &[
                var(&[1, 2, 2, 1], vec![0.; 4]),
                cst(&[1, 1, 1, 1], vec![1.])
            ]
        )
        .is_err());
        assert!(run_f32(
            conv_op(Padding::Valid, (1, 1), (1, 1), Activation::Tanh),
            &[
                var(&[1, 2, 2, 1], vec![0.; 4]),
                cst(&[1, 1, 1, 1], vec![1.])
            ]
        )
        .is_err());
        // Filter 3 dims.
        assert!(run_f32(
            op(),
            &[var(&[1, 2, 2, 1], vec![0.; 4]), cst(&[1, 1, 1], vec![1.])]
        )
        .is_err());
        // int8 input with float filter names both types.
        let mut i8_in = super::testutil::info(&var(&[1, 2, 2, 1], vec![0.; 4]).unwrap());
        i8_in.dtype = DType::I8;
        let f = super::testutil::info(&cst(&[1, 1, 1, 1], vec![1.]).unwrap());
        let err = super::testutil::prepare_infos(op(), &[Some(i8_in), Some(f)])
            .err()
            .unwrap();
        assert!(
            err.0.contains("int8") && err.0.contains("float32"),
            "{}",
            err.0
        );
    }

    #[test]
    fn depthwise_multiplier_2() {
        // 2x2 image, channels c0 = 1,2,3,4 and c1 = 10,20,30,40 (interleaved NHWC).
        // Output oc = ic*2 + m. Per tap (0,0),(0,1),(1,0),(1,1) the filter rows are
        // [oc0 oc1 oc2 oc3]: oc0 all ones → 1+2+3+4 = 10; oc1 = 1,2,3,4 → 1+4+9+16 = 30;
        // oc2 ones on c1 → 100; oc3 = 1,0,0,-1 on c1 → 10-40 = -30, bias 5 → -25.
        let (shape, out) = run_f32(
            dw_op(Padding::Valid, (1, 1), (1, 1), Activation::None, 2),
            &[
                var(&[1, 2, 2, 2], vec![1., 10., 2., 20., 3., 30., 4., 40.]),
                cst(
                    &[1, 2, 2, 4],
                    vec![
                        1., 1., 1., 1., 1., 2., 1., 0., 1., 3., 1., 0., 1., 4., 1., -1.,
                    ],
                ),
                cst(&[4], vec![0., 0., 0., 5.]),
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 1, 1, 4]);
        assert_eq!(out, vec![10., 30., 100., -25.]);
    }

    #[test]
    fn depthwise_same_padding_ignores_a_disagreeing_multiplier_option() {
        // Same neighbourhood sums as the conv SAME test, per channel (c1 = 10x c0); the
        // option says multiplier 3 but the shapes say 1.
        let image: Vec<f32> = (1..=9).flat_map(|v| [v as f32, 10. * v as f32]).collect();
        let (shape, out) = run_f32(
            dw_op(Padding::Same, (1, 1), (1, 1), Activation::None, 3),
            &[
                var(&[1, 3, 3, 2], image),
                cst(&[1, 3, 3, 2], vec![1.; 18]),
                None,
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 3, 3, 2]);
        let sums = [12., 21., 16., 27., 45., 33., 24., 39., 28.];
        let want: Vec<f32> = sums.iter().flat_map(|&s| [s, 10. * s]).collect();
        assert_eq!(out, want);
    }

    #[test]
    fn depthwise_stride_2_dilation_2() {
        // 5x5 image 1..25, 2x2 filter [[1,0],[0,1]] dilated by 2 (3 wide), stride 2
        // VALID: outputs at (0,0) and (0,2),(2,0),(2,2) of the input grid:
        // in(y,x)+in(y+2,x+2) = (5y+x+1) + (5y+x+13) → 14, 18, 34, 38.
        let (shape, out) = run_f32(
            dw_op(Padding::Valid, (2, 2), (2, 2), Activation::None, 0),
            &[
                var(&[1, 5, 5, 1], iota(25)),
                cst(&[1, 2, 2, 1], vec![1., 0., 0., 1.]),
                None,
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 2, 2, 1]);
        assert_eq!(out, vec![14., 18., 34., 38.]);
    }

    #[test]
    fn depthwise_rejects_bad_filter() {
        let op = || dw_op(Padding::Valid, (1, 1), (1, 1), Activation::None, 1);
        // Leading filter dim must be 1; output channels must be a multiple of 3.
        assert!(run_f32(
            op(),
            &[
                var(&[1, 2, 2, 3], vec![0.; 12]),
                cst(&[2, 1, 1, 3], vec![0.; 6])
            ]
        )
        .is_err());
        assert!(run_f32(
            op(),
            &[
                var(&[1, 2, 2, 3], vec![0.; 12]),
                cst(&[1, 1, 1, 4], vec![0.; 4])
            ]
        )
        .is_err());
    }

    /// The specification: TFLite's reference convolution, one output at a time.
    #[allow(clippy::too_many_arguments)]
    fn reference_conv(
        input: &[f32],
        [n, h, w, c]: [usize; 4],
        filter: &[f32],
        [oc_n, kh, kw, cf]: [usize; 4],
        bias: Option<&[f32]>,
        padding: Padding,
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        range: (f32, f32),
    ) -> Vec<f32> {
        let (oh, pt) = window_dim(padding, h, kh, sh, dh).unwrap();
        let (ow, pl) = window_dim(padding, w, kw, sw, dw).unwrap();
        let per_group = oc_n / (c / cf);
        let mut out = Vec::new();
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for oc in 0..oc_n {
                        let g = oc / per_group;
                        let mut total = 0.0f32;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * sh + ky * dh) as isize - pt as isize;
                                let ix = (ox * sw + kx * dw) as isize - pl as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                for ic in 0..cf {
                                    let x = input[((b * h + iy as usize) * w + ix as usize) * c
                                        + g * cf
                                        + ic];
                                    total += x * filter[((oc * kh + ky) * kw + kx) * cf + ic];
                                }
                            }
                        }
                        let v = total + bias.map_or(0.0, |b| b[oc]);
                        out.push(v.max(range.0).min(range.1));
                    }
                }
            }
        }
        out
    }

    /// The specification of the depthwise convolution.
    #[allow(clippy::too_many_arguments)]
    fn reference_depthwise(
        input: &[f32],
        [n, h, w, c]: [usize; 4],
        filter: &[f32],
        [kh, kw, oc_n]: [usize; 3],
        bias: Option<&[f32]>,
        padding: Padding,
        (sh, sw): (usize, usize),
        (dh, dw): (usize, usize),
        range: (f32, f32),
    ) -> Vec<f32> {
        let (oh, pt) = window_dim(padding, h, kh, sh, dh).unwrap();
        let (ow, pl) = window_dim(padding, w, kw, sw, dw).unwrap();
        let m = oc_n / c;
        let mut out = Vec::new();
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ic in 0..c {
                        for mi in 0..m {
                            let oc = ic * m + mi;
                            let mut total = 0.0f32;
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (oy * sh + ky * dh) as isize - pt as isize;
                                    let ix = (ox * sw + kx * dw) as isize - pl as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let x =
                                        input[((b * h + iy as usize) * w + ix as usize) * c + ic];
                                    total += x * filter[(ky * kw + kx) * oc_n + oc];
                                }
                            }
                            let v = total + bias.map_or(0.0, |b| b[oc]);
                            out.push(v.max(range.0).min(range.1));
                        }
                    }
                }
            }
        }
        out
    }

    struct RandomWindow {
        padding: Padding,
        stride: (usize, usize),
        dilation: (usize, usize),
        act: Activation,
    }

    fn random_window(rng: &mut Rng) -> RandomWindow {
        RandomWindow {
            padding: if rng.range(0, 1) == 0 {
                Padding::Same
            } else {
                Padding::Valid
            },
            stride: (rng.range(1, 3), rng.range(1, 3)),
            dilation: (rng.range(1, 2), rng.range(1, 2)),
            act: [
                Activation::None,
                Activation::Relu,
                Activation::Relu6,
                Activation::ReluN1To1,
            ][rng.range(0, 3)],
        }
    }

    #[test]
    fn conv_matches_reference_on_random_configurations() {
        let mut rng = Rng(0x1234_5678_9abc_def1);
        for case in 0..600 {
            super::PORTABLE_ONLY.with(|p| p.set(case % 2 == 1));
            let p = random_window(&mut rng);
            let n = rng.range(1, 3);
            let (h, w) = (rng.range(1, 9), rng.range(1, 17));
            let (kh, kw) = (rng.range(1, 4), rng.range(1, 4));
            let groups = if rng.range(0, 3) == 0 {
                rng.range(2, 3)
            } else {
                1
            };
            let cf = rng.range(1, 5);
            let c = cf * groups;
            let oc = groups * rng.range(1, 21);
            let with_bias = rng.range(0, 1) == 1;
            let constant_filter = rng.range(0, 3) != 0;
            let input = rng.vec(n * h * w * c);
            let filter = rng.vec(oc * kh * kw * cf);
            let bias = rng.vec(oc);
            let op = conv_op(
                p.padding,
                (p.stride.0 as i32, p.stride.1 as i32),
                (p.dilation.0 as i32, p.dilation.1 as i32),
                p.act,
            );
            let filter_in = In {
                shape: vec![oc, kh, kw, cf],
                data: filter.clone(),
                constant: constant_filter,
            };
            let result = run_f32(
                op,
                &[
                    var(&[n, h, w, c], input.clone()),
                    Some(filter_in),
                    with_bias.then(|| cst(&[oc], bias.clone())).flatten(),
                ],
            );
            let range = activation_range_f32(p.act).unwrap();
            let want = reference_conv(
                &input,
                [n, h, w, c],
                &filter,
                [oc, kh, kw, cf],
                with_bias.then_some(&bias[..]),
                p.padding,
                p.stride,
                p.dilation,
                range,
            );
            let (shape, got) = result.unwrap();
            assert_eq!(shape.iter().product::<usize>(), want.len(), "case {case}");
            assert_close(&got, &want, 1e-5, &format!("conv case {case}"));
        }
    }

    #[test]
    fn depthwise_matches_reference_on_random_configurations() {
        let mut rng = Rng(0x0fed_cba9_8765_4321);
        for case in 0..600 {
            super::PORTABLE_ONLY.with(|p| p.set(case % 2 == 1));
            let p = random_window(&mut rng);
            let n = rng.range(1, 3);
            let (h, w) = (rng.range(1, 9), rng.range(1, 9));
            let (kh, kw) = (rng.range(1, 4), rng.range(1, 4));
            let c = rng.range(1, 19);
            let m = [1, 1, 2, 3][rng.range(0, 3)];
            let oc = c * m;
            let with_bias = rng.range(0, 1) == 1;
            let input = rng.vec(n * h * w * c);
            let filter = rng.vec(kh * kw * oc);
            let bias = rng.vec(oc);
            let op = dw_op(
                p.padding,
                (p.stride.0 as i32, p.stride.1 as i32),
                (p.dilation.0 as i32, p.dilation.1 as i32),
                p.act,
                m as i32,
            );
            let filter_in = In {
                shape: vec![1, kh, kw, oc],
                data: filter.clone(),
                constant: rng.range(0, 1) == 0,
            };
            let (shape, got) = run_f32(
                op,
                &[
                    var(&[n, h, w, c], input.clone()),
                    Some(filter_in),
                    with_bias.then(|| cst(&[oc], bias.clone())).flatten(),
                ],
            )
            .unwrap();
            let range = activation_range_f32(p.act).unwrap();
            let want = reference_depthwise(
                &input,
                [n, h, w, c],
                &filter,
                [kh, kw, oc],
                with_bias.then_some(&bias[..]),
                p.padding,
                p.stride,
                p.dilation,
                range,
            );
            assert_eq!(shape.iter().product::<usize>(), want.len(), "case {case}");
            assert_close(&got, &want, 1e-5, &format!("depthwise case {case}"));
        }
    }

    #[test]
    fn window_taps_stay_inside_the_image() {
        // SAME, 3 taps, dilation 2 on a width-4 axis: pad = ((4-1)*1 + 5 - 4)/2 = 2.
        // Output 0 starts at -2: taps 1,2 land on 0,2. Output 3 starts at 1: taps 0,1
        // land on 1,3; tap 2 would be 5.
        let axis = WindowAxis::new(Padding::Same, 4, 3, 1, 2).unwrap();
        assert_eq!(axis.output, 4);
        assert_eq!(
            axis.taps[0],
            TapRange {
                first_input: 0,
                lo: 1,
                hi: 3
            }
        );
        assert_eq!(
            axis.taps[3],
            TapRange {
                first_input: 1,
                lo: 0,
                hi: 2
            }
        );
        // A window 5 wide never lies wholly inside a width-4 axis.
        assert_eq!(axis.full.1 - axis.full.0, 0);
        // VALID 3 taps on width 6, stride 1: all four outputs are interior; SAME makes
        // the first and last outputs borders.
        assert_eq!(
            WindowAxis::new(Padding::Valid, 6, 3, 1, 1).unwrap().full,
            (0, 4)
        );
        assert_eq!(
            WindowAxis::new(Padding::Same, 6, 3, 1, 1).unwrap().full,
            (1, 5)
        );
        // A window entirely past the input (hostile options) has no taps.
        let axis = WindowAxis::new(Padding::Same, 2, 1, 1, 1).unwrap();
        assert!(axis.taps.iter().all(|t| t.lo < t.hi));
    }
}

/// Micro-timings for the float MNIST CNN shapes at batch 1 against tract 0.23 on the same
/// network. The machine is shared, so both are measured in alternating rounds and the
/// best round of each is kept. Run with
/// `cargo test --release --lib interp::kernels::conv::timing -- --ignored --nocapture`.
#[cfg(test)]
#[cfg(feature = "tract")]
mod timing {
    use std::time::Instant;

    use super::testutil::{info, prepare_infos, In, Rng};
    use crate::interp::kernels::Prepared;
    use crate::interp::value::{View, ViewMut};
    use crate::ir::{Activation, Conv2dOptions, FullyConnectedOptions, Op, Padding, Pool2dOptions};

    struct Bench<'a> {
        prepared: Prepared,
        inputs: Vec<&'a [f32]>,
        out: Vec<f32>,
        best: f64,
    }

    impl Bench<'_> {
        fn round(&mut self, n: usize) {
            let views: Vec<View<'_>> = self.inputs.iter().map(|d| View::F32(d)).collect();
            let t = Instant::now();
            for _ in 0..n {
                self.prepared
                    .kernel
                    .run(&views, &mut [ViewMut::F32(&mut self.out)])
                    .unwrap();
            }
            self.best = self.best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
            std::hint::black_box(&self.out);
        }
    }

    /// The same network built with tract's own ops (tract cannot load the
    /// TensorFlow-made file: its RESHAPE target comes from a STRIDED_SLICE with
    /// shrink_axis_mask), as tract-tflite would translate it.
    fn tract_plan(
        filter: &[f32],
        bias: &[f32],
        fc_w: &[f32],
        fc_b: &[f32],
    ) -> tract_tflite::internal::TractResult<std::sync::Arc<tract_tflite::internal::TypedSimplePlan>>
    {
        use tract_tflite::internal::tract_core::ops::change_axes::AxisOp;
        use tract_tflite::internal::tract_core::ops::cnn::{
            Conv, KernelFormat, MaxPool, PaddingSpec, PoolSpec,
        };
        use tract_tflite::internal::tract_core::ops::einsum::EinSum;
        use tract_tflite::internal::tract_core::ops::math;
        use tract_tflite::internal::tract_core::ops::nn::DataFormat;
        use tract_tflite::internal::*;
        let spec = |k: usize, s: usize, ic: usize, oc: usize| PoolSpec {
            data_format: DataFormat::NHWC,
            kernel_shape: tvec!(k, k),
            padding: PaddingSpec::Valid,
            strides: Some(tvec!(s, s)),
            dilations: None,
            input_channels: ic,
            output_channels: oc,
        };
        let mut m = TypedModel::default();
        let x = m.add_source("x", f32::fact([1, 28, 28]))?;
        let x4 = m.wire_node("reshape", AxisOp::Add(3), &[x])?;
        let k = m.add_const("k", Tensor::from_shape(&[12, 3, 3, 1], filter)?)?;
        let b = m.add_const("b", Tensor::from_shape(&[12], bias)?)?;
        let conv = Conv {
            pool_spec: spec(3, 1, 1, 12),
            kernel_fmt: KernelFormat::OHWI,
            group: 1,
            q_params: None,
        };
        let c = m.wire_node("conv", conv, &[x4[0], k, b])?;
        let zero = m.add_const("zero", Tensor::from_shape(&[1, 1, 1, 1], &[0f32])?)?;
        let r = m.wire_node("relu", math::max(), &[c[0], zero])?;
        let pool = MaxPool {
            pool_spec: spec(2, 2, 12, 12),
            with_index_outputs: None,
        };
        let p = m.wire_node("pool", pool, &r)?;
        let flat = m.wire_node(
            "flatten",
            AxisOp::Reshape(
                1,
                tvec![13.to_dim(), 13.to_dim(), 12.to_dim()],
                tvec![2028.to_dim()],
            ),
            &p,
        )?;
        let w = m.add_const("w", Tensor::from_shape(&[10, 2028], fc_w)?)?;
        let einsum = EinSum {
            axes: "BI,OI->BO".parse()?,
            q_params: None,
            operating_dt: f32::datum_type(),
        };
        let mm = m.wire_node("fc", einsum, &[flat[0], w])?;
        let fb = m.add_const("fb", Tensor::from_shape(&[1, 10], fc_b)?)?;
        let out = m.wire_node("bias", math::add(), &[mm[0], fb])?;
        m.select_output_outlets(&out)?;
        m.into_optimized()?.into_runnable()
    }

    #[test]
    #[ignore = "timing, not a check; run in release with --nocapture"]
    fn mnist_cnn_kernels_against_tract() {
        use tract_tflite::internal::{tvec, IntoTValue, Tensor};
        let mut rng = Rng(7);
        let image = rng.vec(28 * 28);
        let filter = rng.vec(12 * 9);
        let bias = rng.vec(12);
        let fc_w = rng.vec(10 * 2028);
        let fc_b = rng.vec(10);
        let activations = rng.vec(26 * 26 * 12);
        let pooled = rng.vec(2028);
        let t = |shape: &[usize], data: &[f32], constant: bool| {
            Some(info(&In {
                shape: shape.to_vec(),
                data: data.to_vec(),
                constant,
            }))
        };
        let conv = prepare_infos(
            Op::Conv2d(Conv2dOptions {
                padding: Padding::Valid,
                stride_w: 1,
                stride_h: 1,
                dilation_w: 1,
                dilation_h: 1,
                activation: Activation::Relu,
            }),
            &[
                t(&[1, 28, 28, 1], &image, false),
                t(&[12, 3, 3, 1], &filter, true),
                t(&[12], &bias, true),
            ],
        )
        .unwrap();
        let pool = prepare_infos(
            Op::MaxPool2d(Pool2dOptions {
                padding: Padding::Valid,
                stride_w: 2,
                stride_h: 2,
                filter_w: 2,
                filter_h: 2,
                activation: Activation::None,
            }),
            &[t(&[1, 26, 26, 12], &activations, false)],
        )
        .unwrap();
        let fc = prepare_infos(
            Op::FullyConnected(FullyConnectedOptions::default()),
            &[
                t(&[1, 2028], &pooled, false),
                t(&[10, 2028], &fc_w, true),
                t(&[10], &fc_b, true),
            ],
        )
        .unwrap();
        let bench = |prepared, inputs, len| Bench {
            prepared,
            inputs,
            out: vec![0.0; len],
            best: f64::INFINITY,
        };
        let mut conv = bench(conv, vec![&image[..], &filter, &bias], 26 * 26 * 12);
        let mut pool = bench(pool, vec![&activations[..]], 13 * 13 * 12);
        let mut fc = bench(fc, vec![&pooled[..], &fc_w, &fc_b], 10);

        let plan = tract_plan(&filter, &bias, &fc_w, &fc_b).unwrap();
        let mut state = plan.spawn().unwrap();
        let input = Tensor::from_shape(&[1, 28, 28], &image).unwrap();
        let mut tract_best = f64::INFINITY;
        for _ in 0..60 {
            conv.round(200);
            pool.round(200);
            fc.round(200);
            let n = 200;
            let start = Instant::now();
            for _ in 0..n {
                std::hint::black_box(state.run(tvec!(input.clone().into_tvalue())).unwrap());
            }
            tract_best = tract_best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
        let ours = conv.best + pool.best + fc.best;
        println!(
            "MNIST CNN float, batch 1 (best of 60 rounds): ferrolite conv {:.2} us + max pool {:.2} us + fc {:.2} us = {ours:.2} us; tract 0.23 whole network {tract_best:.2} us; ratio {:.2}x",
            conv.best,
            pool.best,
            fc.best,
            tract_best / ours
        );
    }
}

#[cfg(test)]
mod q8_tests {
    use super::q8test::{bias, per_channel, per_tensor, run_q8, Q};
    use super::testutil::Rng;
    use super::*;
    use crate::interp::fixed_point::quantize_multiplier;
    use crate::ir::{Conv2dOptions, DepthwiseConv2dOptions};

    fn conv_op(padding: Padding, stride: usize, dilation: usize, act: Activation) -> Op {
        Op::Conv2d(Conv2dOptions {
            padding,
            stride_h: stride as i32,
            stride_w: stride as i32,
            dilation_h: dilation as i32,
            dilation_w: dilation as i32,
            activation: act,
        })
    }

    fn dw_op(padding: Padding, stride: usize, dilation: usize, act: Activation) -> Op {
        Op::DepthwiseConv2d(DepthwiseConv2dOptions {
            padding,
            stride_h: stride as i32,
            stride_w: stride as i32,
            dilation_h: dilation as i32,
            dilation_w: dilation as i32,
            depth_multiplier: 0,
            activation: act,
        })
    }

    #[test]
    fn one_channel_conv_by_hand() {
        // x - in_zp = [2, 4, 0, 6]; acc = 1·2 + 2·4 + 3·0 + 4·6 = 34. The multiplier is
        // 0.5·0.25/1 = 0.125 = 2^30·2^(-2-31): (M, shift) = (2^30, -2).
        let x = per_tensor(DType::I8, &[1, 2, 2, 1], vec![1, 3, -1, 5], 0.5, -1);
        let w = per_channel(&[1, 2, 2, 1], vec![1, 2, 3, 4], vec![0.25], 0);
        let run = |b: i32, act| {
            run_q8(
                conv_op(Padding::Valid, 1, 1, act),
                &[Some(x.clone()), Some(w.clone()), Some(bias(vec![b]))],
                DType::I8,
                1.0,
                3,
            )
            .unwrap()
        };
        // 34 + 10 = 44; 44/8 = 5.5 rounds away from zero to 6; plus out_zp 3.
        assert_eq!(run(10, Activation::None), (vec![1, 1, 1, 1], vec![9]));
        // 34 - 54 = -20; -2.5 rounds to -3; plus 3 is 0, and RELU clamps at zp = 3.
        assert_eq!(run(-54, Activation::None).1, vec![0]);
        assert_eq!(run(-54, Activation::Relu).1, vec![3]);
        // Saturation at the int8 range: 34 + 2000 = 2034 -> 254.25 -> 254 + 3 -> 127.
        assert_eq!(run(2000, Activation::None).1, vec![127]);
        assert_eq!(quantize_multiplier(0.125).unwrap(), (1 << 30, -2));
    }

    #[test]
    fn padded_taps_are_skipped_not_zero_point_filled() {
        // SAME 3x3 on a 1x1 image: only the centre tap is inside. With x = in_zp the
        // output is the bias alone, whatever the other taps weigh.
        let x = per_tensor(DType::I8, &[1, 1, 1, 1], vec![-7], 1.0, -7);
        let w = per_channel(&[1, 3, 3, 1], vec![100; 9], vec![1.0], 0);
        let (shape, y) = run_q8(
            conv_op(Padding::Same, 1, 1, Activation::None),
            &[Some(x), Some(w), Some(bias(vec![5]))],
            DType::I8,
            1.0,
            0,
        )
        .unwrap();
        assert_eq!((shape, y), (vec![1, 1, 1, 1], vec![5]));
    }

    #[test]
    fn depthwise_with_multiplier_by_hand() {
        // H=2, W=1, one input channel, depth multiplier 2, per-channel scales 1 and 0.5.
        // oc0: 1·3 + 2·(-2) = -1; oc1: 4·3 + (-3)·(-2) = 18, + bias 1 = 19, ·0.5 = 9.5 -> 10.
        let x = per_tensor(DType::I8, &[1, 2, 1, 1], vec![3, -2], 1.0, 0);
        let w = per_channel(&[1, 2, 1, 2], vec![1, 4, 2, -3], vec![1.0, 0.5], 3);
        let (shape, y) = run_q8(
            dw_op(Padding::Valid, 1, 1, Activation::None),
            &[Some(x), Some(w), Some(bias(vec![0, 1]))],
            DType::I8,
            1.0,
            0,
        )
        .unwrap();
        assert_eq!((shape, y), (vec![1, 1, 1, 2], vec![-1, 10]));
    }

    #[test]
    fn uint8_conv_applies_the_filter_zero_point() {
        // (w - 128)·(x - 100): w = [130, 126] -> [2, -2]; x = [110, 90] -> [10, -10];
        // acc = 20 + 20 = 40; scale 0.5·0.5/1 = 0.25 -> 10; + out_zp 128 = 138.
        let x = per_tensor(DType::U8, &[1, 1, 2, 1], vec![110, 90], 0.5, 100);
        let w = per_tensor(DType::U8, &[1, 1, 2, 1], vec![130, 126], 0.5, 128).constant();
        let (_, y) = run_q8(
            conv_op(Padding::Valid, 1, 1, Activation::None),
            &[Some(x), Some(w), None],
            DType::U8,
            1.0,
            128,
        )
        .unwrap();
        assert_eq!(y, vec![138]);
    }

    #[test]
    fn bad_quantization_is_an_error() {
        let x = per_tensor(DType::I8, &[1, 2, 2, 1], vec![0; 4], 1.0, 0);
        let mut w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 0);
        let op = || conv_op(Padding::Valid, 1, 1, Activation::None);
        // Nonzero int8 filter zero point.
        if let Some(q) = w.quant.as_mut() {
            q.zero_point = vec![0, 3];
        }
        assert!(run_q8(
            op(),
            &[Some(x.clone()), Some(w.clone()), None],
            DType::I8,
            1.0,
            0
        )
        .is_err());
        // Per-channel table along the wrong axis.
        let w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 3);
        assert!(run_q8(op(), &[Some(x.clone()), Some(w), None], DType::I8, 1.0, 0).is_err());
        // Runtime (non-constant) filter, and a float bias.
        let mut w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 0);
        w.constant = false;
        assert!(run_q8(op(), &[Some(x.clone()), Some(w), None], DType::I8, 1.0, 0).is_err());
        // Output dtype differs from the input's.
        let w = per_channel(&[2, 1, 1, 1], vec![1, 1], vec![1.0, 1.0], 0);
        assert!(run_q8(op(), &[Some(x), Some(w), None], DType::U8, 1.0, 0).is_err());
    }

    /// TFLite's reference loop for CONV_2D (groups allowed) and DEPTHWISE_CONV_2D
    /// (`depthwise = true`, filter [1, kh, kw, out_c]), on widened values.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        depthwise: bool,
        x: &Q,
        w: &Q,
        b: Option<&[i32]>,
        stride: usize,
        dilation: usize,
        padding: Padding,
        mults: &[(i32, i32)],
        (in_off, w_off, out_zp): (i32, i32, i32),
        range: (i32, i32),
    ) -> Vec<i32> {
        let [n, h, wd, c] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
        let (kh, kw) = (w.shape[1], w.shape[2]);
        let (oc_n, gin) = if depthwise {
            (w.shape[3], 1)
        } else {
            (w.shape[0], w.shape[3])
        };
        let (oh, ph) = window_dim(padding, h, kh, stride, dilation).unwrap();
        let (ow, pw) = window_dim(padding, wd, kw, stride, dilation).unwrap();
        let mut out = Vec::new();
        for b_i in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for oc in 0..oc_n {
                        let mut acc = 0i32;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * stride + ky * dilation) as i64 - ph as i64;
                                let ix = (ox * stride + kx * dilation) as i64 - pw as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= wd as i64 {
                                    continue;
                                }
                                let (iy, ix) = (iy as usize, ix as usize);
                                for i in 0..gin {
                                    let (ic, wi) = if depthwise {
                                        (oc / (oc_n / c), (ky * kw + kx) * oc_n + oc)
                                    } else {
                                        let group = oc / (oc_n / (c / gin));
                                        (group * gin + i, ((oc * kh + ky) * kw + kx) * gin + i)
                                    };
                                    let xv = x.values[((b_i * h + iy) * wd + ix) * c + ic];
                                    acc = acc.wrapping_add((w.values[wi] + w_off) * (xv + in_off));
                                }
                            }
                        }
                        acc = acc.wrapping_add(b.map_or(0, |b| b[oc]));
                        let (m, s) = mults[oc];
                        let v = multiply_by_quantized_multiplier(acc, m, s) + out_zp;
                        out.push(v.clamp(range.0, range.1));
                    }
                }
            }
        }
        out
    }

    fn random_case(rng: &mut Rng, depthwise: bool, unsigned: bool) {
        let (lo, hi) = if unsigned { (0, 255) } else { (-128, 127) };
        let dtype = if unsigned { DType::U8 } else { DType::I8 };
        let vals = |n: usize, rng: &mut Rng| -> Vec<i32> {
            (0..n)
                .map(|_| lo + rng.range(0, (hi - lo) as usize) as i32)
                .collect()
        };
        let n = rng.range(1, 2);
        let h = rng.range(1, 9);
        // Wide enough rows that the interior tiles (and their moved-back last tile) run.
        let w = rng.range(1, 17);
        let kh = rng.range(1, 4);
        let kw = rng.range(1, 4);
        let stride = rng.range(1, 3);
        let dilation = rng.range(1, 2);
        let padding = if rng.range(0, 1) == 0 {
            Padding::Same
        } else {
            Padding::Valid
        };
        let act = [Activation::None, Activation::Relu, Activation::Relu6][rng.range(0, 2)];
        let (c, filter_shape, out_c) = if depthwise {
            let c = rng.range(1, 20);
            let m = rng.range(1, 3);
            (c, vec![1, kh, kw, c * m], c * m)
        } else {
            // Up to 9 input channels per group (odd ones pad the pairs of the interior
            // path), up to 40 output channels per group (several vector blocks plus a
            // partial one).
            let groups = rng.range(1, 2);
            let gin = rng.range(1, 9);
            let out_c = groups * rng.range(1, 40);
            (groups * gin, vec![out_c, kh, kw, gin], out_c)
        };
        let in_s = 0.01 + rng.unit().abs() * 0.05;
        // A quarter of the cases get an output scale small enough for effective scales
        // above 1: positive (left) shifts, whose products wrap.
        let out_s = if rng.range(0, 3) == 0 {
            1e-5 + rng.unit().abs() * 2e-4
        } else {
            0.05 + rng.unit().abs() * 0.5
        };
        let in_zp = lo + rng.range(0, 255) as i32;
        let out_zp = lo + rng.range(0, 255) as i32;
        let x = per_tensor(
            dtype,
            &[n, h, w, c],
            vals(n * h * w * c, rng),
            in_s,
            in_zp as i64,
        );
        let wlen: usize = filter_shape.iter().product();
        let axis = if depthwise { 3 } else { 0 };
        let (wq, mults, w_off) = if unsigned {
            let ws = 0.005 + rng.unit().abs() * 0.02;
            let wzp = rng.range(100, 150) as i32;
            let q = per_tensor(dtype, &filter_shape, vals(wlen, rng), ws, wzp as i64).constant();
            let m = quantize_multiplier(effective_scale_per_tensor(in_s, ws, out_s)).unwrap();
            (q, vec![m; out_c], -wzp)
        } else {
            let scales: Vec<f32> = (0..out_c)
                .map(|_| 0.002 + rng.unit().abs() * 0.02)
                .collect();
            let m = scales
                .iter()
                .map(|&ws| {
                    quantize_multiplier(effective_scale_per_channel(in_s, ws, out_s)).unwrap()
                })
                .collect();
            (
                per_channel(&filter_shape, vals(wlen, rng), scales, axis),
                m,
                0,
            )
        };
        let b: Vec<i32> = (0..out_c)
            .map(|_| rng.range(0, 20000) as i32 - 10000)
            .collect();
        let with_bias = rng.range(0, 3) > 0;
        let range = calculate_activation_range_quantized(act, out_s, out_zp, dtype).unwrap();
        let want = reference(
            depthwise,
            &x,
            &wq,
            with_bias.then_some(&b[..]),
            stride,
            dilation,
            padding,
            &mults,
            (-in_zp, w_off, out_zp),
            range,
        );
        let op = if depthwise {
            dw_op(padding, stride, dilation, act)
        } else {
            conv_op(padding, stride, dilation, act)
        };
        let ins = [Some(x), Some(wq), with_bias.then(|| bias(b.clone()))];
        // The widest variant the CPU has, AVX-512 without VNNI, AVX2 without AVX-512,
        // and the portable loops.
        let variants = [
            (false, false, false),
            (false, false, true),
            (false, true, false),
            (true, false, false),
        ];
        for (portable, avx2_only, no_vnni) in variants {
            PORTABLE_ONLY.with(|p| p.set(portable));
            AVX2_ONLY.with(|p| p.set(avx2_only));
            NO_VNNI.with(|p| p.set(no_vnni));
            let (_, got) = run_q8(op.clone(), &ins, dtype, out_s, out_zp as i64).unwrap();
            PORTABLE_ONLY.with(|p| p.set(false));
            AVX2_ONLY.with(|p| p.set(false));
            NO_VNNI.with(|p| p.set(false));
            assert_eq!(
                got, want,
                "depthwise {depthwise} unsigned {unsigned} portable {portable} \
                 avx2 only {avx2_only} no vnni {no_vnni}"
            );
        }
    }

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

    #[test]
    fn random_convolutions_match_the_reference_loop() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..400 {
            for depthwise in [false, true] {
                for unsigned in [false, true] {
                    random_case(&mut rng, depthwise, unsigned);
                }
            }
        }
    }
}
