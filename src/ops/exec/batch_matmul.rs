//! BATCH_MATMUL: float32, and int8 (per-tensor operands) as LiteRT's reference kernel.
//! Ranks 2 to 5; the batch dimensions broadcast (numpy rules), the output has the rank
//! of the larger operand. Loops in `kernels::reference::batch_matmul`.

use super::q8::q8_params;
use super::shape::checked_elements;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{broadcast_shapes, broadcast_strides};
use crate::kernels::fixed_point::{effective_scale_per_tensor, quantize_multiplier};
use crate::kernels::reference::batch_matmul::{
    batch_matmul_f32, batch_matmul_i8, MatmulGeometry, MatmulRequant,
};

struct BatchMatmul {
    geometry: MatmulGeometry,
    /// Int8 requantization; `None` for float.
    requant: Option<MatmulRequant>,
}

impl Kernel for BatchMatmul {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(y)) = (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        match &self.requant {
            None => batch_matmul_f32(&self.geometry, a.f32()?, b.f32()?, y.f32()?),
            Some(q) => batch_matmul_i8(&self.geometry, q, a.i8()?, b.i8()?, y.i8()?),
        }
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let Op::BatchMatmul { adj_x, adj_y, .. } = ctx.op.op else {
        kbail!("not a BATCH_MATMUL");
    };
    let lhs = ctx.input(0)?;
    let rhs = ctx.input(1)?;
    for (t, what) in [(lhs, "lhs"), (rhs, "rhs")] {
        if !(2..=5).contains(&t.shape.len()) {
            kbail!("{what} must have rank 2 to 5, has shape {:?}", t.shape);
        }
    }
    let (lr, rr) = (lhs.shape.len(), rhs.shape.len());
    let (a0, a1) = (lhs.shape[lr - 2], lhs.shape[lr - 1]);
    let (b0, b1) = (rhs.shape[rr - 2], rhs.shape[rr - 1]);
    let (rows, depth) = if adj_x { (a1, a0) } else { (a0, a1) };
    let (rhs_depth, cols) = if adj_y { (b1, b0) } else { (b0, b1) };
    if depth != rhs_depth {
        kbail!(
            "lhs {:?} (adj_x {adj_x}) and rhs {:?} (adj_y {adj_y}) have different inner sizes {depth} and {rhs_depth}",
            lhs.shape,
            rhs.shape
        );
    }
    let lhs_batch = &lhs.shape[..lr - 2];
    let rhs_batch = &rhs.shape[..rr - 2];
    let batch = broadcast_shapes(lhs_batch, rhs_batch)?;
    let mut out_shape = batch.clone();
    out_shape.extend([rows, cols]);
    checked_elements(&out_shape)?;
    // Offsets in matrices: stride 1 per matrix of each operand, 0 on broadcast dims.
    let a_strides = broadcast_strides(lhs_batch, &batch);
    let b_strides = broadcast_strides(rhs_batch, &batch);
    let count: usize = batch.iter().product();
    let mut batches = Vec::with_capacity(count);
    let mut index = vec![0usize; batch.len()];
    for _ in 0..count {
        let a: usize = index.iter().zip(&a_strides).map(|(i, s)| i * s).sum();
        let b: usize = index.iter().zip(&b_strides).map(|(i, s)| i * s).sum();
        batches.push((a * rows * depth, b * depth * cols));
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < batch[d] {
                break;
            }
            index[d] = 0;
        }
    }
    let geometry = MatmulGeometry {
        batches,
        rows,
        cols,
        depth,
        adj_x,
        adj_y,
        lhs_len: lhs.num_elements(),
        rhs_len: rhs.num_elements(),
    };
    let out_dtype = ctx.output(0)?.dtype;
    let requant = match (lhs.dtype, rhs.dtype, out_dtype) {
        (DType::F32, DType::F32, DType::F32) => None,
        (DType::I8, DType::I8, DType::I8) => {
            let (a_s, a_zp) = q8_params(lhs.quantization.as_ref(), DType::I8, "lhs")?;
            let (b_s, b_zp) = q8_params(rhs.quantization.as_ref(), DType::I8, "rhs")?;
            let (o_s, o_zp) = q8_params(
                ctx.output(0)?.quantization.as_ref(),
                DType::I8,
                "the output",
            )?;
            let (multiplier, shift) =
                quantize_multiplier(effective_scale_per_tensor(a_s, b_s, o_s))?;
            Some(MatmulRequant {
                lhs_zero_point: a_zp,
                rhs_zero_point: b_zp,
                multiplier,
                shift,
                output_zero_point: o_zp,
            })
        }
        (a, b, o) => kbail!("BATCH_MATMUL of {a} and {b} into {o} is not supported"),
    };
    Ok(Prepared::new(
        vec![out_shape],
        BatchMatmul { geometry, requant },
    ))
}
