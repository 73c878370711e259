//! 8-bit quantized CONV_2D.
#![allow(unused_imports)]
use super::*;
use crate::kernels::reference::conv_q8::{conv_q8, ConvQ8Params};

struct ConvQ8<T> {
    params: ConvQ8Params,
    avx2: bool,
    /// The kernel's i16 scratch (the widened image of the AVX2 interior path), made at
    /// prepare so that a run does not allocate; locked because `run` takes `&self`,
    /// never contended since every thread of a split batch has its own plan.
    scratch: Mutex<Vec<i16>>,
    elem: PhantomData<fn() -> T>,
}

pub(super) fn prepare_conv_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let shape = conv_shape(params, input, filter)?;
    check_bias_i32(ctx, shape.out_c)?;
    let (requant, filter_offset) =
        q8_requant::<T>(ctx, input, filter, shape.out_c, 0, params.activation)?;
    let values = q8_constant::<T>(filter, filter.num_elements(), "quantized filter")?;
    let mut packed = vec![0i16; shape.packed_len()];
    // |w + offset| <= 255 fits i16.
    let widen = |w: T| (w.widen() + filter_offset) as i16;
    shape.pack_filter_with(values, &mut packed, widen);
    let avx2 = ctx.cpu.avx2();
    #[cfg(target_arch = "x86_64")]
    let madd = (avx2 && requant.lanes.is_some()).then(|| {
        let filter: Vec<i16> = values.iter().map(|&w| widen(w)).collect();
        let wide = (ctx.cpu.avx512(), ctx.cpu.vnni());
        crate::kernels::x86::conv_q8::MaddPlan::new(&shape, &filter, requant.input_offset, wide)
    });
    let output_shape = vec![
        shape.win.batch,
        shape.win.h.output,
        shape.win.w.output,
        shape.out_c,
    ];
    let params = ConvQ8Params {
        shape,
        filter: packed,
        requant,
        #[cfg(target_arch = "x86_64")]
        madd,
    };
    let scratch = Mutex::new(vec![0i16; params.scratch_len()]);
    Ok(Prepared::new(
        vec![output_shape],
        ConvQ8::<T> {
            params,
            avx2,
            scratch,
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for ConvQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.params.shape;
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len || out.len() != out_len || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("CONV_2D buffers do not match the planned shapes");
        }
        let mut scratch = self
            .scratch
            .lock()
            .map_err(|_| KernelError::new("CONV_2D scratch was poisoned by an earlier panic"))?;
        conv_q8(&self.params, input, bias, out, self.avx2, &mut scratch);
        Ok(())
    }
}
