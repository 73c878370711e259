//! Losses, optimizers, model building, determinism and real MNIST training.

use ferrolite::data::{self, Split};
use ferrolite::nn::rng::Rng;
use ferrolite::nn::{
    accuracy, evaluate, fit, fold_batch_norm, presets, sparse_softmax_cross_entropy, train_step,
    Activation, Adam, Callback, Conv2DConfig, Dataset, DepthwiseConv2DConfig, EpochSummary,
    FitConfig, LayerSpec, Mode, ModelConfig, NoCallback, Optimizer, Param, Sequential, Sgd,
    SparseCategoricalCrossentropy, Tensor,
};

#[test]
fn cross_entropy_value_and_gradient_by_hand() {
    let logits = Tensor::new(vec![1, 3], vec![1.0, 2.0, 3.0]).unwrap();
    let (loss, grad) = sparse_softmax_cross_entropy(&logits, &[2]).unwrap();
    // -ln(e³ / (e + e² + e³)) = ln(1 + e⁻¹ + e⁻²)
    assert!((loss - 0.407_605_96).abs() < 1e-6, "{loss}");
    let want = [0.090_030_57, 0.244_728_47, 0.665_240_96 - 1.0];
    for (g, w) in grad.data.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
    // Stable for huge logits: log-softmax of [1000, 0] at label 1 is -1000.
    let big = Tensor::new(vec![1, 2], vec![1000.0, 0.0]).unwrap();
    let (loss, grad) = sparse_softmax_cross_entropy(&big, &[1]).unwrap();
    assert!((loss - 1000.0).abs() < 1e-3 && grad.data.iter().all(|g| g.is_finite()));
}

#[test]
fn cross_entropy_gradient_matches_finite_differences() {
    let mut rng = Rng::new(3);
    let (b, c) = (4, 5);
    let z: Vec<f32> = (0..b * c).map(|_| rng.uniform(-3.0, 3.0)).collect();
    let labels = [0u8, 4, 2, 2];
    let (_, grad) =
        sparse_softmax_cross_entropy(&Tensor::new(vec![b, c], z.clone()).unwrap(), &labels)
            .unwrap();
    let eps = 1e-2f32;
    for i in 0..z.len() {
        let mut zp = z.clone();
        zp[i] += eps;
        let (lp, _) =
            sparse_softmax_cross_entropy(&Tensor::new(vec![b, c], zp.clone()).unwrap(), &labels)
                .unwrap();
        zp[i] -= 2.0 * eps;
        let (lm, _) =
            sparse_softmax_cross_entropy(&Tensor::new(vec![b, c], zp).unwrap(), &labels).unwrap();
        let numeric = (lp - lm) / (2.0 * eps);
        assert!(
            (numeric - grad.data[i]).abs() < 1e-3,
            "{i}: {numeric} vs {}",
            grad.data[i]
        );
    }
    assert_eq!(
        accuracy(
            &Tensor::new(vec![2, 2], vec![1.0, 0.0, 0.0, 1.0]).unwrap(),
            &[0, 0]
        )
        .unwrap(),
        1
    );
}

fn scalar_param() -> Param {
    let mut model = Sequential::new(&[1], vec![LayerSpec::dense(1)], 0).unwrap();
    let mut p = model.layers_mut()[0].params_mut()[0].clone();
    p.value = vec![1.0];
    p
}

/// Values from the Keras update rules evaluated by hand (in f64) for w₀ = 1, lr 0.1,
/// gradients 0.5, -1, 0.25.
#[test]
fn adam_first_steps_match_hand_computation() {
    let mut p = scalar_param();
    let mut adam = Adam::new(0.1);
    let want = [
        0.900_000_632_451_532_1,
        0.936_610_881_595_338_1,
        0.950_279_910_148_742_2,
    ];
    for (g, w) in [0.5f32, -1.0, 0.25].into_iter().zip(want) {
        p.grad = vec![g];
        adam.step(&mut [&mut p]).unwrap();
        assert!(
            (f64::from(p.value[0]) - w).abs() < 2e-6,
            "{} vs {w}",
            p.value[0]
        );
    }
    assert_eq!(adam.iterations(), 3);
}

#[test]
fn sgd_momentum_matches_hand_computation() {
    let mut p = scalar_param();
    let mut sgd = Sgd::new(0.1, 0.9);
    for (g, w) in [0.5f32, -1.0, 0.25].into_iter().zip([0.95, 1.005, 1.0295]) {
        p.grad = vec![g];
        sgd.step(&mut [&mut p]).unwrap();
        assert!((p.value[0] - w).abs() < 1e-6, "{} vs {w}", p.value[0]);
    }
}

#[test]
fn presets_have_keras_shapes_names_and_param_counts() {
    // Counts worked out by hand: kernel + bias per layer.
    let cases = [
        ("mnist-cnn", 120 + 2028 * 10 + 10),
        ("mnist-mlp", 784 * 128 + 128 + 128 * 10 + 10),
        (
            "mnist-teacher",
            9 * 256 + 256 + 9 * 256 * 512 + 512 + 7 * 7 * 512 * 10 + 10,
        ),
        (
            "mnist-teacher-small",
            9 * 64 + 64 + 9 * 64 * 128 + 128 + 7 * 7 * 128 * 10 + 10,
        ),
        (
            "mnist-student",
            9 * 16 + 16 + 9 * 16 * 32 + 32 + 7 * 7 * 32 * 10 + 10,
        ),
    ];
    for (name, count) in cases {
        let m = presets::by_name(name, 1).unwrap().unwrap();
        assert_eq!(m.param_count(), (count, 0), "{name}");
        assert_eq!(m.output_shape(), &[10], "{name}");
    }
    let teacher = presets::mnist_teacher_small(1).unwrap();
    let names: Vec<&str> = teacher.layers().iter().map(|l| l.name()).collect();
    assert_eq!(
        names,
        [
            "reshape",
            "conv2d",
            "leaky_re_lu",
            "max_pooling2d",
            "conv2d_1",
            "flatten",
            "dense"
        ]
    );
    assert_eq!(
        teacher.layer("conv2d").unwrap().output_shape(),
        &[14, 14, 64]
    );
    assert_eq!(
        teacher.layer("max_pooling2d").unwrap().output_shape(),
        &[14, 14, 64]
    );
    assert_eq!(
        teacher.layer("conv2d_1").unwrap().output_shape(),
        &[7, 7, 128]
    );
    assert_eq!(
        teacher.layer("conv2d_1").unwrap().params()[0].shape,
        [3, 3, 64, 128]
    );
    assert!(presets::by_name("nope", 0).is_none());
}

#[test]
fn glorot_uniform_limit_uses_keras_fans() {
    let m = presets::mnist_teacher(5).unwrap();
    let k = &m.layer("conv2d_1").unwrap().params()[0].value;
    // fan_in = 9·256, fan_out = 9·512.
    let limit = (6.0f32 / (9.0 * 256.0 + 9.0 * 512.0)).sqrt();
    let max = k.iter().fold(0.0f32, |a, v| a.max(v.abs()));
    assert!(max <= limit && max > 0.99 * limit, "{max} vs {limit}");
    let bias = &m.layer("conv2d_1").unwrap().params()[1].value;
    assert!(bias.iter().all(|&b| b == 0.0));
}

#[test]
fn config_round_trips_through_keras_like_json() {
    let m = presets::mnist_cnn(3).unwrap();
    let json = serde_json::to_value(m.config()).unwrap();
    let conv = &json["layers"][1];
    assert_eq!(conv["class_name"], "Conv2D");
    assert_eq!(conv["name"], "conv2d");
    assert_eq!(conv["config"]["filters"], 12);
    assert_eq!(conv["config"]["padding"], "valid");
    assert_eq!(conv["config"]["activation"], "relu");
    assert_eq!(json["layers"][3]["class_name"], "Flatten");
    let back: ModelConfig = serde_json::from_value(json).unwrap();
    assert_eq!(back, m.config());
    let rebuilt = Sequential::from_config(&back, 3).unwrap();
    assert_eq!(rebuilt.layers()[1].params(), m.layers()[1].params());
    // Missing optional fields take Keras defaults.
    let spec: LayerSpec = serde_json::from_str(
        r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3]}}"#,
    )
    .unwrap();
    assert_eq!(spec, LayerSpec::Conv2D(Conv2DConfig::new(4, [3, 3])));
    let bad = Sequential::new(
        &[4, 4, 1],
        vec![LayerSpec::Conv2D(Conv2DConfig::new(2, [5, 5]))],
        0,
    );
    assert!(bad.is_err());
}

#[test]
fn batch_norm_folds_into_the_preceding_conv() {
    let mut model = Sequential::new(
        &[5, 5, 2],
        vec![
            LayerSpec::Conv2D(Conv2DConfig::new(3, [3, 3])),
            LayerSpec::batch_norm(),
        ],
        8,
    )
    .unwrap();
    let mut rng = Rng::new(4);
    for p in model.layers_mut()[1].params_mut() {
        for v in p.value.iter_mut() {
            *v = rng.uniform(0.5, 1.5);
        }
    }
    model.layers_mut()[0].params_mut()[1].value = vec![0.1, -0.2, 0.3];
    let x: Vec<f32> = (0..2 * 50).map(|_| rng.uniform(-1.0, 1.0)).collect();
    let want = model
        .forward(
            Tensor::new(vec![2, 5, 5, 2], x.clone()).unwrap(),
            Mode::inference(),
        )
        .unwrap();
    let conv = &model.layers()[0];
    let bn = &model.layers()[1];
    let p = |i: usize| bn.params()[i].value.as_slice();
    let (k, b) = fold_batch_norm(
        &conv.params()[0].value,
        Some(&conv.params()[1].value),
        p(0),
        p(1),
        p(2),
        p(3),
        1e-3,
    )
    .unwrap();
    let mut folded = Sequential::new(
        &[5, 5, 2],
        vec![LayerSpec::Conv2D(Conv2DConfig::new(3, [3, 3]))],
        0,
    )
    .unwrap();
    folded.layers_mut()[0].params_mut()[0].set(&k).unwrap();
    folded.layers_mut()[0].params_mut()[1].set(&b).unwrap();
    let got = folded
        .forward(Tensor::new(vec![2, 5, 5, 2], x).unwrap(), Mode::inference())
        .unwrap();
    for (g, w) in got.data.iter().zip(&want.data) {
        assert!((g - w).abs() < 1e-4, "{g} vs {w}");
    }
}

#[test]
fn batch_norm_updates_moving_statistics_with_keras_momentum() {
    let mut model = Sequential::new(&[1], vec![LayerSpec::batch_norm()], 0).unwrap();
    // Batch [1, 3]: mean 2, biased variance 1.
    model
        .forward_train(Tensor::new(vec![2, 1], vec![1.0, 3.0]).unwrap())
        .unwrap();
    let bn = &model.layers()[0];
    assert!((bn.params()[2].value[0] - 0.02).abs() < 1e-7); // 0·0.99 + 2·0.01
    assert!((bn.params()[3].value[0] - 1.0).abs() < 1e-7); // 1·0.99 + 1·0.01
}

fn mnist_subset(split: Split, n: usize) -> (Vec<f32>, Vec<u8>) {
    let d = data::load(&data::default_dir(), split).unwrap();
    (d.images_f32_scaled(0..n), d.labels_range(0..n).to_vec())
}

fn small_mixed_model(seed: u64) -> Sequential {
    Sequential::new(
        &[28, 28],
        vec![
            LayerSpec::Reshape {
                target_shape: vec![28, 28, 1],
            },
            LayerSpec::Conv2D(Conv2DConfig {
                strides: [2, 2],
                padding: ferrolite::nn::Padding::Same,
                ..Conv2DConfig::new(4, [3, 3])
            }),
            LayerSpec::batch_norm(),
            LayerSpec::ReLU { max_value: None },
            LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig {
                depth_multiplier: 2,
                activation: Activation::Relu6,
                ..DepthwiseConv2DConfig::new([3, 3])
            }),
            LayerSpec::Dropout { rate: 0.3 },
            LayerSpec::GlobalAveragePooling2D {},
            LayerSpec::dense(10),
        ],
        seed,
    )
    .unwrap()
}

fn train_weights(
    make: fn(u64) -> Sequential,
    threads: usize,
    steps: usize,
    x: &[f32],
    y: &[u8],
) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut model = make(11);
        let mut adam = Adam::default();
        let data = Dataset::new(x, &[28, 28], y).unwrap();
        let per_epoch = y.len() / 32;
        let cfg = FitConfig {
            epochs: steps.div_ceil(per_epoch),
            seed: 5,
            ..FitConfig::default()
        };
        fit(
            &mut model,
            &mut adam,
            &mut SparseCategoricalCrossentropy,
            &data,
            &cfg,
            &mut NoCallback,
        )
        .unwrap();
        model
            .layers()
            .iter()
            .flat_map(|l| l.params().iter().map(|p| p.value.clone()))
            .collect()
    })
}

#[test]
fn training_is_bit_reproducible_across_runs_and_thread_counts() {
    let (x, y) = mnist_subset(Split::Train, 3200); // 100 steps per epoch
    for make in [
        |s| presets::mnist_cnn(s).unwrap(),
        small_mixed_model as fn(u64) -> Sequential,
    ] {
        let a = train_weights(make, 1, 300, &x, &y);
        let b = train_weights(make, 4, 300, &x, &y);
        let c = train_weights(make, 3, 300, &x, &y);
        assert!(a == b && b == c, "weights differ between runs");
        let init = make(11);
        assert_ne!(
            a[0],
            init.layers()[1].params()[0].value,
            "training changed nothing"
        );
    }
}

#[test]
fn custom_loop_with_post_step_hook_keeps_masks() {
    // The pruning pattern: zero half of a kernel after every step.
    let (x, y) = mnist_subset(Split::Train, 640);
    let mut model = presets::mnist_mlp(2).unwrap();
    let mut adam = Adam::default();
    struct Prune;
    impl Callback for Prune {
        fn after_step(&mut self, model: &mut Sequential) -> Result<(), ferrolite::nn::NnError> {
            let k = &mut model.layers_mut()[1].params_mut()[0].value;
            k.iter_mut().step_by(2).for_each(|v| *v = 0.0);
            Ok(())
        }
    }
    let data = Dataset::new(&x, &[28, 28], &y).unwrap();
    fit(
        &mut model,
        &mut adam,
        &mut SparseCategoricalCrossentropy,
        &data,
        &FitConfig::default(),
        &mut Prune,
    )
    .unwrap();
    assert!(model.layers()[1].params()[0]
        .value
        .iter()
        .step_by(2)
        .all(|&v| v == 0.0));
    // And a hand-written step through the public pieces.
    let batch = ferrolite::nn::gather_batch(&data, &[0, 1, 2]).unwrap();
    let stats = train_step(
        &mut model,
        &mut adam,
        &mut SparseCategoricalCrossentropy,
        batch,
    )
    .unwrap();
    assert_eq!(stats.size, 3);
    assert!(stats.loss.is_finite());
}

struct Recorder(Vec<EpochSummary>, usize);
impl Callback for Recorder {
    fn on_batch_end(&mut self, p: &ferrolite::nn::BatchProgress) {
        self.1 += 1;
        assert!(p.loss.is_finite() && p.images_per_sec > 0.0);
    }
    fn on_epoch_end(&mut self, s: &EpochSummary) {
        eprintln!(
            "epoch {}: loss {:.4} acc {:.4} val_loss {:?} val_acc {:?} {:.2}s ({:.0} img/s)",
            s.epoch + 1,
            s.loss,
            s.accuracy,
            s.val_loss,
            s.val_accuracy,
            s.seconds,
            s.images_per_sec
        );
        self.0.push(s.clone());
    }
}

fn train_mnist_cnn(epochs: usize, n_train: usize) -> (f32, Vec<EpochSummary>) {
    let (x, y) = mnist_subset(Split::Train, n_train);
    let (tx, ty) = mnist_subset(Split::Test, 10_000);
    let mut model = presets::mnist_cnn(42).unwrap();
    let mut adam = Adam::default();
    let data = Dataset::new(&x, &[28, 28], &y).unwrap();
    let cfg = FitConfig {
        epochs,
        seed: 42,
        ..FitConfig::default()
    };
    let mut rec = Recorder(Vec::new(), 0);
    fit(
        &mut model,
        &mut adam,
        &mut SparseCategoricalCrossentropy,
        &data,
        &cfg,
        &mut rec,
    )
    .unwrap();
    assert_eq!(rec.1, epochs * n_train.div_ceil(32));
    let test = Dataset::new(&tx, &[28, 28], &ty).unwrap();
    let (_, acc) = evaluate(&mut model, &test, 256).unwrap();
    eprintln!("test accuracy after {epochs} epoch(s): {acc:.4}");
    (acc, rec.0)
}

#[test]
fn mnist_cnn_one_epoch_reaches_95_percent() {
    let (acc, _) = train_mnist_cnn(1, 60_000);
    assert!(acc > 0.95, "test accuracy {acc}");
}

#[test]
fn validation_split_takes_the_end() {
    let (x, y) = mnist_subset(Split::Train, 1000);
    let mut model = presets::mnist_mlp(1).unwrap();
    let data = Dataset::new(&x, &[28, 28], &y).unwrap();
    let cfg = FitConfig {
        validation_split: 0.25,
        ..FitConfig::default()
    };
    let mut rec = Recorder(Vec::new(), 0);
    let h = fit(
        &mut model,
        &mut Adam::default(),
        &mut SparseCategoricalCrossentropy,
        &data,
        &cfg,
        &mut rec,
    )
    .unwrap();
    assert_eq!(rec.1, 750usize.div_ceil(32));
    let (_, tail) = data.split_at(750);
    let (_, val_acc) = evaluate(&mut model, &tail, 32).unwrap();
    assert_eq!(h.epochs[0].val_accuracy, Some(val_acc));
}

/// Keras trains on floor(n * (1 - split)) samples with the split as typed: 0.2 of
/// 3000 leaves 2400, not the 2399 an f32 0.2 widened to f64 would give.
#[test]
fn validation_split_counts_samples_as_keras() {
    let (x, y) = mnist_subset(Split::Train, 3000);
    let mut model = presets::mnist_mlp(1).unwrap();
    let data = Dataset::new(&x, &[28, 28], &y).unwrap();
    let cfg = FitConfig {
        validation_split: 0.2,
        batch_size: 1,
        ..FitConfig::default()
    };
    let mut rec = Recorder(Vec::new(), 0);
    fit(
        &mut model,
        &mut Sgd::new(0.01, 0.0),
        &mut SparseCategoricalCrossentropy,
        &data,
        &cfg,
        &mut rec,
    )
    .unwrap();
    assert_eq!(rec.1, 2400);
}

/// `cargo test --release --test nn_train -- --ignored --nocapture`: the acceptance run.
#[test]
#[ignore]
fn mnist_cnn_five_epochs_benchmark() {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("load average before: {}", load.trim());
    let (acc, epochs) = train_mnist_cnn(5, 60_000);
    let secs: Vec<f64> = epochs.iter().map(|e| e.seconds).collect();
    eprintln!("seconds per epoch: {secs:?}");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("load average after: {}", load.trim());
    assert!(acc >= 0.978, "test accuracy {acc}");
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 per second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

/// One epoch with wall and CPU time: on a shared machine the CPU time says how fast
/// the epoch would be with the cores to itself.
#[test]
#[ignore]
fn mnist_cnn_epoch_speed() {
    let (x, y) = mnist_subset(Split::Train, 60_000);
    let mut model = presets::mnist_cnn(42).unwrap();
    let data = Dataset::new(&x, &[28, 28], &y).unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu0 = cpu_seconds();
    let t0 = std::time::Instant::now();
    fit(
        &mut model,
        &mut Adam::default(),
        &mut SparseCategoricalCrossentropy,
        &data,
        &FitConfig::default(),
        &mut NoCallback,
    )
    .unwrap();
    eprintln!(
        "threads {}: wall {:.2}s, cpu {:.2}s, load {}",
        rayon::current_num_threads(),
        t0.elapsed().as_secs_f64(),
        cpu_seconds() - cpu0,
        load.trim()
    );
}

/// CPU seconds per training step of every preset (batch 32, Adam), to check that
/// speed work on one architecture does not slow the others down.
#[test]
#[ignore]
fn preset_step_speed() {
    let (x, y) = mnist_subset(Split::Train, 32 * 40);
    let data = Dataset::new(&x, &[28, 28], &y).unwrap();
    // PRESETS=mnist-cnn,mnist-student limits the run (e.g. under callgrind).
    let only = std::env::var("PRESETS").unwrap_or_default();
    for &name in presets::NAMES {
        if !only.is_empty() && !only.split(',').any(|n| n == name) {
            continue;
        }
        let mut model = presets::by_name(name, 1).unwrap().unwrap();
        let mut adam = Adam::default();
        let steps = if name == "mnist-teacher" { 10 } else { 40 };
        let (sub, _) = data.split_at(32 * steps);
        let cpu0 = cpu_seconds();
        let t0 = std::time::Instant::now();
        fit(
            &mut model,
            &mut adam,
            &mut SparseCategoricalCrossentropy,
            &sub,
            &FitConfig::default(),
            &mut NoCallback,
        )
        .unwrap();
        eprintln!(
            "{name}: {:.2} ms CPU, {:.2} ms wall per step ({} threads)",
            (cpu_seconds() - cpu0) * 1e3 / steps as f64,
            t0.elapsed().as_secs_f64() * 1e3 / steps as f64,
            rayon::current_num_threads()
        );
    }
}
