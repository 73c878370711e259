//! MediaPipe's `MaxPoolingWithArgmax2D` and `MaxUnpooling2D` (float32): prepare sizes
//! them as MediaPipe's kernels do; the loops are `kernels::reference::pool_argmax`.

use super::shape::{checked_elements, nhwc};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{activation_range_f32, positive, window_dim};
use crate::kernels::reference::pool_argmax::{
    max_pool_with_argmax_f32, max_unpool_f32, ArgmaxPoolGeometry,
};

struct MaxPoolArgmax {
    geometry: ArgmaxPoolGeometry,
    range: (f32, f32),
}

impl Kernel for MaxPoolArgmax {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let Some(input) = inputs.first() else {
            kbail!("missing input");
        };
        let [values, indices] = outputs else {
            kbail!("MaxPoolingWithArgmax2D needs 2 outputs");
        };
        max_pool_with_argmax_f32(
            &self.geometry,
            input.f32()?,
            self.range,
            values.f32()?,
            indices.f32()?,
        )
    }
}

struct MaxUnpool {
    geometry: ArgmaxPoolGeometry,
}

impl Kernel for MaxUnpool {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(values), Some(indices), Some(out)) =
            (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        max_unpool_f32(&self.geometry, values.f32()?, indices.f32()?, out.f32()?)
    }
}

fn expect_f32(what: &str, dtype: DType) -> Result<(), KernelError> {
    if dtype != DType::F32 {
        kbail!("the {what} must be float32 (MediaPipe's kernel is float only), got {dtype}");
    }
    Ok(())
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    match &ctx.op.op {
        Op::MaxPoolingWithArgmax2d(o) => {
            ctx.expect_arity(1, 1, 2)?;
            let input = ctx.input(0)?;
            expect_f32("input", input.dtype)?;
            expect_f32("output", ctx.output(0)?.dtype)?;
            expect_f32("indices output", ctx.output(1)?.dtype)?;
            let [n, in_h, in_w, c] = nhwc(input, "input")?;
            let (filter_h, filter_w) = (
                positive(o.filter_h, "filter_h")?,
                positive(o.filter_w, "filter_w")?,
            );
            let (stride_h, stride_w) = (
                positive(o.stride_h, "stride_h")?,
                positive(o.stride_w, "stride_w")?,
            );
            let (out_h, pad_h) = window_dim(o.padding, in_h, filter_h, stride_h, 1)?;
            let (out_w, pad_w) = window_dim(o.padding, in_w, filter_w, stride_w, 1)?;
            let shape = vec![n, out_h, out_w, c];
            checked_elements(&shape)?;
            let geometry = ArgmaxPoolGeometry {
                batch: n,
                channels: c,
                large_h: in_h,
                large_w: in_w,
                small_h: out_h,
                small_w: out_w,
                filter_h,
                filter_w,
                stride_h,
                stride_w,
                pad_h,
                pad_w,
            };
            Ok(Prepared::new(
                vec![shape.clone(), shape],
                MaxPoolArgmax {
                    geometry,
                    range: activation_range_f32(o.activation)?,
                },
            ))
        }
        Op::MaxUnpooling2d(o) => {
            ctx.expect_arity(2, 2, 1)?;
            let values = ctx.input(0)?;
            let indices = ctx.input(1)?;
            expect_f32("input", values.dtype)?;
            expect_f32("indices", indices.dtype)?;
            expect_f32("output", ctx.output(0)?.dtype)?;
            if indices.shape != values.shape {
                kbail!(
                    "the indices have shape {:?}, the values {:?}",
                    indices.shape,
                    values.shape
                );
            }
            let [n, in_h, in_w, c] = nhwc(values, "input")?;
            let (filter_h, filter_w) = (
                positive(o.filter_h, "filter_h")?,
                positive(o.filter_w, "filter_w")?,
            );
            let (stride_h, stride_w) = (
                positive(o.stride_h, "stride_h")?,
                positive(o.stride_w, "stride_w")?,
            );
            // MediaPipe's output is `filter` times the input, whatever the stride, and its
            // padding is TFLite's ComputePadding with the roles of input and output
            // swapped; the padding option is not read.
            let (out_h, out_w) = match (in_h.checked_mul(filter_h), in_w.checked_mul(filter_w)) {
                (Some(h), Some(w)) => (h, w),
                _ => kbail!("the output size overflows"),
            };
            let shape = vec![n, out_h, out_w, c];
            checked_elements(&shape)?;
            let pad = |small: usize, large: usize, filter: usize, stride: usize| -> usize {
                let need = (small.saturating_sub(1) * stride + filter) as i64 - large as i64;
                usize::try_from(need / 2).unwrap_or(0)
            };
            let geometry = ArgmaxPoolGeometry {
                batch: n,
                channels: c,
                large_h: out_h,
                large_w: out_w,
                small_h: in_h,
                small_w: in_w,
                filter_h,
                filter_w,
                stride_h,
                stride_w,
                pad_h: pad(in_h, out_h, filter_h, stride_h),
                pad_w: pad(in_w, out_w, filter_w, stride_w),
            };
            Ok(Prepared::new(vec![shape], MaxUnpool { geometry }))
        }
        other => kbail!("the argmax pooling kernel cannot run {}", other.name()),
    }
}
