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
    if u32::try_from(g.in_len()).is_err() {
        return max_forward_wide(g, x, y, argmax);
    }
    for (c0, width) in channel_blocks(g.c) {
        max_block(g, c0, width, x, y, argmax);
    }
}

/// [`max_forward`] for samples too large for u32 offsets, one value at a time (its
/// indices saturate at `u32::MAX`, which backward skips).
fn max_forward_wide(g: &Geom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let o = (oy * g.ow + ox) * c;
            for ch in 0..c {
                let mut best: Option<(f32, usize)> = None;
                for ky in g.ky_range(oy) {
                    let Some(iy) = g.in_y(oy, ky) else { continue };
                    for kx in g.kx_range(ox) {
                        let Some(ix) = g.in_x(ox, kx) else { continue };
                        let i = (iy * g.w + ix) * c + ch;
                        if best.is_none_or(|(b, _)| x[i] > b) {
                            best = Some((x[i], i));
                        }
                    }
                }
                let (v, i) = best.map_or((0.0, u32::MAX), |(v, i)| {
                    (v, u32::try_from(i).unwrap_or(u32::MAX))
                });
                y[o + ch] = v;
                argmax[o + ch] = i;
            }
        }
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

/// Window maxima of channels `c0..c0 + B`. The winner is tracked as its pixel's
/// offset (the same for every lane, so the select takes a broadcast scalar) and the
/// channel is added once per window.
#[inline(always)]
fn max_channels<const B: usize>(g: &Geom, c0: usize, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let c = g.c;
    let lanes: [u32; B] = std::array::from_fn(|j| (c0 + j) as u32);
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let mut best = [0.0f32; B];
            let mut at = [0u32; B];
            let mut first = true;
            for ky in g.ky_range(oy) {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in g.kx_range(ox) {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let base = (iy * g.w + ix) * c;
                    let px: &[f32; B] = block(&x[base + c0..]);
                    let offset = base as u32;
                    if first {
                        best = *px;
                        at = [offset; B];
                        first = false;
                        continue;
                    }
                    // Selects, not branches, so the channel loop vectorizes.
                    for j in 0..B {
                        let better = px[j] > best[j];
                        best[j] = if better { px[j] } else { best[j] };
                        at[j] = if better { offset } else { at[j] };
                    }
                }
            }
            let o = (oy * g.ow + ox) * c + c0;
            *block_mut::<f32, B>(&mut y[o..]) = best;
            let out = block_mut::<u32, B>(&mut argmax[o..]);
            if first {
                // No tap inside the image (cannot happen with TF padding rules): output
                // 0 and an index that backward skips.
                *out = [u32::MAX; B];
            } else {
                for j in 0..B {
                    out[j] = at[j] + lanes[j];
                }
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
    g.ky_range(oy).len() * g.kx_range(ox).len()
}

pub(crate) fn avg_forward(g: &Geom, x: &[f32], y: &mut [f32]) {
    let c = g.c;
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let out = &mut y[(oy * g.ow + ox) * c..][..c];
            out.fill(0.0);
            for ky in g.ky_range(oy) {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in g.kx_range(ox) {
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
            for ky in g.ky_range(oy) {
                let Some(iy) = g.in_y(oy, ky) else { continue };
                for kx in g.kx_range(ox) {
                    let Some(ix) = g.in_x(ox, kx) else { continue };
                    let d = &mut dx[(iy * g.w + ix) * c..][..c];
                    d.iter_mut().zip(grad).for_each(|(d, g)| *d += g * scale);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::Padding;

    /// The vector path (channel blocks, broadcast offsets) against the one-value-at-a-time
    /// path, with ties and SAME padding.
    #[test]
    fn max_forward_blocks_match_the_scalar_path() {
        for (shape, k, s, p) in [
            ([6, 6, 12], [2, 2], [2, 2], Padding::Valid),
            ([5, 7, 21], [3, 3], [2, 2], Padding::Same),
            ([4, 4, 3], [2, 2], [1, 1], Padding::Same),
        ] {
            let g = Geom::new("t", &shape, k, s, [1, 1], p).unwrap();
            // Few distinct values, so windows have ties.
            let x: Vec<f32> = (0..g.in_len()).map(|i| ((i * 7) % 5) as f32).collect();
            let n = g.oh * g.ow * g.c;
            let (mut y1, mut i1) = (vec![f32::NAN; n], vec![7u32; n]);
            let (mut y2, mut i2) = (vec![f32::NAN; n], vec![7u32; n]);
            max_forward(&g, &x, &mut y1, &mut i1);
            max_forward_wide(&g, &x, &mut y2, &mut i2);
            assert_eq!(y1, y2);
            assert_eq!(i1, i2);
        }
    }

    /// The tap ranges the loops use are exactly the taps that land inside the image.
    #[test]
    fn tap_ranges_are_the_taps_inside_the_image() {
        for h in 1..7 {
            for k in 1..9 {
                for st in 1..4 {
                    for d in 1..3 {
                        for p in [Padding::Same, Padding::Valid] {
                            let Ok(g) = Geom::new("t", &[h, h, 1], [k, k], [st, st], [d, d], p)
                            else {
                                continue;
                            };
                            for o in 0..g.oh {
                                let want: Vec<usize> =
                                    (0..g.kh).filter(|&ky| g.in_y(o, ky).is_some()).collect();
                                assert_eq!(g.ky_range(o).collect::<Vec<_>>(), want);
                                let want: Vec<usize> =
                                    (0..g.kw).filter(|&kx| g.in_x(o, kx).is_some()).collect();
                                assert_eq!(g.kx_range(o).collect::<Vec<_>>(), want);
                            }
                        }
                    }
                }
            }
        }
    }

    /// A window of 2^40 rows over a 3×3 image (the architecture check refuses it, but
    /// the loops must not depend on that): the work is bounded by the image, so this
    /// returns at once, and every window sees the whole image.
    #[test]
    fn a_window_far_larger_than_the_image_costs_only_the_image() {
        let g = Geom::new(
            "t",
            &[3, 3, 2],
            [1 << 40, 1 << 40],
            [1, 1],
            [1, 1],
            Padding::Same,
        )
        .unwrap();
        let x: Vec<f32> = (0..18).map(|i| i as f32).collect();
        let n = g.oh * g.ow * g.c;
        let (mut y, mut idx) = (vec![0.0; n], vec![0u32; n]);
        max_forward(&g, &x, &mut y, &mut idx);
        for o in y.chunks(2) {
            assert_eq!(o, [16.0, 17.0]);
        }
        let mut avg = vec![0.0; n];
        avg_forward(&g, &x, &mut avg);
        for o in avg.chunks(2) {
            assert_eq!(o, [8.0, 9.0]);
        }
    }
}
