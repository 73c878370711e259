//! LOG_SOFTMAX: float32 over the last dimension (`kernels::reference::log_softmax`). The
//! int8 kernel (fixed-point log, output scale 16/256 and zero point 127) is not written
//! yet and is refused with a message that says so.

use super::shape::{expect_output_dtype, f32_in_out};
use super::{Kernel, PrepareCtx, Prepared};
use crate::interp::value::{View, ViewMut};
use crate::interp::KernelError;
use crate::ir::DType;
use crate::kbail;
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

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let Some(&depth) = input.shape.last() else {
        kbail!("LOG_SOFTMAX needs an input of rank at least 1");
    };
    if input.dtype != DType::F32 {
        kbail!(
            "{} LOG_SOFTMAX is not supported yet (float32 only)",
            input.dtype
        );
    }
    expect_output_dtype(ctx, 0, DType::F32)?;
    Ok(Prepared::new(
        vec![input.shape.clone()],
        FloatLogSoftmax {
            depth,
            len: input.num_elements(),
        },
    ))
}
