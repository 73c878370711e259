//! Max and average pooling, one sample at a time. With SAME padding only taps inside
//! the image count (TF/TFLite semantics): max ignores the padding and the average
//! divides by the number of in-image taps.

use super::conv::Geom;

/// Writes each window's maximum and the sample-local index of the (first) maximal tap,
/// to which backward routes the gradient. Taps are visited in row-major window order
/// and compared a whole pixel (all channels) at a time.
pub(crate) fn max_forward(g: &Geom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * c;
            let out = &mut y[o..o + c];
            let arg = &mut argmax[o..o + c];
            let mut first = true;
            for ky in 0..g.kh {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in 0..g.kw {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let base = (iy * g.w + ix) * c;
                    let px = &x[base..base + c];
                    if first {
                        out.copy_from_slice(px);
                        arg.iter_mut()
                            .enumerate()
                            .for_each(|(ch, a)| *a = (base + ch) as u32);
                        first = false;
                        continue;
                    }
                    // Selects, not branches, so the channel loop vectorizes.
                    for ((o, a), (&v, i)) in out
                        .iter_mut()
                        .zip(arg.iter_mut())
                        .zip(px.iter().zip(base as u32..))
                    {
                        let better = v > *o;
                        *o = if better { v } else { *o };
                        *a = if better { i } else { *a };
                    }
                }
            }
            if first {
                // No tap inside the image (cannot happen with TF padding rules).
                out.fill(0.0);
                arg.fill(u32::MAX);
            }
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
