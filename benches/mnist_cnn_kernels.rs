//! `cargo bench --bench mnist_cnn_kernels`: micro-timings of the float MNIST CNN kernels
//! (conv, max pool, fully connected) at batch 1 against tract 0.23 on the same network. The
//! machine is shared, so both are measured in alternating rounds and the best round of each
//! is kept. It asserts nothing, so it is a bench rather than an ignored test.

use std::sync::Arc;
use std::time::Instant;

use ferrolite::interp::{TensorBuf, TensorInfo, View, ViewMut};
use ferrolite::ir::{
    self, Activation, Conv2dOptions, DType, FullyConnectedOptions, Op, Operator, Padding,
    Pool2dOptions,
};
use ferrolite::kernels::cpu::CpuFeatures;
use ferrolite::ops::exec::{self, PrepareCtx, Prepared};

/// xorshift64*, so that every run times the same values.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// `n` values uniform in [-1, 1).
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
            .collect()
    }
}

/// A float tensor as the planner would describe it; constants carry their values.
fn info(shape: &[usize], data: &[f32], constant: bool) -> Option<TensorInfo> {
    Some(TensorInfo {
        name: "t".into(),
        dtype: DType::F32,
        shape: shape.to_vec(),
        quantization: None,
        sparsity: None,
        constant: constant.then(|| Arc::new(TensorBuf::F32(data.to_vec()))),
    })
}

/// Prepares `op` as the planner would on this CPU.
fn prepare_infos(op: Op, infos: &[Option<TensorInfo>]) -> Prepared {
    let operator = Operator {
        op,
        inputs: (0..infos.len()).map(Some).collect(),
        outputs: vec![infos.len()],
    };
    let out = ir::Tensor::activation("out", DType::F32, vec![]);
    let ctx = PrepareCtx {
        op: &operator,
        inputs: infos.iter().map(|i| i.as_ref()).collect(),
        outputs: vec![&out],
        cpu: CpuFeatures::detect(),
    };
    exec::prepare(&ctx).expect("the MNIST CNN kernels prepare")
}

struct Bench<'a> {
    prepared: Prepared,
    inputs: Vec<&'a [f32]>,
    out: Vec<f32>,
    best: f64,
}

impl Bench<'_> {
    fn round(&mut self, n: usize) {
        let views: Vec<View<'_>> = self.inputs.iter().map(|d| View::F32(d)).collect();
        let t = Instant::now();
        for _ in 0..n {
            self.prepared
                .kernel
                .run(&views, &mut [ViewMut::F32(&mut self.out)])
                .unwrap();
        }
        self.best = self.best.min(t.elapsed().as_secs_f64() * 1e6 / n as f64);
        std::hint::black_box(&self.out);
    }
}

/// The same network built with tract's own ops (tract cannot load the
/// TensorFlow-made file: its RESHAPE target comes from a STRIDED_SLICE with
/// shrink_axis_mask), as tract-tflite would translate it.
fn tract_plan(
    filter: &[f32],
    bias: &[f32],
    fc_w: &[f32],
    fc_b: &[f32],
) -> tract_tflite::internal::TractResult<std::sync::Arc<tract_tflite::internal::TypedSimplePlan>> {
    use tract_tflite::internal::tract_core::ops::change_axes::AxisOp;
    use tract_tflite::internal::tract_core::ops::cnn::{
        Conv, KernelFormat, MaxPool, PaddingSpec, PoolSpec,
    };
    use tract_tflite::internal::tract_core::ops::einsum::EinSum;
    use tract_tflite::internal::tract_core::ops::math;
    use tract_tflite::internal::tract_core::ops::nn::DataFormat;
    use tract_tflite::internal::*;
    let spec = |k: usize, s: usize, ic: usize, oc: usize| PoolSpec {
        data_format: DataFormat::NHWC,
        kernel_shape: tvec!(k, k),
        padding: PaddingSpec::Valid,
        strides: Some(tvec!(s, s)),
        dilations: None,
        input_channels: ic,
        output_channels: oc,
    };
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 28, 28]))?;
    let x4 = m.wire_node("reshape", AxisOp::Add(3), &[x])?;
    let k = m.add_const("k", Tensor::from_shape(&[12, 3, 3, 1], filter)?)?;
    let b = m.add_const("b", Tensor::from_shape(&[12], bias)?)?;
    let conv = Conv {
        pool_spec: spec(3, 1, 1, 12),
        kernel_fmt: KernelFormat::OHWI,
        group: 1,
        q_params: None,
    };
    let c = m.wire_node("conv", conv, &[x4[0], k, b])?;
    let zero = m.add_const("zero", Tensor::from_shape(&[1, 1, 1, 1], &[0f32])?)?;
    let r = m.wire_node("relu", math::max(), &[c[0], zero])?;
    let pool = MaxPool {
        pool_spec: spec(2, 2, 12, 12),
        with_index_outputs: None,
    };
    let p = m.wire_node("pool", pool, &r)?;
    let flat = m.wire_node(
        "flatten",
        AxisOp::Reshape(
            1,
            tvec![13.to_dim(), 13.to_dim(), 12.to_dim()],
            tvec![2028.to_dim()],
        ),
        &p,
    )?;
    let w = m.add_const("w", Tensor::from_shape(&[10, 2028], fc_w)?)?;
    let einsum = EinSum {
        axes: "BI,OI->BO".parse()?,
        q_params: None,
        operating_dt: f32::datum_type(),
    };
    let mm = m.wire_node("fc", einsum, &[flat[0], w])?;
    let fb = m.add_const("fb", Tensor::from_shape(&[1, 10], fc_b)?)?;
    let out = m.wire_node("bias", math::add(), &[mm[0], fb])?;
    m.select_output_outlets(&out)?;
    m.into_optimized()?.into_runnable()
}

fn main() {
    use tract_tflite::internal::{tvec, IntoTValue, Tensor};
    let mut rng = Rng(7);
    let image = rng.vec(28 * 28);
    let filter = rng.vec(12 * 9);
    let bias = rng.vec(12);
    let fc_w = rng.vec(10 * 2028);
    let fc_b = rng.vec(10);
    let activations = rng.vec(26 * 26 * 12);
    let pooled = rng.vec(2028);
    let t = info;
    let conv = prepare_infos(
        Op::Conv2d(Conv2dOptions {
            padding: Padding::Valid,
            stride_w: 1,
            stride_h: 1,
            dilation_w: 1,
            dilation_h: 1,
            activation: Activation::Relu,
        }),
        &[
            t(&[1, 28, 28, 1], &image, false),
            t(&[12, 3, 3, 1], &filter, true),
            t(&[12], &bias, true),
        ],
    );
    let pool = prepare_infos(
        Op::MaxPool2d(Pool2dOptions {
            padding: Padding::Valid,
            stride_w: 2,
            stride_h: 2,
            filter_w: 2,
            filter_h: 2,
            activation: Activation::None,
        }),
        &[t(&[1, 26, 26, 12], &activations, false)],
    );
    let fc = prepare_infos(
        Op::FullyConnected(FullyConnectedOptions::default()),
        &[
            t(&[1, 2028], &pooled, false),
            t(&[10, 2028], &fc_w, true),
            t(&[10], &fc_b, true),
        ],
    );
    let bench = |prepared, inputs, len| Bench {
        prepared,
        inputs,
        out: vec![0.0; len],
        best: f64::INFINITY,
    };
    let mut conv = bench(conv, vec![&image[..], &filter, &bias], 26 * 26 * 12);
    let mut pool = bench(pool, vec![&activations[..]], 13 * 13 * 12);
    let mut fc = bench(fc, vec![&pooled[..], &fc_w, &fc_b], 10);

    let plan = tract_plan(&filter, &bias, &fc_w, &fc_b).unwrap();
    let mut state = plan.spawn().unwrap();
    let input = Tensor::from_shape(&[1, 28, 28], &image).unwrap();
    let mut tract_best = f64::INFINITY;
    for _ in 0..60 {
        conv.round(200);
        pool.round(200);
        fc.round(200);
        let n = 200;
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(state.run(tvec!(input.clone().into_tvalue())).unwrap());
        }
        tract_best = tract_best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    let ours = conv.best + pool.best + fc.best;
    println!(
        "MNIST CNN float, batch 1 (best of 60 rounds): ferrolite conv {:.2} us + max pool {:.2} us + fc {:.2} us = {ours:.2} us; tract 0.23 whole network {tract_best:.2} us; ratio {:.2}x",
        conv.best,
        pool.best,
        fc.best,
        tract_best / ours
    );
}
