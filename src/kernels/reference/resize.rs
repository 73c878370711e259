//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR on NHWC slices. The source coordinates
//! depend only on the sizes and the two flags, so callers compute them once per axis
//! ([`bilinear_axis_f32`], [`bilinear_axis_q10`], [`nearest_axis`]) and the loops only
//! read pixels.

use crate::ir::KernelError;
use crate::kbail;

/// One output coordinate of float bilinear sampling: the source position and the two
/// source rows (or columns) around it, clamped to the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tap {
    pub pos: f32,
    pub lo: usize,
    pub hi: usize,
}

/// The same in the integer kernel's 10-bit fixed point: `pos` is the source position
/// times 1024.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TapQ10 {
    pub pos: i32,
    pub lo: usize,
    pub hi: usize,
}

/// Source-to-output ratio as the float kernels compute it: `in / out`, or with
/// `align_corners` (and more than one output) `(in - 1) / (out - 1)`, each in float.
fn float_scale(input: usize, output: usize, align_corners: bool) -> f32 {
    if align_corners && output > 1 {
        (input as f32 - 1.0) / (output as f32 - 1.0)
    } else {
        input as f32 / output as f32
    }
}

/// Float bilinear taps for each of `output` coordinates.
pub fn bilinear_axis_f32(
    input: usize,
    output: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> Vec<Tap> {
    let scale = float_scale(input, output, align_corners);
    let last = input.saturating_sub(1);
    (0..output)
        .map(|o| {
            let pos = if half_pixel_centers {
                (o as f32 + 0.5) * scale - 0.5
            } else {
                o as f32 * scale
            };
            // Negative positions (half-pixel centres near the edge) clamp to row 0.
            let lo = pos.floor().max(0.0) as usize;
            let hi = (pos.ceil().max(0.0) as usize).min(last);
            Tap { pos, lo, hi }
        })
        .collect()
}

/// Integer bilinear taps (`ResizeBilinearInteger`): the scale rounded to 10 fractional
/// bits, positions in the same units, bounds by truncating division. Fails when the
/// positions would not fit in i32, where the C++ overflows.
pub fn bilinear_axis_q10(
    input: usize,
    output: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> Result<Vec<TapQ10>, KernelError> {
    let (num, den) = if align_corners && output > 1 {
        (input as i64 - 1, output as i64 - 1)
    } else {
        (input as i64, output as i64)
    };
    if den <= 0 {
        kbail!("cannot resize to an empty axis");
    }
    let scale = (1024 * num + den / 2) / den;
    if (output as i64 + 1).saturating_mul(scale) > i64::from(i32::MAX) {
        kbail!("resize from {input} to {output} overflows the 10-bit fixed point positions");
    }
    let last = input as i64 - 1;
    Ok((0..output as i64)
        .map(|o| {
            let pos = if half_pixel_centers {
                o * scale + scale / 2 - 512
            } else {
                o * scale
            };
            // Rust's `/` truncates toward zero like C's.
            let lo = (pos / 1024).max(0);
            let hi = ((pos + 1023) / 1024).min(last).max(0);
            TapQ10 {
                pos: pos as i32,
                lo: lo as usize,
                hi: hi as usize,
            }
        })
        .collect())
}

/// Nearest-neighbour source index for each output coordinate (`GetNearestNeighbor`):
/// rounded half away from zero with `align_corners`, floored otherwise, clamped to the
/// input.
pub fn nearest_axis(
    input: usize,
    output: usize,
    align_corners: bool,
    half_pixel_centers: bool,
) -> Vec<usize> {
    let scale = float_scale(input, output, align_corners);
    let offset = if half_pixel_centers { 0.5 } else { 0.0 };
    let last = input.saturating_sub(1);
    (0..output)
        .map(|o| {
            let v = (o as f32 + offset) * scale;
            let v = if align_corners { v.round() } else { v.floor() };
            // Positions are never negative here; the clamp below covers the rest.
            (v.max(0.0) as usize).min(last)
        })
        .collect()
}

/// The shape of an NHWC resize: batches, input height and width, channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Nhwc {
    pub batches: usize,
    pub height: usize,
    pub width: usize,
    pub depth: usize,
}

impl Nhwc {
    fn at(&self, b: usize, y: usize, x: usize) -> usize {
        ((b * self.height + y) * self.width + x) * self.depth
    }
}

/// Float bilinear (reference `ResizeBilinear<float>`), products and sums in the
/// reference's order. `sample` turns a stored value into float and `store` back.
pub fn resize_bilinear_float<T: Copy>(
    input: &[T],
    shape: Nhwc,
    ys: &[Tap],
    xs: &[Tap],
    out: &mut [T],
    sample: impl Fn(T) -> f32,
    store: impl Fn(f32) -> T,
) {
    let c = shape.depth;
    let mut o = 0;
    for b in 0..shape.batches {
        for ty in ys {
            let dy = ty.pos - ty.lo as f32;
            for tx in xs {
                let dx = tx.pos - tx.lo as f32;
                let (p00, p10) = (shape.at(b, ty.lo, tx.lo), shape.at(b, ty.hi, tx.lo));
                let (p01, p11) = (shape.at(b, ty.lo, tx.hi), shape.at(b, ty.hi, tx.hi));
                let (Some(r00), Some(r10), Some(r01), Some(r11), Some(dst)) = (
                    input.get(p00..p00 + c),
                    input.get(p10..p10 + c),
                    input.get(p01..p01 + c),
                    input.get(p11..p11 + c),
                    out.get_mut(o..o + c),
                ) else {
                    return;
                };
                for k in 0..c {
                    let v = sample(r00[k]) * (1.0 - dy) * (1.0 - dx)
                        + sample(r10[k]) * dy * (1.0 - dx)
                        + sample(r01[k]) * (1.0 - dy) * dx
                        + sample(r11[k]) * dy * dx;
                    dst[k] = store(v);
                }
                o += c;
            }
        }
    }
}

/// Integer bilinear (reference `ResizeBilinearInteger`): weights in 10-bit fixed point,
/// the sum in 20 bits, rounded half away from zero by a truncating division.
pub fn resize_bilinear_integer<T: Copy + Into<i32>>(
    input: &[T],
    shape: Nhwc,
    ys: &[TapQ10],
    xs: &[TapQ10],
    out: &mut [T],
    narrow: fn(i64) -> T,
) {
    let c = shape.depth;
    let mut o = 0;
    for b in 0..shape.batches {
        for ty in ys {
            let fy = i64::from(ty.pos) - 1024 * ty.lo as i64;
            for tx in xs {
                let fx = i64::from(tx.pos) - 1024 * tx.lo as i64;
                let (p00, p10) = (shape.at(b, ty.lo, tx.lo), shape.at(b, ty.hi, tx.lo));
                let (p01, p11) = (shape.at(b, ty.lo, tx.hi), shape.at(b, ty.hi, tx.hi));
                let (Some(r00), Some(r10), Some(r01), Some(r11), Some(dst)) = (
                    input.get(p00..p00 + c),
                    input.get(p10..p10 + c),
                    input.get(p01..p01 + c),
                    input.get(p11..p11 + c),
                    out.get_mut(o..o + c),
                ) else {
                    return;
                };
                for k in 0..c {
                    let v = |r: &[T]| i64::from(r[k].into());
                    let sum = v(r00) * (1024 - fy) * (1024 - fx)
                        + v(r10) * fy * (1024 - fx)
                        + v(r01) * (1024 - fy) * fx
                        + v(r11) * fy * fx;
                    let round = if sum > 0 { 1 << 19 } else { -(1 << 19) };
                    dst[k] = narrow((sum + round) / (1 << 20));
                }
                o += c;
            }
        }
    }
}

/// Nearest neighbour: copies whole pixels (`depth` values) from the chosen source.
pub fn resize_nearest<T: Copy>(
    input: &[T],
    shape: Nhwc,
    ys: &[usize],
    xs: &[usize],
    out: &mut [T],
) {
    let c = shape.depth;
    let mut o = 0;
    for b in 0..shape.batches {
        for &y in ys {
            for &x in xs {
                let p = shape.at(b, y, x);
                let (Some(src), Some(dst)) = (input.get(p..p + c), out.get_mut(o..o + c)) else {
                    return;
                };
                dst.copy_from_slice(src);
                o += c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_taps_for_each_convention() {
        // 2 -> 4, plain: positions 0, 0.5, 1, 1.5 (the last clamps its upper row).
        let t = bilinear_axis_f32(2, 4, false, false);
        let pos: Vec<f32> = t.iter().map(|t| t.pos).collect();
        assert_eq!(pos, vec![0.0, 0.5, 1.0, 1.5]);
        assert_eq!((t[3].lo, t[3].hi), (1, 1));
        // align_corners: scale 1/3, positions 0, 1/3, 2/3, 1.
        let t = bilinear_axis_f32(2, 4, true, false);
        assert_eq!((t[1].lo, t[1].hi), (0, 1));
        assert_eq!(t[3].pos, 1.0);
        // half-pixel: (o + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25.
        let t = bilinear_axis_f32(2, 4, false, true);
        let pos: Vec<f32> = t.iter().map(|t| t.pos).collect();
        assert_eq!(pos, vec![-0.25, 0.25, 0.75, 1.25]);
        assert_eq!((t[0].lo, t[0].hi), (0, 0));
    }

    #[test]
    fn integer_taps_by_hand() {
        // 2 -> 4: scale_10 = (2048 + 2) / 4 = 512; half-pixel: 512o + 256 - 512.
        let t = bilinear_axis_q10(2, 4, false, true).unwrap();
        let pos: Vec<i32> = t.iter().map(|t| t.pos).collect();
        assert_eq!(pos, vec![-256, 256, 768, 1280]);
        assert_eq!((t[0].lo, t[0].hi), (0, 0));
        assert_eq!((t[3].lo, t[3].hi), (1, 1));
        // 3 -> 2 with align_corners: scale_10 = (2048 + 0) / 1 = 2048.
        let t = bilinear_axis_q10(3, 2, true, false).unwrap();
        assert_eq!(
            t[1],
            TapQ10 {
                pos: 2048,
                lo: 2,
                hi: 2
            }
        );
    }

    #[test]
    fn nearest_indices_by_hand() {
        // 3 -> 5: scale 0.6; floor(0, .6, 1.2, 1.8, 2.4) = 0 0 1 1 2.
        assert_eq!(nearest_axis(3, 5, false, false), vec![0, 0, 1, 1, 2]);
        // half-pixel: floor(.3, .9, 1.5, 2.1, 2.7) = 0 0 1 2 2.
        assert_eq!(nearest_axis(3, 5, false, true), vec![0, 0, 1, 2, 2]);
        // align_corners: scale 0.5; round(0, .5, 1, 1.5, 2) = 0 1 1 2 2.
        assert_eq!(nearest_axis(3, 5, true, false), vec![0, 1, 1, 2, 2]);
    }

    #[test]
    fn bilinear_1x2_to_1x4() {
        // One row [0, 8] widened to 4 columns, plain convention: 0, 4, 8, 8.
        let shape = Nhwc {
            batches: 1,
            height: 1,
            width: 2,
            depth: 1,
        };
        let ys = bilinear_axis_f32(1, 1, false, false);
        let xs = bilinear_axis_f32(2, 4, false, false);
        let mut out = [0.0f32; 4];
        resize_bilinear_float(&[0.0f32, 8.0], shape, &ys, &xs, &mut out, |v| v, |v| v);
        assert_eq!(out, [0.0, 4.0, 8.0, 8.0]);
        // The integer kernel, half-pixel: positions -256, 256, 768, 1280 over [0, 8]:
        // 0, 8 * 256/1024 = 2, 8 * 768/1024 = 6, 8.
        let ys = bilinear_axis_q10(1, 1, false, true).unwrap();
        let xs = bilinear_axis_q10(2, 4, false, true).unwrap();
        let mut out = [0i8; 4];
        resize_bilinear_integer(&[0i8, 8], shape, &ys, &xs, &mut out, |v| v as i8);
        assert_eq!(out, [0, 2, 6, 8]);
        // Rounding: [-3, 0] at 256/1024: -0.75 rounds away from zero to -1.
        let mut out = [0i8; 4];
        resize_bilinear_integer(&[-3i8, 0], shape, &ys, &xs, &mut out, |v| v as i8);
        assert_eq!(out, [-3, -2, -1, 0]);
    }

    #[test]
    fn nearest_copies_whole_pixels() {
        let shape = Nhwc {
            batches: 1,
            height: 1,
            width: 2,
            depth: 2,
        };
        let mut out = [0u8; 6];
        resize_nearest(&[1, 2, 3, 4], shape, &[0], &[0, 1, 1], &mut out);
        assert_eq!(out, [1, 2, 3, 4, 3, 4]);
    }
}
