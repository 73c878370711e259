//! MEAN over constant axes: float32, and int8/uint8/int16 as TFLite's reference. The
//! axes and output shape of every reduction (SUM, REDUCE_MAX/MIN/PROD too) are resolved
//! here; the other reductions' kernels are in `reduce_other`.
//!
//! Quantized MEAN: `BuiltinRefOpResolver` always runs `reference_ops::QuantizedMeanOrSum`
//! (reduce.cc `EvalQuantizedMean`); the special 4-D path over axes {1, 2}
//! (`optimized_integer_ops::Mean`) is taken only by the optimized kernel, in every
//! LiteRT version from 2.1 on. The reference sums the raw values of each output in
//! int32, subtracts `in_zp · n`, and applies `MBQM` with the multiplier of
//! `double(in_s) / double(out_s)` with 1/n folded in ([`fold_mean_divisor`]), adds the
//! output zero point and clamps to the type's range (MEAN has no fused activation).
//! An input with no elements gives zeros.
//!
//! As TFLite's reference `Mean`, each output element is an f32 running sum of its
//! inputs taken in row-major input order, divided once by the number of reduced
//! elements. Same order, same type: results match TFLite's reference kernel bit for
//! bit; against an exact mean the error is the usual f32 summation bound,
//! about count·2⁻²⁴ relative to Σ|x|/count.

use super::quantize::activation_params;
use super::shape::{check_len, const_ints, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::{
    effective_scale_ratio, fold_mean_divisor, quantize_multiplier, quantized_range,
};
use crate::kernels::reference::reduce::{mean_f32, QuantMean};

/// Quantized MEAN or SUM over a typed buffer.
pub(super) struct QuantMeanKernel {
    mean: QuantMean,
    len_in: usize,
    len_out: usize,
    /// Int8 SUM as LiteRT's reference runs it: see [`prepare_quantized`].
    int8_read_as_uint8: bool,
}

impl QuantMeanKernel {
    fn run_typed<T: Elem + Into<i32> + TryFrom<i32> + Default>(
        &self,
        x: &View<'_>,
        y: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        self.compute(T::slice(x)?, T::slice_mut(y)?)
    }

    fn compute<T: Into<i32> + TryFrom<i32> + Default + Copy>(
        &self,
        x: &[T],
        y: &mut [T],
    ) -> Result<(), KernelError> {
        check_len("input", x.len(), self.len_in)?;
        check_len("output", y.len(), self.len_out)?;
        self.mean.run(x, y);
        Ok(())
    }
}

impl Kernel for QuantMeanKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        if self.int8_read_as_uint8 {
            // LiteRT's reference SUM passes int8 buffers to the uint8 instantiation: each
            // byte is read, and the result (clamped to 0..=255) stored, as a uint8.
            let (x, y) = (x.i8()?, y.i8()?);
            check_len("input", x.len(), self.len_in)?;
            check_len("output", y.len(), self.len_out)?;
            self.mean.run_as(
                x,
                y,
                |v| i32::from(v as u8),
                |v| u8::try_from(v).ok().map(|b| b as i8),
            );
            return Ok(());
        }
        // A wrong type is reported by `run_typed`'s typed access.
        if matches!(y, ViewMut::I8(_)) {
            self.run_typed::<i8>(x, y)
        } else if matches!(y, ViewMut::U8(_)) {
            self.run_typed::<u8>(x, y)
        } else {
            self.run_typed::<i16>(x, y)
        }
    }
}

/// Quantized MEAN (`fold_divisor`) or SUM (not): both are LiteRT's
/// `QuantizedMeanOrSum`, which folds 1/n into the multiplier only for MEAN.
///
/// Int8 SUM reproduces a quirk of LiteRT's reference kernel (reduce.cc,
/// `QuantizedMeanOrSum<T, kReference>` hands `GetTensorData<uint8_t>` buffers to the
/// uint8 instantiation whatever `T` is): the int8 bytes are summed as uint8 values, with
/// the int8 zero points, clamped to 0..=255 and stored back as bytes. LiteRT's optimized
/// kernel sums the int8 values properly and gives different outputs; ferrolite follows
/// the reference, which its fixtures check bit for bit. Int16 SUM, which the reference
/// reads through the same uint8 pointer (half the bytes), is refused.
pub(super) fn prepare_quantized(
    ctx: &PrepareCtx<'_>,
    shape: &[usize],
    reduced: &[bool],
    count: usize,
    len_out: usize,
    fold_divisor: bool,
) -> Result<QuantMeanKernel, KernelError> {
    let input = ctx.input(0)?;
    let dtype = input.dtype;
    let (in_scale, in_zp) = activation_params(input.quantization.as_ref(), dtype, "the input")?;
    let (out_scale, out_zp) =
        activation_params(ctx.output(0)?.quantization.as_ref(), dtype, "the output")?;
    if dtype == DType::I16 && (in_zp != 0 || out_zp != 0) {
        kbail!("int16 {} needs zero points of 0", ctx.op.op.name());
    }
    let is_sum = !fold_divisor;
    if is_sum && dtype == DType::I16 {
        kbail!("int16 SUM is not supported (LiteRT's reference reads it as uint8)");
    }
    let int8_read_as_uint8 = is_sum && dtype == DType::I8;
    let (qmin, qmax) = if int8_read_as_uint8 {
        quantized_range(DType::U8)?
    } else {
        quantized_range(dtype)?
    };
    let (multiplier, shift) = quantize_multiplier(effective_scale_ratio(in_scale, out_scale))?;
    let count = i64::try_from(count).map_err(|_| KernelError::new("too many elements"))?;
    // With no elements the reference leaves the zeros it wrote, never rescaling.
    let (multiplier, shift) = if count > 0 && fold_divisor {
        fold_mean_divisor(multiplier, shift, count)?
    } else {
        (multiplier, shift)
    };
    let mut kept: Vec<(usize, usize)> = Vec::new();
    let mut reduced_dims: Vec<(usize, usize)> = Vec::new();
    let mut stride = 1usize;
    let mut last_kind: Option<bool> = None;
    for (&n, &is_reduced) in shape.iter().zip(reduced).rev() {
        if n != 1 {
            let dims = if is_reduced {
                &mut reduced_dims
            } else {
                &mut kept
            };
            match dims.last_mut() {
                // The previous non-unit dim (inner) was of the same kind: merge.
                Some(last) if last_kind == Some(is_reduced) && last.0 * last.1 == stride => {
                    last.0 *= n;
                }
                _ => dims.push((n, stride)),
            }
            last_kind = Some(is_reduced);
        }
        stride *= n;
    }
    kept.reverse();
    reduced_dims.reverse();
    Ok(QuantMeanKernel {
        mean: QuantMean {
            kept,
            reduced: reduced_dims,
            count,
            input_zero_point: in_zp,
            output_zero_point: out_zp,
            multiplier,
            shift,
            qmin,
            qmax,
        },
        len_in: input.num_elements(),
        len_out,
        int8_read_as_uint8,
    })
}

struct FloatMean {
    /// Input dims (simplified) and, per dim, the output stride (0 when reduced).
    shape: Vec<usize>,
    out_strides: Vec<usize>,
    /// Elements summed into each output.
    count: usize,
    len_in: usize,
    len_out: usize,
    /// No axes: the output is the input.
    identity: bool,
    /// Build the summing loop for AVX2 (the CPU has it).
    avx2: bool,
}

impl Kernel for FloatMean {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        let x = x.f32()?;
        let y = y.f32()?;
        check_len("input", x.len(), self.len_in)?;
        check_len("output", y.len(), self.len_out)?;
        if self.identity {
            y.copy_from_slice(x);
            return Ok(());
        }
        mean_f32(&self.shape, &self.out_strides, self.count, x, y, self.avx2);
        Ok(())
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let keep_dims = match ctx.op.op {
        Op::Mean { keep_dims }
        | Op::Sum { keep_dims }
        | Op::ReduceMax { keep_dims }
        | Op::ReduceMin { keep_dims }
        | Op::ReduceProd { keep_dims } => keep_dims,
        _ => kbail!("not a reduction"),
    };
    let input = ctx.input(0)?;
    let axes_info = ctx.input(1)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    if !matches!(axes_info.dtype, DType::I32 | DType::I64) {
        kbail!("axes must be int32 or int64, got {}", axes_info.dtype);
    }
    if axes_info.shape.len() > 1 {
        kbail!(
            "axes must be a scalar or 1-D, has shape {:?}",
            axes_info.shape
        );
    }
    let rank = input.shape.len();
    let mut reduced = vec![false; rank];
    for a in const_ints(axes_info, "the axes")? {
        let d = crate::kernels::common::axis(a, rank, "axis")?;
        match reduced.get_mut(d) {
            Some(r) => *r = true,
            None => kbail!("axis {a} is out of range for rank {rank}"),
        }
    }
    let out_shape: Vec<usize> = input
        .shape
        .iter()
        .zip(&reduced)
        .filter_map(|(&n, &r)| match (r, keep_dims) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let len_out: usize = out_shape.iter().product();
    let count: usize = input
        .shape
        .iter()
        .zip(&reduced)
        .filter(|(_, &r)| r)
        .map(|(&n, _)| n)
        .product();

    // Output stride of each input dim (0 on reduced dims), then merge runs of dims
    // that step through the output uniformly.
    let mut stride = 1usize;
    let mut full_os = vec![0usize; rank];
    for d in (0..rank).rev() {
        if !reduced[d] {
            full_os[d] = stride;
            stride *= input.shape[d];
        }
    }
    let mut dims: Vec<(usize, usize)> = Vec::new();
    for (&n, &os) in input.shape.iter().zip(&full_os) {
        if n == 1 {
            continue;
        }
        if let Some(last) = dims.last_mut() {
            if last.1 == os * n {
                *last = (last.0 * n, os);
                continue;
            }
        }
        dims.push((n, os));
    }
    if !matches!(ctx.op.op, Op::Mean { .. }) {
        let kernel = super::reduce_other::prepare(ctx, input, &reduced, &dims, count, len_out)?;
        return Ok(Prepared {
            output_shapes: vec![out_shape],
            kernel,
        });
    }
    if matches!(input.dtype, DType::I8 | DType::U8 | DType::I16) {
        let kernel = prepare_quantized(ctx, &input.shape, &reduced, count, len_out, true)?;
        return Ok(Prepared::new(vec![out_shape], kernel));
    }
    let kernel = FloatMean {
        shape: dims.iter().map(|d| d.0).collect(),
        out_strides: dims.iter().map(|d| d.1).collect(),
        count,
        len_in: input.num_elements(),
        len_out,
        identity: !reduced.contains(&true),
        avx2: ctx.cpu.fma(),
    };
    match input.dtype {
        DType::F32 => Ok(Prepared::new(vec![out_shape], kernel)),
        other => kbail!("MEAN of {other} tensors is not supported"),
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn mean(
        shape: Vec<usize>,
        x: Vec<f32>,
        axes: Tensor,
        keep_dims: bool,
    ) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, shape.clone()),
                axes,
                Tensor::activation("y", DType::F32, vec![]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Mean { keep_dims }, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, TensorBuf::F32(x))])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    fn axes(v: &[i32]) -> Tensor {
        Tensor::constant_i32("axes", vec![v.len()], v)
    }

    /// x[i][j][k] = 12i + 4j + k over [2,3,4] (iota).
    fn iota() -> Vec<f32> {
        (0..24).map(|v| v as f32).collect()
    }

    #[test]
    fn spatial_mean_with_and_without_keep_dims() {
        // Mean over j,k of 12i + 4j + k = 12i + 4 + 1.5.
        let y = mean(vec![2, 3, 4], iota(), axes(&[1, 2]), false).unwrap();
        assert_eq!(y.shape, vec![2]);
        assert_eq!(y.data, TensorBuf::F32(vec![5.5, 17.5]));
        // Same axes written negative and duplicated, keep_dims.
        let y = mean(vec![2, 3, 4], iota(), axes(&[-1, 1, 2]), true).unwrap();
        assert_eq!(y.shape, vec![2, 1, 1]);
        assert_eq!(y.data, TensorBuf::F32(vec![5.5, 17.5]));
    }

    #[test]
    fn middle_and_outer_axes() {
        // Over j: 12i + 4 + k.
        let y = mean(vec![2, 3, 4], iota(), axes(&[1]), false).unwrap();
        assert_eq!(y.shape, vec![2, 4]);
        assert_eq!(
            y.data,
            TensorBuf::F32(vec![4., 5., 6., 7., 16., 17., 18., 19.])
        );
        // Over i and k (scalar-per-axis constant given as int64): 6 + 4j + 1.5.
        let ax = Tensor::constant(
            "axes",
            DType::I64,
            vec![2],
            [0i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let y = mean(vec![2, 3, 4], iota(), ax, true).unwrap();
        assert_eq!(y.shape, vec![1, 3, 1]);
        assert_eq!(y.data, TensorBuf::F32(vec![7.5, 11.5, 15.5]));
        // A scalar axes tensor.
        let y = mean(
            vec![2, 3, 4],
            iota(),
            Tensor::constant_i32("axes", vec![], &[0]),
            false,
        )
        .unwrap();
        assert_eq!(y.shape, vec![3, 4]);
        let want: Vec<f32> = (0..12).map(|v| v as f32 + 6.0).collect();
        assert_eq!(y.data, TensorBuf::F32(want));
    }

    proptest::proptest! {
        /// A mean over the leading axis (the spatial mean of NHWC after simplification,
        /// the AVX2 row loop) is TFLite's row-major running sum, bit for bit.
        #[test]
        fn leading_axis_mean_is_the_row_major_sum(rows in 1usize..40, n in 1usize..40, seed in proptest::prelude::any::<u64>()) {
            let mut state = seed | 1;
            let x: Vec<f32> = (0..rows * n)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 40) as f32 / (1u64 << 20) as f32 - 8.0
                })
                .collect();
            let mut want = vec![0.0f32; n];
            for row in x.chunks(n) {
                for (w, &v) in want.iter_mut().zip(row) {
                    *w += v;
                }
            }
            let want: Vec<u32> = want.iter().map(|w| (w / rows as f32).to_bits()).collect();
            let y = mean(vec![1, rows, 1, n], x, axes(&[1, 2]), true).unwrap();
            let TensorBuf::F32(got) = y.data else { panic!("float output") };
            let got: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn empty_axes_is_identity_and_bad_axes_fail() {
        let y = mean(vec![2, 3, 4], iota(), axes(&[]), false).unwrap();
        assert_eq!(y.shape, vec![2, 3, 4]);
        assert_eq!(y.data, TensorBuf::F32(iota()));
        let y = mean(vec![2, 3, 4], iota(), axes(&[0, 1, 2]), false).unwrap();
        assert_eq!(y.shape, Vec::<usize>::new());
        assert_eq!(y.data, TensorBuf::F32(vec![11.5]));
        assert!(mean(vec![2, 3, 4], iota(), axes(&[3]), false).is_err());
        assert!(mean(vec![2, 3, 4], iota(), axes(&[-4]), false).is_err());
    }

    fn mean_q(
        x: TensorBuf,
        shape: Vec<usize>,
        axes_v: &[i32],
        keep_dims: bool,
        inq: (f32, i64),
        outq: (f32, i64),
    ) -> Result<Value, String> {
        use crate::ir::Quantization;
        let dtype = x.dtype();
        let mut tx = Tensor::activation("x", dtype, shape.clone());
        tx.quantization = Some(Quantization::per_tensor(inq.0, inq.1));
        let mut ty = Tensor::activation("y", dtype, vec![]);
        ty.quantization = Some(Quantization::per_tensor(outq.0, outq.1));
        let graph = Graph {
            name: None,
            tensors: vec![tx, axes(axes_v), ty],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Mean { keep_dims }, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, x)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn int8_spatial_mean_folds_the_divisor() {
        // NHWC [1,2,2,2]; channel 0 holds 1,2,3,5 and channel 1 -3,-4,-4,-4.
        // in (0.5, -1), out (0.25, 3): ratio 2 → (2^30, 2); n = 4 folds to
        // shift = min(log2 4, 32, 33) = 2, (2^30 << 2) / 4 = 2^30, shift 0:
        // MBQM(v) = SRDHM(v, 2^30) = v/2 rounded half up, v = sum + 4.
        // c0: (11 + 4)/2 = 7.5 → 8 → 11;  c1: (-15 + 4)/2 = -5.5 → -5 → -2.
        let x = TensorBuf::I8(vec![1, -3, 2, -4, 3, -4, 5, -4]);
        let y = mean_q(
            x.clone(),
            vec![1, 2, 2, 2],
            &[1, 2],
            true,
            (0.5, -1),
            (0.25, 3),
        )
        .unwrap();
        assert_eq!(y.shape, vec![1, 1, 1, 2]);
        assert_eq!(y.data, TensorBuf::I8(vec![11, -2]));
        let y = mean_q(x, vec![1, 2, 2, 2], &[2, 1], false, (0.5, -1), (0.25, 3)).unwrap();
        assert_eq!(y.shape, vec![1, 2]);
        assert_eq!(y.data, TensorBuf::I8(vec![11, -2]));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// The NHWC global pool (contiguous channel blocks) against the strided loop
        /// on the same numbers laid out channel-major, reduced over the last axis.
        #[test]
        fn global_pool_matches_the_strided_loop(
            h in 1usize..7,
            w in 1usize..7,
            c in 1usize..150,
            seed in proptest::prelude::any::<u64>(),
            in_zp in -128i64..128,
            out_zp in -128i64..128,
            scales in (0.001f32..0.1, 0.001f32..0.1),
        ) {
            let mut state = seed | 1;
            let nhwc: Vec<i8> = (0..h * w * c)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as i8
                })
                .collect();
            let mut chw = vec![0i8; h * w * c];
            for p in 0..h * w {
                for ch in 0..c {
                    chw[ch * h * w + p] = nhwc[p * c + ch];
                }
            }
            let inq = (scales.0, in_zp);
            let outq = (scales.1, out_zp);
            let fast = mean_q(TensorBuf::I8(nhwc), vec![1, h, w, c], &[1, 2], false, inq, outq);
            let slow = mean_q(TensorBuf::I8(chw), vec![c, h * w], &[1], false, inq, outq);
            proptest::prop_assert_eq!(fast.unwrap().data, slow.unwrap().data);
        }
    }

    #[test]
    fn uint8_mean_over_three_elements() {
        // Ratio 1 → (2^30, 1); n = 3: shift = min(1, 32, 32) = 1,
        // (2^30 << 1) / 3 = 715827882, shift 0: MBQM(v) = SRDHM(v, 715827882) ≈ v/3.
        // Rows: [1,2,4] → 7/3 → 2; [10,11,200] → 221/3 = 73.67 → 74;
        // [0,0,255] → 85 (85.4999999 before truncation).
        let x = TensorBuf::U8(vec![1, 2, 4, 10, 11, 200, 0, 0, 255]);
        let y = mean_q(x.clone(), vec![3, 3], &[1], false, (1.0, 0), (1.0, 0)).unwrap();
        assert_eq!(y.data, TensorBuf::U8(vec![2, 74, 85]));
        // Zero points 128: v = sum - 384; [1,2,4] → -377/3 = -125.67 → -126 → 2;
        // -163/3 = -54.33 → -54 → 74; -129/3 → -43 (-43.4999) → 85.
        let y = mean_q(x, vec![3, 3], &[-1], false, (1.0, 128), (1.0, 128)).unwrap();
        assert_eq!(y.data, TensorBuf::U8(vec![2, 74, 85]));
    }

    #[test]
    fn int8_mean_over_outer_and_inner_axes() {
        // [2,3,2] over axes 0 and 2 (n = 4), scales equal, zero points 0:
        // shift = min(2, 32, 33) = 2 → (2^30 << 2)/4 = 2^30, shift 1 - 2 = -1:
        // MBQM(v) = RDBP(SRDHM(v, 2^30), 1) = v/4 (double rounding).
        // x[i][j][k] = 10j + 2i + k - 20 → sum over i,k = 40j + 6 - 80.
        // j=0: -74 → SRDHM -37 → RDBP -18.5 → -19;  j=1: -34 → -17 → -9 (-8.5);
        // j=2: 6 → 3 → 2 (1.5).
        let mut v = Vec::new();
        for i in 0..2i8 {
            for j in 0..3i8 {
                for k in 0..2i8 {
                    v.push(10 * j + 2 * i + k - 20);
                }
            }
        }
        let y = mean_q(
            TensorBuf::I8(v),
            vec![2, 3, 2],
            &[0, 2],
            true,
            (1.0, 0),
            (1.0, 0),
        )
        .unwrap();
        assert_eq!(y.shape, vec![1, 3, 1]);
        assert_eq!(y.data, TensorBuf::I8(vec![-19, -9, 2]));
    }
}
