//! Broadcasting binary math of issue 12: MAXIMUM, MINIMUM, SQUARED_DIFFERENCE and POW,
//! on the broadcast layouts of `kernels::reference::elementwise`; the loops are in
//! `kernels::reference::binary_math`, this file checks types and shapes and fixes the
//! constants at prepare.
//!
//! * MAXIMUM / MINIMUM compare stored values as they are, for every numeric type: LiteRT
//!   expects (and its quantizer gives) all three tensors the same parameters, and does
//!   not requantize. With a NaN on either side the second operand comes out, as the C++
//!   `a > b ? a : b` gives.
//! * SQUARED_DIFFERENCE: float and int32 `(a - b)²`; int8 rescales both inputs to a
//!   common scale at 2^7, squares the difference and rescales the square
//!   (`squared_difference.cc`, [`SquaredDifferenceQuant`]).
//! * POW: float `powf`, int32 `pow` on doubles truncated, negative int32 exponents
//!   refused. When the shapes differ and the exponent is one value within 1e-5 of an
//!   integer n >= 1, LiteRT multiplies by repeated squaring instead, which rounds
//!   differently; that path is reproduced too.

use super::quantize::activation_params;
use super::shape::{check_len, checked_elements, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::broadcast_shapes;
use crate::kernels::fixed_point::quantize_multiplier_smaller_than_one_exp;
use crate::kernels::reference::binary_math::{
    max_min, pow_f32, pow_int32, squared_difference_f32, squared_difference_i32,
    squared_difference_i8,
};
use crate::kernels::reference::elementwise::Layout;
use crate::kernels::reference::unary::SquaredDifferenceQuant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Func {
    Maximum,
    Minimum,
    SquaredDifference,
    Pow,
}

struct Shapes {
    layout: Layout,
    len_a: usize,
    len_b: usize,
    len_out: usize,
    /// The input shapes differ (LiteRT's `requires_broadcast`).
    broadcast: bool,
}

impl Shapes {
    fn check(&self, a: usize, b: usize, out: usize) -> Result<(), KernelError> {
        check_len("input 0", a, self.len_a)?;
        check_len("input 1", b, self.len_b)?;
        check_len("output", out, self.len_out)
    }
}

struct MaxMinKernel {
    max: bool,
    shapes: Shapes,
}

impl MaxMinKernel {
    fn run_typed<T: Elem + PartialOrd>(
        &self,
        a: &View<'_>,
        b: &View<'_>,
        out: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let (a, b, out) = (T::slice(a)?, T::slice(b)?, T::slice_mut(out)?);
        self.shapes.check(a.len(), b.len(), out.len())?;
        max_min(self.max, &self.shapes.layout, a, b, out);
        Ok(())
    }
}

impl Kernel for MaxMinKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(out)) = (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        match a {
            View::F32(_) => self.run_typed::<f32>(a, b, out),
            View::I8(_) => self.run_typed::<i8>(a, b, out),
            View::U8(_) => self.run_typed::<u8>(a, b, out),
            View::I16(_) => self.run_typed::<i16>(a, b, out),
            View::I32(_) => self.run_typed::<i32>(a, b, out),
            View::I64(_) => self.run_typed::<i64>(a, b, out),
            other => kbail!("unexpected {} input", other.type_name()),
        }
    }
}

struct SquaredDifferenceKernel {
    /// Set for int8; float and int32 need no constants.
    quant: Option<SquaredDifferenceQuant>,
    shapes: Shapes,
}

impl Kernel for SquaredDifferenceKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(out)) = (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        let layout = &self.shapes.layout;
        match (a, b, out, &self.quant) {
            (View::F32(a), View::F32(b), ViewMut::F32(out), _) => {
                self.shapes.check(a.len(), b.len(), out.len())?;
                squared_difference_f32(layout, a, b, out);
            }
            (View::I32(a), View::I32(b), ViewMut::I32(out), _) => {
                self.shapes.check(a.len(), b.len(), out.len())?;
                squared_difference_i32(layout, a, b, out);
            }
            (View::I8(a), View::I8(b), ViewMut::I8(out), Some(q)) => {
                self.shapes.check(a.len(), b.len(), out.len())?;
                squared_difference_i8(q, layout, a, b, out);
            }
            (a, _, out, _) => kbail!(
                "unexpected {} input / {} output",
                a.type_name(),
                out.type_name()
            ),
        }
        Ok(())
    }
}

struct PowKernel {
    shapes: Shapes,
}

impl Kernel for PowKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(out)) = (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        let layout = &self.shapes.layout;
        // The squaring path maps input 0 element by element onto the output.
        let single_exponent = self.shapes.broadcast && self.shapes.len_b == 1;
        match (a, b, out) {
            (View::F32(a), View::F32(b), ViewMut::F32(out)) => {
                self.shapes.check(a.len(), b.len(), out.len())?;
                pow_f32(layout, single_exponent, a, b, out);
            }
            (View::I32(a), View::I32(b), ViewMut::I32(out)) => {
                self.shapes.check(a.len(), b.len(), out.len())?;
                pow_int32(layout, single_exponent, a, b, out)?;
            }
            (a, _, out) => kbail!(
                "unexpected {} input / {} output",
                a.type_name(),
                out.type_name()
            ),
        }
        Ok(())
    }
}

/// SQUARED_DIFFERENCE's int8 constants (`squared_difference.cc` Prepare).
fn squared_difference_quant(ctx: &PrepareCtx<'_>) -> Result<SquaredDifferenceQuant, KernelError> {
    let dtype = DType::I8;
    let (s1, z1) = activation_params(ctx.input(0)?.quantization.as_ref(), dtype, "input 0")?;
    let (s2, z2) = activation_params(ctx.input(1)?.quantization.as_ref(), dtype, "input 1")?;
    let (so, zo) = activation_params(ctx.output(0)?.quantization.as_ref(), dtype, "the output")?;
    // `2 * max(s1, s2)` in float; every ratio then in double.
    let twice_max = f64::from(2.0 * s1.max(s2));
    let shift = SquaredDifferenceQuant::LEFT_SHIFT;
    let input1 = quantize_multiplier_smaller_than_one_exp(f64::from(s1) / twice_max)?;
    let input2 = quantize_multiplier_smaller_than_one_exp(f64::from(s2) / twice_max)?;
    // `(1 << 14) * s_out` is a float product.
    let output_denominator = f64::from((1i32 << (2 * shift)) as f32 * so);
    let output =
        quantize_multiplier_smaller_than_one_exp(twice_max * twice_max / output_denominator)?;
    Ok(SquaredDifferenceQuant {
        input1_zero_point: z1,
        input2_zero_point: z2,
        output_zero_point: zo,
        input1,
        input2,
        output,
    })
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let func = match ctx.op.op {
        Op::Maximum => Func::Maximum,
        Op::Minimum => Func::Minimum,
        Op::SquaredDifference => Func::SquaredDifference,
        Op::Pow => Func::Pow,
        ref other => kbail!("{} is not a broadcasting math op", other.name()),
    };
    let name = ctx.op.op.name();
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    if a.dtype != b.dtype {
        kbail!("inputs have different types: {} and {}", a.dtype, b.dtype);
    }
    let dtype = a.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    let out_shape = broadcast_shapes(&a.shape, &b.shape)?;
    let shapes = Shapes {
        layout: Layout::new(&a.shape, &b.shape, &out_shape),
        len_a: a.num_elements(),
        len_b: b.num_elements(),
        len_out: checked_elements(&out_shape)?,
        broadcast: a.shape != b.shape,
    };
    let supported = match func {
        Func::Maximum | Func::Minimum => !matches!(dtype, DType::F16 | DType::Bool),
        Func::SquaredDifference => matches!(dtype, DType::F32 | DType::I32 | DType::I8),
        Func::Pow => matches!(dtype, DType::F32 | DType::I32),
    };
    if !supported {
        kbail!("{name} of {dtype} tensors is not supported");
    }
    let out = vec![out_shape];
    Ok(match func {
        Func::Maximum | Func::Minimum => Prepared::new(
            out,
            MaxMinKernel {
                max: func == Func::Maximum,
                shapes,
            },
        ),
        Func::SquaredDifference => {
            let quant = if dtype == DType::I8 {
                Some(squared_difference_quant(ctx)?)
            } else {
                None
            };
            Prepared::new(out, SquaredDifferenceKernel { quant, shapes })
        }
        Func::Pow => Prepared::new(out, PowKernel { shapes }),
    })
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Graph, Model, Op, Operator, Quantization, Tensor};

    type Quant = Option<[(f32, i64); 3]>;

    fn run(op: Op, a: Value, b: Value, q: Quant) -> Result<Value, String> {
        let dtype = a.data.dtype();
        let mut ta = Tensor::activation("a", dtype, a.shape.clone());
        let mut tb = Tensor::activation("b", b.data.dtype(), b.shape.clone());
        let mut ty = Tensor::activation("y", dtype, vec![]);
        if let Some([qa, qb, qy]) = q {
            ta.quantization = Some(Quantization::per_tensor(qa.0, qa.1));
            tb.quantization = Some(Quantization::per_tensor(qb.0, qb.1));
            ty.quantization = Some(Quantization::per_tensor(qy.0, qy.1));
        }
        let graph = Graph {
            name: None,
            tensors: vec![ta, tb, ty],
            inputs: vec![0, 1],
            outputs: vec![2],
            operators: vec![Operator::new(op, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut y = interp.run(&[a, b]).map_err(|e| e.to_string())?;
        Ok(y.remove(0))
    }

    fn f(shape: &[usize], v: &[f32]) -> Value {
        Value::new(shape.to_vec(), TensorBuf::F32(v.to_vec()))
    }

    #[test]
    fn maximum_minimum_broadcast_and_nan() {
        let a = f(&[2, 2], &[1.0, -3.0, 5.0, f32::NAN]);
        let b = f(&[2], &[2.0, -4.0]);
        let y = run(Op::Maximum, a.clone(), b.clone(), None).unwrap();
        assert_eq!(y.shape, vec![2, 2]);
        // NaN on the left: the comparison fails and the right value comes out.
        assert_eq!(y.data, TensorBuf::F32(vec![2.0, -3.0, 5.0, -4.0]));
        let y = run(Op::Minimum, a, b, None).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![1.0, -4.0, 2.0, -4.0]));
        // int8 compares stored values; uint8 and int64 too.
        let q = Some([(0.5, 3), (0.5, 3), (0.5, 3)]);
        let a = Value::new(vec![3], TensorBuf::I8(vec![-128, 0, 127]));
        let b = Value::new(vec![1], TensorBuf::I8(vec![3]));
        let y = run(Op::Maximum, a.clone(), b.clone(), q).unwrap();
        assert_eq!(y.data, TensorBuf::I8(vec![3, 3, 127]));
        let y = run(Op::Minimum, a, b, q).unwrap();
        assert_eq!(y.data, TensorBuf::I8(vec![-128, 0, 3]));
        let a = Value::new(vec![2], TensorBuf::I64(vec![1 << 40, -1]));
        let b = Value::new(vec![2], TensorBuf::I64(vec![5, 5]));
        let y = run(Op::Maximum, a, b, None).unwrap();
        assert_eq!(y.data, TensorBuf::I64(vec![1 << 40, 5]));
    }

    #[test]
    fn squared_difference_float_int_and_int8() {
        let y = run(
            Op::SquaredDifference,
            f(&[2, 2], &[1.0, 2.0, 3.0, 4.0]),
            f(&[1, 2], &[0.5, 5.0]),
            None,
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![0.25, 9.0, 6.25, 1.0]));
        let y = run(
            Op::SquaredDifference,
            Value::new(vec![3], TensorBuf::I32(vec![7, -2, 0])),
            Value::new(vec![], TensorBuf::I32(vec![3])),
            None,
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![16, 25, 9]));
        // s1 = s2 = 1, s_out = 4, zero points 1, -1, -128: round(d² / 4) - 128 with
        // d = (x - 1) - (y + 1), see the reference's own hand case.
        let y = run(
            Op::SquaredDifference,
            Value::new(vec![3], TensorBuf::I8(vec![5, 10, 7])),
            Value::new(vec![3], TensorBuf::I8(vec![0, -3, 0])),
            Some([(1.0, 1), (1.0, -1), (4.0, -128)]),
        )
        .unwrap();
        // d = 3 → 2.25 → 2; 11 → 30.25 → 30; 5 → 6.25 → 6.
        assert_eq!(y.data, TensorBuf::I8(vec![-126, -98, -122]));
        // Different scales: s1 = 1, s2 = 0.5, s_out = 1: twice_max 2, multipliers
        // 0.5 and 0.25; output 4 / 2^14. Each input (q·2^7)·m, so the difference is
        // 64 x - 32 y and the output (64x - 32y)² · 2^-12 = (2x - y)² / 4.
        let y = run(
            Op::SquaredDifference,
            Value::new(vec![3], TensorBuf::I8(vec![3, 10, -4])),
            Value::new(vec![3], TensorBuf::I8(vec![1, 0, 6])),
            Some([(1.0, 0), (0.5, 0), (1.0, -128)]),
        )
        .unwrap();
        // (6-1)² / 4 = 6.25 → 6; 400 / 4 = 100; (-14)² / 4 = 49.
        assert_eq!(y.data, TensorBuf::I8(vec![-122, -28, -79]));
    }

    #[test]
    fn pow_float_paths() {
        // Same shapes: powf per element.
        let y = run(
            Op::Pow,
            f(&[3], &[4.0, 2.0, 9.0]),
            f(&[3], &[0.5, 3.0, -0.5]),
            None,
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![2.0, 8.0, 1.0 / 3.0]));
        // A single exponent near 3: repeated squaring, overflow clamped to f32::MAX.
        let y = run(
            Op::Pow,
            f(&[3], &[2.0, -1.5, 1e20]),
            f(&[], &[3.000_001]),
            None,
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![8.0, -3.375, f32::MAX]));
        // A single non-integral exponent: powf.
        let y = run(Op::Pow, f(&[2], &[4.0, 16.0]), f(&[1], &[2.5]), None).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![32.0, 1024.0]));
    }

    #[test]
    fn pow_int32_and_negative_exponents() {
        let i = |s: &[usize], v: &[i32]| Value::new(s.to_vec(), TensorBuf::I32(v.to_vec()));
        let y = run(Op::Pow, i(&[3], &[2, -3, 5]), i(&[3], &[10, 3, 0]), None).unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![1024, -27, 1]));
        let y = run(Op::Pow, i(&[2], &[3, -2]), i(&[], &[4]), None).unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![81, 16]));
        let e = run(Op::Pow, i(&[1], &[2]), i(&[1], &[-1]), None).unwrap_err();
        assert!(e.contains("negative"), "{e}");
        // No 8-bit POW.
        let q = Some([(1.0, 0), (1.0, 0), (1.0, 0)]);
        let b = Value::new(vec![1], TensorBuf::I8(vec![1]));
        assert!(run(Op::Pow, b.clone(), b, q).is_err());
    }
}
