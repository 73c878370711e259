//! Max and average pooling, one sample at a time. With SAME padding only taps inside
//! the image count (TF/TFLite semantics): max ignores the padding and the average
//! divides by the number of in-image taps.

use super::conv::direct_conv::{block, block_mut, channel_blocks, dispatch, MulAdd};
use super::conv::Geom;

/// Writes each window's maximum and the sample-local index of the (first) maximal tap,
/// to which backward routes the gradient. Taps are visited in row-major window order;
/// channels go in blocks of constant width so the compare-and-select loops unroll
/// into vector registers.
pub(crate) fn max_forward(g: &Geom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    for (c0, width) in channel_blocks(g.c) {
        max_block(g, c0, width, x, y, argmax);
    }
}

dispatch!(fn max_block, max_block_avx2, max_block_generic(
    g: &Geom,
    c0: usize,
    width: usize,
    x: &[f32],
    y: &mut [f32],
    argmax: &mut [u32],
));

#[inline(always)]
fn max_block_generic<M: MulAdd>(
    g: &Geom,
    c0: usize,
    width: usize,
    x: &[f32],
    y: &mut [f32],
    argmax: &mut [u32],
) {
    match width {
        16 => max_channels::<16>(g, c0, x, y, argmax),
        12 => max_channels::<12>(g, c0, x, y, argmax),
        8 => max_channels::<8>(g, c0, x, y, argmax),
        4 => max_channels::<4>(g, c0, x, y, argmax),
        _ => max_channels::<1>(g, c0, x, y, argmax),
    }
}

#[inline(always)]
fn max_channels<const B: usize>(g: &Geom, c0: usize, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let mut best = [0.0f32; B];
            let mut at = [u32::MAX; B];
            let mut first = true;
            for ky in 0..g.kh {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let base = (iy * g.w + ix) * c + c0;
                    let px: &[f32; B] = block(&x[base..]);
                    if first {
                        best = *px;
                        for (j, a) in at.iter_mut().enumerate() {
                            *a = (base + j) as u32;
                        }
                        first = false;
                        continue;
                    }
                    // Selects, not branches, so the channel loop vectorizes.
                    for j in 0..B {
                        let better = px[j] > best[j];
                        best[j] = if better { px[j] } else { best[j] };
                        at[j] = if better { (base + j) as u32 } else { at[j] };
                    }
                }
            }
            // No tap inside the image (cannot happen with TF padding rules): output 0
            // and an index that backward skips.
            let o = (oy * g.ow + ox) * c + c0;
            *block_mut::<f32, B>(&mut y[o..]) = best;
            *block_mut::<u32, B>(&mut argmax[o..]) = at;
        }
    }
}

/// Adds each output gradient onto the input that won its window; `dx` zeroed.
pub(crate) fn max_backward(dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    for (&g, &i) in dy.iter().zip(argmax) {
        if let Some(d) = dx.get_mut(i as usize) {
            *d += g;
        }
    }
}

fn taps_inside(g: &Geom, oy: usize, ox: usize) -> usize {
    let rows = (0..g.kh).filter(|&ky| g.in_y(oy, ky).is_some()).count();
    let cols = (0..g.kw).filter(|&kx| g.in_x(ox, kx).is_some()).count();
    rows * cols
}

pub(crate) fn avg_forward(g: &Geom, x: &[f32], y: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let out = &mut y[(oy * g.ow + ox) * c..][..c];
            out.fill(0.0);
            for ky in 0..g.kh {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let px = &x[(iy * g.w + ix) * c..][..c];
                    out.iter_mut().zip(px).for_each(|(o, v)| *o += v);
                }
            }
            let scale = 1.0 / taps_inside(g, oy, ox).max(1) as f32;
            out.iter_mut().for_each(|o| *o *= scale);
        }
    }
}

/// `dx` zeroed by the caller.
pub(crate) fn avg_backward(g: &Geom, dy: &[f32], dx: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let grad = &dy[(oy * g.ow + ox) * c..][..c];
            let scale = 1.0 / taps_inside(g, oy, ox).max(1) as f32;
            for ky in 0..g.kh {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let d = &mut dx[(iy * g.w + ix) * c..][..c];
                    d.iter_mut().zip(grad).for_each(|(d, g)| *d += g * scale);
                }
            }
        }
    }
}
