//! Float DEPTHWISE_CONV_2D.

#![allow(unused_imports)]
use super::*;
use crate::kernels::reference::conv::depthwise_f32;

struct DepthwiseF32 {
    shape: DepthwiseShape,
    range: (f32, f32),
    fused: bool,
}

pub(super) fn prepare_depthwise_f32(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    expect_f32_output(ctx, input.dtype, filter.dtype)?;
    let shape = depthwise_shape(params, input, filter)?;
    check_bias(ctx, shape.out_c)?;
    let range = activation_range_f32(params.activation)?;
    let output_shape = shape.output_shape();
    Ok(Prepared::new(
        vec![output_shape],
        DepthwiseF32 {
            shape,
            range,
            fused: ctx.cpu.fma(),
        },
    ))
}

impl Kernel for DepthwiseF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = input_f32(inputs, 0)?;
        let filter = input_f32(inputs, 1)?;
        let bias = optional_f32(inputs, 2)?;
        let out = output_f32(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len
            || out.len() != out_len
            || filter.len() != s.k_h * s.k_w * s.out_c
            || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("DEPTHWISE_CONV_2D buffers do not match the planned shapes");
        }
        if out.is_empty() {
            return Ok(());
        }
        depthwise_f32(s, input, filter, bias, out, self.range, self.fused);
        Ok(())
    }
}
