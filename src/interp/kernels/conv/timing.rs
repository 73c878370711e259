//! Micro-timings for the float MNIST CNN shapes at batch 1 against tract 0.23 on the same
//! network. The machine is shared, so both are measured in alternating rounds and the
//! best round of each is kept. Run with
//! `cargo test --release --lib interp::kernels::conv::timing -- --ignored --nocapture`.

use std::time::Instant;

use crate::interp::kernels::test_support::{info, prepare_infos, In, Rng};
use crate::interp::kernels::Prepared;
use crate::interp::value::{View, ViewMut};
use crate::ir::{Activation, Conv2dOptions, FullyConnectedOptions, Op, Padding, Pool2dOptions};

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

#[test]
#[ignore = "timing, not a check; run in release with --nocapture"]
fn mnist_cnn_kernels_against_tract() {
    use tract_tflite::internal::{tvec, IntoTValue, Tensor};
    let mut rng = Rng(7);
    let image = rng.vec(28 * 28);
    let filter = rng.vec(12 * 9);
    let bias = rng.vec(12);
    let fc_w = rng.vec(10 * 2028);
    let fc_b = rng.vec(10);
    let activations = rng.vec(26 * 26 * 12);
    let pooled = rng.vec(2028);
    let t = |shape: &[usize], data: &[f32], constant: bool| {
        Some(info(&In {
            shape: shape.to_vec(),
            data: data.to_vec(),
            constant,
        }))
    };
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
    )
    .unwrap();
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
    )
    .unwrap();
    let fc = prepare_infos(
        Op::FullyConnected(FullyConnectedOptions::default()),
        &[
            t(&[1, 2028], &pooled, false),
            t(&[10, 2028], &fc_w, true),
            t(&[10], &fc_b, true),
        ],
    )
    .unwrap();
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
