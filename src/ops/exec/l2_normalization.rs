//! L2_NORMALIZATION over the last dimension: float32, and int8/uint8 with the fixed
//! output parameters LiteRT requires (scale 1/128; zero point 0 for int8, 128 for
//! uint8). Loops in `kernels::reference::l2_normalization`.

use super::q8::q8_params;
use super::shape::expect_output_dtype;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{Activation, DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::reference::l2_normalization::{
    l2_normalization_f32, l2_normalization_i8, l2_normalization_u8,
};

struct L2Norm {
    depth: usize,
    input_zero_point: i32,
}

impl Kernel for L2Norm {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        match x {
            View::F32(x) => l2_normalization_f32(x, self.depth, y.f32()?),
            View::I8(x) => l2_normalization_i8(x, self.input_zero_point, self.depth, y.i8()?),
            View::U8(x) => l2_normalization_u8(x, self.input_zero_point, self.depth, y.u8()?),
            other => kbail!("L2_NORMALIZATION of {} is not supported", other.type_name()),
        }
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let Op::L2Normalization { activation } = ctx.op.op else {
        kbail!("not an L2_NORMALIZATION");
    };
    if activation != Activation::None {
        kbail!("fused activation {} is not supported", activation.name());
    }
    let input = ctx.input(0)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    let Some(&depth) = input.shape.last() else {
        kbail!("the input must have at least one dimension");
    };
    let input_zero_point = match input.dtype {
        DType::F32 => 0,
        DType::I8 | DType::U8 => {
            let (_, zp) = q8_params(input.quantization.as_ref(), input.dtype, "the input")?;
            let (scale, out_zp) = q8_params(
                ctx.output(0)?.quantization.as_ref(),
                input.dtype,
                "the output",
            )?;
            let want_zp = if input.dtype == DType::I8 { 0 } else { 128 };
            if f64::from(scale) != 1.0 / 128.0 || out_zp != want_zp {
                kbail!(
                    "the output must be quantized with scale 1/128 and zero point {want_zp}, has {scale} and {out_zp}"
                );
            }
            zp
        }
        other => kbail!("L2_NORMALIZATION of {other} tensors is not supported"),
    };
    // An empty last dimension leaves nothing to normalize; the loops need depth > 0.
    let depth = if input.num_elements() == 0 { 1 } else { depth };
    Ok(Prepared::new(
        vec![input.shape.clone()],
        L2Norm {
            depth,
            input_zero_point,
        },
    ))
}
