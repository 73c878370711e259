//! CAST (`cast.cc`): element-wise `static_cast` from the input's type to the type the
//! model declares for the output. Quantization parameters are ignored, as TFLite does:
//! an int8 tensor casts its stored integers.

use super::shape::{by_dtype, check_len, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::DType;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::reference::cast::cast_slice;

struct CastKernel {
    from: DType,
    to: DType,
    len: usize,
}

impl Kernel for CastKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(src), Some(dst)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        check_len("input", src.len(), self.len)?;
        by_dtype!(self.from, S => {
            let src = S::slice(src)?;
            by_dtype!(self.to, D => {
                let dst = D::slice_mut(dst)?;
                check_len("output", dst.len(), self.len)?;
                cast_slice::<S, D>(src, dst);
            })
        });
        Ok(())
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    let to = ctx.output(0)?.dtype;
    Ok(Prepared::new(
        vec![input.shape.clone()],
        CastKernel {
            from: input.dtype,
            to,
            len: input.num_elements(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn cast(x: TensorBuf, to: DType) -> Value {
        let n = x.len();
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", x.dtype(), vec![n]),
                Tensor::activation("y", to, vec![n]),
            ],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(Op::Cast, vec![0], vec![1])],
        };
        let mut interp = Interpreter::new(Model::with_default_signature(graph)).unwrap();
        interp.run(&[Value::new(vec![n], x)]).unwrap().remove(0)
    }

    #[test]
    fn float_to_int_truncates_and_back() {
        let y = cast(TensorBuf::F32(vec![1.7, -1.7, 0.2]), DType::I32);
        assert_eq!(y.data, TensorBuf::I32(vec![1, -1, 0]));
        let y = cast(TensorBuf::I32(vec![3, -4]), DType::F32);
        assert_eq!(y.data, TensorBuf::F32(vec![3.0, -4.0]));
        let y = cast(TensorBuf::I8(vec![-1, 0, 5]), DType::Bool);
        assert_eq!(y.data, TensorBuf::Bool(vec![true, false, true]));
        let y = cast(TensorBuf::I32(vec![300, -1]), DType::U8);
        assert_eq!(y.data, TensorBuf::U8(vec![44, 255]));
        let y = cast(TensorBuf::I64(vec![-2]), DType::I64);
        assert_eq!(y.data, TensorBuf::I64(vec![-2]));
    }
}
