//! Float CONV_2D.

#![allow(unused_imports)]
use super::*;

struct ConvF32 {
    shape: ConvShape,
    filter: PackedFilter,
    range: (f32, f32),
    fused: bool,
}

pub(super) fn prepare_conv_f32(
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
            fused: ctx.cpu.fma(),
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
        // SAFETY: `fused` is only true when the CpuFeatures given to prepare had AVX2 and FMA.
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
