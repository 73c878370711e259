//! Direct (im2col-free) Conv2D forward and weight gradient for inputs with few
//! channels, such as the first layer of an image model.
//!
//! With one input channel the im2col matrix has as many columns as the kernel has
//! taps (9 for 3×3): a GEMM on it spends more time packing than multiplying, and the
//! matrix itself is nine copies of the input. Here every output pixel instead keeps
//! a block of output channels in registers and walks the taps, and the weight
//! gradient walks the pixels once per tap. Output channels are processed in blocks
//! whose width is a compile-time constant (16, 12, 8, 4 or 1) so the channel loops
//! unroll into whole vector registers.
//!
//! The kernels are compiled twice: plain, and with AVX2+FMA for CPUs that have them
//! (chosen at run time, so one machine always takes the same path and results stay
//! bit-reproducible there). Work is split into sample chunks fixed by the batch
//! size, and the per-chunk weight gradients are added in chunk order, so results do
//! not depend on the number of threads.

use rayon::prelude::*;

use super::{sample_chunk, Geom};
use crate::nn::Activation;

/// Input channels up to which the direct kernels beat im2col + GEMM.
const MAX_DIRECT_CHANNELS: usize = 4;

/// Whether [`forward`] and [`weight_gradient`] handle a convolution of this geometry.
pub(crate) fn applies(g: &Geom) -> bool {
    g.c <= MAX_DIRECT_CHANNELS
}

/// A multiply-add: `a·b + c`, fused (one rounding) in the FMA build.
pub(crate) trait MulAdd {
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

/// Separate multiply and add, for CPUs without FMA.
pub(crate) struct Separate;
impl MulAdd for Separate {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// Fused multiply-add; only instantiated inside `#[target_feature(enable = "fma")]`
/// functions, where it is one instruction rather than a library call.
#[cfg(target_arch = "x86_64")]
pub(crate) struct Fused;
#[cfg(target_arch = "x86_64")]
impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// Defines `$name(args)`, which runs `$generic::<Fused>` compiled for AVX2+FMA when
/// the CPU has them and `$generic::<Separate>` otherwise. The interpreter's detection
/// decides, so training and inference agree on what this CPU runs.
macro_rules! dispatch {
    ($vis:vis fn $name:ident, $avx:ident, $generic:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            if $crate::kernels::cpu::CpuFeatures::detect().fma() {
                // SAFETY: the CPU has the features `$avx` is compiled for.
                unsafe { $avx($($arg),*) };
                return;
            }
            $generic::<$crate::nn::conv::direct_conv::Separate>($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx($($arg: $ty),*) {
            $generic::<$crate::nn::conv::direct_conv::Fused>($($arg),*)
        }
    };
}
pub(crate) use dispatch;

/// Splits `filters` output channels into blocks of the widths the kernels are
/// instantiated for: (first channel, width).
pub(crate) fn channel_blocks(filters: usize) -> Vec<(usize, usize)> {
    let mut blocks = Vec::new();
    let mut f0 = 0;
    while f0 < filters {
        let width = match filters - f0 {
            r if r >= 16 => 16,
            r if r >= 12 => 12,
            r if r >= 8 => 8,
            r if r >= 4 => 4,
            _ => 1,
        };
        blocks.push((f0, width));
        f0 += width;
    }
    blocks
}

/// The range of output columns whose tap `kx` lands inside the image (contiguous,
/// since the input column grows with the output column).
fn valid_ox(g: &Geom, kx: usize) -> std::ops::Range<usize> {
    let first = (0..g.ow).find(|&ox| g.in_x(ox, kx).is_some());
    let last = (0..g.ow).rev().find(|&ox| g.in_x(ox, kx).is_some());
    match (first, last) {
        (Some(a), Some(b)) => a..b + 1,
        _ => 0..0,
    }
}

fn valid_oy(g: &Geom, ky: usize) -> std::ops::Range<usize> {
    let first = (0..g.oh).find(|&oy| g.in_y(oy, ky).is_some());
    let last = (0..g.oh).rev().find(|&oy| g.in_y(oy, ky).is_some());
    match (first, last) {
        (Some(a), Some(b)) => a..b + 1,
        _ => 0..0,
    }
}

/// The activations the forward kernel applies itself; others are left to the caller.
pub(crate) fn fuses(act: Activation) -> bool {
    matches!(
        act,
        Activation::Linear | Activation::Relu | Activation::Relu6
    )
}

/// Convolves a batch: `y = act(conv(x, kernel) + bias)` with `kernel` in the Keras
/// layout [kh, kw, c, filters] and `bias` empty or [filters]. Applies `act` only if
/// [`fuses`] says so. `y_copy`, when given, receives a second copy of `y` (the
/// backward cache), written from the registers rather than by a separate pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    g: &Geom,
    batch: usize,
    filters: usize,
    x: &[f32],
    kernel: &[f32],
    bias: &[f32],
    act: Activation,
    y: &mut [f32],
    y_copy: Option<&mut [f32]>,
) {
    let per_in = g.in_len();
    let per_out = g.oh * g.ow * filters;
    let chunk = sample_chunk(batch) * per_out;
    let act = if fuses(act) { act } else { Activation::Linear };
    let blocks = channel_blocks(filters);
    let y = &mut y[..batch * per_out];
    let copies: Vec<Option<&mut [f32]>> = match y_copy {
        Some(c) => c[..batch * per_out].chunks_mut(chunk).map(Some).collect(),
        None => (0..batch.div_ceil(sample_chunk(batch)))
            .map(|_| None)
            .collect(),
    };
    y.par_chunks_mut(chunk)
        .zip(x[..batch * per_in].par_chunks(sample_chunk(batch) * per_in))
        .zip(copies)
        .for_each(|((ys, xs), mut copy)| {
            for &(f0, width) in &blocks {
                let wb = WeightBlock::new(g, kernel, filters, f0, width, bias);
                forward_block(g, filters, &wb, act, xs, ys, copy.as_deref_mut());
            }
        });
}

/// Output channels `f0..f0 + width` of the kernel, repacked tap by tap
/// (`weights[t·width..][..width]` for tap-channel `t = (ky·kw + kx)·c + ci`), with
/// the input offset of each tap relative to its window's top-left pixel.
struct WeightBlock {
    f0: usize,
    width: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
    offsets: Vec<usize>,
}

impl WeightBlock {
    fn new(
        g: &Geom,
        kernel: &[f32],
        filters: usize,
        f0: usize,
        width: usize,
        bias: &[f32],
    ) -> Self {
        let taps = g.kh * g.kw * g.c;
        let mut weights = Vec::with_capacity(taps * width);
        for t in 0..taps {
            weights.extend_from_slice(&kernel[t * filters + f0..][..width]);
        }
        let mut offsets = Vec::with_capacity(taps);
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                for ci in 0..g.c {
                    offsets.push((ky * g.dh * g.w + kx * g.dw) * g.c + ci);
                }
            }
        }
        WeightBlock {
            f0,
            width,
            weights,
            bias: bias
                .get(f0..f0 + width)
                .map(<[f32]>::to_vec)
                .unwrap_or_default(),
            offsets,
        }
    }
}

dispatch!(fn forward_block, forward_block_avx2, forward_block_generic(
    g: &Geom,
    filters: usize,
    wb: &WeightBlock,
    act: Activation,
    x: &[f32],
    y: &mut [f32],
    copy: Option<&mut [f32]>,
));

#[inline(always)]
fn forward_block_generic<M: MulAdd>(
    g: &Geom,
    filters: usize,
    wb: &WeightBlock,
    act: Activation,
    x: &[f32],
    y: &mut [f32],
    copy: Option<&mut [f32]>,
) {
    match wb.width {
        16 => forward_samples::<M, 16>(g, filters, wb, act, x, y, copy),
        12 => forward_samples::<M, 12>(g, filters, wb, act, x, y, copy),
        8 => forward_samples::<M, 8>(g, filters, wb, act, x, y, copy),
        4 => forward_samples::<M, 4>(g, filters, wb, act, x, y, copy),
        _ => forward_samples::<M, 1>(g, filters, wb, act, x, y, copy),
    }
}

/// Output rows/columns whose whole window lies inside the image.
fn interior(g: &Geom) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let meet = |a: std::ops::Range<usize>, b: std::ops::Range<usize>| {
        a.start.max(b.start)..a.end.min(b.end)
    };
    let rows = (0..g.kh).fold(0..g.oh, |r, ky| meet(r, valid_oy(g, ky)));
    let cols = (0..g.kw).fold(0..g.ow, |r, kx| meet(r, valid_ox(g, kx)));
    (rows, cols)
}

/// All samples of `x`, output channels `wb.f0..wb.f0 + B`. Interior pixels take
/// the tap offsets without bounds tests, four at a time; border pixels test each tap.
#[inline(always)]
fn forward_samples<M: MulAdd, const B: usize>(
    g: &Geom,
    filters: usize,
    wb: &WeightBlock,
    act: Activation,
    x: &[f32],
    y: &mut [f32],
    mut copy: Option<&mut [f32]>,
) {
    let c = g.c;
    let per_in = g.in_len();
    let per_out = g.oh * g.ow * filters;
    let mut init = [0.0f32; B];
    if !wb.bias.is_empty() {
        init.copy_from_slice(&wb.bias[..B]);
    }
    let weights: Vec<&[f32; B]> = wb.weights.chunks_exact(B).map(block::<f32, B>).collect();
    let finish = |acc: &mut [f32; B]| apply_fused(act, acc);
    let (rows, cols) = interior(g);
    let step = g.sw * c;
    let samples = x.len() / per_in.max(1);
    for s in 0..samples {
        let xs = &x[s * per_in..][..per_in];
        let out_base = s * per_out;
        let at = |p: usize| out_base + p * filters + wb.f0;
        for oy in 0..g.oh {
            let inside_row = rows.contains(&oy);
            let mut ox = 0;
            while ox < g.ow {
                if inside_row && cols.contains(&ox) {
                    // Window top-left of `ox`; the next pixels are `step` further.
                    let origin = ((oy * g.sh - g.pad_t) * g.w + (ox * g.sw - g.pad_l)) * c;
                    let win = &xs[origin..];
                    if ox + 4 <= cols.end {
                        let [mut a0, mut a1, mut a2, mut a3] = [init; 4];
                        for (&off, w) in wb.offsets.iter().zip(&weights) {
                            let v = [
                                win[off],
                                win[off + step],
                                win[off + 2 * step],
                                win[off + 3 * step],
                            ];
                            mul_add_row::<M, B>(&mut a0, v[0], w);
                            mul_add_row::<M, B>(&mut a1, v[1], w);
                            mul_add_row::<M, B>(&mut a2, v[2], w);
                            mul_add_row::<M, B>(&mut a3, v[3], w);
                        }
                        for (lane, a) in [a0, a1, a2, a3].iter_mut().enumerate() {
                            finish(a);
                            store(y, copy.as_deref_mut(), at(oy * g.ow + ox + lane), a);
                        }
                        ox += 4;
                    } else {
                        let mut acc = init;
                        for (&off, w) in wb.offsets.iter().zip(&weights) {
                            let v = win[off];
                            for j in 0..B {
                                acc[j] = M::mul_add(v, w[j], acc[j]);
                            }
                        }
                        finish(&mut acc);
                        store(y, copy.as_deref_mut(), at(oy * g.ow + ox), &acc);
                        ox += 1;
                    }
                    continue;
                }
                let mut acc = init;
                for ky in 0..g.kh {
                    let Some(iy) = g.in_y(oy, ky) else { continue };
                    for kx in 0..g.kw {
                        let Some(ix) = g.in_x(ox, kx) else { continue };
                        let px = &xs[(iy * g.w + ix) * c..][..c];
                        let t0 = (ky * g.kw + kx) * c;
                        for (&v, w) in px.iter().zip(&weights[t0..t0 + c]) {
                            for j in 0..B {
                                acc[j] = M::mul_add(v, w[j], acc[j]);
                            }
                        }
                    }
                }
                finish(&mut acc);
                store(y, copy.as_deref_mut(), at(oy * g.ow + ox), &acc);
                ox += 1;
            }
        }
    }
}

#[inline(always)]
fn apply_fused<const B: usize>(act: Activation, acc: &mut [f32; B]) {
    match act {
        Activation::Relu => acc.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Relu6 => acc.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        _ => {}
    }
}

/// Writes `acc` at `at` in `y` and in the copy.
#[inline(always)]
fn store<const B: usize>(y: &mut [f32], copy: Option<&mut [f32]>, at: usize, acc: &[f32; B]) {
    *block_mut::<f32, B>(&mut y[at..]) = *acc;
    if let Some(copy) = copy {
        *block_mut::<f32, B>(&mut copy[at..]) = *acc;
    }
}

/// `acc += v·w`, lane by lane.
#[inline(always)]
fn mul_add_row<M: MulAdd, const B: usize>(acc: &mut [f32; B], v: f32, w: &[f32; B]) {
    for j in 0..B {
        acc[j] = M::mul_add(v, w[j], acc[j]);
    }
}

/// The first `B` values of `s` as an array (the callers' shapes guarantee them).
#[inline(always)]
pub(crate) fn block<T, const B: usize>(s: &[T]) -> &[T; B] {
    match s.first_chunk::<B>() {
        Some(b) => b,
        None => panic!("block of {B} past the end of {}", s.len()),
    }
}

#[inline(always)]
pub(crate) fn block_mut<T, const B: usize>(s: &mut [T]) -> &mut [T; B] {
    let len = s.len();
    match s.first_chunk_mut::<B>() {
        Some(b) => b,
        None => panic!("block of {B} past the end of {len}"),
    }
}

/// The weight gradient `dk` ([kh, kw, c, filters], overwritten) of a batch from its
/// input `x` and output gradient `dz`, and the bias gradient `db` (column sums) when
/// given. `dz` is first turned into the pre-activation gradient in place, from the
/// activation's output `y` (ignored for a linear activation).
#[allow(clippy::too_many_arguments)]
pub(crate) fn weight_gradient(
    g: &Geom,
    batch: usize,
    filters: usize,
    x: &[f32],
    act: Activation,
    y: &[f32],
    dz: &mut [f32],
    dk: &mut [f32],
    db: Option<&mut [f32]>,
) {
    let per_in = g.in_len();
    let per_out = g.oh * g.ow * filters;
    let chunk = sample_chunk(batch);
    let klen = g.kh * g.kw * g.c * filters;
    let blocks = channel_blocks(filters);
    let partials: Vec<Vec<f32>> = dz[..batch * per_out]
        .par_chunks_mut(chunk * per_out)
        .zip(x[..batch * per_in].par_chunks(chunk * per_in))
        .enumerate()
        .map(|(i, (dzs, xs))| {
            if act != Activation::Linear {
                act.backward(&y[i * chunk * per_out..][..dzs.len()], dzs, filters);
            }
            let mut part = vec![0.0f32; klen + filters];
            let (pk, pb) = part.split_at_mut(klen);
            for &(f0, width) in &blocks {
                weight_block(g, filters, f0, width, xs, dzs, pk);
            }
            for row in dzs.chunks_exact(filters) {
                pb.iter_mut().zip(row).for_each(|(b, d)| *b += d);
            }
            part
        })
        .collect();
    dk[..klen].fill(0.0);
    let mut bias_sum = vec![0.0f32; filters];
    for part in &partials {
        let (pk, pb) = part.split_at(klen);
        dk.iter_mut().zip(pk).for_each(|(d, p)| *d += p);
        bias_sum.iter_mut().zip(pb).for_each(|(d, p)| *d += p);
    }
    if let Some(db) = db {
        db.copy_from_slice(&bias_sum);
    }
}

dispatch!(fn weight_block, weight_block_avx2, weight_block_generic(
    g: &Geom,
    filters: usize,
    f0: usize,
    width: usize,
    x: &[f32],
    dz: &[f32],
    dk: &mut [f32],
));

#[inline(always)]
fn weight_block_generic<M: MulAdd>(
    g: &Geom,
    filters: usize,
    f0: usize,
    width: usize,
    x: &[f32],
    dz: &[f32],
    dk: &mut [f32],
) {
    match width {
        16 => weight_samples::<M, 16>(g, filters, f0, x, dz, dk),
        12 => weight_samples::<M, 12>(g, filters, f0, x, dz, dk),
        8 => weight_samples::<M, 8>(g, filters, f0, x, dz, dk),
        4 => weight_samples::<M, 4>(g, filters, f0, x, dz, dk),
        _ => weight_samples::<M, 1>(g, filters, f0, x, dz, dk),
    }
}

/// Output channels `f0..f0 + B` of the weight gradient of all samples in `x`,
/// written into `dk`. Four accumulators take consecutive output columns in turn, so
/// the multiply-adds do not wait on each other; they are added in a fixed order.
#[inline(always)]
fn weight_samples<M: MulAdd, const B: usize>(
    g: &Geom,
    filters: usize,
    f0: usize,
    x: &[f32],
    dz: &[f32],
    dk: &mut [f32],
) {
    let c = g.c;
    let per_in = g.in_len();
    let per_out = g.oh * g.ow * filters;
    let samples = x.len() / per_in.max(1);
    let step = g.sw * c;
    for ky in 0..g.kh {
        let rows = valid_oy(g, ky);
        for kx in 0..g.kw {
            let cols = valid_ox(g, kx);
            let n = cols.len();
            if n == 0 {
                continue;
            }
            for ci in 0..c {
                let mut acc = [[0.0f32; B]; 4];
                for s in 0..samples {
                    let xs = &x[s * per_in..][..per_in];
                    let dzs = &dz[s * per_out..][..per_out];
                    for oy in rows.clone() {
                        let iy = oy * g.sh + ky * g.dh - g.pad_t;
                        let ix = cols.start * g.sw + kx * g.dw - g.pad_l;
                        let xr = &xs[(iy * g.w + ix) * c + ci..][..(n - 1) * step + 1];
                        let dr = &dz_row(dzs, oy, g.ow, filters)[cols.start * filters + f0..];
                        let [a0, a1, a2, a3] = &mut acc;
                        let mut j = 0;
                        while j + 4 <= n {
                            let v = [
                                xr[j * step],
                                xr[(j + 1) * step],
                                xr[(j + 2) * step],
                                xr[(j + 3) * step],
                            ];
                            let d = &dr[j * filters..];
                            mul_add_row::<M, B>(a0, v[0], block(d));
                            mul_add_row::<M, B>(a1, v[1], block(&d[filters..]));
                            mul_add_row::<M, B>(a2, v[2], block(&d[2 * filters..]));
                            mul_add_row::<M, B>(a3, v[3], block(&d[3 * filters..]));
                            j += 4;
                        }
                        for (a, j) in [a0, a1, a2, a3].into_iter().zip(j..n) {
                            mul_add_row::<M, B>(a, xr[j * step], block(&dr[j * filters..]));
                        }
                    }
                }
                let out: &mut [f32; B] =
                    block_mut(&mut dk[((ky * g.kw + kx) * c + ci) * filters + f0..]);
                for q in 0..B {
                    out[q] = (acc[0][q] + acc[1][q]) + (acc[2][q] + acc[3][q]);
                }
            }
        }
    }
}

#[inline(always)]
fn dz_row(dz: &[f32], oy: usize, ow: usize, filters: usize) -> &[f32] {
    &dz[oy * ow * filters..][..ow * filters]
}

#[cfg(test)]
mod tests {
    use super::super::{im2col, Geom};
    use super::*;
    use crate::nn::Padding;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 37 + seed * 11) % 23) as f32 - 11.0) / 9.0)
            .collect()
    }

    /// The general path's arithmetic in f64: im2col rows times the kernel.
    fn reference(
        g: &Geom,
        batch: usize,
        filters: usize,
        x: &[f32],
        kernel: &[f32],
        dz: &[f32],
    ) -> (Vec<f64>, Vec<f64>) {
        let width = g.col_width();
        let pixels = g.oh * g.ow;
        let mut y = vec![0.0f64; batch * pixels * filters];
        let mut dk = vec![0.0f64; width * filters];
        let mut col = vec![0.0f32; pixels * width];
        for n in 0..batch {
            im2col(g, &x[n * g.in_len()..][..g.in_len()], &mut col);
            for p in 0..pixels {
                for f in 0..filters {
                    let out = (n * pixels + p) * filters + f;
                    for t in 0..width {
                        let v = f64::from(col[p * width + t]);
                        y[out] += v * f64::from(kernel[t * filters + f]);
                        dk[t * filters + f] += v * f64::from(dz[out]);
                    }
                }
            }
        }
        (y, dk)
    }

    #[test]
    fn direct_matches_im2col_for_strides_dilation_padding_and_channel_blocks() {
        /// Input shape, kernel, strides, dilation, padding, filters.
        type Case = (
            [usize; 3],
            [usize; 2],
            [usize; 2],
            [usize; 2],
            Padding,
            usize,
        );
        let cases: &[Case] = &[
            ([28, 28, 1], [3, 3], [1, 1], [1, 1], Padding::Valid, 12),
            ([9, 8, 1], [3, 3], [2, 2], [1, 1], Padding::Same, 37),
            ([7, 9, 2], [2, 3], [1, 2], [2, 1], Padding::Same, 5),
            ([6, 7, 3], [4, 4], [3, 2], [1, 1], Padding::Valid, 16),
            ([5, 5, 4], [1, 1], [1, 1], [1, 1], Padding::Valid, 3),
            ([8, 6, 1], [3, 2], [1, 1], [2, 2], Padding::Valid, 20),
        ];
        for (i, &(input, k, s, d, p, filters)) in cases.iter().enumerate() {
            let g = Geom::new("t", &input, k, s, d, p).unwrap();
            let batch = 3;
            let x = values(batch * g.in_len(), i);
            let kernel = values(g.col_width() * filters, i + 7);
            let bias = values(filters, i + 3);
            let dz = values(batch * g.oh * g.ow * filters, i + 5);
            let (want_y, want_dk) = reference(&g, batch, filters, &x, &kernel, &dz);
            let mut y = vec![f32::NAN; want_y.len()];
            forward(
                &g,
                batch,
                filters,
                &x,
                &kernel,
                &bias,
                Activation::Linear,
                &mut y,
                None,
            );
            for (j, (got, want)) in y.iter().zip(&want_y).enumerate() {
                let want = want + f64::from(bias[j % filters]);
                assert!(
                    (f64::from(*got) - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "case {i} y[{j}]: {got} vs {want}"
                );
            }
            let mut dk = vec![f32::NAN; want_dk.len()];
            let mut db = vec![f32::NAN; filters];
            let mut dz_mut = dz.clone();
            weight_gradient(
                &g,
                batch,
                filters,
                &x,
                Activation::Linear,
                &[],
                &mut dz_mut,
                &mut dk,
                Some(&mut db),
            );
            for (j, (got, want)) in dk.iter().zip(&want_dk).enumerate() {
                assert!(
                    (f64::from(*got) - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "case {i} dk[{j}]: {got} vs {want}"
                );
            }
            for (f, got) in db.iter().enumerate() {
                let want: f64 = dz
                    .iter()
                    .skip(f)
                    .step_by(filters)
                    .map(|&v| f64::from(v))
                    .sum();
                assert!((f64::from(*got) - want).abs() < 1e-4 * (1.0 + want.abs()));
            }
            // Fused activations clamp like Activation::apply.
            let mut relu6 = vec![0.0f32; y.len()];
            let mut copy = vec![0.0f32; y.len()];
            forward(
                &g,
                batch,
                filters,
                &x,
                &kernel,
                &bias,
                Activation::Relu6,
                &mut relu6,
                Some(&mut copy),
            );
            for (a, b) in relu6.iter().zip(&y) {
                assert_eq!(*a, b.clamp(0.0, 6.0));
            }
            assert_eq!(copy, relu6);
        }
    }
}
