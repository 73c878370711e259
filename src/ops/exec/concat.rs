//! CONCATENATION: joins inputs along one axis. Pure data movement for every element
//! type; a fused activation is applied on float outputs.
//!
//! Quantized inputs, as TFLite's `concatenation.cc`:
//! * int8: `Prepare` refuses any input whose scale or zero point differs from the
//!   output's, so the kernel only copies bytes.
//! * uint8: `reference_ops::ConcatenationWithScaling` copies an input whose parameters
//!   equal the output's and requantizes the others in float:
//!   `clamp(int(roundf(q * scale + bias)) + out_zp, 0, 255)` with
//!   `scale = in_s * (1.0f / out_s)` and `bias = -in_zp * scale`. We tabulate that for
//!   the 256 input values at prepare.
//! * TFLite accepts no fused activation on quantized types (nor, in fact, on any).

use super::shape::{by_dtype, check_len, checked_elements, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{Activation, DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{activation_range_f32, clamp_slice};
use crate::kernels::reference::concat::{copy_blocks, requantize_blocks, uint8_requantize_table};

struct ConcatKernel {
    dtype: DType,
    outer: usize,
    /// Elements each input contributes per outer index.
    blocks: Vec<usize>,
    /// Float clamp of the fused activation, if any.
    clamp: Option<(f32, f32)>,
    /// uint8 only: per input, the requantization table (None when copied as is).
    requantize: Option<Vec<Option<Box<[u8; 256]>>>>,
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
            copy_blocks(src, out, self.outer, block, row, at);
            at += block;
        }
        Ok(())
    }
}

impl ConcatKernel {
    fn run_requantized_u8(
        &self,
        tables: &[Option<Box<[u8; 256]>>],
        inputs: &[View<'_>],
        out: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let out = out.u8()?;
        let row: usize = self.blocks.iter().sum();
        check_len("output", out.len(), self.outer * row)?;
        if inputs.len() != self.blocks.len() || tables.len() != self.blocks.len() {
            kbail!(
                "expected {} inputs, got {}",
                self.blocks.len(),
                inputs.len()
            );
        }
        let mut at = 0;
        for ((src, &block), table) in inputs.iter().zip(&self.blocks).zip(tables) {
            let src = src.u8()?;
            check_len("input", src.len(), self.outer * block)?;
            match table {
                None => copy_blocks(src, out, self.outer, block, row, at),
                Some(table) => requantize_blocks(src, out, table, self.outer, block, row, at),
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
        if let Some(tables) = &self.requantize {
            return self.run_requantized_u8(tables, inputs, out);
        }
        by_dtype!(self.dtype, T => self.run_typed::<T>(inputs, out))?;
        if let (Some(range), ViewMut::F32(values)) = (self.clamp, out) {
            // NaN passes through, as std::min/std::max do in TFLite.
            clamp_slice(values, range);
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
    let axis = crate::kernels::common::axis(axis as i64, rank, "axis")?;
    let out_q = ctx.output(0)?.scale_zero_point();
    let mut requantize: Option<Vec<Option<Box<[u8; 256]>>>> = None;
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
        // TFLite's int8 kernel refuses to rescale; its uint8 kernel rescales in float.
        if dtype == DType::I8 && t.scale_zero_point() != out_q {
            kbail!("int8 input {i} is quantized differently from the output (TFLite requires equal scale and zero point)");
        }
        if dtype == DType::U8 {
            let (out_scale, out_zp) = super::quantize::activation_params(
                ctx.output(0)?.quantization.as_ref(),
                dtype,
                "the output",
            )?;
            let (in_scale, in_zp) = super::quantize::activation_params(
                t.quantization.as_ref(),
                dtype,
                &format!("input {i}"),
            )?;
            let table = if in_scale == out_scale && in_zp == out_zp {
                None
            } else {
                Some(Box::new(uint8_requantize_table(
                    in_scale, in_zp, out_scale, out_zp,
                )))
            };
            requantize.get_or_insert_with(Vec::new).push(table);
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
            requantize,
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

    /// Concatenates two runtime 8-bit inputs along `axis`, each (values, shape, q).
    fn concat_q(
        axis: i32,
        a: (TensorBuf, Vec<usize>, (f32, i64)),
        b: (TensorBuf, Vec<usize>, (f32, i64)),
        out: (f32, i64),
    ) -> Result<Value, String> {
        use crate::ir::Quantization;
        let dtype = a.0.dtype();
        let mut ta = Tensor::activation("a", dtype, a.1.clone());
        ta.quantization = Some(Quantization::per_tensor(a.2 .0, a.2 .1));
        let mut tb = Tensor::activation("b", dtype, b.1.clone());
        tb.quantization = Some(Quantization::per_tensor(b.2 .0, b.2 .1));
        let mut ty = Tensor::activation("y", dtype, vec![]);
        ty.quantization = Some(Quantization::per_tensor(out.0, out.1));
        let graph = Graph {
            name: None,
            tensors: vec![ta, tb, ty],
            inputs: vec![0, 1],
            outputs: vec![2],
            operators: vec![Operator::new(
                Op::Concatenation {
                    axis,
                    activation: Activation::None,
                },
                vec![0, 1],
                vec![2],
            )],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut y = interp
            .run(&[Value::new(a.1, a.0), Value::new(b.1, b.0)])
            .map_err(|e| e.to_string())?;
        Ok(y.remove(0))
    }

    #[test]
    fn int8_copies_equal_params_and_refuses_others() {
        let a = (TensorBuf::I8(vec![-1, 2]), vec![2, 1], (0.5, -3));
        let b = (TensorBuf::I8(vec![7, 8, 9, 10]), vec![2, 2], (0.5, -3));
        let y = concat_q(1, a.clone(), b, (0.5, -3)).unwrap();
        assert_eq!(y.data, TensorBuf::I8(vec![-1, 7, 8, 2, 9, 10]));
        let other = (TensorBuf::I8(vec![7, 8]), vec![2, 1], (0.25, -3));
        let e = concat_q(1, a, other, (0.5, -3)).unwrap_err();
        assert!(e.contains("quantized differently"), "{e}");
    }

    #[test]
    fn uint8_requantizes_in_float() {
        // Input 0 (0.5, 10) into (1.0, 0): scale 0.5, bias -5; round half away:
        // 10 → 0, 11 → 0.5 → 1, 13 → 1.5 → 2, 0 → -5 → 0, 255 → 122.5 → 123.
        // Input 1 has the output's parameters and is copied.
        let a = (TensorBuf::U8(vec![10, 11, 13, 0, 255]), vec![5], (0.5, 10));
        let b = (TensorBuf::U8(vec![200, 3]), vec![2], (1.0, 0));
        let y = concat_q(0, a, b, (1.0, 0)).unwrap();
        assert_eq!(y.data, TensorBuf::U8(vec![0, 1, 2, 0, 123, 200, 3]));
        // Enlarging: (2.0, 100) into (1.0, 128): 2(q - 100) + 128 clamped.
        assert_eq!(
            super::uint8_requantize_table(2.0, 100, 1.0, 128)[..4],
            [0, 0, 0, 0]
        );
        let t = super::uint8_requantize_table(2.0, 100, 1.0, 128);
        assert_eq!((t[100], t[101], t[163], t[164]), (128, 130, 254, 255));
    }
}
