//! Convolution geometry and the data movement around the GEMMs: im2col / col2im for
//! Conv2D, and direct loops for DepthwiseConv2D (one input channel per output channel
//! makes it memory-bound, so a GEMM buys nothing).

use rayon::prelude::*;

use super::{layer_err, NnError, Padding};
use crate::kernels::common::window_dim;

#[path = "direct_conv.rs"]
pub(crate) mod direct_conv;

/// Where each window of a 2-D windowed op (conv, depthwise, pool) reads, for one sample
/// of `h`×`w`×`c` NHWC input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geom {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_t: usize,
    pub pad_l: usize,
}

impl Geom {
    /// Output size and leading pads exactly as TF/TFLite compute them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        layer: &str,
        input: &[usize],
        kernel: [usize; 2],
        strides: [usize; 2],
        dilation: [usize; 2],
        padding: Padding,
    ) -> Result<Self, NnError> {
        let &[h, w, c] = input else {
            return Err(layer_err(
                layer,
                format!("expects a [height, width, channels] input, got {input:?}"),
            ));
        };
        let (oh, pad_t) = window_dim(padding.to_ir(), h, kernel[0], strides[0], dilation[0])
            .map_err(|e| layer_err(layer, e.to_string()))?;
        let (ow, pad_l) = window_dim(padding.to_ir(), w, kernel[1], strides[1], dilation[1])
            .map_err(|e| layer_err(layer, e.to_string()))?;
        if oh == 0 || ow == 0 {
            return Err(layer_err(
                layer,
                format!("window {kernel:?} (dilation {dilation:?}) does not fit the {h}×{w} input"),
            ));
        }
        Ok(Geom {
            h,
            w,
            c,
            kh: kernel[0],
            kw: kernel[1],
            sh: strides[0],
            sw: strides[1],
            dh: dilation[0],
            dw: dilation[1],
            oh,
            ow,
            pad_t,
            pad_l,
        })
    }

    /// Input row of kernel row `ky` for output row `oy`, if inside the image.
    #[inline]
    pub fn in_y(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.sh + ky * self.dh)
            .checked_sub(self.pad_t)
            .filter(|&y| y < self.h)
    }

    #[inline]
    pub fn in_x(&self, ox: usize, kx: usize) -> Option<usize> {
        (ox * self.sw + kx * self.dw)
            .checked_sub(self.pad_l)
            .filter(|&x| x < self.w)
    }

    /// The kernel rows whose input row is inside the image for output row `oy`: a
    /// window loop runs over these only, so its cost is bounded by the image, not by a
    /// window that is mostly padding.
    #[inline]
    pub fn ky_range(&self, oy: usize) -> std::ops::Range<usize> {
        inside(oy * self.sh, self.pad_t, self.h, self.dh, self.kh)
    }

    /// [`Geom::ky_range`] for columns.
    #[inline]
    pub fn kx_range(&self, ox: usize) -> std::ops::Range<usize> {
        inside(ox * self.sw, self.pad_l, self.w, self.dw, self.kw)
    }

    pub fn in_len(&self) -> usize {
        self.h * self.w * self.c
    }

    /// A 1×1, stride-1 convolution reads its input as the im2col matrix itself.
    pub fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1
    }

    /// Columns of the im2col matrix: kh·kw·c, ordered like the Keras kernel's first
    /// three axes so that the kernel reshaped to [kh·kw·c, out] multiplies it directly.
    pub fn col_width(&self) -> usize {
        self.kh * self.kw * self.c
    }
}

/// The taps k in 0..taps with pad <= start + k·dilation < pad + size.
#[inline]
fn inside(
    start: usize,
    pad: usize,
    size: usize,
    dilation: usize,
    taps: usize,
) -> std::ops::Range<usize> {
    let lo = pad.saturating_sub(start).div_ceil(dilation);
    let hi = (pad + size)
        .saturating_sub(start)
        .div_ceil(dilation)
        .min(taps);
    lo.min(hi)..hi
}

/// One sample's im2col matrix ([oh·ow, kh·kw·c]); taps outside the image are zero.
pub(crate) fn im2col(g: &Geom, x: &[f32], col: &mut [f32]) {
    let c = g.c;
    let width = g.col_width();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let row = &mut col[(oy * g.ow + ox) * width..][..width];
            for ky in 0..g.kh {
                let iy = g.in_y(oy, ky);
                for kx in 0..g.kw {
                    let dst = &mut row[(ky * g.kw + kx) * c..][..c];
                    match (iy, g.in_x(ox, kx)) {
                        (Some(iy), Some(ix)) => copy_small(dst, &x[(iy * g.w + ix) * c..][..c]),
                        _ => dst.fill(0.0),
                    }
                }
            }
        }
    }
}

/// `copy_from_slice` calls memcpy, which costs more than the copy for the few
/// channels of a first layer.
#[inline]
fn copy_small(dst: &mut [f32], src: &[f32]) {
    if dst.len() <= 8 {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    } else {
        dst.copy_from_slice(src);
    }
}

/// The adjoint of [`im2col`]: adds each column entry back onto the input pixel it was
/// read from. `dx` must be zeroed by the caller.
pub(crate) fn col2im_add(g: &Geom, col: &[f32], dx: &mut [f32]) {
    let c = g.c;
    let width = g.col_width();
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let row = &col[(oy * g.ow + ox) * width..][..width];
            for ky in g.ky_range(oy) {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in g.kx_range(ox) {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let src = &row[(ky * g.kw + kx) * c..][..c];
                    let dst = &mut dx[(iy * g.w + ix) * c..][..c];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}

/// Builds the im2col matrix of a whole batch, one sample per task.
pub(crate) fn im2col_batch(g: &Geom, x: &[f32], batch: usize) -> Vec<f32> {
    let per = g.oh * g.ow * g.col_width();
    let mut col = vec![0.0f32; batch * per];
    col.par_chunks_mut(per)
        .zip(x.par_chunks(g.in_len()))
        .for_each(|(c, xs)| im2col(g, xs, c));
    col
}

/// Input gradient of a whole batch from the im2col-shaped gradient.
pub(crate) fn col2im_batch(g: &Geom, dcol: &[f32], batch: usize) -> Vec<f32> {
    let per = g.oh * g.ow * g.col_width();
    let mut dx = vec![0.0f32; batch * g.in_len()];
    dx.par_chunks_mut(g.in_len())
        .zip(dcol.par_chunks(per))
        .for_each(|(d, c)| col2im_add(g, c, d));
    dx
}

/// Depthwise forward for one sample (no bias, no activation): output channel
/// `ci·mult + m` is input channel `ci` filtered by `kernel[ky, kx, ci, m]`.
pub(crate) fn depthwise_sample(g: &Geom, mult: usize, x: &[f32], kernel: &[f32], y: &mut [f32]) {
    let oc = g.c * mult;
    y.fill(0.0);
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let out = &mut y[(oy * g.ow + ox) * oc..][..oc];
            for ky in g.ky_range(oy) {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in g.kx_range(ox) {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let px = &x[(iy * g.w + ix) * g.c..][..g.c];
                    let taps = &kernel[(ky * g.kw + kx) * oc..][..oc];
                    for (ci, &v) in px.iter().enumerate() {
                        for m in 0..mult {
                            out[ci * mult + m] += v * taps[ci * mult + m];
                        }
                    }
                }
            }
        }
    }
}

/// Depthwise backward for one sample: adds the kernel gradient into `dk` and writes
/// the input gradient into the zeroed `dx` (when given).
pub(crate) fn depthwise_backward_sample(
    g: &Geom,
    mult: usize,
    x: &[f32],
    kernel: &[f32],
    dz: &[f32],
    dk: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let oc = g.c * mult;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let grad = &dz[(oy * g.ow + ox) * oc..][..oc];
            for ky in g.ky_range(oy) {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in g.kx_range(ox) {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let base = (iy * g.w + ix) * g.c;
                    let tap = (ky * g.kw + kx) * oc;
                    for ci in 0..g.c {
                        let v = x[base + ci];
                        let mut acc = 0.0f32;
                        for m in 0..mult {
                            let o = ci * mult + m;
                            dk[tap + o] += grad[o] * v;
                            acc += grad[o] * kernel[tap + o];
                        }
                        if let Some(dx) = dx.as_deref_mut() {
                            dx[base + ci] += acc;
                        }
                    }
                }
            }
        }
    }
}

/// Samples per task for per-sample loops whose weight gradients are summed: fixed by
/// the batch size alone so the summation order never depends on the thread count.
pub(crate) fn sample_chunk(batch: usize) -> usize {
    batch.div_ceil(8).max(1)
}

/// The im2col matrix of a single-channel batch, transposed: [kh·kw, batch·oh·ow].
/// Row `ky·kw + kx` holds, for every output pixel, the input value under that tap.
pub(crate) fn im2col_t_batch(g: &Geom, x: &[f32], batch: usize) -> Vec<f32> {
    let per = g.oh * g.ow;
    let rows = batch * per;
    let mut col = vec![0.0f32; g.kh * g.kw * rows];
    col.par_chunks_mut(rows).enumerate().for_each(|(tap, dst)| {
        let (ky, kx) = (tap / g.kw, tap % g.kw);
        // Output columns whose tap lands inside the image: a contiguous range.
        let valid: Vec<Option<usize>> = (0..g.ow).map(|ox| g.in_x(ox, kx)).collect();
        for (n, plane) in dst.chunks_mut(per).enumerate() {
            let image = &x[n * g.h * g.w..][..g.h * g.w];
            for oy in 0..g.oh {
                let out = &mut plane[oy * g.ow..][..g.ow];
                let Some(iy) = g.in_y(oy, ky) else {
                    out.fill(0.0);
                    continue;
                };
                let src = &image[iy * g.w..][..g.w];
                for (o, ix) in out.iter_mut().zip(&valid) {
                    *o = ix.map_or(0.0, |ix| src[ix]);
                }
            }
        }
    });
    col
}
