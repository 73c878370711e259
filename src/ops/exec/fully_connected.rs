//! FULLY_CONNECTED.
//!
//! `prepare` dispatches on the (input, weights) element types so integer variants can
//! sit beside the float one. Weights are [units, depth] and each output is a dot product
//! along contiguous memory, so dense weights are used as stored; sparse constant weights
//! are expanded once at prepare.

use crate::kernels::common::activation_range_f32;
use std::marker::PhantomData;

use super::hybrid::fc_geometry;
use super::q8::{
    channel_scales, check_bias_i32, optional_i32, q8_constant, q8_input, q8_output, q8_params, Q8,
};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, FullyConnectedOptions, Op};
use crate::ir::{TensorBuf, View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_per_channel, effective_scale_per_tensor,
    quantize_multiplier, quantized_range,
};
use crate::kernels::reference::fully_connected::{fc_f32, fc_q8, FcQ8Params, FcRequant};
use crate::ops::exec::TensorInfo;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    if super::sparse_fc::applies(ctx) {
        return super::sparse_fc::prepare(ctx);
    }
    if super::hybrid::applies(ctx) {
        return super::hybrid::prepare_fully_connected(ctx);
    }
    let Op::FullyConnected(options) = &ctx.op.op else {
        kbail!("the fully connected kernel cannot run {}", ctx.op.op.name());
    };
    if options.shuffled_weights {
        kbail!("weights in the shuffled SHUFFLED4x16INT8 format are not supported");
    }
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let weights = ctx.input(1)?;
    match (input.dtype, weights.dtype) {
        (DType::F32, DType::F32) => prepare_f32(ctx, options, input, weights),
        (DType::I8, DType::I8) => {
            prepare_q8::<i8>(ctx, options, input, weights, FcRequantMode::current())
        }
        (DType::U8, DType::U8) => {
            prepare_q8::<u8>(ctx, options, input, weights, FcRequantMode::current())
        }
        (i, w) => kbail!("FULLY_CONNECTED with {i} input and {w} weights is not supported"),
    }
}

/// The dense float kernel whatever the weights' encoding: sparse weights are expanded
/// once here (`sparse_fc` chooses this where its own kernels would be slower).
pub(super) fn prepare_dense_f32(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::FullyConnected(options) = &ctx.op.op else {
        kbail!("the fully connected kernel cannot run {}", ctx.op.op.name());
    };
    ctx.expect_arity(2, 3, 1)?;
    prepare_f32(ctx, options, ctx.input(0)?, ctx.input(1)?)
}

struct FcF32 {
    batches: usize,
    depth: usize,
    units: usize,
    /// Weights expanded from a sparse constant; dense weights are read from input 1.
    densified: Option<Vec<f32>>,
    range: (f32, f32),
    fused: bool,
}

fn prepare_f32(
    ctx: &PrepareCtx<'_>,
    options: &FullyConnectedOptions,
    input: &TensorInfo,
    weights: &TensorInfo,
) -> Result<Prepared, KernelError> {
    let out_dtype = ctx.output(0)?.dtype;
    if out_dtype != DType::F32 {
        kbail!(
            "float32 input and weights must produce float32 output, the model declares {out_dtype}"
        );
    }
    let shape = fc_geometry(options, input, weights)?;
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::F32 {
            kbail!("bias must be float32 for float weights, got {}", bias.dtype);
        }
        if bias.num_elements() != shape.units {
            kbail!(
                "bias has {} elements, the weights have {} units",
                bias.num_elements(),
                shape.units
            );
        }
    }
    let range = activation_range_f32(options.activation)?;
    let densified = match &weights.sparsity {
        None => None,
        Some(sparsity) => {
            let values = weights.constant_or_err("sparse weights")?;
            let dense = crate::sparse::densify(sparsity, &weights.shape, values)
                .map_err(|e| KernelError::new(format!("weights ('{}'): {e}", weights.name)))?;
            match dense {
                TensorBuf::F32(v) if v.len() == shape.units * shape.depth => Some(v),
                other => kbail!(
                    "densified weights have {} {} values, expected {} float32",
                    other.len(),
                    other.dtype(),
                    shape.units * shape.depth
                ),
            }
        }
    };
    Ok(Prepared::new(
        vec![shape.output],
        FcF32 {
            batches: shape.batches,
            depth: shape.depth,
            units: shape.units,
            densified,
            range,
            fused: ctx.cpu.fma(),
        },
    ))
}

impl Kernel for FcF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = match inputs.first() {
            Some(v) => v.f32()?,
            None => kbail!("input 0 is missing"),
        };
        let weights = match &self.densified {
            Some(w) => w.as_slice(),
            None => match inputs.get(1) {
                Some(v) => v.f32()?,
                None => kbail!("input 1 is missing"),
            },
        };
        let bias = match inputs.get(2) {
            None | Some(View::Absent) => None,
            Some(v) => Some(v.f32()?),
        };
        let out = match outputs.first_mut() {
            Some(v) => v.f32()?,
            None => kbail!("output 0 is missing"),
        };
        if input.len() != self.batches * self.depth
            || weights.len() != self.units * self.depth
            || out.len() != self.batches * self.units
            || bias.is_some_and(|b| b.len() != self.units)
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        let shape = (self.depth, self.units);
        fc_f32(shape, input, weights, bias, out, self.range, self.fused);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// 8-bit quantized FULLY_CONNECTED (int8 per tensor or per channel, uint8 per tensor); the
// loop and the accumulator's algebra are in `kernels::reference::fully_connected`.

/// Which [`FcRequant`] `prepare` builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum FcRequantMode {
    #[default]
    Double,
    /// Only tests select it (to show what the fixtures and LiteRT's source decide);
    /// it costs a match arm at prepare.
    #[cfg_attr(not(test), allow(dead_code))]
    Fixed,
}

#[cfg(test)]
thread_local! {
    /// Lets tests run whole models with the other requantization.
    pub(crate) static MODE_OVERRIDE: std::cell::Cell<Option<FcRequantMode>> =
        const { std::cell::Cell::new(None) };
}

impl FcRequantMode {
    /// The mode the dispatch uses: [`FcRequantMode::Double`], which reproduces LiteRT
    /// 2.3.0's BUILTIN_REF outputs on the TensorFlow-made fixtures.
    fn current() -> FcRequantMode {
        #[cfg(test)]
        if let Some(mode) = MODE_OVERRIDE.with(|m| m.get()) {
            return mode;
        }
        FcRequantMode::default()
    }
}

struct FcQ8<T> {
    batches: usize,
    params: FcQ8Params,
    avx2: bool,
    elem: PhantomData<fn() -> T>,
}

pub(crate) fn prepare_q8<T: Q8>(
    ctx: &PrepareCtx<'_>,
    options: &FullyConnectedOptions,
    input: &TensorInfo,
    weights: &TensorInfo,
    mode: FcRequantMode,
) -> Result<Prepared, KernelError> {
    let output = ctx.output(0)?;
    if output.dtype != T::DTYPE {
        kbail!(
            "{} input and weights must produce {} output, the model declares {}",
            T::DTYPE,
            T::DTYPE,
            output.dtype
        );
    }
    if weights.sparsity.is_some() {
        kbail!("sparse {} weights are not supported here", T::DTYPE);
    }
    let shape = fc_geometry(options, input, weights)?;
    check_bias_i32(ctx, shape.units)?;
    let (in_s, in_zp) = q8_params(input.quantization.as_ref(), T::DTYPE, "input")?;
    let (out_s, out_zp) = q8_params(output.quantization.as_ref(), T::DTYPE, "output")?;
    let w = channel_scales(weights, shape.units, 0, "weights")?;
    // The per-channel kernel assumes symmetric weights and ignores their zero points;
    // the per-tensor one applies the (single) zero point.
    let weight_offset = if w.per_channel {
        if T::DTYPE != DType::I8 {
            kbail!("per-channel weight quantization needs int8 inputs");
        }
        0
    } else {
        let zp = w.zero_points[0];
        let (lo, hi) = quantized_range(T::DTYPE)?;
        if zp < i64::from(lo) || zp > i64::from(hi) {
            kbail!("weights zero point {zp} is outside the {} range", T::DTYPE);
        }
        -(zp as i32)
    };
    let requant = match mode {
        FcRequantMode::Double => FcRequant::Double(
            w.scales
                .iter()
                .map(|&ws| effective_scale_per_channel(in_s, ws, out_s))
                .collect(),
        ),
        FcRequantMode::Fixed => FcRequant::Fixed(
            w.scales
                .iter()
                .map(|&ws| {
                    quantize_multiplier(if w.per_channel {
                        effective_scale_per_channel(in_s, ws, out_s)
                    } else {
                        effective_scale_per_tensor(in_s, ws, out_s)
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let values = q8_constant::<T>(weights, shape.units * shape.depth, "quantized weights")?;
    let input_offset = -in_zp;
    let range = calculate_activation_range_quantized(options.activation, out_s, out_zp, T::DTYPE)?;
    Ok(Prepared::new(
        vec![shape.output],
        FcQ8::<T> {
            batches: shape.batches,
            params: FcQ8Params::new(
                values,
                weight_offset,
                input_offset,
                shape.depth,
                shape.units,
                requant,
                out_zp,
                range,
            ),
            avx2: ctx.cpu.avx2(),
            elem: PhantomData,
        },
    ))
}

impl<T: Q8> Kernel for FcQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = q8_input::<T>(inputs, 0)?;
        let bias = optional_i32(inputs, 2)?;
        let out = q8_output::<T>(outputs)?;
        let k = &self.params;
        if input.len() != self.batches * k.depth
            || out.len() != self.batches * k.units
            || bias.is_some_and(|b| b.len() != k.units)
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        fc_q8(k, input, bias, out, self.avx2);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_support::{
        assert_close, cpu_variant, cst, info, prepare_infos, run_f32, run_f32_on, var, In, Rng,
    };
    use super::*;
    use crate::interp::Interpreter;
    use crate::ir::Value;
    use crate::ir::{
        self, Activation, Conv2dOptions, DimensionMetadata, Graph, IndexVector, Model, Operator,
        Padding, Pool2dOptions, Sparsity,
    };

    fn fc_op(activation: Activation, keep_num_dims: bool) -> Op {
        Op::FullyConnected(FullyConnectedOptions {
            activation,
            keep_num_dims,
            ..Default::default()
        })
    }

    /// Weights [[1,2,3],[0,-1,1]], bias [1, 0.5].
    fn weights() -> Option<In> {
        cst(&[2, 3], vec![1., 2., 3., 0., -1., 1.])
    }

    fn bias() -> Option<In> {
        cst(&[2], vec![1., 0.5])
    }

    #[test]
    fn fc_rows_and_relu() {
        // Row [1,1,1]: 1+2+3+1 = 7 and 0-1+1+0.5 = 0.5. Row [-1,-1,-1]: -6+1 = -5 → 0
        // under RELU, and 1-1+0.5 = 0.5.
        let (shape, out) = run_f32(
            fc_op(Activation::Relu, false),
            &[
                var(&[2, 3], vec![1., 1., 1., -1., -1., -1.]),
                weights(),
                bias(),
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![2, 2]);
        assert_eq!(out, vec![7., 0.5, 0., 0.5]);
        // Without bias and activation the first row gives 6 and 0.
        let (_, out) = run_f32(
            fc_op(Activation::None, false),
            &[
                var(&[2, 3], vec![1., 1., 1., -1., -1., -1.]),
                weights(),
                None,
            ],
        )
        .unwrap();
        assert_eq!(out, vec![6., 0., -6., 0.]);
    }

    #[test]
    fn fc_rank_3_input_flattens_or_keeps_dims() {
        // [2,1,3] input = two rows of depth 3: [1,0,0] → 1+1, 0+0.5; [0,0,2] → 6+1, 2+0.5.
        let input = || var(&[2, 1, 3], vec![1., 0., 0., 0., 0., 2.]);
        let (shape, out) = run_f32(
            fc_op(Activation::None, false),
            &[input(), weights(), bias()],
        )
        .unwrap();
        assert_eq!(shape, vec![2, 2]);
        assert_eq!(out, vec![2., 0.5, 7., 2.5]);
        let (shape, out) =
            run_f32(fc_op(Activation::None, true), &[input(), weights(), bias()]).unwrap();
        assert_eq!(shape, vec![2, 1, 2]);
        assert_eq!(out, vec![2., 0.5, 7., 2.5]);
        // A [1,6] input is two batches of depth 3 when dims are not kept ...
        let (shape, _) = run_f32(
            fc_op(Activation::None, false),
            &[
                var(&[1, 6], vec![1., 0., 0., 0., 0., 2.]),
                weights(),
                bias(),
            ],
        )
        .unwrap();
        assert_eq!(shape, vec![2, 2]);
        // ... but keep_num_dims needs the last dim to be the depth.
        assert!(run_f32(
            fc_op(Activation::None, true),
            &[var(&[1, 6], vec![0.; 6]), weights(), bias()]
        )
        .is_err());
        // And the element count must be a multiple of the depth.
        assert!(run_f32(
            fc_op(Activation::None, false),
            &[var(&[1, 4], vec![0.; 4]), weights(), bias()]
        )
        .is_err());
    }

    #[test]
    fn fc_rank_1_input_and_runtime_weights() {
        // Weights that are not constants (a model input) are legal.
        let runtime = Some(In {
            shape: vec![2, 3],
            data: vec![1., 2., 3., 0., -1., 1.],
            constant: false,
        });
        let (shape, out) = run_f32(
            fc_op(Activation::ReluN1To1, false),
            &[var(&[3], vec![1., 1., 1.]), runtime, bias()],
        )
        .unwrap();
        assert_eq!(shape, vec![1, 2]);
        assert_eq!(out, vec![1., 0.5]);
    }

    #[test]
    fn fc_rejects_shuffled_weights_bad_bias_and_types() {
        let op = Op::FullyConnected(FullyConnectedOptions {
            shuffled_weights: true,
            ..Default::default()
        });
        let err = run_f32(op, &[var(&[1, 3], vec![0.; 3]), weights(), bias()]).unwrap_err();
        assert!(err.0.contains("shuffled"), "{}", err.0);
        assert!(run_f32(
            fc_op(Activation::None, false),
            &[var(&[1, 3], vec![0.; 3]), weights(), cst(&[3], vec![0.; 3])]
        )
        .is_err());
        assert!(run_f32(
            fc_op(Activation::None, false),
            &[var(&[1, 3], vec![0.; 3]), cst(&[6], vec![0.; 6]), None]
        )
        .is_err());
        let input = info(&var(&[1, 3], vec![0.; 3]).unwrap());
        let mut w = info(&weights().unwrap());
        w.dtype = DType::I8;
        let err = prepare_infos(fc_op(Activation::None, false), &[Some(input), Some(w)])
            .err()
            .unwrap();
        // Float input with int8 weights is the hybrid path, which wants int8 data.
        assert!(err.0.contains("int8"), "{}", err.0);
    }

    #[test]
    fn fc_sparse_weights_are_densified() {
        // Dense weights [[1,0,0,2],[0,0,3,0]] as CSR: row 0 holds columns 0 and 3, row 1
        // column 2. Input [1,10,100,1000] → 1 + 2000 = 2001 and 300.
        let sparsity = Sparsity {
            traversal_order: vec![0, 1],
            block_map: vec![],
            dim_metadata: vec![
                DimensionMetadata::Dense { size: 2 },
                DimensionMetadata::SparseCsr {
                    segments: IndexVector::U8(vec![0, 2, 3]),
                    indices: IndexVector::U8(vec![0, 3, 2]),
                },
            ],
        };
        let input = In {
            shape: vec![1, 4],
            data: vec![1., 10., 100., 1000.],
            constant: false,
        };
        let mut w = info(&cst(&[2, 4], vec![1., 2., 3.]).unwrap());
        w.sparsity = Some(sparsity);
        w.constant = Some(Arc::new(TensorBuf::F32(vec![1., 2., 3.])));
        let prepared = prepare_infos(
            fc_op(Activation::None, false),
            &[Some(info(&input)), Some(w)],
        )
        .unwrap();
        let mut out = vec![0.0f32; 2];
        prepared
            .kernel
            .run(
                &[View::F32(&input.data), View::F32(&[1., 2., 3.])],
                &mut [ViewMut::F32(&mut out)],
            )
            .unwrap();
        assert_eq!(out, vec![2001., 300.]);
    }

    /// The specification: one sequential dot product per output.
    fn reference_fc(
        input: &[f32],
        weights: &[f32],
        bias: Option<&[f32]>,
        depth: usize,
        range: (f32, f32),
    ) -> Vec<f32> {
        let units = weights.len() / depth;
        let mut out = Vec::new();
        for row in input.chunks(depth) {
            for u in 0..units {
                let mut total = 0.0f32;
                for d in 0..depth {
                    total += row[d] * weights[u * depth + d];
                }
                let v = total + bias.map_or(0.0, |b| b[u]);
                out.push(v.max(range.0).min(range.1));
            }
        }
        out
    }

    #[test]
    fn fc_matches_reference_on_random_configurations() {
        let mut rng = Rng(0xfc00_fc00_1234_5678);
        for case in 0..400 {
            let cpu = cpu_variant(case % 2 == 1);
            let depth = rng.range(1, 80);
            let units = rng.range(1, 20);
            let batches = rng.range(1, 4);
            let act = [
                Activation::None,
                Activation::Relu,
                Activation::Relu6,
                Activation::ReluN1To1,
            ][rng.range(0, 3)];
            let input = rng.vec(batches * depth);
            let weights = rng.vec(units * depth);
            let bias = rng.vec(units);
            let with_bias = rng.range(0, 1) == 0;
            let w = In {
                shape: vec![units, depth],
                data: weights.clone(),
                constant: rng.range(0, 1) == 0,
            };
            let (shape, got) = run_f32_on(
                cpu,
                fc_op(act, false),
                &[
                    var(&[batches, depth], input.clone()),
                    Some(w),
                    with_bias.then(|| cst(&[units], bias.clone())).flatten(),
                ],
            )
            .unwrap();
            assert_eq!(shape, vec![batches, units]);
            let range = activation_range_f32(act).unwrap();
            let want = reference_fc(
                &input,
                &weights,
                with_bias.then_some(&bias[..]),
                depth,
                range,
            );
            assert_close(&got, &want, 1e-5, &format!("fc case {case}"));
        }
    }

    /// Input [N,8,8,1] → CONV_2D 4 filters 3x3 VALID RELU → MAX_POOL 2x2 → FC 36→3,
    /// planned and run by the interpreter, checked against the chained kernels' specs
    /// computed by hand-rolled loops here.
    #[test]
    fn small_cnn_through_the_interpreter() {
        let mut rng = Rng(42);
        let filter = rng.vec(4 * 3 * 3);
        let conv_bias = rng.vec(4);
        let fc_w = rng.vec(3 * 36);
        let fc_b = rng.vec(3);
        let tensors = vec![
            ir::Tensor::activation("image", DType::F32, vec![1, 8, 8, 1]),
            ir::Tensor::constant_f32("filter", vec![4, 3, 3, 1], &filter),
            ir::Tensor::constant_f32("conv_bias", vec![4], &conv_bias),
            ir::Tensor::activation("conv", DType::F32, vec![1, 6, 6, 4]),
            ir::Tensor::activation("pool", DType::F32, vec![1, 3, 3, 4]),
            ir::Tensor::constant_f32("fc_w", vec![3, 36], &fc_w),
            ir::Tensor::constant_f32("fc_b", vec![3], &fc_b),
            ir::Tensor::activation("logits", DType::F32, vec![1, 3]),
        ];
        let operators = vec![
            Operator {
                op: Op::Conv2d(Conv2dOptions {
                    padding: Padding::Valid,
                    stride_w: 1,
                    stride_h: 1,
                    dilation_w: 1,
                    dilation_h: 1,
                    activation: Activation::Relu,
                }),
                inputs: vec![Some(0), Some(1), Some(2)],
                outputs: vec![3],
            },
            Operator {
                op: Op::MaxPool2d(Pool2dOptions {
                    padding: Padding::Valid,
                    stride_w: 2,
                    stride_h: 2,
                    filter_w: 2,
                    filter_h: 2,
                    activation: Activation::None,
                }),
                inputs: vec![Some(3)],
                outputs: vec![4],
            },
            Operator {
                op: fc_op(Activation::None, false),
                inputs: vec![Some(4), Some(5), Some(6)],
                outputs: vec![7],
            },
        ];
        let graph = Graph {
            name: None,
            tensors,
            inputs: vec![0],
            outputs: vec![7],
            operators,
        };
        let mut interp = Interpreter::new(Model::with_default_signature(graph)).unwrap();
        for batch in [1usize, 3] {
            let image = rng.vec(batch * 64);
            let out = interp
                .run(&[Value::new(
                    vec![batch, 8, 8, 1],
                    TensorBuf::F32(image.clone()),
                )])
                .unwrap();
            assert_eq!(out[0].shape, vec![batch, 3]);
            // Expected logits by direct loops.
            let mut want = Vec::new();
            for b in 0..batch {
                let px = |y: usize, x: usize| image[b * 64 + y * 8 + x];
                let conv = |y: usize, x: usize, oc: usize| {
                    let mut t = 0.0f32;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            t += px(y + ky, x + kx) * filter[oc * 9 + ky * 3 + kx];
                        }
                    }
                    (t + conv_bias[oc]).max(0.0)
                };
                let mut pooled = Vec::new();
                for py in 0..3 {
                    for pxx in 0..3 {
                        for oc in 0..4 {
                            let m = conv(2 * py, 2 * pxx, oc)
                                .max(conv(2 * py, 2 * pxx + 1, oc))
                                .max(conv(2 * py + 1, 2 * pxx, oc))
                                .max(conv(2 * py + 1, 2 * pxx + 1, oc));
                            pooled.push(m);
                        }
                    }
                }
                want.extend(reference_fc(
                    &pooled,
                    &fc_w,
                    Some(&fc_b),
                    36,
                    (f32::NEG_INFINITY, f32::INFINITY),
                ));
            }
            let TensorBuf::F32(got) = &out[0].data else {
                panic!("float output expected")
            };
            assert_close(got, &want, 1e-5, "small cnn");
        }
    }
}

#[cfg(test)]
mod q8_tests {
    use super::super::test_support::cpu_variant;
    use super::super::test_support::q8::{bias, per_channel, per_tensor, run_q8, run_q8_on, Q};
    use super::super::test_support::Rng;
    use super::super::PrepareCtx;
    use super::*;
    use crate::ir::{self, Activation, Operator, Quantization};

    fn fc_op() -> Op {
        Op::FullyConnected(FullyConnectedOptions::default())
    }

    /// Runs with an explicit requantization mode (the dispatch always uses the default).
    fn run_mode(ins: &[Option<Q>], out_s: f32, out_zp: i64, mode: FcRequantMode) -> Vec<i32> {
        let infos: Vec<Option<TensorInfo>> = ins.iter().map(|i| i.as_ref().map(Q::info)).collect();
        let operator = Operator {
            op: fc_op(),
            inputs: (0..infos.len()).map(Some).collect(),
            outputs: vec![infos.len()],
        };
        let dtype = infos[0].as_ref().unwrap().dtype;
        let mut out = ir::Tensor::activation("out", dtype, vec![]);
        out.quantization = Some(Quantization::per_tensor(out_s, out_zp));
        let ctx = PrepareCtx {
            op: &operator,
            inputs: infos.iter().map(|i| i.as_ref()).collect(),
            outputs: vec![&out],
            cpu: crate::kernels::cpu::CpuFeatures::detect(),
        };
        let (x, w) = (infos[0].as_ref().unwrap(), infos[1].as_ref().unwrap());
        let options = FullyConnectedOptions::default();
        let prepared = match dtype {
            DType::I8 => prepare_q8::<i8>(&ctx, &options, x, w, mode),
            _ => prepare_q8::<u8>(&ctx, &options, x, w, mode),
        }
        .unwrap();
        let bufs: Vec<Option<TensorBuf>> = ins.iter().map(|i| i.as_ref().map(Q::buf)).collect();
        let views: Vec<View<'_>> = bufs
            .iter()
            .map(|b| b.as_ref().map_or(View::Absent, |b| b.view()))
            .collect();
        let mut y = TensorBuf::zeros(dtype, prepared.output_shapes[0].iter().product());
        prepared.kernel.run(&views, &mut [y.view_mut()]).unwrap();
        y.to_f64().iter().map(|&v| v as i32).collect()
    }

    /// Mismatching output elements of a fixture run image by image with `mode`.
    fn fixture_mismatches(name: &str, mode: FcRequantMode) -> usize {
        use crate::interp::{Interpreter, Value};
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite");
        let model = crate::tflite::read_file(&dir.join(format!("{name}.tflite"))).unwrap();
        let input = crate::data::npy::read(&dir.join(format!("{name}.input.npy"))).unwrap();
        let want = crate::data::npy::read(&dir.join(format!("{name}.output.ref.npy"))).unwrap();
        MODE_OVERRIDE.with(|m| m.set(Some(mode)));
        let mut interp = Interpreter::new(model).unwrap();
        let (TensorBuf::I8(x), TensorBuf::I8(y)) = (&input.data, &want.data) else {
            panic!("{name}: int8 fixture expected");
        };
        let (rows, per_in, per_out) = (
            input.shape[0],
            x.len() / input.shape[0],
            y.len() / input.shape[0],
        );
        let mut bad = 0;
        for i in 0..rows {
            let mut shape = input.shape.clone();
            shape[0] = 1;
            let one = Value::new(
                shape,
                TensorBuf::I8(x[i * per_in..(i + 1) * per_in].to_vec()),
            );
            let out = interp.run(&[one]).unwrap();
            let TensorBuf::I8(got) = &out[0].data else {
                panic!("int8 output expected")
            };
            bad += got
                .iter()
                .zip(&y[i * per_out..(i + 1) * per_out])
                .filter(|(a, b)| a != b)
                .count();
        }
        MODE_OVERRIDE.with(|m| m.set(None));
        bad
    }

    /// Both requantizations reproduce the 32 fixture images of each model, so these
    /// fixtures alone cannot tell them apart; LiteRT's source at 2.x does (the double
    /// one, commit 9213607 is in v2.1.0 and later).
    #[test]
    fn fixtures_match_in_both_requantizations() {
        for name in ["mnist_mlp_int8", "mnist_cnn_int8"] {
            assert_eq!(fixture_mismatches(name, FcRequantMode::Double), 0, "{name}");
            assert_eq!(fixture_mismatches(name, FcRequantMode::Fixed), 0, "{name}");
        }
    }

    /// Over all 10 000 MNIST test images: how many FC outputs the two requantizations
    /// disagree on, the accuracy each reaches, and that the default one (`Double`) gets
    /// exactly as many images right as LiteRT's reference kernels (the manifest).
    #[test]
    #[ignore = "slow (all of MNIST); run in release with --ignored --nocapture"]
    fn requantizations_over_all_mnist() {
        use crate::interp::{Interpreter, Value};
        let mnist =
            crate::data::load(&crate::data::default_dir(), crate::data::Split::Test).unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite");
        for name in ["mnist_mlp_int8", "mnist_cnn_int8"] {
            let model = crate::tflite::read_file(&dir.join(format!("{name}.tflite"))).unwrap();
            let input = &model.graph.tensors[model.graph.inputs[0]];
            let batch =
                crate::verify::accuracy::mnist_batch(input, &mnist.images, mnist.count).unwrap();
            let mut outs = vec![];
            for mode in [FcRequantMode::Double, FcRequantMode::Fixed] {
                MODE_OVERRIDE.with(|m| m.set(Some(mode)));
                let mut interp = Interpreter::new(model.clone()).unwrap();
                outs.push(
                    interp
                        .run(&[Value::new(batch.shape.clone(), batch.data.clone())])
                        .unwrap()
                        .remove(0),
                );
                MODE_OVERRIDE.with(|m| m.set(None));
            }
            let (a, b) = (outs[0].data.to_f64(), outs[1].data.to_f64());
            let differ = a.iter().zip(&b).filter(|(x, y)| x != y).count();
            let correct = |v: &Value| {
                crate::verify::accuracy::argmax_rows(v)
                    .iter()
                    .zip(&mnist.labels)
                    .filter(|(p, l)| **p == usize::from(**l))
                    .count()
            };
            println!(
                "{name}: {differ} of {} outputs differ; correct: double {}, fixed {}",
                a.len(),
                correct(&outs[0]),
                correct(&outs[1])
            );
            let manifest: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                    .unwrap();
            let litert = manifest["models"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["file"] == format!("{name}.tflite").as_str())
                .and_then(|m| m["accuracy_10000_ref"].as_f64())
                .unwrap();
            assert_eq!(
                correct(&outs[0]),
                (litert * 10_000.0).round() as usize,
                "{name}"
            );
        }
    }

    #[test]
    fn per_tensor_int8_by_hand_in_both_modes() {
        // x - zp = [2, -2, 0]; rows [1,2,3] -> -2 and [-1,5,7] -> -12; bias [5, 1] gives
        // 3 and -11; scale 0.5·0.5/1 = 0.25: 0.75 -> 1 and -2.75 -> -3; plus zp -1.
        let x = per_tensor(DType::I8, &[1, 3], vec![4, 0, 2], 0.5, 2);
        let w = per_tensor(DType::I8, &[2, 3], vec![1, 2, 3, -1, 5, 7], 0.5, 0).constant();
        for mode in [FcRequantMode::Double, FcRequantMode::Fixed] {
            let ins = [Some(x.clone()), Some(w.clone()), Some(bias(vec![5, 1]))];
            assert_eq!(run_mode(&ins, 1.0, -1, mode), vec![0, -4], "{mode:?}");
            // Ties: bias [4, -6] gives 2 -> 0.5 -> 1 and -18 -> -4.5 -> -5.
            let ins = [Some(x.clone()), Some(w.clone()), Some(bias(vec![4, -6]))];
            assert_eq!(run_mode(&ins, 1.0, -1, mode), vec![0, -6], "{mode:?}");
        }
        // The dispatch (default mode) agrees.
        let ins = [Some(x), Some(w), Some(bias(vec![5, 1]))];
        assert_eq!(
            run_q8(fc_op(), &ins, DType::I8, 1.0, -1).unwrap(),
            (vec![1, 2], vec![0, -4])
        );
    }

    #[test]
    fn per_channel_int8_and_uint8_by_hand() {
        // Per-channel scales 0.5 and 0.25 with in_s 1, out_s 1: acc [6, 6] -> [3, 2]
        // (1.5 rounds to 2).
        let x = per_tensor(DType::I8, &[1, 2], vec![1, 2], 1.0, 0);
        let w = per_channel(&[2, 2], vec![2, 2, 4, 1], vec![0.5, 0.25], 0);
        let (_, y) = run_q8(fc_op(), &[Some(x), Some(w), None], DType::I8, 1.0, 0).unwrap();
        assert_eq!(y, vec![3, 2]);
        // uint8: (w - 128)(x - 10): w [129, 126] -> [1, -2]; x [20, 14] -> [10, 4];
        // acc = 10 - 8 = 2; scale 1 -> 2, + out_zp 100.
        let x = per_tensor(DType::U8, &[1, 2], vec![20, 14], 1.0, 10);
        let w = per_tensor(DType::U8, &[1, 2], vec![129, 126], 1.0, 128).constant();
        let (_, y) = run_q8(fc_op(), &[Some(x), Some(w), None], DType::U8, 1.0, 100).unwrap();
        assert_eq!(y, vec![102]);
    }

    #[test]
    fn requant_modes_differ_where_the_multiplier_is_rounded() {
        // Scale 1/3 (in 1, w 1, out 3), acc 7: exactly 7/3 = 2.33 -> 2. MBQM rounds
        // twice: M = round(2/3·2^31) = 1431655765 with shift -1, SRDHM(7, M) =
        // round(4.67) = 5, then 5/2 = 2.5 rounds away from zero to 3.
        let x = per_tensor(DType::I8, &[1, 1], vec![7], 1.0, 0);
        let w = per_tensor(DType::I8, &[1, 1], vec![1], 1.0, 0).constant();
        let ins = [Some(x), Some(w), None];
        assert_eq!(run_mode(&ins, 3.0, 0, FcRequantMode::Double), vec![2]);
        assert_eq!(run_mode(&ins, 3.0, 0, FcRequantMode::Fixed), vec![3]);
        assert_eq!(quantize_multiplier(1.0 / 3.0).unwrap(), (1_431_655_765, -1));
    }

    /// TFLite's reference loop for both modes.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        x: &[i32],
        w: &[i32],
        b: Option<&[i32]>,
        depth: usize,
        (in_off, w_off, out_zp): (i32, i32, i32),
        requant: &dyn Fn(i32, usize) -> i32,
        range: (i32, i32),
    ) -> Vec<i32> {
        let units = w.len() / depth;
        let mut out = vec![];
        for row in x.chunks(depth) {
            for u in 0..units {
                let mut acc = 0i32;
                for d in 0..depth {
                    acc = acc.wrapping_add((w[u * depth + d] + w_off) * (row[d] + in_off));
                }
                acc = acc.wrapping_add(b.map_or(0, |b| b[u]));
                out.push((requant(acc, u) + out_zp).clamp(range.0, range.1));
            }
        }
        out
    }

    #[test]
    fn random_fc_matches_the_reference_loop() {
        let mut rng = Rng(1234);
        for case in 0..300 {
            let unsigned = case % 3 == 2;
            let per_chan = !unsigned && case % 2 == 0;
            let (dtype, lo) = if unsigned {
                (DType::U8, 0)
            } else {
                (DType::I8, -128)
            };
            let depth = rng.range(1, 300);
            let units = rng.range(1, 20);
            let batches = rng.range(1, 3);
            let mut vals =
                |n: usize| -> Vec<i32> { (0..n).map(|_| lo + rng.range(0, 255) as i32).collect() };
            let xv = vals(batches * depth);
            let wv = vals(units * depth);
            let b: Vec<i32> = (0..units)
                .map(|u| (u as i32 * 7919) % 20001 - 10000)
                .collect();
            let in_s = 0.01;
            let out_s = 0.7;
            let in_zp = lo + 17;
            let out_zp = lo + 100;
            let act = [Activation::None, Activation::Relu][case % 2];
            let x = per_tensor(dtype, &[batches, depth], xv.clone(), in_s, in_zp as i64);
            let (w, scales, w_off) = if per_chan {
                let scales: Vec<f32> = (0..units).map(|u| 0.001 + u as f32 * 0.0003).collect();
                (
                    per_channel(&[units, depth], wv.clone(), scales.clone(), 0),
                    scales,
                    0,
                )
            } else {
                let wzp = if unsigned { 128 } else { 3 };
                let q = per_tensor(dtype, &[units, depth], wv.clone(), 0.004, wzp).constant();
                (q, vec![0.004; units], -(wzp as i32))
            };
            let range = calculate_activation_range_quantized(act, out_s, out_zp, dtype).unwrap();
            let double = |acc: i32, u: usize| {
                let s = f64::from(in_s) * f64::from(scales[u]) / f64::from(out_s);
                (f64::from(acc) * s).round() as i32
            };
            let want = reference(
                &xv,
                &wv,
                Some(&b),
                depth,
                (-in_zp, w_off, out_zp),
                &double,
                range,
            );
            let options = FullyConnectedOptions {
                activation: act,
                ..Default::default()
            };
            let ins = [Some(x), Some(w), Some(bias(b.clone()))];
            for portable in [false, true] {
                let cpu = cpu_variant(portable);
                let (_, got) = run_q8_on(
                    cpu,
                    Op::FullyConnected(options.clone()),
                    &ins,
                    dtype,
                    out_s,
                    out_zp as i64,
                )
                .unwrap();
                assert_eq!(got, want, "case {case}");
            }
        }
    }
}
