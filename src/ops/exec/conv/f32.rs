//! Float CONV_2D.

#![allow(unused_imports)]
use super::*;
use crate::kernels::reference::conv::conv_f32;

struct ConvF32 {
    shape: ConvShape,
    filter: PackedFilter,
    range: (f32, f32),
    fused: bool,
}

pub(super) fn prepare_conv_f32(
    ctx: &PrepareCtx<'_>,
    params: &WindowParams,
    input: &TensorInfo,
    filter: &TensorInfo,
) -> Result<Prepared, KernelError> {
    expect_f32_output(ctx, input.dtype, filter.dtype)?;
    let mut shape = conv_shape(params, input, filter)?;
    // The AVX2 micro-kernel reads its own filter layout; it takes one-group convolutions
    // whose filter rows are contiguous taps.
    shape.panels = ctx.cpu.fma() && shape.groups == 1 && shape.contiguous_taps;
    let (n, out_c) = (shape.win.batch, shape.out_c);
    check_bias(ctx, out_c)?;
    let range = activation_range_f32(params.activation)?;
    let output_shape = vec![n, shape.win.h.output, shape.win.w.output, out_c];
    let packed_len = shape.packed_len();
    let filter = match filter.constant.as_deref() {
        Some(buf) => {
            let View::F32(values) = buf.view() else {
                kbail!("filter constant is not float32");
            };
            if values.len() != filter.num_elements() {
                kbail!(
                    "filter has {} values, its shape needs {}",
                    values.len(),
                    filter.num_elements()
                );
            }
            let mut packed = vec![0.0; packed_len];
            shape.pack_filter(values, &mut packed);
            PackedFilter::Constant(packed)
        }
        None => PackedFilter::Runtime(Mutex::new(vec![0.0; packed_len])),
    };
    Ok(Prepared::new(
        vec![output_shape],
        ConvF32 {
            shape,
            filter,
            range,
            fused: ctx.cpu.fma(),
        },
    ))
}

impl Kernel for ConvF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let s = &self.shape;
        let input = input_f32(inputs, 0)?;
        let bias = optional_f32(inputs, 2)?;
        let out = output_f32(outputs)?;
        let in_len = s.win.batch * s.win.h.input * s.win.w.input * s.in_c;
        let out_len = s.win.batch * s.win.h.output * s.win.w.output * s.out_c;
        if input.len() != in_len || out.len() != out_len || bias.is_some_and(|b| b.len() != s.out_c)
        {
            kbail!("CONV_2D buffers do not match the planned shapes");
        }
        match &self.filter {
            PackedFilter::Constant(packed) => {
                conv_f32(s, input, packed, bias, out, self.range, self.fused)
            }
            PackedFilter::Runtime(scratch) => {
                let filter = input_f32(inputs, 1)?;
                if filter.len() != s.out_c * s.k_h * s.k_w * s.group_in {
                    kbail!("CONV_2D filter does not match the planned shape");
                }
                let mut packed = scratch.lock().map_err(|_| {
                    KernelError::new("CONV_2D filter scratch was poisoned by an earlier panic")
                })?;
                s.pack_filter(filter, &mut packed);
                conv_f32(s, input, &packed, bias, out, self.range, self.fused)
            }
        }
        Ok(())
    }
}
