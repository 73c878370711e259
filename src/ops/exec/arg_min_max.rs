//! ARG_MAX and ARG_MIN over a constant axis: float32, int8, uint8, int16, int32, int64
//! and bool inputs, int32 or int64 indices (the loop is in
//! `kernels::reference::arg_min_max`). Quantized inputs compare raw values, which orders
//! them as their real values since scales are positive.

use super::shape::{check_len, const_ints, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::reference::arg_min_max::{arg_min_max, ArgCompare};

struct ArgMinMax {
    max: bool,
    /// (outer, axis, inner) sizes.
    split: (usize, usize, usize),
    len_out: usize,
}

impl ArgMinMax {
    fn typed<T: Elem + ArgCompare>(
        &self,
        x: &View<'_>,
        y: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let x = T::slice(x)?;
        match y {
            ViewMut::I32(out) => {
                check_len("output", out.len(), self.len_out)?;
                // prepare checked the axis length fits in i32.
                arg_min_max(x, self.split, self.max, out, |i| i as i32)
            }
            ViewMut::I64(out) => {
                check_len("output", out.len(), self.len_out)?;
                arg_min_max(x, self.split, self.max, out, |i| i as i64)
            }
            other => kbail!(
                "index output must be int32 or int64, got {}",
                other.type_name()
            ),
        }
    }
}

impl Kernel for ArgMinMax {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        match x {
            View::F32(_) => self.typed::<f32>(x, y),
            View::I8(_) => self.typed::<i8>(x, y),
            View::U8(_) => self.typed::<u8>(x, y),
            View::I16(_) => self.typed::<i16>(x, y),
            View::I32(_) => self.typed::<i32>(x, y),
            View::I64(_) => self.typed::<i64>(x, y),
            View::Bool(_) => self.typed::<bool>(x, y),
            other => kbail!("ARG_MIN/ARG_MAX of {} is not supported", other.type_name()),
        }
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let (max, output_type) = match ctx.op.op {
        Op::ArgMax { output_type } => (true, output_type),
        Op::ArgMin { output_type } => (false, output_type),
        _ => kbail!("not an ARG_MAX or ARG_MIN"),
    };
    if !matches!(output_type, DType::I32 | DType::I64) {
        kbail!("the index type must be int32 or int64, the options say {output_type}");
    }
    expect_output_dtype(ctx, 0, output_type)?;
    let input = ctx.input(0)?;
    if !matches!(
        input.dtype,
        DType::F32 | DType::I8 | DType::U8 | DType::I16 | DType::I32 | DType::I64 | DType::Bool
    ) {
        kbail!(
            "{} of {} tensors is not supported",
            ctx.op.op.name(),
            input.dtype
        );
    }
    let axis_info = ctx.input(1)?;
    if !matches!(axis_info.dtype, DType::I32 | DType::I64) {
        kbail!("the axis must be int32 or int64, got {}", axis_info.dtype);
    }
    let &[axis] = const_ints(axis_info, "the axis")?.as_slice() else {
        kbail!(
            "the axis must hold one value, has shape {:?}",
            axis_info.shape
        );
    };
    let rank = input.shape.len();
    if rank == 0 {
        kbail!("the input must have at least one dimension");
    }
    let axis = crate::kernels::common::axis(axis, rank, "axis")?;
    let axis_len = input.shape[axis];
    if axis_len == 0 {
        kbail!("cannot take {} over an empty axis", ctx.op.op.name());
    }
    if output_type == DType::I32 && i32::try_from(axis_len - 1).is_err() {
        kbail!("axis of {axis_len} elements overflows int32 indices");
    }
    let outer: usize = input.shape[..axis].iter().product();
    let inner: usize = input.shape[axis + 1..].iter().product();
    let out_shape: Vec<usize> = input
        .shape
        .iter()
        .enumerate()
        .filter(|&(d, _)| d != axis)
        .map(|(_, &n)| n)
        .collect();
    Ok(Prepared::new(
        vec![out_shape],
        ArgMinMax {
            max,
            split: (outer, axis_len, inner),
            len_out: outer * inner,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn run(op: Op, x: Value, axis: i32, out: DType) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", x.dtype(), x.shape.clone()),
                Tensor::constant_i32("axis", vec![1], &[axis]),
                Tensor::activation("y", out, vec![]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(op, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp.run(&[x]).map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn arg_max_and_min_over_last_and_first_axes() {
        // [[1, 9, 9], [4, -2, 0]]: row maxima at 1 (first 9) and 0; row minima 0, 1.
        let x = Value::new(vec![2, 3], TensorBuf::F32(vec![1., 9., 9., 4., -2., 0.]));
        let y = run(
            Op::ArgMax {
                output_type: DType::I32,
            },
            x.clone(),
            -1,
            DType::I32,
        )
        .unwrap();
        assert_eq!((y.shape, y.data), (vec![2], TensorBuf::I32(vec![1, 0])));
        let y = run(
            Op::ArgMin {
                output_type: DType::I64,
            },
            x.clone(),
            1,
            DType::I64,
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::I64(vec![0, 1]));
        // Over axis 0, int8: columns (1, 4), (9, -2), (9, 0) → max rows 1, 0, 0.
        let q = Value::new(vec![2, 3], TensorBuf::I8(vec![1, 9, 9, 4, -2, 0]));
        let y = run(
            Op::ArgMax {
                output_type: DType::I32,
            },
            q,
            0,
            DType::I32,
        )
        .unwrap();
        assert_eq!((y.shape, y.data), (vec![3], TensorBuf::I32(vec![1, 0, 0])));
    }

    #[test]
    fn bad_axis_and_index_type_are_refused() {
        let x = Value::new(vec![2, 3], TensorBuf::F32(vec![0.; 6]));
        let max = |t| Op::ArgMax { output_type: t };
        assert!(run(max(DType::I32), x.clone(), 2, DType::I32).is_err());
        assert!(run(max(DType::F32), x.clone(), 0, DType::F32).is_err());
        // Options say int64, the model declares int32.
        assert!(run(max(DType::I64), x, 0, DType::I32).is_err());
    }
}
