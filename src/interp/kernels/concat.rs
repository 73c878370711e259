//! CONCATENATION: joins inputs along one axis. Pure data movement for every element
//! type; a fused activation is applied on float outputs.

use super::common::activation_range_f32;
use super::shape::{by_dtype, check_len, checked_elements, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::interp::value::{View, ViewMut};
use crate::interp::KernelError;
use crate::ir::{Activation, DType, Op};
use crate::kbail;

struct ConcatKernel {
    dtype: DType,
    outer: usize,
    /// Elements each input contributes per outer index.
    blocks: Vec<usize>,
    /// Float clamp of the fused activation, if any.
    clamp: Option<(f32, f32)>,
}

impl ConcatKernel {
    fn run_typed<T: Elem>(
        &self,
        inputs: &[View<'_>],
        out: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let out = T::slice_mut(out)?;
        let row: usize = self.blocks.iter().sum();
        check_len("output", out.len(), self.outer * row)?;
        if inputs.len() != self.blocks.len() {
            kbail!(
                "expected {} inputs, got {}",
                self.blocks.len(),
                inputs.len()
            );
        }
        let mut at = 0;
        for (src, &block) in inputs.iter().zip(&self.blocks) {
            let src = T::slice(src)?;
            check_len("input", src.len(), self.outer * block)?;
            for o in 0..self.outer {
                let dst = o * row + at;
                out[dst..dst + block].copy_from_slice(&src[o * block..(o + 1) * block]);
            }
            at += block;
        }
        Ok(())
    }
}

impl Kernel for ConcatKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let Some(out) = outputs.first_mut() else {
            kbail!("missing output");
        };
        by_dtype!(self.dtype, T => self.run_typed::<T>(inputs, out))?;
        if let (Some((lo, hi)), ViewMut::F32(values)) = (self.clamp, out) {
            for v in values.iter_mut() {
                // NaN passes through, as std::min/std::max do in TFLite.
                if *v < lo {
                    *v = lo;
                } else if *v > hi {
                    *v = hi;
                }
            }
        }
        Ok(())
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::Concatenation { axis, activation } = ctx.op.op else {
        kbail!("not a concatenation");
    };
    let n = ctx.inputs.len();
    ctx.expect_arity(1, n.max(1), 1)?;
    let first = ctx.input(0)?;
    let dtype = first.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    let rank = first.shape.len();
    if rank == 0 {
        kbail!("cannot concatenate scalars");
    }
    let axis = super::common::axis(axis as i64, rank, "axis")?;
    let out_q = ctx.output(0)?.scale_zero_point();
    let mut out_shape = first.shape.clone();
    out_shape[axis] = 0;
    let inner: usize = first.shape[axis + 1..].iter().product();
    let mut blocks = Vec::with_capacity(n);
    for i in 0..n {
        let t = ctx.input(i)?;
        if t.dtype != dtype {
            kbail!("input {i} is {}, input 0 is {dtype}", t.dtype);
        }
        let same_rest = t.shape.len() == rank
            && t.shape
                .iter()
                .zip(&first.shape)
                .enumerate()
                .all(|(d, (a, b))| d == axis || a == b);
        if !same_rest {
            kbail!(
                "input {i} has shape {:?}, which does not match {:?} outside axis {axis}",
                t.shape,
                first.shape
            );
        }
        // Quantized inputs are copied as bytes, which is only right when every input
        // already uses the output's encoding.
        if matches!(dtype, DType::I8 | DType::U8) && t.scale_zero_point() != out_q {
            kbail!("input {i} is quantized differently from the output; requantizing CONCATENATION is not supported");
        }
        out_shape[axis] += t.shape[axis];
        blocks.push(t.shape[axis] * inner);
    }
    checked_elements(&out_shape)?;
    let clamp = match (activation, dtype) {
        (Activation::None, _) => None,
        (act, DType::F32) => Some(activation_range_f32(act)?),
        (act, other) => kbail!(
            "fused activation {} on {other} CONCATENATION is not supported",
            act.name()
        ),
    };
    let outer = first.shape[..axis].iter().product();
    Ok(Prepared::new(
        vec![out_shape],
        ConcatKernel {
            dtype,
            outer,
            blocks,
            clamp,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Activation, DType, Graph, Model, Op, Operator, Tensor};

    /// Concatenates runtime input `a` with constants `rest`.
    fn concat(
        axis: i32,
        activation: Activation,
        a: Value,
        rest: Vec<Tensor>,
    ) -> Result<Value, String> {
        let dtype = a.dtype();
        let mut tensors = vec![Tensor::activation("a", dtype, a.shape.clone())];
        let mut inputs = vec![0];
        for t in rest {
            inputs.push(tensors.len());
            tensors.push(t);
        }
        let y = tensors.len();
        tensors.push(Tensor::activation("y", dtype, vec![]));
        let graph = Graph {
            name: None,
            tensors,
            inputs: vec![0],
            outputs: vec![y],
            operators: vec![Operator::new(
                Op::Concatenation { axis, activation },
                inputs,
                vec![y],
            )],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp.run(&[a]).map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn three_inputs_middle_axis_and_negative_axis() {
        // a: [2,1,2] = [[[0,1]],[[2,3]]]; b: [2,2,2] = 10..18; c: [2,1,2] = [[[-1,-2]],[[-3,-4]]].
        let a = Value::new(vec![2, 1, 2], TensorBuf::F32(vec![0., 1., 2., 3.]));
        let b = Tensor::constant_f32(
            "b",
            vec![2, 2, 2],
            &[10., 11., 12., 13., 14., 15., 16., 17.],
        );
        let c = Tensor::constant_f32("c", vec![2, 1, 2], &[-1., -2., -3., -4.]);
        let want = vec![
            0., 1., 10., 11., 12., 13., -1., -2., //
            2., 3., 14., 15., 16., 17., -3., -4.,
        ];
        for axis in [1, -2] {
            let y = concat(
                axis,
                Activation::None,
                a.clone(),
                vec![b.clone(), c.clone()],
            )
            .unwrap();
            assert_eq!(y.shape, vec![2, 4, 2]);
            assert_eq!(y.data, TensorBuf::F32(want.clone()));
        }
        // RELU6 clamps the float result.
        let y = concat(0, Activation::Relu6, a.clone(), vec![c.clone()]).unwrap();
        assert_eq!(y.shape, vec![4, 1, 2]);
        assert_eq!(y.data, TensorBuf::F32(vec![0., 1., 2., 3., 0., 0., 0., 0.]));
        // Mismatch outside the axis.
        assert!(concat(0, Activation::None, a, vec![b]).is_err());
    }

    #[test]
    fn int32_last_axis() {
        let a = Value::new(vec![2, 1], TensorBuf::I32(vec![1, 2]));
        let b = Tensor::constant_i32("b", vec![2, 2], &[3, 4, 5, 6]);
        let y = concat(-1, Activation::None, a, vec![b]).unwrap();
        assert_eq!(y.shape, vec![2, 3]);
        assert_eq!(y.data, TensorBuf::I32(vec![1, 3, 4, 2, 5, 6]));
        let _ = DType::I32;
    }
}
