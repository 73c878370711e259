//! LOG_SOFTMAX over the last dimension: float32 (`kernels::reference::log_softmax`) and
//! int8 (`LogSoftmaxParams`, TFLite's reference integer kernel: a fixed-point log of the
//! sum of exponentials, output scale 16/256 and zero point 127).

use super::shape::{expect_output_dtype, f32_in_out, for_each_row};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::DType;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::{
    LogSoftmaxParams, LOG_SOFTMAX_OUTPUT_SCALE, LOG_SOFTMAX_OUTPUT_ZERO_POINT,
};
use crate::kernels::reference::log_softmax::log_softmax_f32;

struct FloatLogSoftmax {
    depth: usize,
    len: usize,
}

impl Kernel for FloatLogSoftmax {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (x, y) = f32_in_out(inputs, outputs, self.len)?;
        log_softmax_f32(x, y, self.depth);
        Ok(())
    }
}

struct Int8LogSoftmax {
    params: LogSoftmaxParams,
    depth: usize,
    len: usize,
}

impl Kernel for Int8LogSoftmax {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        for_each_row(x.i8()?, y.i8()?, self.depth, self.len, |xr, yr| {
            self.params.log_softmax_row_int8(xr, yr)
        })
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let Some(&depth) = input.shape.last() else {
        kbail!("LOG_SOFTMAX needs an input of rank at least 1");
    };
    let len = input.num_elements();
    match input.dtype {
        DType::F32 => {
            expect_output_dtype(ctx, 0, DType::F32)?;
            Ok(Prepared::new(
                vec![input.shape.clone()],
                FloatLogSoftmax { depth, len },
            ))
        }
        DType::I8 => {
            expect_output_dtype(ctx, 0, DType::I8)?;
            let Some((input_scale, _)) = input.scale_zero_point() else {
                kbail!("int8 LOG_SOFTMAX input has no quantization parameters");
            };
            // TFLite's prepare demands exactly this output encoding of [-16, 0].
            match ctx.output(0)?.scale_zero_point() {
                Some((scale, zero_point))
                    if scale == LOG_SOFTMAX_OUTPUT_SCALE
                        && zero_point == i64::from(LOG_SOFTMAX_OUTPUT_ZERO_POINT) => {}
                other => kbail!(
                    "int8 LOG_SOFTMAX output must have scale 16/256 and zero point 127, got {other:?}"
                ),
            }
            Ok(Prepared::new(
                vec![input.shape.clone()],
                Int8LogSoftmax {
                    params: LogSoftmaxParams::new(input_scale)?,
                    depth,
                    len,
                },
            ))
        }
        other => kbail!("{other} LOG_SOFTMAX is not supported (float32 and int8 are)"),
    }
}
