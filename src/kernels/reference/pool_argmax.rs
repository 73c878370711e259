//! MediaPipe's `MaxPoolingWithArgmax2D` and `MaxUnpooling2D` as plain loops over NHWC
//! float slices, in MediaPipe's order (so ties keep the first maximum in row-major window
//! order, as its `>` comparison does).

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::common::clamp;

/// Geometry shared by both ops: `small` is the pooled side (the pool's output, the
/// unpool's input) and `large` the image side; `pad_*` the leading padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgmaxPoolGeometry {
    pub batch: usize,
    pub channels: usize,
    pub large_h: usize,
    pub large_w: usize,
    pub small_h: usize,
    pub small_w: usize,
    pub filter_h: usize,
    pub filter_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl ArgmaxPoolGeometry {
    pub fn large_len(&self) -> usize {
        self.batch * self.large_h * self.large_w * self.channels
    }

    pub fn small_len(&self) -> usize {
        self.batch * self.small_h * self.small_w * self.channels
    }

    /// The filter taps `lo..hi` of window position `o` along an axis that land inside
    /// `0..size`, and the large-side coordinate of tap 0 (may be negative).
    fn taps(
        o: usize,
        stride: usize,
        pad: usize,
        filter: usize,
        size: usize,
    ) -> (i64, usize, usize) {
        let origin = (o * stride) as i64 - pad as i64;
        let lo = (-origin).max(0) as usize;
        let hi = (size as i64 - origin).clamp(0, filter as i64) as usize;
        (origin, lo.min(hi), hi)
    }
}

/// Max pooling that also records, per output element, `filter_y * filter_w + filter_x +
/// 0.1` of the window's first maximum; the pooled value goes through the activation
/// clamp `range`. A window with no tap inside the image gives the lowest float and index
/// 0.1, as MediaPipe's kernel does.
pub fn max_pool_with_argmax_f32(
    g: &ArgmaxPoolGeometry,
    input: &[f32],
    range: (f32, f32),
    output: &mut [f32],
    indices: &mut [f32],
) -> Result<(), KernelError> {
    if input.len() != g.large_len()
        || output.len() != g.small_len()
        || indices.len() != g.small_len()
    {
        kbail!("MaxPoolingWithArgmax2D buffers do not match the planned shapes");
    }
    let c = g.channels;
    let mut at = 0;
    for n in 0..g.batch {
        for oy in 0..g.small_h {
            let (y0, fy_lo, fy_hi) =
                ArgmaxPoolGeometry::taps(oy, g.stride_h, g.pad_h, g.filter_h, g.large_h);
            for ox in 0..g.small_w {
                let (x0, fx_lo, fx_hi) =
                    ArgmaxPoolGeometry::taps(ox, g.stride_w, g.pad_w, g.filter_w, g.large_w);
                for ch in 0..c {
                    let mut max = f32::MIN;
                    let (mut max_y, mut max_x) = (0, 0);
                    for fy in fy_lo..fy_hi {
                        let iy = (y0 + fy as i64) as usize;
                        for fx in fx_lo..fx_hi {
                            let ix = (x0 + fx as i64) as usize;
                            let v = input[((n * g.large_h + iy) * g.large_w + ix) * c + ch];
                            if v > max {
                                max = v;
                                max_y = fy;
                                max_x = fx;
                            }
                        }
                    }
                    output[at] = clamp(max, range);
                    indices[at] = (max_y * g.filter_w + max_x) as f32 + 0.1;
                    at += 1;
                }
            }
        }
    }
    Ok(())
}

/// Writes each pooled value where its index puts it inside its window of the zeroed
/// output. Indices are truncated to integers as C++ does (NaN and out-of-range floats,
/// undefined there, saturate here); positions outside the output are skipped.
pub fn max_unpool_f32(
    g: &ArgmaxPoolGeometry,
    input: &[f32],
    indices: &[f32],
    output: &mut [f32],
) -> Result<(), KernelError> {
    if input.len() != g.small_len()
        || indices.len() != g.small_len()
        || output.len() != g.large_len()
    {
        kbail!("MaxUnpooling2D buffers do not match the planned shapes");
    }
    if g.filter_w == 0 {
        kbail!("MaxUnpooling2D needs a positive filter width");
    }
    output.fill(0.0);
    let c = g.channels;
    let filter_w = g.filter_w as i64;
    let mut at = 0;
    for n in 0..g.batch {
        for iy in 0..g.small_h {
            for ix in 0..g.small_w {
                for _ in 0..c {
                    let index = i64::from(indices[at] as i32);
                    // C++'s `%` and `/` truncate toward zero, as Rust's do.
                    let oy = (iy * g.stride_h) as i64 - g.pad_h as i64 + index / filter_w;
                    let ox = (ix * g.stride_w) as i64 - g.pad_w as i64 + index % filter_w;
                    if (0..g.large_h as i64).contains(&oy) && (0..g.large_w as i64).contains(&ox) {
                        let ch = at % c;
                        let dst =
                            ((n * g.large_h + oy as usize) * g.large_w + ox as usize) * c + ch;
                        output[dst] = input[at];
                    }
                    at += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(large: usize, small: usize, filter: usize, stride: usize) -> ArgmaxPoolGeometry {
        ArgmaxPoolGeometry {
            batch: 1,
            channels: 1,
            large_h: large,
            large_w: large,
            small_h: small,
            small_w: small,
            filter_h: filter,
            filter_w: filter,
            stride_h: stride,
            stride_w: stride,
            pad_h: 0,
            pad_w: 0,
        }
    }

    /// 4x4 image, 2x2 windows: maxima and where they sit, by hand; then unpooling puts
    /// them back and zeroes the rest.
    #[test]
    fn pool_then_unpool_by_hand() {
        let g = geometry(4, 2, 2, 2);
        #[rustfmt::skip]
        let image = [
            1.0, 5.0,   2.0, 0.0,
            3.0, 4.0,   7.0, 7.0,
            -1.0, -2.0, 9.0, 8.0,
            -3.0, -0.5, 6.0, 9.0,
        ];
        let (mut pooled, mut index) = ([0.0f32; 4], [0.0f32; 4]);
        max_pool_with_argmax_f32(&g, &image, (f32::MIN, f32::MAX), &mut pooled, &mut index)
            .unwrap();
        assert_eq!(pooled, [5.0, 7.0, -0.5, 9.0]);
        // Ties (7, 7 and 9, 9) keep the first in row-major order.
        assert_eq!(index, [1.1, 2.1, 3.1, 0.1]);
        let mut back = [1.0f32; 16];
        max_unpool_f32(&g, &pooled, &index, &mut back).unwrap();
        #[rustfmt::skip]
        let want = [
            0.0, 5.0,  0.0, 0.0,
            0.0, 0.0,  7.0, 0.0,
            0.0, 0.0,  9.0, 0.0,
            0.0, -0.5, 0.0, 0.0,
        ];
        assert_eq!(back, want);
    }

    #[test]
    fn activation_clamps_the_pooled_value_only() {
        let g = geometry(2, 1, 2, 2);
        let (mut pooled, mut index) = ([0.0f32; 1], [0.0f32; 1]);
        max_pool_with_argmax_f32(
            &g,
            &[-4.0, -3.0, -2.0, -1.0],
            (0.0, 6.0),
            &mut pooled,
            &mut index,
        )
        .unwrap();
        assert_eq!((pooled[0], index[0]), (0.0, 3.1));
    }

    #[test]
    fn hostile_indices_are_skipped_not_written_out_of_bounds() {
        let g = geometry(4, 2, 2, 2);
        let mut out = [0.0f32; 16];
        let indices = [-7.0, 1e30, f32::NAN, 99.0];
        max_unpool_f32(&g, &[1.0, 2.0, 3.0, 4.0], &indices, &mut out).unwrap();
        // NaN truncates to index 0 (the window's first element); the rest land outside.
        let mut want = [0.0f32; 16];
        want[8] = 3.0;
        assert_eq!(out, want);
        assert!(max_unpool_f32(&g, &[1.0], &indices, &mut out).is_err());
    }

    use proptest::prelude::*;

    proptest! {
        /// Against a brute-force definition: for every output element, scan the window
        /// over the zero-padded-free image with signed coordinates; the value is the
        /// largest tap, the index the first tap holding it. Unpooling then puts every
        /// value back on a pixel of the image that holds exactly that value.
        #[test]
        fn pool_matches_brute_force_and_unpool_inverts_it(
            (h, w, c, fh, fw, sh, sw, same) in (1usize..7, 1usize..7, 1usize..4, 1usize..4,
                1usize..4, 1usize..4, 1usize..4, any::<bool>()),
            seed in any::<u64>(),
        ) {
            let padding = if same { crate::ir::Padding::Same } else { crate::ir::Padding::Valid };
            let (oh, ph) = crate::kernels::common::window_dim(padding, h, fh, sh, 1).unwrap();
            let (ow, pw) = crate::kernels::common::window_dim(padding, w, fw, sw, 1).unwrap();
            prop_assume!(oh > 0 && ow > 0);
            let g = ArgmaxPoolGeometry {
                batch: 2, channels: c, large_h: h, large_w: w, small_h: oh, small_w: ow,
                filter_h: fh, filter_w: fw, stride_h: sh, stride_w: sw, pad_h: ph, pad_w: pw,
            };
            let mut state = seed;
            let image: Vec<f32> = (0..g.large_len())
                .map(|_| {
                    state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    // Few distinct values, so ties happen.
                    ((state >> 60) as f32) - 7.0
                })
                .collect();
            let mut pooled = vec![0.0; g.small_len()];
            let mut index = vec![0.0; g.small_len()];
            max_pool_with_argmax_f32(&g, &image, (f32::MIN, f32::MAX), &mut pooled, &mut index).unwrap();
            let mut at = 0;
            for n in 0..2 {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for ch in 0..c {
                            let mut best: Option<(f32, usize)> = None;
                            for fy in 0..fh {
                                for fx in 0..fw {
                                    let iy = (oy * sh + fy) as i64 - ph as i64;
                                    let ix = (ox * sw + fx) as i64 - pw as i64;
                                    if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                        continue;
                                    }
                                    let v = image[((n * h + iy as usize) * w + ix as usize) * c + ch];
                                    if best.is_none_or(|(b, _)| v > b) {
                                        best = Some((v, fy * fw + fx));
                                    }
                                }
                            }
                            let (v, k) = best.unwrap_or((f32::MIN, 0));
                            prop_assert_eq!(pooled[at], v);
                            prop_assert_eq!(index[at], k as f32 + 0.1);
                            at += 1;
                        }
                    }
                }
            }
            // Unpool into an image of the pool's own input size and padding.
            let mut back = vec![f32::NAN; g.large_len()];
            max_unpool_f32(&g, &pooled, &index, &mut back).unwrap();
            for (b, x) in back.iter().zip(&image) {
                prop_assert!(*b == 0.0 || *b == *x, "unpooled {} where the image has {}", b, x);
            }
        }
    }
}
