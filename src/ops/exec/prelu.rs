//! PRELU (`activations.cc` PreluPrepare/PreluEval with `reference/prelu.h`): alpha
//! broadcasts against the input and the output keeps the input's shape. 8-bit models
//! use two multipliers, `in_s / out_s` for x >= 0 and `in_s * alpha_s / out_s` below,
//! each computed in float and then widened, as the C++ does.

use super::q8::{q8_input, q8_output, Q8};
use super::quantize::activation_params;
use super::shape::{check_len, expect_output_dtype};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::DType;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{broadcast_shapes, broadcast_strides};
use crate::kernels::fixed_point::{quantize_multiplier, quantized_range};
use crate::kernels::reference::prelu::{prelu_f32, prelu_q8, PreluQuant};

struct PreluKernel {
    dtype: DType,
    shape: Vec<usize>,
    alpha_strides: Vec<usize>,
    len: usize,
    alpha_len: usize,
    quant: Option<PreluQuant>,
}

impl PreluKernel {
    fn run_q8<T: Q8 + Into<i32>>(
        &self,
        q: &PreluQuant,
        inputs: &[View<'_>],
        outputs: &mut [ViewMut<'_>],
    ) -> Result<(), KernelError> {
        let x = q8_input::<T>(inputs, 0)?;
        let alpha = q8_input::<T>(inputs, 1)?;
        check_len("alpha", alpha.len(), self.alpha_len)?;
        check_len("input", x.len(), self.len)?;
        let out = q8_output::<T>(outputs)?;
        check_len("output", out.len(), self.len)?;
        prelu_q8(
            q,
            x,
            alpha,
            &self.shape,
            &self.alpha_strides,
            out,
            T::narrow,
        );
        Ok(())
    }
}

impl Kernel for PreluKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        match (self.dtype, &self.quant) {
            (DType::F32, _) => {
                let (Some(x), Some(alpha)) = (inputs.first(), inputs.get(1)) else {
                    kbail!("missing input");
                };
                let (x, alpha) = (x.f32()?, alpha.f32()?);
                check_len("alpha", alpha.len(), self.alpha_len)?;
                check_len("input", x.len(), self.len)?;
                let Some(out) = outputs.first_mut() else {
                    kbail!("missing output");
                };
                let out = out.f32()?;
                check_len("output", out.len(), self.len)?;
                prelu_f32(x, alpha, &self.shape, &self.alpha_strides, out);
                Ok(())
            }
            (DType::I8, Some(q)) => self.run_q8::<i8>(q, inputs, outputs),
            (DType::U8, Some(q)) => self.run_q8::<u8>(q, inputs, outputs),
            (other, _) => kbail!("PRELU does not run on {other}"),
        }
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let alpha = ctx.input(1)?;
    let dtype = input.dtype;
    if alpha.dtype != dtype {
        kbail!("alpha is {}, the input {dtype}", alpha.dtype);
    }
    expect_output_dtype(ctx, 0, dtype)?;
    let shape = broadcast_shapes(&input.shape, &alpha.shape)?;
    if shape != input.shape {
        kbail!(
            "alpha {:?} would broadcast the input {:?} to {shape:?}; PRELU keeps the input's shape",
            alpha.shape,
            input.shape
        );
    }
    let quant = match dtype {
        DType::F32 => None,
        DType::I8 | DType::U8 => {
            let (in_s, in_zp) = activation_params(input.quantization.as_ref(), dtype, "the input")?;
            let (a_s, a_zp) = activation_params(alpha.quantization.as_ref(), dtype, "alpha")?;
            let output = ctx.output(0)?;
            let (out_s, out_zp) =
                activation_params(output.quantization.as_ref(), dtype, "the output")?;
            Some(PreluQuant {
                input_zero_point: in_zp,
                alpha_zero_point: a_zp,
                output_zero_point: out_zp,
                identity: quantize_multiplier(f64::from(in_s / out_s))?,
                alpha: quantize_multiplier(f64::from(in_s * a_s / out_s))?,
                range: quantized_range(dtype)?,
            })
        }
        other => kbail!("PRELU supports float32, int8 and uint8, not {other}"),
    };
    let alpha_strides = broadcast_strides(&alpha.shape, &shape);
    Ok(Prepared::new(
        vec![shape.clone()],
        PreluKernel {
            dtype,
            len: input.num_elements(),
            alpha_len: alpha.num_elements(),
            shape,
            alpha_strides,
            quant,
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Quantization, Tensor};

    fn run(x: Value, alpha: Tensor, out: Tensor) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", x.dtype(), x.shape.clone()),
                alpha,
                out,
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Prelu, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp.run(&[x]).map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn float_alpha_shared_over_rows() {
        // x [2, 1, 3], alpha [1, 3]: one slope per last-axis position.
        let x = Value::new(
            vec![2, 1, 3],
            TensorBuf::F32(vec![-1.0, -2.0, 3.0, 4.0, -5.0, -6.0]),
        );
        let alpha = Tensor::constant_f32("a", vec![1, 3], &[0.5, 0.25, 2.0]);
        let y = run(x, alpha, Tensor::activation("y", DType::F32, vec![])).unwrap();
        assert_eq!(y.shape, vec![2, 1, 3]);
        assert_eq!(
            y.data,
            TensorBuf::F32(vec![-0.5, -0.5, 3.0, 4.0, -1.25, -12.0])
        );
    }

    #[test]
    fn int8_by_hand() {
        // in: scale 0.5 zp 0; alpha: scale 0.25 zp 0, value 2 (0.5); out: scale 0.5 zp 1.
        // x = 4 (2.0) -> 2.0 -> 4 + 1 = 5; x = -6 (-3.0) -> -1.5 -> -3 + 1 = -2.
        let q = |s: f32, z: i64| Some(Quantization::per_tensor(s, z));
        let mut alpha = Tensor::constant_i8("a", vec![1], &[2]);
        alpha.quantization = q(0.25, 0);
        let mut x_t = Tensor::activation("x", DType::I8, vec![2]);
        x_t.quantization = q(0.5, 0);
        let mut out = Tensor::activation("y", DType::I8, vec![]);
        out.quantization = q(0.5, 1);
        let graph = Graph {
            name: None,
            tensors: vec![x_t, alpha, out],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Prelu, vec![0, 1], vec![2])],
        };
        let mut interp = Interpreter::new(Model::with_default_signature(graph)).unwrap();
        let y = interp
            .run(&[Value::new(vec![2], TensorBuf::I8(vec![4, -6]))])
            .unwrap();
        assert_eq!(y[0].data, TensorBuf::I8(vec![5, -2]));
    }

    #[test]
    fn alpha_that_widens_the_input_is_refused() {
        let x = Value::new(vec![3], TensorBuf::F32(vec![1.0; 3]));
        let alpha = Tensor::constant_f32("a", vec![2, 3], &[0.0; 6]);
        let err = run(x, alpha, Tensor::activation("y", DType::F32, vec![])).unwrap_err();
        assert!(err.contains("keeps the input's shape"), "{err}");
    }
}
