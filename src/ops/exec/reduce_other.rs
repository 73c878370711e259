//! SUM, REDUCE_MAX, REDUCE_MIN and REDUCE_PROD, as LiteRT's reference kernels
//! (reduce.cc): the axes and output shape were resolved by `reduce::prepare`.
//!
//! - Float and plain integer reductions fold in row-major input order from the
//!   reduction's identity (`reference_ops::ReduceGeneric`): 0 for SUM, 1 for PROD, the
//!   type's lowest / highest for MAX / MIN, integers wrapping as the compiled C++. MAX
//!   takes `x` only when `x > current`, so a NaN never replaces a number (and MIN alike).
//! - Quantized SUM is MEAN's `QuantizedMeanOrSum` without the 1/n fold: the multiplier is
//!   `in_s / out_s` alone.
//! - Quantized REDUCE_MAX/MIN need the output's scale and zero point to be the input's
//!   (LiteRT checks it) and then compare raw values.
//! - Quantized REDUCE_PROD (int8, int16) is `QuantizedReduceProd`: each product step is
//!   scaled by `in_s / out_s^(1/n)` (`GetQuantProdScaling`, in double), see
//!   [`QuantProd`].

use std::marker::PhantomData;
use std::sync::Mutex;

use super::q8::q8_params;
use super::quantize::activation_params;
use super::reduce::prepare_quantized;
use super::shape::{check_len, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::{quantize_multiplier, quantized_range};
use crate::kernels::reference::reduce::{reduce_plain, QuantProd, Reducer, Reducible};
use crate::ops::exec::TensorInfo;

struct PlainReduce<T> {
    reducer: Reducer,
    dims: Vec<(usize, usize)>,
    len_in: usize,
    len_out: usize,
    elem: PhantomData<fn() -> T>,
}

impl<T: Reducible + Elem> Kernel for PlainReduce<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        let x = T::slice(x)?;
        let y = T::slice_mut(y)?;
        check_len("input", x.len(), self.len_in)?;
        check_len("output", y.len(), self.len_out)?;
        reduce_plain(self.reducer, &self.dims, x, y)
    }
}

fn plain<T: Reducible + Elem>(
    reducer: Reducer,
    dims: &[(usize, usize)],
    len_in: usize,
    len_out: usize,
) -> Box<dyn Kernel> {
    Box::new(PlainReduce::<T> {
        reducer,
        dims: dims.to_vec(),
        len_in,
        len_out,
        elem: PhantomData,
    })
}

/// Quantized REDUCE_PROD over int8 or int16.
struct QuantProdKernel<T> {
    prod: QuantProd,
    /// The running product of each output, made at prepare so that a run does not
    /// allocate (the loop resets it); locked because `run` takes `&self`, never
    /// contended since every thread of a split batch has its own plan.
    scratch: Mutex<Vec<Option<i32>>>,
    dims: Vec<(usize, usize)>,
    len_in: usize,
    len_out: usize,
    elem: PhantomData<fn() -> T>,
}

impl<T: Elem + Into<i32> + TryFrom<i32> + Default> Kernel for QuantProdKernel<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        let x = T::slice(x)?;
        let y = T::slice_mut(y)?;
        check_len("input", x.len(), self.len_in)?;
        check_len("output", y.len(), self.len_out)?;
        let mut scratch = self
            .scratch
            .lock()
            .map_err(|_| KernelError::new("REDUCE_PROD scratch poisoned by a failed run"))?;
        // `run` clamps to the type's range, so the conversion cannot fail.
        self.prod
            .run(&self.dims, x, &mut scratch, y, Into::into, |v| {
                T::try_from(v).unwrap_or_default()
            })
    }
}

fn quant_prod<T: Elem + Into<i32> + TryFrom<i32> + Default>(
    ctx: &PrepareCtx<'_>,
    input: &TensorInfo,
    dims: &[(usize, usize)],
    len_out: usize,
) -> Result<Box<dyn Kernel>, KernelError> {
    let dtype = input.dtype;
    let (in_s, in_zp) = activation_params(input.quantization.as_ref(), dtype, "the input")?;
    let (out_s, out_zp) =
        activation_params(ctx.output(0)?.quantization.as_ref(), dtype, "the output")?;
    if dtype == DType::I16 && (in_zp != 0 || out_zp != 0) {
        kbail!("int16 REDUCE_PROD needs zero points of 0");
    }
    let len_in = input.num_elements();
    // LiteRT takes n as input size / output size, in int.
    let (multiplier, shift) = if len_in != 0 && len_out != 0 {
        let n = len_in / len_out;
        let scaling = f64::from(in_s) / f64::from(out_s).powf(1.0 / n as f64);
        quantize_multiplier(scaling)?
    } else {
        (0, 0)
    };
    Ok(Box::new(QuantProdKernel::<T> {
        prod: QuantProd {
            input_zero_point: in_zp,
            output_zero_point: out_zp,
            multiplier,
            shift,
            range: quantized_range(dtype)?,
        },
        scratch: Mutex::new(vec![None; len_out]),
        dims: dims.to_vec(),
        len_in,
        len_out,
        elem: PhantomData,
    }))
}

/// LiteRT runs quantized REDUCE_MAX/MIN as plain comparisons, after checking the output
/// carries the input's parameters.
fn check_same_params(ctx: &PrepareCtx<'_>, input: &TensorInfo) -> Result<(), KernelError> {
    let dtype = input.dtype;
    let i = q8_params(input.quantization.as_ref(), dtype, "the input")?;
    let o = q8_params(ctx.output(0)?.quantization.as_ref(), dtype, "the output")?;
    if i != o {
        kbail!(
            "{} needs the output's scale and zero point {o:?} to equal the input's {i:?}",
            ctx.op.op.name()
        );
    }
    Ok(())
}

pub(super) fn prepare(
    ctx: &PrepareCtx<'_>,
    input: &TensorInfo,
    reduced: &[bool],
    dims: &[(usize, usize)],
    count: usize,
    len_out: usize,
) -> Result<Box<dyn Kernel>, KernelError> {
    let reducer = match ctx.op.op {
        Op::Sum { .. } => Reducer::Sum,
        Op::ReduceMax { .. } => Reducer::Max,
        Op::ReduceMin { .. } => Reducer::Min,
        Op::ReduceProd { .. } => Reducer::Prod,
        _ => kbail!("not a SUM, REDUCE_MAX, REDUCE_MIN or REDUCE_PROD"),
    };
    let dtype = input.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    let len_in = input.num_elements();
    let quantized = input
        .quantization
        .as_ref()
        .is_some_and(|q| q.is_quantized());
    let is_q = matches!(dtype, DType::I8 | DType::U8 | DType::I16) && quantized;
    match (reducer, dtype) {
        (Reducer::Sum, DType::I8 | DType::U8 | DType::I16) => {
            let kernel = prepare_quantized(ctx, &input.shape, reduced, count, len_out, false)?;
            return Ok(Box::new(kernel));
        }
        (Reducer::Prod, DType::I8) if is_q => return quant_prod::<i8>(ctx, input, dims, len_out),
        (Reducer::Prod, DType::I16) if is_q => return quant_prod::<i16>(ctx, input, dims, len_out),
        (Reducer::Max | Reducer::Min, DType::I8 | DType::U8 | DType::I16) if is_q => {
            check_same_params(ctx, input)?;
        }
        _ => {}
    }
    Ok(match dtype {
        DType::F32 => plain::<f32>(reducer, dims, len_in, len_out),
        DType::I32 => plain::<i32>(reducer, dims, len_in, len_out),
        DType::I64 => plain::<i64>(reducer, dims, len_in, len_out),
        DType::I8 => plain::<i8>(reducer, dims, len_in, len_out),
        DType::U8 => plain::<u8>(reducer, dims, len_in, len_out),
        DType::I16 => plain::<i16>(reducer, dims, len_in, len_out),
        other => kbail!("{} of {other} tensors is not supported", ctx.op.op.name()),
    })
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Graph, Model, Op, Operator, Quantization, Tensor};

    fn reduce(
        op: Op,
        x: Value,
        axes: &[i32],
        q: Option<((f32, i64), (f32, i64))>,
    ) -> Result<Value, String> {
        let mut tx = Tensor::activation("x", x.dtype(), x.shape.clone());
        let mut ty = Tensor::activation("y", x.dtype(), vec![]);
        if let Some((i, o)) = q {
            tx.quantization = Some(Quantization::per_tensor(i.0, i.1));
            ty.quantization = Some(Quantization::per_tensor(o.0, o.1));
        }
        let graph = Graph {
            name: None,
            tensors: vec![tx, Tensor::constant_i32("axes", vec![axes.len()], axes), ty],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(op, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp.run(&[x]).map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    fn f(shape: Vec<usize>, v: &[f32]) -> Value {
        Value::new(shape, TensorBuf::F32(v.to_vec()))
    }

    #[test]
    fn float_sum_max_min_prod() {
        // [[1, -2, 3], [4, 5, -6]].
        let x = f(vec![2, 3], &[1., -2., 3., 4., 5., -6.]);
        let y = reduce(Op::Sum { keep_dims: false }, x.clone(), &[1], None).unwrap();
        assert_eq!((y.shape, y.data), (vec![2], TensorBuf::F32(vec![2., 3.])));
        let y = reduce(Op::ReduceMax { keep_dims: true }, x.clone(), &[0], None).unwrap();
        assert_eq!(
            (y.shape, y.data),
            (vec![1, 3], TensorBuf::F32(vec![4., 5., 3.]))
        );
        let y = reduce(
            Op::ReduceMin { keep_dims: false },
            x.clone(),
            &[0, -1],
            None,
        )
        .unwrap();
        assert_eq!((y.shape, y.data), (vec![], TensorBuf::F32(vec![-6.])));
        let y = reduce(Op::ReduceProd { keep_dims: false }, x, &[1], None).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![-6., -120.]));
    }

    #[test]
    fn a_nan_never_replaces_a_maximum() {
        // LiteRT keeps the current value unless `x > current`: NaN loses, even first.
        let x = f(vec![3], &[f32::NAN, 2., f32::NAN]);
        let y = reduce(Op::ReduceMax { keep_dims: false }, x.clone(), &[0], None).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![2.]));
        let y = reduce(Op::ReduceMin { keep_dims: false }, x, &[0], None).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![2.]));
    }

    #[test]
    fn int8_sum_reads_bytes_as_uint8_as_litert_reference() {
        // Scales equal → multiplier 2^30, shift 1, i.e. ×1. The int8 values -1 and 2
        // are the bytes 255 and 2: 257 clamps to 255, stored as the byte 0xFF = -1
        // (an honest sum would give 1). 3 and 4 sum to 7 either way.
        let x = Value::new(vec![2, 2], TensorBuf::I8(vec![-1, 2, 3, 4]));
        let q = Some(((0.5, 0), (0.5, 0)));
        let y = reduce(Op::Sum { keep_dims: false }, x, &[1], q).unwrap();
        assert_eq!(y.data, TensorBuf::I8(vec![-1, 7]));
    }

    #[test]
    fn int8_max_needs_equal_parameters() {
        let x = Value::new(vec![3], TensorBuf::I8(vec![-5, 7, 7]));
        let same = Some(((0.1, 2), (0.1, 2)));
        let y = reduce(Op::ReduceMax { keep_dims: false }, x.clone(), &[0], same).unwrap();
        assert_eq!(y.data, TensorBuf::I8(vec![7]));
        let other = Some(((0.1, 2), (0.2, 2)));
        assert!(reduce(Op::ReduceMax { keep_dims: false }, x, &[0], other).is_err());
    }

    #[test]
    fn int8_prod_scales_every_step() {
        // 2·3·4 = 24 at input scale 1, output scale 8: n = 3 → step scaling
        // 1 / 8^(1/3) = 0.5 → (2^30, 0), i.e. the 16-bit multiplier 2^14 over 2^15:
        // 2·3 = 6 → 3; 3·4 = 12 → 6; final 6 → 3 = 24 / 8.
        let x = Value::new(vec![1, 3], TensorBuf::I8(vec![2, 3, 4]));
        let q = Some(((1.0, 0), (8.0, 0)));
        let y = reduce(Op::ReduceProd { keep_dims: true }, x, &[1], q).unwrap();
        assert_eq!((y.shape, y.data), (vec![1, 1], TensorBuf::I8(vec![3])));
    }
}
