//! PAD: surrounds the input with a constant border. Float and integer tensors pad with
//! zero; quantized int8/uint8 tensors pad with the output zero point (the encoding of
//! real 0), as TFLite does.

use super::shape::{by_dtype, const_ints, expect_output_dtype, strides_isize, Elem, StridedCopy};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::DType;
use crate::ir::KernelError;
use crate::ir::{View, ViewMut};
use crate::kbail;

/// The value written in the border, stored in its element type.
#[derive(Clone, Copy, Debug)]
enum Fill {
    Zero,
    I8(i8),
    U8(u8),
}

struct PadKernel {
    dtype: DType,
    fill: Fill,
    copy: StridedCopy,
}

trait Pad: Elem + Default {
    fn fill(fill: Fill) -> Self;
}

macro_rules! zero_pad {
    ($($t:ty),*) => { $(impl Pad for $t { fn fill(_: Fill) -> Self { Self::default() } })* };
}
zero_pad!(f32, half::f16, i16, i32, i64, bool);

impl Pad for i8 {
    fn fill(fill: Fill) -> Self {
        match fill {
            Fill::I8(v) => v,
            _ => 0,
        }
    }
}

impl Pad for u8 {
    fn fill(fill: Fill) -> Self {
        match fill {
            Fill::U8(v) => v,
            _ => 0,
        }
    }
}

impl PadKernel {
    fn run_typed<T: Pad>(&self, src: &View<'_>, dst: &mut ViewMut<'_>) -> Result<(), KernelError> {
        let src = T::slice(src)?;
        let dst = T::slice_mut(dst)?;
        dst.fill(T::fill(self.fill));
        self.copy.run(src, dst)
    }
}

impl Kernel for PadKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(src), Some(dst)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        by_dtype!(self.dtype, T => self.run_typed::<T>(src, dst))
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let pads_info = ctx.input(1)?;
    let dtype = input.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    let rank = input.shape.len();
    if !matches!(pads_info.dtype, DType::I32 | DType::I64) {
        kbail!("paddings must be int32 or int64, got {}", pads_info.dtype);
    }
    if pads_info.shape != [rank, 2] {
        kbail!(
            "paddings must have shape [{rank}, 2], has {:?}",
            pads_info.shape
        );
    }
    let pads = const_ints(pads_info, "the paddings")?;
    let mut out_shape = Vec::with_capacity(rank);
    let mut before = Vec::with_capacity(rank);
    for (d, (&size, p)) in input.shape.iter().zip(pads.chunks_exact(2)).enumerate() {
        let (Ok(lo), Ok(hi)) = (usize::try_from(p[0]), usize::try_from(p[1])) else {
            kbail!("paddings of dim {d} are negative: {p:?}");
        };
        let total = size
            .checked_add(lo)
            .and_then(|v| v.checked_add(hi))
            .ok_or_else(|| KernelError::new("paddings are too large"))?;
        out_shape.push(total);
        before.push(lo);
    }
    let out_elements = super::shape::checked_elements(&out_shape)?;

    let zero_point = ctx
        .output(0)?
        .scale_zero_point()
        .map(|(_, z)| z)
        .unwrap_or(0);
    let fill =
        match dtype {
            DType::I8 => Fill::I8(i8::try_from(zero_point).map_err(|_| {
                KernelError::new(format!("zero point {zero_point} is not an int8"))
            })?),
            DType::U8 => Fill::U8(u8::try_from(zero_point).map_err(|_| {
                KernelError::new(format!("zero point {zero_point} is not a uint8"))
            })?),
            _ => Fill::Zero,
        };

    // The input lands in the box of the output that starts at the leading paddings.
    let out_strides = strides_isize(&out_shape);
    let dst_start: usize = before
        .iter()
        .zip(&out_strides)
        .map(|(&b, &s)| b * s as usize)
        .sum();
    let copy = StridedCopy::new(
        &input.shape,
        (&strides_isize(&input.shape), 0, input.num_elements()),
        (&out_strides, dst_start, out_elements),
    )?;
    Ok(Prepared::new(
        vec![out_shape],
        PadKernel { dtype, fill, copy },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Quantization, Tensor};

    fn pad(
        shape: Vec<usize>,
        x: TensorBuf,
        pads: Tensor,
        out_q: Option<Quantization>,
    ) -> Result<Value, String> {
        let mut y = Tensor::activation("y", x.dtype(), vec![]);
        y.quantization = out_q;
        let graph = Graph {
            name: None,
            tensors: vec![Tensor::activation("x", x.dtype(), shape.clone()), pads, y],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Pad, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, x)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn float_borders_are_zero() {
        // [[1,2],[3,4]] padded 1 row above, 0 below, 2 cols left, 1 right.
        let pads = Tensor::constant_i32("p", vec![2, 2], &[1, 0, 2, 1]);
        let y = pad(vec![2, 2], TensorBuf::F32(vec![1., 2., 3., 4.]), pads, None).unwrap();
        assert_eq!(y.shape, vec![3, 5]);
        #[rustfmt::skip]
        let want = vec![
            0., 0., 0., 0., 0.,
            0., 0., 1., 2., 0.,
            0., 0., 3., 4., 0.,
        ];
        assert_eq!(y.data, TensorBuf::F32(want));
    }

    #[test]
    fn int64_paddings_and_int32_data() {
        let pads = Tensor::constant(
            "p",
            DType::I64,
            vec![1, 2],
            [2i64, 1].iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let y = pad(vec![3], TensorBuf::I32(vec![7, 8, 9]), pads, None).unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![0, 0, 7, 8, 9, 0]));
    }

    #[test]
    fn quantized_pads_with_output_zero_point() {
        let pads = Tensor::constant_i32("p", vec![2, 2], &[0, 0, 1, 1]);
        let q = Some(Quantization::per_tensor(0.5, -3));
        let y = pad(vec![1, 2], TensorBuf::I8(vec![5, 6]), pads.clone(), q).unwrap();
        assert_eq!(y.data, TensorBuf::I8(vec![-3, 5, 6, -3]));
        let q = Some(Quantization::per_tensor(0.5, 128));
        let y = pad(vec![1, 2], TensorBuf::U8(vec![5, 6]), pads, q).unwrap();
        assert_eq!(y.data, TensorBuf::U8(vec![128, 5, 6, 128]));
    }

    #[test]
    fn bad_paddings_fail() {
        let x = TensorBuf::F32(vec![0.0; 4]);
        let neg = Tensor::constant_i32("p", vec![2, 2], &[0, -1, 0, 0]);
        assert!(pad(vec![2, 2], x.clone(), neg, None).is_err());
        let wrong_shape = Tensor::constant_i32("p", vec![1, 2], &[0, 1]);
        assert!(pad(vec![2, 2], x.clone(), wrong_shape, None).is_err());
        let huge = Tensor::constant_i32("p", vec![2, 2], &[0, i32::MAX, 0, i32::MAX]);
        assert!(pad(vec![2, 2], x, huge, None).is_err());
    }
}
