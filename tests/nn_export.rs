//! Export of trained models to .tflite: structure against TensorFlow's own converter
//! output for the same architecture, and numbers against `Sequential::predict`.

use std::path::Path;

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::ir::{self, Op, Operator};
use ferrolite::nn::rng::Rng;
use ferrolite::nn::{
    export, fit, presets, Activation, Adam, Conv2DConfig, Dataset, DenseConfig,
    DepthwiseConv2DConfig, FitConfig, LayerSpec, NoCallback, Padding, PoolConfig, Sequential,
    SparseCategoricalCrossentropy,
};
use ferrolite::tflite::versions::op_version;

fn test_images(n: usize) -> (Vec<f32>, Vec<u8>) {
    let d = data::load(&data::default_dir(), Split::Test).unwrap();
    (d.images_f32_scaled(0..n), d.labels_range(0..n).to_vec())
}

/// Writes, reads back and runs `exported` on `x` (`count` images of 28×28).
fn run_written(exported: &ir::Model, x: &[f32], count: usize) -> Vec<f32> {
    let bytes = ferrolite::tflite::write(exported).unwrap();
    let model = ferrolite::tflite::read(&bytes).unwrap();
    let mut interp = Interpreter::new(model).unwrap();
    let input = Value::new(vec![count, 28, 28], TensorBuf::F32(x.to_vec()));
    let out = interp.run(&[input]).unwrap();
    match &out[0].data {
        TensorBuf::F32(v) => v.clone(),
        other => panic!("float output expected, got {:?}", other.dtype()),
    }
}

fn assert_close(name: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{name}: output sizes differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * w.abs().max(1.0),
            "{name}: output {i} is {g}, Sequential::predict gives {w}"
        );
    }
}

fn check_matches_predict(name: &str, model: &mut Sequential, count: usize) {
    let (x, _) = test_images(count);
    let want = model.predict(&x, 64).unwrap();
    let exported = export(model).unwrap();
    let got = run_written(&exported, &x, count);
    assert_close(name, &got, &want.data);
}

fn op_names(m: &ir::Model) -> Vec<&'static str> {
    m.graph.operators.iter().map(|o| o.op.name()).collect()
}

#[test]
fn every_preset_runs_like_predict_in_the_interpreter() {
    for &name in presets::NAMES {
        let mut model = presets::by_name(name, 7).unwrap().unwrap();
        // Random-initialized biases are zero; make them matter.
        let mut rng = Rng::new(3);
        for layer in model.layers_mut() {
            for p in layer.params_mut() {
                if p.name == "bias" {
                    p.value.iter_mut().for_each(|v| *v = rng.uniform(-0.5, 0.5));
                }
            }
        }
        let count = if name == "mnist-teacher" { 3 } else { 16 };
        check_matches_predict(name, &mut model, count);
    }
}

/// TensorFlow's converter made `mnist_cnn_float32.tflite` from the study's mnist-cnn;
/// the export of our mnist-cnn must have the same ops, options, shapes and signatures,
/// except for TF's SHAPE / STRIDED_SLICE / PACK chain that computes the first reshape.
#[test]
fn mnist_cnn_export_is_laid_out_like_tensorflows() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tf = ferrolite::tflite::read_file(&root.join("fixtures/tflite/mnist_cnn_float32.tflite"))
        .unwrap();
    let ours = export(&presets::mnist_cnn(1).unwrap()).unwrap();
    let ours = ferrolite::tflite::read(&ferrolite::tflite::write(&ours).unwrap()).unwrap();

    let tf_ops: Vec<&Operator> = tf
        .graph
        .operators
        .iter()
        .filter(|o| {
            !matches!(
                o.op,
                Op::Shape { .. } | Op::StridedSlice(_) | Op::Pack { .. }
            )
        })
        .collect();
    assert_eq!(
        op_names(&ours),
        [
            "RESHAPE",
            "CONV_2D",
            "MAX_POOL_2D",
            "RESHAPE",
            "FULLY_CONNECTED"
        ]
    );
    assert_eq!(tf_ops.len(), ours.graph.operators.len());
    for (t, o) in tf_ops.iter().zip(&ours.graph.operators) {
        if !matches!(t.op, Op::Reshape { .. }) {
            assert_eq!(t.op, o.op, "options differ");
        }
        assert_eq!(
            op_version(&tf.graph, t),
            op_version(&ours.graph, o),
            "{} version",
            o.op.name()
        );
        assert_eq!(t.inputs.len(), o.inputs.len(), "{} inputs", o.op.name());
        let pairs: Vec<(usize, usize)> = t
            .inputs
            .iter()
            .zip(&o.inputs)
            .map(|(a, b)| (a.unwrap(), b.unwrap()))
            .chain(t.outputs.iter().copied().zip(o.outputs.iter().copied()))
            .collect();
        for (ti, oi) in pairs {
            let (tt, ot) = (tf.graph.tensor(ti), ours.graph.tensor(oi));
            if matches!(t.op, Op::Reshape { .. }) && tt.dtype == ir::DType::I32 {
                continue; // TF computes this shape; ours is a constant
            }
            assert_eq!(tt.dtype, ot.dtype, "{} tensor {}", o.op.name(), ot.name);
            assert_eq!(tt.shape, ot.shape, "{} tensor {}", o.op.name(), ot.name);
            assert_eq!(
                tt.shape_signature,
                ot.shape_signature,
                "{} tensor {}",
                o.op.name(),
                ot.name
            );
            assert_eq!(tt.is_constant(), ot.is_constant(), "{}", ot.name);
        }
    }
    for (tg, og) in [
        (&tf.graph.inputs, &ours.graph.inputs),
        (&tf.graph.outputs, &ours.graph.outputs),
    ] {
        let (t, o) = (tf.graph.tensor(tg[0]), ours.graph.tensor(og[0]));
        assert_eq!(
            (&t.shape, &t.shape_signature),
            (&o.shape, &o.shape_signature)
        );
    }
    // The flatten reshape: TF's constant is [-1, 2028], ours too.
    let flatten = &ours.graph.operators[3];
    let shape = ours.graph.tensor(flatten.inputs[1].unwrap());
    assert_eq!(ir::decode::i32s(shape.data.as_ref().unwrap()), [-1, 2028]);
    let sig = ours.signature.as_ref().unwrap();
    assert_eq!(sig.outputs[0].0, "dense");
    assert_eq!(ours.graph.tensor(ours.graph.outputs[0]).name, "dense");
    assert_eq!(ours.graph.tensor(ours.graph.inputs[0]).name, "input");
}

fn mixed_model(seed: u64) -> Sequential {
    Sequential::new(
        &[28, 28],
        vec![
            LayerSpec::Reshape {
                target_shape: vec![28, 28, 1],
            },
            // Folds: conv (linear) then BN then a ReLU layer fused into the conv.
            LayerSpec::Conv2D(Conv2DConfig {
                strides: [2, 2],
                padding: Padding::Same,
                use_bias: false,
                ..Conv2DConfig::new(6, [3, 3])
            }),
            LayerSpec::batch_norm(),
            LayerSpec::ReLU { max_value: None },
            LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig {
                depth_multiplier: 2,
                activation: Activation::Relu6,
                padding: Padding::Same,
                ..DepthwiseConv2DConfig::new([3, 3])
            }),
            LayerSpec::Dropout { rate: 0.3 },
            LayerSpec::AveragePooling2D(PoolConfig {
                strides: Some([2, 2]),
                padding: Padding::Same,
                ..PoolConfig::new([3, 3])
            }),
            // Not foldable (after a pool): MUL + ADD, with the ReLU6 fused into ADD.
            LayerSpec::batch_norm(),
            LayerSpec::relu6(),
            LayerSpec::LeakyReLU { alpha: 0.1 },
            // Dense on [h, w, c]: FULLY_CONNECTED with keep_num_dims.
            LayerSpec::Dense(DenseConfig {
                units: 5,
                activation: Activation::Tanh,
                use_bias: true,
            }),
            LayerSpec::MaxPooling2D(PoolConfig::new([2, 2])),
            LayerSpec::GlobalAveragePooling2D {},
            LayerSpec::dense_with(16, Activation::Sigmoid),
            LayerSpec::Activation {
                activation: Activation::Relu,
            },
            LayerSpec::Flatten {},
            LayerSpec::dense_with(10, Activation::Softmax),
        ],
        seed,
    )
    .unwrap()
}

/// Gives every weight (BatchNorm statistics too) a random value, so folding errors
/// show.
fn randomize(model: &mut Sequential, seed: u64) {
    let mut rng = Rng::new(seed);
    for layer in model.layers_mut() {
        for p in layer.params_mut() {
            let (lo, hi) = match p.name.as_str() {
                "moving_variance" => (0.2, 2.0),
                "gamma" => (0.5, 1.5),
                "kernel" | "depthwise_kernel" => (-0.6, 0.6),
                _ => (-0.5, 0.5),
            };
            p.value.iter_mut().for_each(|v| *v = rng.uniform(lo, hi));
        }
    }
}

#[test]
fn mixed_model_exports_to_the_expected_ops_and_runs_like_predict() {
    let mut model = mixed_model(5);
    randomize(&mut model, 11);
    let exported = export(&model).unwrap();
    assert_eq!(
        op_names(&exported),
        [
            "RESHAPE",
            "CONV_2D",
            "DEPTHWISE_CONV_2D",
            "AVERAGE_POOL_2D",
            "MUL",
            "ADD",
            "LEAKY_RELU",
            "FULLY_CONNECTED",
            "TANH",
            "MAX_POOL_2D",
            "MEAN",
            "FULLY_CONNECTED",
            "LOGISTIC",
            "RELU",
            "FULLY_CONNECTED",
            "SOFTMAX",
        ]
    );
    let ops = &exported.graph.operators;
    match &ops[1].op {
        Op::Conv2d(o) => {
            assert_eq!(o.activation, ir::Activation::Relu);
            assert_eq!(
                (o.stride_h, o.stride_w, o.padding),
                (2, 2, ir::Padding::Same)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        exported.graph.tensor(ops[1].outputs[0]).name,
        "conv2d;batch_normalization;re_lu"
    );
    match &ops[2].op {
        Op::DepthwiseConv2d(o) => {
            assert_eq!(o.depth_multiplier, 2);
            assert_eq!(o.activation, ir::Activation::Relu6);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        exported.graph.tensor(ops[2].inputs[1].unwrap()).shape,
        [1, 3, 3, 12]
    );
    assert_eq!(
        ops[5].op,
        Op::Add {
            activation: ir::Activation::Relu6
        }
    );
    match &ops[7].op {
        Op::FullyConnected(o) => assert!(o.keep_num_dims),
        other => panic!("{other:?}"),
    }
    match &ops[11].op {
        Op::FullyConnected(o) => assert!(!o.keep_num_dims),
        other => panic!("{other:?}"),
    }
    assert_eq!(ops[6].op, Op::LeakyRelu { alpha: 0.1 });
    assert_eq!(ops[10].op, Op::Mean { keep_dims: false });
    check_matches_predict("mixed", &mut model, 16);
    save_litert_case("nn_export_mixed", &exported, 4);
}

/// Saves a model and the first `count` MNIST test images for `scripts/litert-check.sh`.
fn save_litert_case(name: &str, exported: &ir::Model, count: usize) {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/litert-cases")
        .join(name);
    std::fs::create_dir_all(&case).unwrap();
    let bytes = ferrolite::tflite::write(exported).unwrap();
    std::fs::write(case.join("model.tflite"), bytes).unwrap();
    let (x, _) = test_images(count);
    let input = Value::new(vec![count, 28, 28], TensorBuf::F32(x));
    std::fs::write(case.join("input.npy"), npy::to_bytes(&input).unwrap()).unwrap();
}

#[test]
fn permute_exports_to_transpose_and_runs_like_predict() {
    for (dims, name) in [
        (vec![3, 1, 2], "nn_export_permute_chw"),
        (vec![2, 1, 3], "nn_export_permute_wh"),
    ] {
        let mut model = Sequential::new(
            &[28, 28],
            vec![
                LayerSpec::Reshape {
                    target_shape: vec![28, 28, 1],
                },
                LayerSpec::Conv2D(Conv2DConfig {
                    activation: Activation::Relu,
                    ..Conv2DConfig::new(3, [3, 3])
                }),
                LayerSpec::MaxPooling2D(PoolConfig::new([2, 2])),
                LayerSpec::Permute { dims: dims.clone() },
                LayerSpec::Flatten {},
                LayerSpec::dense(10),
            ],
            11,
        )
        .unwrap();
        randomize(&mut model, 12);
        let exported = export(&model).unwrap();
        assert_eq!(
            op_names(&exported),
            [
                "RESHAPE",
                "CONV_2D",
                "MAX_POOL_2D",
                "TRANSPOSE",
                "RESHAPE",
                "FULLY_CONNECTED"
            ]
        );
        let transpose = &exported.graph.operators[3];
        let perm = exported.graph.tensor(transpose.inputs[1].unwrap());
        let want: Vec<i32> = std::iter::once(0)
            .chain(dims.iter().map(|&d| d as i32))
            .collect();
        assert_eq!(
            ir::decode::i32s(perm.data.as_deref().unwrap()),
            want,
            "{dims:?}"
        );
        check_matches_predict(name, &mut model, 8);
        save_litert_case(name, &exported, 4);
    }
}

#[test]
fn the_exported_batch_is_resizable() {
    let mut model = presets::mnist_mlp(3).unwrap();
    let exported = export(&model).unwrap();
    let input = exported.graph.tensor(exported.graph.inputs[0]);
    assert_eq!(input.shape, [1, 28, 28]);
    assert_eq!(input.shape_signature.as_deref(), Some(&[-1, 28, 28][..]));
    let out = exported.graph.tensor(exported.graph.outputs[0]);
    assert_eq!(out.shape_signature.as_deref(), Some(&[-1, 10][..]));
    for count in [1, 5] {
        let (x, _) = test_images(count);
        let want = model.predict(&x, 8).unwrap();
        assert_close("mlp", &run_written(&exported, &x, count), &want.data);
    }
}

#[test]
fn unsupported_relu_cap_is_an_error_naming_the_layer() {
    let model = Sequential::new(
        &[4],
        vec![
            LayerSpec::dense(3),
            LayerSpec::ReLU {
                max_value: Some(2.0),
            },
        ],
        1,
    )
    .unwrap();
    let err = export(&model).unwrap_err().to_string();
    assert!(
        err.contains("re_lu") && err.contains("max_value 2"),
        "{err}"
    );
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// A briefly trained mnist-cnn predicts the same class through the .tflite as in
/// training on ≥ 99.9% of the test set, and is saved for LiteRT's cross-check.
#[test]
fn trained_cnn_export_agrees_with_the_model_on_the_test_set() {
    let train = data::load(&data::default_dir(), Split::Train).unwrap();
    let n_train = 6000;
    let x = train.images_f32_scaled(0..n_train);
    let y = train.labels_range(0..n_train).to_vec();
    let mut model = presets::mnist_cnn(42).unwrap();
    fit(
        &mut model,
        &mut Adam::new(1e-3),
        &mut SparseCategoricalCrossentropy,
        &Dataset::new(&x, &[28, 28], &y).unwrap(),
        &FitConfig {
            epochs: 1,
            seed: 42,
            ..FitConfig::default()
        },
        &mut NoCallback,
    )
    .unwrap();

    let (tx, ty) = test_images(10_000);
    let want = model.predict(&tx, 250).unwrap();
    let exported = export(&model).unwrap();
    let bytes = ferrolite::tflite::write(&exported).unwrap();
    let mut interp = Interpreter::new(ferrolite::tflite::read(&bytes).unwrap()).unwrap();
    let (mut agree, mut correct) = (0usize, 0usize);
    for (b, xs) in tx.chunks(250 * 784).enumerate() {
        let n = xs.len() / 784;
        let out = interp
            .run(&[Value::new(vec![n, 28, 28], TensorBuf::F32(xs.to_vec()))])
            .unwrap();
        let TensorBuf::F32(got) = &out[0].data else {
            panic!("float output expected")
        };
        let want_b = &want.data[b * 2500..][..n * 10];
        assert_close("trained mnist-cnn", got, want_b);
        for i in 0..n {
            let (g, w) = (
                argmax(&got[i * 10..][..10]),
                argmax(&want_b[i * 10..][..10]),
            );
            agree += usize::from(g == w);
            correct += usize::from(usize::from(ty[b * 250 + i]) == g);
        }
    }
    assert!(agree >= 9990, "{agree}/10000 predictions agree");
    assert!(
        correct > 8500,
        "accuracy {correct}/10000 after a short training"
    );

    save_litert_case("nn_export_mnist_cnn", &exported, 8);
}

/// Runs `exported` on the whole MNIST test set; returns the arg-max per image.
fn interpreter_classes(exported: &ir::Model, tx: &[f32]) -> Vec<usize> {
    let bytes = ferrolite::tflite::write(exported).unwrap();
    let mut interp = Interpreter::new(ferrolite::tflite::read(&bytes).unwrap()).unwrap();
    let mut classes = Vec::new();
    for xs in tx.chunks(250 * 784) {
        let n = xs.len() / 784;
        let out = interp
            .run(&[Value::new(vec![n, 28, 28], TensorBuf::F32(xs.to_vec()))])
            .unwrap();
        let TensorBuf::F32(got) = &out[0].data else {
            panic!("float output expected")
        };
        classes.extend(got.chunks(10).map(argmax));
    }
    classes
}

/// The acceptance numbers, as `ferrolite train --preset mnist-cnn --epochs 5`
/// computes them (same defaults: Adam 1e-3, batch 32, seed 42): ≥ 97.8% test accuracy,
/// and the exported .tflite predicts the same class on ≥ 99.9% of the test images.
/// About a minute of CPU: `cargo test --release --test nn_export -- --ignored`.
#[test]
#[ignore]
fn mnist_cnn_five_epochs_acceptance() {
    let train = data::load(&data::default_dir(), Split::Train).unwrap();
    let x = train.images_f32_scaled(0..train.count);
    let mut model = presets::mnist_cnn(42).unwrap();
    fit(
        &mut model,
        &mut Adam::new(1e-3),
        &mut SparseCategoricalCrossentropy,
        &Dataset::new(&x, &[28, 28], &train.labels).unwrap(),
        &FitConfig {
            epochs: 5,
            batch_size: 32,
            seed: 42,
            ..FitConfig::default()
        },
        &mut NoCallback,
    )
    .unwrap();
    let (tx, ty) = test_images(10_000);
    let want: Vec<usize> = model
        .predict(&tx, 250)
        .unwrap()
        .data
        .chunks(10)
        .map(argmax)
        .collect();
    let got = interpreter_classes(&export(&model).unwrap(), &tx);
    let correct = want
        .iter()
        .zip(&ty)
        .filter(|(p, &l)| **p == usize::from(l))
        .count();
    let agree = want.iter().zip(&got).filter(|(a, b)| a == b).count();
    eprintln!("5-epoch mnist-cnn: test accuracy {correct}/10000, export agreement {agree}/10000");
    // For comparing by hand with the CLI's model.safetensors (same seed, same bytes).
    let weights = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/nn_export_cnn5.safetensors");
    std::fs::write(&weights, ferrolite::nn::io::weights_bytes(&model).unwrap()).unwrap();
    assert!(correct >= 9780, "test accuracy {correct}/10000");
    assert!(agree >= 9990, "{agree}/10000 predictions agree");
}
