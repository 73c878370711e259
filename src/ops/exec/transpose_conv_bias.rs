//! MediaPipe's `Convolution2DTransposeBias` (float32): prepare derives the output size
//! from the padding as MediaPipe's kernel does; the loop is
//! `kernels::reference::transpose_conv::transpose_conv_bias_f32`.

use super::shape::checked_elements;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op, Padding};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::positive;
use crate::kernels::reference::transpose_conv::{transpose_conv_bias_f32, TransposeConvGeometry};

struct TransposeConvBiasF32 {
    geometry: TransposeConvGeometry,
}

impl Kernel for TransposeConvBiasF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(input), Some(filter), Some(bias), Some(out)) = (
            inputs.first(),
            inputs.get(1),
            inputs.get(2),
            outputs.first_mut(),
        ) else {
            kbail!("missing input or output");
        };
        transpose_conv_bias_f32(
            &self.geometry,
            input.f32()?,
            filter.f32()?,
            bias.f32()?,
            out.f32()?,
        )
    }
}

/// One spatial dimension: (output size, leading padding). SAME pads by what the last
/// stride leaves of the filter, split with the smaller half first.
fn output_dim(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
) -> Result<(usize, usize), KernelError> {
    let total_pad = match padding {
        Padding::Same => filter.saturating_sub((input - 1) % stride + 1),
        Padding::Valid => 0,
    };
    let out = (input - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(filter))
        .map(|v| v - total_pad)
        .ok_or_else(|| KernelError::new("the output size overflows"))?;
    Ok((out, total_pad / 2))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(3, 3, 1)?;
    let Op::TransposeConvBias {
        padding,
        stride_w,
        stride_h,
    } = ctx.op.op
    else {
        kbail!("not a Convolution2DTransposeBias");
    };
    let input = ctx.input(0)?;
    let filter = ctx.input(1)?;
    let bias = ctx.input(2)?;
    for (what, t) in [("input", input), ("filter", filter), ("bias", bias)] {
        if t.dtype != DType::F32 {
            kbail!(
                "the {what} must be float32 (MediaPipe's kernel is float only), got {}",
                t.dtype
            );
        }
    }
    if ctx.output(0)?.dtype != DType::F32 {
        kbail!("the output must be float32, got {}", ctx.output(0)?.dtype);
    }
    let ([n, in_h, in_w, in_c], [out_c, k_h, k_w]) =
        super::transpose_conv::input_and_filter_dims(input, filter)?;
    if bias.shape != [out_c] {
        kbail!(
            "the bias has shape {:?}, the filter's {out_c} output channels need [{out_c}]",
            bias.shape
        );
    }
    let stride_h = positive(stride_h, "stride_h")?;
    let stride_w = positive(stride_w, "stride_w")?;
    let (out_h, pad_h) = output_dim(padding, in_h, k_h, stride_h)?;
    let (out_w, pad_w) = output_dim(padding, in_w, k_w, stride_w)?;
    let output_shape = vec![n, out_h, out_w, out_c];
    checked_elements(&output_shape)?;
    let geometry = TransposeConvGeometry {
        batch: n,
        in_h,
        in_w,
        in_c,
        out_h,
        out_w,
        out_c,
        k_h,
        k_w,
        stride_h,
        stride_w,
        pad_h,
        pad_w,
    };
    Ok(Prepared::new(
        vec![output_shape],
        TransposeConvBiasF32 { geometry },
    ))
}

#[cfg(test)]
mod tests {
    use super::output_dim;
    use crate::ir::Padding;
    use crate::kernels::reference::transpose_conv::{
        transpose_conv_bias_f32, TransposeConvGeometry,
    };

    /// Stride 2, VALID, a 2x2 filter: every input pixel becomes its own 2x2 block of
    /// x·w plus the bias, worked out by hand.
    #[test]
    fn each_input_pixel_paints_one_block() {
        let g = TransposeConvGeometry {
            batch: 1,
            in_h: 2,
            in_w: 2,
            in_c: 1,
            out_h: 4,
            out_w: 4,
            out_c: 1,
            k_h: 2,
            k_w: 2,
            stride_h: 2,
            stride_w: 2,
            pad_h: 0,
            pad_w: 0,
        };
        let mut out = [0.0f32; 16];
        transpose_conv_bias_f32(
            &g,
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 10.0, 100.0, 1000.0],
            &[0.5],
            &mut out,
        )
        .unwrap();
        #[rustfmt::skip]
        let want = [
            1.5,   10.5,   2.5,   20.5,
            100.5, 1000.5, 200.5, 2000.5,
            3.5,   30.5,   4.5,   40.5,
            300.5, 3000.5, 400.5, 4000.5,
        ];
        assert_eq!(out, want);
        // Wrong buffer sizes are an error, not a panic.
        assert!(transpose_conv_bias_f32(&g, &[1.0], &[1.0; 4], &[0.5], &mut out).is_err());
    }

    #[test]
    fn output_sizes_follow_conv2d_transpose() {
        // SAME doubles with stride 2 whatever the filter; VALID adds the filter overhang.
        assert_eq!(output_dim(Padding::Same, 4, 4, 2).unwrap(), (8, 1));
        assert_eq!(output_dim(Padding::Same, 4, 3, 2).unwrap(), (8, 0));
        assert_eq!(output_dim(Padding::Same, 5, 2, 1).unwrap(), (5, 0));
        assert_eq!(output_dim(Padding::Valid, 4, 3, 2).unwrap(), (9, 0));
        assert!(output_dim(Padding::Valid, usize::MAX / 2, 3, 4).is_err());
    }
}
