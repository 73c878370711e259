//! GATHER (`gather.cc` with `reference_ops::Gather`): any element type, int16/int32/int64
//! indices. The indices are data, so each is checked when the kernel runs and an
//! out-of-range one is an error rather than a read outside the params.

use super::shape::{by_dtype, check_len, checked_elements, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::axis as normalize_axis;
use crate::kernels::reference::gather::{gather, GatherGeometry};

struct GatherKernel {
    dtype: DType,
    geometry: GatherGeometry,
    params_len: usize,
    indices_len: usize,
    out_len: usize,
}

impl GatherKernel {
    fn run_typed<T: Elem>(
        &self,
        params: &View<'_>,
        indices: &View<'_>,
        out: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let params = T::slice(params)?;
        check_len("params", params.len(), self.params_len)?;
        check_len("indices", indices.len(), self.indices_len)?;
        let out = T::slice_mut(out)?;
        check_len("output", out.len(), self.out_len)?;
        match *indices {
            View::I32(ix) => gather(
                &self.geometry,
                params,
                |k| ix.get(k).map(|&v| i64::from(v)),
                out,
            ),
            View::I64(ix) => gather(&self.geometry, params, |k| ix.get(k).copied(), out),
            View::I16(ix) => gather(
                &self.geometry,
                params,
                |k| ix.get(k).map(|&v| i64::from(v)),
                out,
            ),
            _ => kbail!("the indices must be int16, int32 or int64"),
        }
    }
}

impl Kernel for GatherKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(params), Some(indices), Some(out)) =
            (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        by_dtype!(self.dtype, T => self.run_typed::<T>(params, indices, out))
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::Gather { axis, batch_dims } = ctx.op.op else {
        kbail!("{} is not GATHER", ctx.op.op.name());
    };
    ctx.expect_arity(2, 2, 1)?;
    let params = ctx.input(0)?;
    let indices = ctx.input(1)?;
    expect_output_dtype(ctx, 0, params.dtype)?;
    if !matches!(indices.dtype, DType::I16 | DType::I32 | DType::I64) {
        kbail!(
            "the indices must be int16, int32 or int64, got {}",
            indices.dtype
        );
    }
    let p_rank = params.shape.len();
    let i_rank = indices.shape.len();
    let axis = normalize_axis(i64::from(axis), p_rank, "axis")?;
    if p_rank == 0 {
        kbail!("cannot gather from a scalar");
    }
    let batch_dims = if batch_dims < 0 {
        i64::from(batch_dims) + i_rank as i64
    } else {
        i64::from(batch_dims)
    };
    if batch_dims < 0 || batch_dims as usize > i_rank || batch_dims as usize > axis {
        kbail!("batch_dims {batch_dims} must lie in [0, min(axis {axis}, indices rank {i_rank})]");
    }
    let bd = batch_dims as usize;
    if params.shape[..bd] != indices.shape[..bd] {
        kbail!(
            "the first {bd} dims of params {:?} and indices {:?} must match",
            params.shape,
            indices.shape
        );
    }
    let mut out_shape = params.shape[..axis].to_vec();
    out_shape.extend_from_slice(&indices.shape[bd..]);
    out_shape.extend_from_slice(&params.shape[axis + 1..]);
    let out_len = checked_elements(&out_shape)?;
    let product = |dims: &[usize]| dims.iter().product::<usize>();
    let geometry = GatherGeometry {
        batches: product(&params.shape[..bd]),
        outer: product(&params.shape[bd..axis]),
        axis: params.shape[axis],
        inner: product(&params.shape[axis + 1..]),
        coords: product(&indices.shape[bd..]),
    };
    Ok(Prepared::new(
        vec![out_shape],
        GatherKernel {
            dtype: params.dtype,
            geometry,
            params_len: params.num_elements(),
            indices_len: indices.num_elements(),
            out_len,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn gather(
        shape: Vec<usize>,
        x: TensorBuf,
        indices: (Vec<usize>, TensorBuf),
        axis: i32,
    ) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", x.dtype(), shape.clone()),
                Tensor::activation("i", indices.1.dtype(), indices.0.clone()),
                Tensor::activation("y", x.dtype(), vec![]),
            ],
            inputs: vec![0, 1],
            outputs: vec![2],
            operators: vec![Operator::new(
                Op::Gather {
                    axis,
                    batch_dims: 0,
                },
                vec![0, 1],
                vec![2],
            )],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, x), Value::new(indices.0, indices.1)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn columns_of_a_matrix_with_2d_indices() {
        // x [2, 3] = [[1, 2, 3], [4, 5, 6]]; axis 1 at [[2, 0]] gives shape [2, 1, 2].
        let y = gather(
            vec![2, 3],
            TensorBuf::F32(vec![1., 2., 3., 4., 5., 6.]),
            (vec![1, 2], TensorBuf::I32(vec![2, 0])),
            -1,
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 1, 2]);
        assert_eq!(y.data, TensorBuf::F32(vec![3., 1., 6., 4.]));
    }

    #[test]
    fn out_of_range_indices_are_errors() {
        let x = TensorBuf::I8(vec![1, 2, 3]);
        for bad in [3i64, -1, i64::MAX] {
            let err =
                gather(vec![3], x.clone(), (vec![1], TensorBuf::I64(vec![bad])), 0).unwrap_err();
            assert!(err.contains("out of range"), "{err}");
        }
        assert!(gather(vec![3], x, (vec![1], TensorBuf::F32(vec![0.0])), 0).is_err());
        let _ = DType::I8;
    }
}
