//! 8-bit quantized DEPTHWISE_CONV_2D.

#![allow(unused_imports)]
use super::*;
use crate::kernels::reference::conv_q8::{depthwise_q8, DepthwiseQ8Params};
#[cfg(target_arch = "x86_64")]
use crate::kernels::x86::depthwise_q8::Axis;

struct DepthwiseQ8<T> {
    params: DepthwiseQ8Params,
    avx2: bool,
    /// The AVX2 loop over a zero-bordered i16 copy of the image (depth multiplier 1,
    /// lane-exact multipliers), with that copy; made at prepare.
    #[cfg(target_arch = "x86_64")]
    fast: Option<(
        crate::kernels::x86::depthwise_q8::DepthwisePlan,
        Mutex<Vec<i16>>,
    )>,
    elem: PhantomData<fn() -> T>,
}

pub(super) fn prepare_depthwise_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let shape = depthwise_shape(params, input, filter)?;
    check_bias_i32(ctx, shape.out_c)?;
    let (requant, filter_offset) =
        q8_requant::<T>(ctx, input, filter, shape.out_c, 3, params.activation)?;
    let values = q8_constant::<T>(filter, filter.num_elements(), "quantized filter")?;
    let packed: Vec<i16> = values
        .iter()
        .map(|&w| (w.widen() + filter_offset) as i16)
        .collect();
    let output_shape = shape.output_shape();
    #[cfg(target_arch = "x86_64")]
    let fast = if ctx.cpu.avx2() && shape.multiplier == 1 && requant.lanes.is_some() {
        let h = Axis::bordered(&shape.win.h, shape.k_h);
        let w = Axis::bordered(&shape.win.w, shape.k_w);
        h.zip(w)
            .and_then(|(h, w)| {
                crate::kernels::x86::depthwise_q8::DepthwisePlan::new(
                    shape.win.batch,
                    h,
                    w,
                    shape.out_c,
                    &packed,
                    &requant.multipliers,
                    requant.output_zero_point,
                    requant.range,
                )
            })
            .map(|plan| {
                let scratch = vec![0i16; plan.scratch_len()];
                (plan, Mutex::new(scratch))
            })
    } else {
        None
    };
    Ok(Prepared::new(
        vec![output_shape],
        DepthwiseQ8::<T> {
            params: DepthwiseQ8Params {
                shape,
                filter: packed,
                requant,
            },
            avx2: ctx.cpu.avx2(),
            #[cfg(target_arch = "x86_64")]
            fast,
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for DepthwiseQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.params.shape;
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        if input.len() != in_len
            || out.len() != s.output_shape().iter().product::<usize>()
            || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("DEPTHWISE_CONV_2D buffers do not match the planned shapes");
        }
        #[cfg(target_arch = "x86_64")]
        if let Some((plan, scratch)) = &self.fast {
            let mut scratch = scratch.lock().map_err(|_| {
                KernelError::new("DEPTHWISE_CONV_2D scratch was poisoned by an earlier panic")
            })?;
            let offset = self.params.requant.input_offset;
            // SAFETY: `fast` is only made when the CPU reported AVX2 at prepare.
            if unsafe {
                crate::kernels::x86::depthwise_q8::depthwise_q8(
                    plan,
                    input,
                    offset,
                    bias,
                    &mut scratch,
                    out,
                )
            } {
                return Ok(());
            }
        }
        depthwise_q8(&self.params, input, bias, out, self.avx2);
        Ok(())
    }
}
