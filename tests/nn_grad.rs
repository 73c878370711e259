//! Finite-difference gradient checks for every layer's input and weight gradients.
//!
//! The loss is `L = Σ y·r` for a fixed random `r`, so `dL/dy = r`; the analytic
//! gradients from `backward(r)` are compared with central differences of `L`
//! (accumulated in f64 over the f32 outputs).

use ferrolite::nn::rng::Rng;
use ferrolite::nn::{
    Activation, BuiltLayer, Conv2DConfig, DenseConfig, DepthwiseConv2DConfig, LayerSpec, Mode,
    Padding, PoolConfig, Sequential, Tensor,
};

const EPS: f32 = 1e-2;

fn random(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-scale, scale)).collect()
}

fn close(analytic: f32, numeric: f64, what: &str) {
    let a = f64::from(analytic);
    let tol = 2e-3 + 1e-2 * numeric.abs().max(a.abs());
    assert!(
        (a - numeric).abs() <= tol,
        "{what}: analytic {a} vs numeric {numeric}"
    );
}

struct Setup {
    input_scale: f32,
    /// Inputs are a shuffled grid of well separated values (max pooling, ReLU kinks).
    distinct_inputs: bool,
}

const PLAIN: Setup = Setup {
    input_scale: 1.0,
    distinct_inputs: false,
};

fn check_layer(spec: LayerSpec, input_shape: &[usize], batch: usize, seed: u64, setup: Setup) {
    let label = format!("{spec:?} on {input_shape:?}");
    let mut rng = Rng::new(seed);
    let mut layer = BuiltLayer::new(spec, "layer".into(), 0, input_shape, &mut rng).unwrap();
    // Non-trivial biases, gammas and betas (Keras initializes them to constants).
    for p in layer.params_mut() {
        if p.trainable && p.name != "kernel" && p.name != "depthwise_kernel" {
            p.value = random(&mut rng, p.value.len(), 1.0);
        }
    }
    let per: usize = input_shape.iter().product();
    let n_in = batch * per;
    let x: Vec<f32> = if setup.distinct_inputs {
        let mut v: Vec<f32> = (0..n_in)
            .map(|i| (i as f32 - n_in as f32 / 2.0 + 0.5) * 0.1 * setup.input_scale)
            .collect();
        rng.shuffle(&mut v);
        v
    } else {
        random(&mut rng, n_in, setup.input_scale)
    };
    let mut shape = vec![batch];
    shape.extend_from_slice(input_shape);
    let mut out_shape = vec![batch];
    out_shape.extend_from_slice(layer.output_shape());
    let r = random(&mut rng, out_shape.iter().product(), 1.0);
    let mode = Mode::train(99);

    let loss = |layer: &mut BuiltLayer, x: &[f32]| -> f64 {
        let y = layer
            .forward(Tensor::new(shape.clone(), x.to_vec()).unwrap(), mode)
            .unwrap();
        y.data
            .iter()
            .zip(&r)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum()
    };

    loss(&mut layer, &x);
    let dx = layer
        .backward(Tensor::new(out_shape.clone(), r.clone()).unwrap(), true)
        .unwrap()
        .unwrap();
    assert_eq!(dx.shape, shape, "{label}: input gradient shape");
    let grads: Vec<Vec<f32>> = layer.params().iter().map(|p| p.grad.clone()).collect();

    for i in 0..n_in {
        let mut xp = x.clone();
        xp[i] += EPS;
        let lp = loss(&mut layer, &xp);
        xp[i] -= 2.0 * EPS;
        let lm = loss(&mut layer, &xp);
        close(
            dx.data[i],
            (lp - lm) / (2.0 * f64::from(EPS)),
            &format!("{label}: dx[{i}]"),
        );
    }
    for (pi, grad) in grads.iter().enumerate() {
        if !layer.params()[pi].trainable {
            continue;
        }
        let name = layer.params()[pi].name.clone();
        for (j, &analytic) in grad.iter().enumerate() {
            let orig = layer.params()[pi].value[j];
            layer.params_mut()[pi].value[j] = orig + EPS;
            let lp = loss(&mut layer, &x);
            layer.params_mut()[pi].value[j] = orig - EPS;
            let lm = loss(&mut layer, &x);
            layer.params_mut()[pi].value[j] = orig;
            close(
                analytic,
                (lp - lm) / (2.0 * f64::from(EPS)),
                &format!("{label}: {name}[{j}]"),
            );
        }
    }
}

fn conv(
    filters: usize,
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    p: Padding,
    a: Activation,
) -> LayerSpec {
    LayerSpec::Conv2D(Conv2DConfig {
        strides: s,
        dilation_rate: d,
        padding: p,
        activation: a,
        ..Conv2DConfig::new(filters, k)
    })
}

#[test]
fn conv2d_gradients() {
    use Activation::*;
    use Padding::*;
    check_layer(
        conv(3, [3, 3], [1, 1], [1, 1], Valid, Linear),
        &[5, 6, 2],
        2,
        1,
        PLAIN,
    );
    check_layer(
        conv(2, [3, 3], [2, 2], [1, 1], Same, Linear),
        &[6, 5, 3],
        2,
        2,
        PLAIN,
    );
    check_layer(
        conv(2, [3, 3], [1, 1], [2, 2], Same, Tanh),
        &[6, 6, 2],
        2,
        3,
        PLAIN,
    );
    check_layer(
        conv(2, [2, 3], [2, 1], [1, 1], Valid, Sigmoid),
        &[5, 5, 2],
        2,
        4,
        PLAIN,
    );
    check_layer(
        conv(3, [1, 1], [1, 1], [1, 1], Valid, Softmax),
        &[3, 3, 4],
        2,
        5,
        PLAIN,
    );
    check_layer(
        conv(3, [4, 4], [3, 2], [1, 1], Same, Linear),
        &[7, 6, 1],
        2,
        6,
        PLAIN,
    );
    check_layer(
        conv(2, [3, 3], [1, 1], [1, 1], Valid, Relu),
        &[5, 5, 2],
        2,
        7,
        PLAIN,
    );
    let no_bias = LayerSpec::Conv2D(Conv2DConfig {
        use_bias: false,
        ..Conv2DConfig::new(2, [3, 3])
    });
    check_layer(no_bias, &[4, 4, 2], 1, 8, PLAIN);
    // More than four input channels: im2col + GEMM instead of the direct kernels.
    check_layer(
        conv(3, [3, 3], [2, 2], [1, 1], Same, Tanh),
        &[5, 5, 6],
        2,
        9,
        PLAIN,
    );
    check_layer(
        conv(2, [1, 1], [1, 1], [1, 1], Valid, Linear),
        &[3, 3, 5],
        2,
        10,
        PLAIN,
    );
    check_layer(
        conv(3, [2, 2], [1, 1], [2, 1], Valid, Relu),
        &[5, 4, 5],
        2,
        11,
        PLAIN,
    );
}

#[test]
fn conv2d_relu6_gradient() {
    let spec = conv(2, [2, 2], [1, 1], [1, 1], Padding::Valid, Activation::Relu6);
    check_layer(
        spec,
        &[4, 4, 2],
        2,
        9,
        Setup {
            input_scale: 5.0,
            distinct_inputs: false,
        },
    );
}

#[test]
fn depthwise_gradients() {
    let dw = |k, s, d, p, m, a| {
        LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig {
            strides: s,
            dilation_rate: d,
            padding: p,
            depth_multiplier: m,
            activation: a,
            ..DepthwiseConv2DConfig::new(k)
        })
    };
    check_layer(
        dw(
            [3, 3],
            [1, 1],
            [1, 1],
            Padding::Valid,
            1,
            Activation::Linear,
        ),
        &[5, 5, 3],
        2,
        11,
        PLAIN,
    );
    check_layer(
        dw([3, 3], [2, 2], [1, 1], Padding::Same, 2, Activation::Tanh),
        &[6, 5, 2],
        2,
        12,
        PLAIN,
    );
    check_layer(
        dw([2, 3], [1, 1], [2, 1], Padding::Same, 3, Activation::Linear),
        &[5, 6, 2],
        2,
        13,
        PLAIN,
    );
}

#[test]
fn dense_gradients() {
    check_layer(LayerSpec::dense(4), &[6], 3, 21, PLAIN);
    check_layer(
        LayerSpec::dense_with(3, Activation::Softmax),
        &[5],
        2,
        22,
        PLAIN,
    );
    check_layer(
        LayerSpec::dense_with(3, Activation::Sigmoid),
        &[2, 4],
        2,
        23,
        PLAIN,
    );
    let no_bias = LayerSpec::Dense(DenseConfig {
        units: 3,
        activation: Activation::Tanh,
        use_bias: false,
    });
    check_layer(no_bias, &[4], 2, 24, PLAIN);
}

fn pool(k: [usize; 2], s: Option<[usize; 2]>, p: Padding) -> PoolConfig {
    PoolConfig {
        pool_size: k,
        strides: s,
        padding: p,
    }
}

const DISTINCT: Setup = Setup {
    input_scale: 1.0,
    distinct_inputs: true,
};

#[test]
fn max_pool_gradients() {
    check_layer(
        LayerSpec::MaxPooling2D(pool([2, 2], None, Padding::Valid)),
        &[4, 5, 2],
        2,
        31,
        DISTINCT,
    );
    check_layer(
        LayerSpec::MaxPooling2D(pool([3, 3], Some([2, 2]), Padding::Same)),
        &[5, 6, 2],
        2,
        32,
        DISTINCT,
    );
    check_layer(
        LayerSpec::MaxPooling2D(pool([2, 2], Some([1, 1]), Padding::Same)),
        &[4, 4, 3],
        2,
        33,
        DISTINCT,
    );
}

#[test]
fn average_pool_gradients() {
    check_layer(
        LayerSpec::AveragePooling2D(pool([2, 2], None, Padding::Valid)),
        &[4, 5, 2],
        2,
        41,
        PLAIN,
    );
    check_layer(
        LayerSpec::AveragePooling2D(pool([3, 3], Some([2, 2]), Padding::Same)),
        &[5, 6, 2],
        2,
        42,
        PLAIN,
    );
    check_layer(
        LayerSpec::AveragePooling2D(pool([2, 2], Some([1, 1]), Padding::Same)),
        &[3, 4, 2],
        2,
        43,
        PLAIN,
    );
    check_layer(
        LayerSpec::GlobalAveragePooling2D {},
        &[3, 4, 2],
        2,
        44,
        PLAIN,
    );
}

#[test]
fn shape_layer_gradients() {
    check_layer(LayerSpec::Flatten {}, &[2, 3, 2], 2, 51, PLAIN);
    check_layer(
        LayerSpec::Reshape {
            target_shape: vec![3, 4],
        },
        &[2, 6],
        2,
        52,
        PLAIN,
    );
    for (dims, seed) in [
        (vec![3, 1, 2], 53),
        (vec![2, 1, 3], 54),
        (vec![1, 3, 2], 55),
    ] {
        check_layer(LayerSpec::Permute { dims }, &[2, 3, 4], 2, seed, PLAIN);
    }
}

#[test]
fn dropout_gradient_with_fixed_mask() {
    // Same Mode seed on every forward: the mask is fixed, so L is differentiable.
    check_layer(LayerSpec::Dropout { rate: 0.4 }, &[4, 5], 3, 61, PLAIN);
}

#[test]
fn batch_norm_train_mode_gradients() {
    check_layer(LayerSpec::batch_norm(), &[3, 3, 2], 3, 71, PLAIN);
    check_layer(LayerSpec::batch_norm(), &[4], 5, 72, PLAIN);
}

#[test]
fn activation_layer_gradients() {
    check_layer(LayerSpec::ReLU { max_value: None }, &[30], 2, 81, DISTINCT);
    check_layer(
        LayerSpec::relu6(),
        &[40],
        2,
        82,
        Setup {
            input_scale: 4.0,
            distinct_inputs: true,
        },
    );
    check_layer(LayerSpec::LeakyReLU { alpha: 0.2 }, &[30], 2, 83, DISTINCT);
    for activation in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Softmax,
        Activation::Relu6,
        Activation::Relu,
    ] {
        check_layer(
            LayerSpec::Activation { activation },
            &[2, 5],
            2,
            84,
            Setup {
                input_scale: 4.0,
                distinct_inputs: true,
            },
        );
    }
}

/// The whole chain, through Sequential::backward_to_input, for a model that mixes
/// every kind of layer.
#[test]
fn sequential_chain_gradient() {
    let mut model = Sequential::new(
        &[6, 6],
        vec![
            LayerSpec::Reshape {
                target_shape: vec![6, 6, 1],
            },
            conv(3, [3, 3], [1, 1], [1, 1], Padding::Same, Activation::Tanh),
            LayerSpec::batch_norm(),
            LayerSpec::LeakyReLU { alpha: 0.2 },
            LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig {
                depth_multiplier: 2,
                activation: Activation::Sigmoid,
                ..DepthwiseConv2DConfig::new([2, 2])
            }),
            LayerSpec::AveragePooling2D(pool([2, 2], None, Padding::Same)),
            LayerSpec::Flatten {},
            LayerSpec::Dropout { rate: 0.25 },
            LayerSpec::dense(3),
        ],
        5,
    )
    .unwrap();
    let mut rng = Rng::new(77);
    let batch = 2;
    let x = random(&mut rng, batch * 36, 1.0);
    let r = random(&mut rng, batch * 3, 1.0);
    let mode = Mode::train(3);
    let loss = |m: &mut Sequential, x: &[f32]| -> f64 {
        let y = m
            .forward(Tensor::new(vec![batch, 6, 6], x.to_vec()).unwrap(), mode)
            .unwrap();
        y.data
            .iter()
            .zip(&r)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum()
    };
    loss(&mut model, &x);
    let dx = model
        .backward_to_input(Tensor::new(vec![batch, 3], r.clone()).unwrap())
        .unwrap();
    for i in 0..x.len() {
        let mut xp = x.clone();
        xp[i] += EPS;
        let lp = loss(&mut model, &xp);
        xp[i] -= 2.0 * EPS;
        let lm = loss(&mut model, &xp);
        close(
            dx.data[i],
            (lp - lm) / (2.0 * f64::from(EPS)),
            &format!("chain dx[{i}]"),
        );
    }
}

/// Backward is defined only after a training-mode forward: after an inference-mode
/// one (which keeps nothing) every layer kind must refuse, not reuse an older cache.
#[test]
fn backward_after_inference_forward_is_a_state_error() {
    let specs = vec![
        LayerSpec::Conv2D(Conv2DConfig::new(2, [2, 2])),
        LayerSpec::Conv2D(Conv2DConfig::new(2, [1, 1])),
        LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig::new([2, 2])),
        LayerSpec::dense(3),
        LayerSpec::MaxPooling2D(PoolConfig::new([2, 2])),
        LayerSpec::AveragePooling2D(PoolConfig::new([2, 2])),
        LayerSpec::GlobalAveragePooling2D {},
        LayerSpec::Permute {
            dims: vec![3, 1, 2],
        },
        LayerSpec::Flatten {},
        LayerSpec::Dropout { rate: 0.5 },
        LayerSpec::batch_norm(),
        LayerSpec::relu6(),
        LayerSpec::LeakyReLU { alpha: 0.2 },
        LayerSpec::Activation {
            activation: Activation::Softmax,
        },
    ];
    let input_shape = [4, 4, 3];
    for spec in specs {
        let label = format!("{spec:?}");
        let mut rng = Rng::new(5);
        let mut layer = BuiltLayer::new(spec, "layer".into(), 0, &input_shape, &mut rng).unwrap();
        let x = || Tensor::new(vec![2, 4, 4, 3], random(&mut Rng::new(6), 96, 1.0)).unwrap();
        let mut out_shape = vec![2];
        out_shape.extend_from_slice(layer.output_shape());
        let dy = Tensor::zeros(out_shape).unwrap();
        layer.forward(x(), Mode::train(1)).unwrap();
        layer.forward(x(), Mode::inference()).unwrap();
        let err = layer.backward(dy.clone(), true).unwrap_err();
        assert!(
            matches!(err, ferrolite::nn::NnError::State(_)),
            "{label}: {err}"
        );
        // A training-mode forward makes it defined again.
        layer.forward(x(), Mode::train(2)).unwrap();
        assert!(layer.backward(dy, true).unwrap().is_some(), "{label}");
    }
}
