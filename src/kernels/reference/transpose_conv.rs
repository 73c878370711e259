//! TRANSPOSE_CONV as plain loops over NHWC slices with an OHWI filter.
//!
//! LiteRT's reference kernel scatters: every input pixel adds its products into the
//! output window it touches. Seen from one output element, the contributions arrive in
//! row-major (input y, input x, input channel) order; the loops below keep exactly that
//! order (input channels innermost, summed into a register that starts from the value
//! already stored), so the float results round the same way. Bias and the fused
//! activation come after the whole sum, as in LiteRT.

use crate::ir::KernelError;
use crate::kbail;
use crate::kernels::common::clamp;
use crate::kernels::fixed_point::multiply_by_quantized_multiplier;

/// Validated geometry of one TRANSPOSE_CONV: `pad_*` is the leading padding TFLite
/// derives by treating the output as the input of the matching CONV_2D.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransposeConvGeometry {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub k_h: usize,
    pub k_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
}

impl TransposeConvGeometry {
    pub fn input_len(&self) -> usize {
        self.batch * self.in_h * self.in_w * self.in_c
    }

    pub fn filter_len(&self) -> usize {
        self.out_c * self.k_h * self.k_w * self.in_c
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_h * self.out_w * self.out_c
    }

    fn check(
        &self,
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
    ) -> Result<(), KernelError> {
        if input != self.input_len()
            || filter != self.filter_len()
            || output != self.output_len()
            || bias.is_some_and(|b| b != self.out_c)
        {
            kbail!("TRANSPOSE_CONV buffers do not match the planned shapes");
        }
        Ok(())
    }

    /// The output position tap (fy, fx) of input pixel (iy, ix) lands on, if inside.
    #[inline(always)]
    fn target(&self, iy: usize, ix: usize, fy: usize, fx: usize) -> Option<(usize, usize)> {
        let oy = (iy * self.stride_h + fy).checked_sub(self.pad_h)?;
        let ox = (ix * self.stride_w + fx).checked_sub(self.pad_w)?;
        (oy < self.out_h && ox < self.out_w).then_some((oy, ox))
    }

    /// Calls `visit(input pixel offset, filter tap offset, output pixel offset)` for
    /// every (input pixel, tap) pair that lands inside the output, in LiteRT's order.
    #[inline(always)]
    fn for_each_tap(&self, mut visit: impl FnMut(usize, usize, usize)) {
        for n in 0..self.batch {
            for iy in 0..self.in_h {
                for ix in 0..self.in_w {
                    let x_at = ((n * self.in_h + iy) * self.in_w + ix) * self.in_c;
                    for fy in 0..self.k_h {
                        for fx in 0..self.k_w {
                            if let Some((oy, ox)) = self.target(iy, ix, fy, fx) {
                                let w_at = (fy * self.k_w + fx) * self.in_c;
                                let y_at = ((n * self.out_h + oy) * self.out_w + ox) * self.out_c;
                                visit(x_at, w_at, y_at);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Stride between output channels in the OHWI filter.
    fn filter_channel_stride(&self) -> usize {
        self.k_h * self.k_w * self.in_c
    }
}

/// Float TRANSPOSE_CONV: the sum, then `+ bias[c]`, then the clamp to `range`.
pub fn transpose_conv_f32(
    g: &TransposeConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    range: (f32, f32),
    output: &mut [f32],
) -> Result<(), KernelError> {
    g.check(
        input.len(),
        filter.len(),
        bias.map(<[f32]>::len),
        output.len(),
    )?;
    output.fill(0.0);
    accumulate_f32(g, input, filter, output);
    if g.out_c == 0 {
        return Ok(());
    }
    for pixel in output.chunks_exact_mut(g.out_c) {
        for (c, y) in pixel.iter_mut().enumerate() {
            let v = match bias {
                Some(b) => *y + b[c],
                None => *y,
            };
            *y = clamp(v, range);
        }
    }
    Ok(())
}

/// Adds every product into `output` in LiteRT's order (see the module comment).
fn accumulate_f32(g: &TransposeConvGeometry, input: &[f32], filter: &[f32], output: &mut [f32]) {
    let oc_stride = g.filter_channel_stride();
    g.for_each_tap(|x_at, w_at, y_at| {
        let x = &input[x_at..x_at + g.in_c];
        for (oc, y) in output[y_at..y_at + g.out_c].iter_mut().enumerate() {
            let w = &filter[oc * oc_stride + w_at..oc * oc_stride + w_at + g.in_c];
            let mut acc = *y;
            for (&a, &b) in x.iter().zip(w) {
                acc += a * b;
            }
            *y = acc;
        }
    });
}

/// MediaPipe's `Convolution2DTransposeBias`: the output starts from the bias and the
/// products are added to it in the same order as TRANSPOSE_CONV's (so the two differ
/// only in where the bias enters the float sum); no activation.
pub fn transpose_conv_bias_f32(
    g: &TransposeConvGeometry,
    input: &[f32],
    filter: &[f32],
    bias: &[f32],
    output: &mut [f32],
) -> Result<(), KernelError> {
    g.check(input.len(), filter.len(), Some(bias.len()), output.len())?;
    if g.out_c == 0 {
        return Ok(());
    }
    for pixel in output.chunks_exact_mut(g.out_c) {
        pixel.copy_from_slice(bias);
    }
    accumulate_f32(g, input, filter, output);
    Ok(())
}

/// How an 8-bit TRANSPOSE_CONV's int32 sums become outputs: per output channel
/// `(multiplier, shift)`, then the output zero point and the clamp.
#[derive(Clone, Debug)]
pub struct TransposeConvRequant {
    pub input_offset: i32,
    /// Added to every weight (uint8's `-zero point`; 0 for int8).
    pub filter_offset: i32,
    pub multipliers: Vec<(i32, i32)>,
    pub output_zero_point: i32,
    pub range: (i32, i32),
}

/// Quantized TRANSPOSE_CONV over any 8-bit element type (`widen` gives its integer
/// value, `narrow` stores a clamped result): the sums go into `scratch`, an int32 buffer
/// the size of the output, as LiteRT's reference does, wrapping as the compiled C++.
#[allow(clippy::too_many_arguments)]
pub fn transpose_conv_q8<T: Copy>(
    g: &TransposeConvGeometry,
    q: &TransposeConvRequant,
    input: &[T],
    filter: &[T],
    bias: Option<&[i32]>,
    scratch: &mut [i32],
    output: &mut [T],
    widen: impl Fn(T) -> i32,
    narrow: impl Fn(i32) -> T,
) -> Result<(), KernelError> {
    g.check(
        input.len(),
        filter.len(),
        bias.map(<[i32]>::len),
        output.len(),
    )?;
    if scratch.len() != output.len() || q.multipliers.len() != g.out_c {
        kbail!("TRANSPOSE_CONV scratch or multipliers do not match the output");
    }
    scratch.fill(0);
    let oc_stride = g.filter_channel_stride();
    g.for_each_tap(|x_at, w_at, y_at| {
        let x = &input[x_at..x_at + g.in_c];
        for (oc, y) in scratch[y_at..y_at + g.out_c].iter_mut().enumerate() {
            let w = &filter[oc * oc_stride + w_at..oc * oc_stride + w_at + g.in_c];
            let mut acc = *y;
            for (&a, &b) in x.iter().zip(w) {
                let product = (widen(a) + q.input_offset) * (widen(b) + q.filter_offset);
                acc = acc.wrapping_add(product);
            }
            *y = acc;
        }
    });
    if g.out_c == 0 {
        return Ok(());
    }
    for (acc_pixel, out_pixel) in scratch
        .chunks_exact(g.out_c)
        .zip(output.chunks_exact_mut(g.out_c))
    {
        for (c, (&acc, y)) in acc_pixel.iter().zip(out_pixel.iter_mut()).enumerate() {
            let acc = match bias {
                Some(b) => acc.wrapping_add(b[c]),
                None => acc,
            };
            let (m, s) = q.multipliers[c];
            let v = multiply_by_quantized_multiplier(acc, m, s).wrapping_add(q.output_zero_point);
            *y = narrow(clamp(v, q.range));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2x2 single-channel input, 3x3 filter, stride 2, 4x4 output, with the given
    /// leading padding.
    fn geometry(pad: usize) -> TransposeConvGeometry {
        TransposeConvGeometry {
            batch: 1,
            in_h: 2,
            in_w: 2,
            in_c: 1,
            out_h: 4,
            out_w: 4,
            out_c: 1,
            k_h: 3,
            k_w: 3,
            stride_h: 2,
            stride_w: 2,
            pad_h: pad,
            pad_w: pad,
        }
    }

    #[test]
    fn float_scatter_adds_overlapping_windows() {
        // Filter all ones, input [1, 2; 3, 4], no padding: input pixel (iy, ix) covers
        // output rows 2iy..2iy+2 and columns 2ix..2ix+2 (clipped to 4). Row 0 gets
        // 1,1,1+2,2; row 2 is where both input rows overlap.
        let g = geometry(0);
        let mut out = vec![0.0f32; 16];
        transpose_conv_f32(
            &g,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0; 9],
            Some(&[0.5]),
            (f32::MIN, f32::MAX),
            &mut out,
        )
        .unwrap();
        let want = [
            1.0, 1.0, 3.0, 2.0, //
            1.0, 1.0, 3.0, 2.0, //
            4.0, 4.0, 10.0, 6.0, //
            3.0, 3.0, 7.0, 4.0,
        ]
        .map(|v| v + 0.5);
        assert_eq!(out, want);
        // Leading padding 1 shifts everything up-left by one.
        let g = geometry(1);
        transpose_conv_f32(
            &g,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0; 9],
            None,
            (0.0, 6.0),
            &mut out,
        )
        .unwrap();
        let want = [
            1.0, 3.0, 2.0, 2.0, //
            4.0, 10.0, 6.0, 6.0, //
            3.0, 7.0, 4.0, 4.0, //
            3.0, 7.0, 4.0, 4.0,
        ]
        .map(|v: f32| v.min(6.0));
        assert_eq!(out, want);
    }

    #[test]
    fn int8_sums_then_bias_then_requantizes() {
        // Input [1, 2; 3, 4] with zero point -1 (offset +1 → 2, 3, 4, 5), filter all 2,
        // no padding. Output (0, 2) sums pixels 0 and 1: (2 + 3)·2 = 10; plus bias 6 =
        // 16; multiplier 2^30 with shift -1 halves twice: 16 · 0.5 · 0.5 = 4; zero
        // point 3 → 7. Output (2, 2) sums all four: (2+3+4+5)·2 = 28 + 6 = 34 → 8.5,
        // rounded half away from zero in MBQM's two steps: SRDHM(34, 2^30) = 17, then
        // RDBP(17, 1) = 9 → 12.
        let g = geometry(0);
        let q = TransposeConvRequant {
            input_offset: 1,
            filter_offset: 0,
            multipliers: vec![(1 << 30, -1)],
            output_zero_point: 3,
            range: (-128, 10),
        };
        let mut scratch = vec![0i32; 16];
        let mut out = vec![0i8; 16];
        transpose_conv_q8(
            &g,
            &q,
            &[1i8, 2, 3, 4],
            &[2i8; 9],
            Some(&[6]),
            &mut scratch,
            &mut out,
            i32::from,
            |v| v as i8,
        )
        .unwrap();
        assert_eq!(out[2], 7);
        // 12 is clamped to the range's top, 10.
        assert_eq!(out[10], 10);
        // Output (0, 0): 2·2 + 6 = 10 → 2.5 → SRDHM 5, RDBP(5, 1) = 3 → 6.
        assert_eq!(out[0], 6);
    }

    #[test]
    fn mismatched_buffers_are_refused() {
        let g = geometry(0);
        let mut out = vec![0.0f32; 15];
        assert!(transpose_conv_f32(&g, &[0.0; 4], &[0.0; 9], None, (0.0, 1.0), &mut out).is_err());
    }
}
