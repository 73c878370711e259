//! Magnitude pruning: TFMOT's schedules, masks and block masks, and a pruning run that
//! keeps masked weights at exactly zero and saves an ordinary model.

use ferrolite::nn::io;
use ferrolite::nn::prune::{
    block_mask, kept_count, magnitude_mask, prune, PruneConfig, PruneProgress, Pruner, Schedule,
};
use ferrolite::nn::rng::Rng;
use ferrolite::nn::{
    fit, Activation, Adam, Callback, Conv2DConfig, Dataset, DepthwiseConv2DConfig, FitConfig,
    LayerSpec, NoCallback, Padding, Sequential, SparseCategoricalCrossentropy,
};

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

fn polynomial(
    initial: f32,
    last: f32,
    begin: u64,
    end: u64,
    power: f32,
    frequency: u64,
) -> Schedule {
    Schedule::PolynomialDecay {
        initial_sparsity: initial,
        final_sparsity: last,
        begin_step: begin,
        end_step: end,
        power,
        frequency,
    }
}

#[test]
fn polynomial_decay_values_by_hand() {
    // The study's schedule: 0.5 → 0.8 over 844 steps (2 epochs of 422 at batch 128).
    let s = Schedule::polynomial_decay(0.5, 0.8, 0, 844).unwrap();
    assert!(close(s.sparsity(0), 0.5));
    // p = 1/2: 0.8 − 0.3·(1/2)³ = 0.7625.
    assert!(close(s.sparsity(422), 0.7625), "{}", s.sparsity(422));
    // p = 800/844: 0.8 − 0.3·(44/844)³ = 0.8 − 0.3·0.000141684 = 0.799957505.
    assert!(close(s.sparsity(800), 0.799_957_5), "{}", s.sparsity(800));
    assert!(close(s.sparsity(844), 0.8));
    // p is clipped to [0, 1] on both sides.
    assert!(close(s.sparsity(5000), 0.8));
    let late = polynomial(0.2, 0.6, 2, 20, 3.0, 5);
    assert!(close(late.sparsity(0), 0.2));
    // p = 5/18: 0.6 − 0.4·(13/18)³ = 0.6 − 0.4·2197/5832 = 0.449314.
    assert!(close(late.sparsity(7), 0.449_314), "{}", late.sparsity(7));
    // p = 10/18: 0.6 − 0.4·(8/18)³ = 0.6 − 0.4·512/5832 = 0.564883.
    assert!(close(late.sparsity(12), 0.564_883), "{}", late.sparsity(12));
    // power 2, p = 1/4: 0.8 − 0.3·(3/4)² = 0.63125.
    assert!(close(
        polynomial(0.5, 0.8, 0, 100, 2.0, 1).sparsity(25),
        0.631_25
    ));
    let c = Schedule::constant_sparsity(0.65, 10).unwrap();
    assert!(close(c.sparsity(0), 0.65) && close(c.sparsity(1_000_000), 0.65));
}

#[test]
fn pruning_steps_follow_begin_end_and_frequency() {
    let s = polynomial(0.2, 0.6, 10, 310, 3.0, 100);
    let at: Vec<u64> = (0..500).filter(|&t| s.should_prune(t)).collect();
    assert_eq!(at, [10, 110, 210, 310]);
    // TFMOT's defaults: frequency 100, begin 0, and ConstantSparsity never ends.
    let c = Schedule::constant_sparsity(0.5, 0).unwrap();
    assert!(c.should_prune(0) && !c.should_prune(50) && c.should_prune(1_000_000));
    let bounded = Schedule::ConstantSparsity {
        target_sparsity: 0.5,
        begin_step: 3,
        end_step: Some(9),
        frequency: 3,
    };
    let at: Vec<u64> = (0..30).filter(|&t| bounded.should_prune(t)).collect();
    assert_eq!(at, [3, 6, 9]);
}

#[test]
fn bad_schedules_are_refused() {
    for s in [
        polynomial(-0.1, 0.8, 0, 10, 3.0, 1),
        polynomial(0.5, 1.0, 0, 10, 3.0, 1),
        polynomial(0.8, 0.5, 0, 10, 3.0, 1),
        polynomial(0.5, 0.8, 10, 10, 3.0, 1),
        polynomial(0.5, 0.8, 0, 10, 0.0, 1),
        polynomial(0.5, 0.8, 0, 10, 3.0, 0),
        Schedule::ConstantSparsity {
            target_sparsity: 0.5,
            begin_step: 5,
            end_step: Some(4),
            frequency: 1,
        },
        Schedule::ConstantSparsity {
            target_sparsity: f32::NAN,
            begin_step: 0,
            end_step: None,
            frequency: 1,
        },
    ] {
        assert!(s.validate().is_err(), "{s:?} was accepted");
    }
    assert!(polynomial(0.5, 0.5, 0, 1, 1.0, 1).validate().is_ok());
}

#[test]
fn kept_count_rounds_half_to_even_and_keeps_at_least_one() {
    assert_eq!(kept_count(10, 0.5), 5);
    // 2.5 → 2 and 3.5 → 4 (tf.round is banker's rounding).
    assert_eq!(kept_count(5, 0.5), 2);
    assert_eq!(kept_count(7, 0.5), 4);
    assert_eq!(kept_count(108, 0.8), 22);
    assert_eq!(kept_count(3, 0.99), 1);
    assert_eq!(kept_count(1, 0.9), 1);
    assert_eq!(kept_count(9, 0.0), 9);
}

#[test]
fn magnitude_mask_keeps_ties_at_the_threshold() {
    let w = [0.1, -0.5, 0.5, 0.2, 0.5, -0.05];
    // k = 2: threshold 0.5, held by three weights, all kept.
    assert_eq!(
        magnitude_mask(&w, 2),
        [false, true, true, false, true, false]
    );
    assert_eq!(
        magnitude_mask(&w, 4),
        [false, true, true, true, true, false]
    );
    // k is at least 1.
    assert_eq!(
        magnitude_mask(&w, 0),
        [false, true, true, false, true, false]
    );
    assert_eq!(magnitude_mask(&[-0.3, 0.2], 1), [true, false]);
}

#[test]
fn block_mask_pools_windows_of_the_out_in_layout() {
    // Keras kernel [inputs 5, units 2], row i = input i. Block 1x2 = one unit × two
    // consecutive inputs; input 4 is a partial block (5 = 2·2 + 1).
    #[rustfmt::skip]
    let kernel = [
        0.9, 0.1,
        -0.9, 0.1,
        0.2, 0.3,
        0.2, -0.3,
        5.0, 5.0,
    ];
    // Block means: unit 0: inputs 0-1 → 0.9, inputs 2-3 → 0.2;
    //              unit 1: inputs 0-1 → 0.1, inputs 2-3 → 0.3.
    // 4 full blocks, sparsity 0.5 keeps 2: (unit 0, 0-1) and (unit 1, 2-3).
    let (mask, partial) = block_mask(&kernel, 5, 2, [1, 2], 0.5).unwrap();
    #[rustfmt::skip]
    let want = [
        true, false,
        true, false,
        false, true,
        false, true,
        false, false,
    ];
    assert_eq!(mask, want);
    // The large partial-block weights are dropped anyway, and counted.
    assert_eq!(partial, 2);

    // Block 2x1 = two units × one input over [inputs 2, units 3]: unit 2 is partial.
    let kernel = [0.1, 0.2, 9.0, 0.4, 0.6, 9.0];
    // Means: input 0 → 0.15, input 1 → 0.5; keep 1 of 2.
    let (mask, partial) = block_mask(&kernel, 2, 3, [2, 1], 0.5).unwrap();
    assert_eq!(mask, [false, false, false, true, true, false]);
    assert_eq!(partial, 2);

    // A kernel narrower than one block is refused rather than zeroed whole.
    assert!(block_mask(&[1.0; 20], 10, 2, [1, 16], 0.5).is_err());
    assert!(block_mask(&[1.0; 4], 2, 2, [0, 1], 0.5).is_err());
}

/// Input 6×6×1 → Conv2D(3, 3×3, same) → DepthwiseConv2D(3×3, valid) → Flatten (48) →
/// Dense(20) → Dense(4).
fn small_model(seed: u64) -> Sequential {
    Sequential::new(
        &[6, 6, 1],
        vec![
            LayerSpec::Conv2D(Conv2DConfig {
                activation: Activation::Relu,
                padding: Padding::Same,
                ..Conv2DConfig::new(3, [3, 3])
            }),
            LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig::new([3, 3])),
            LayerSpec::Flatten {},
            LayerSpec::dense_with(20, Activation::Relu),
            LayerSpec::dense(4),
        ],
        seed,
    )
    .unwrap()
}

fn random_data(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = Rng::new(seed);
    let x = (0..n * 36).map(|_| rng.uniform(0.0, 1.0)).collect();
    let y = (0..n).map(|i| (i % 4) as u8).collect();
    (x, y)
}

fn param(model: &Sequential, layer: &str, name: &str) -> Vec<f32> {
    model
        .layer(layer)
        .unwrap()
        .params()
        .iter()
        .find(|p| p.name == name)
        .unwrap()
        .value
        .clone()
}

fn zeros(v: &[f32]) -> usize {
    v.iter().filter(|&&w| w == 0.0).count()
}

/// Checks after every optimizer step that the positions zeroed at the first mask
/// update are still exactly zero.
struct Watch {
    pruner: Pruner,
    zeroed: Option<Vec<Vec<bool>>>,
    checked_steps: usize,
    targets: Vec<Option<f32>>,
}

const KERNELS: [&str; 3] = ["conv2d", "dense", "dense_1"];

impl Callback for Watch {
    fn before_step(&mut self, model: &mut Sequential) -> Result<(), ferrolite::nn::NnError> {
        self.pruner.before_step(model)?;
        self.targets.push(self.pruner.target_sparsity());
        Ok(())
    }
    fn after_step(&mut self, model: &mut Sequential) -> Result<(), ferrolite::nn::NnError> {
        self.pruner.after_step(model)?;
        let now: Vec<Vec<bool>> = KERNELS
            .iter()
            .map(|l| {
                param(model, l, "kernel")
                    .iter()
                    .map(|&w| w == 0.0)
                    .collect()
            })
            .collect();
        match &self.zeroed {
            None => self.zeroed = Some(now),
            Some(first) => {
                for (f, n) in first.iter().zip(&now) {
                    assert!(f.iter().zip(n).all(|(&was, &is)| !was || is));
                }
            }
        }
        self.checked_steps += 1;
        Ok(())
    }
}

#[test]
fn masked_weights_stay_exactly_zero_through_adam_and_biases_are_untouched() {
    let mut model = small_model(4);
    // Non-zero biases, so a bias mask would show.
    let mut rng = Rng::new(9);
    for layer in model.layers_mut() {
        for p in layer.params_mut() {
            if p.name == "bias" {
                p.value.iter_mut().for_each(|v| *v = rng.uniform(0.1, 0.5));
            }
        }
    }
    let depthwise_before = param(&model, "depthwise_conv2d", "depthwise_kernel");
    let (x, y) = random_data(64, 2);
    let data = Dataset::new(&x, &[6, 6, 1], &y).unwrap();
    // Masks only at step 0: afterwards only the optimizer moves the weights.
    let schedule = Schedule::ConstantSparsity {
        target_sparsity: 0.6,
        begin_step: 0,
        end_step: None,
        frequency: 1000,
    };
    let mut watch = Watch {
        pruner: Pruner::new(&model, schedule, None).unwrap(),
        zeroed: None,
        checked_steps: 0,
        targets: Vec::new(),
    };
    let config = FitConfig {
        epochs: 10,
        batch_size: 8,
        ..FitConfig::default()
    };
    let mut adam = Adam::new(1e-2);
    fit(
        &mut model,
        &mut adam,
        &mut SparseCategoricalCrossentropy,
        &data,
        &config,
        &mut watch,
    )
    .unwrap();
    assert_eq!(watch.checked_steps, 80);
    // 27 conv weights keep round(27·0.4) = 11, 960 → 384, 80 → 32 (no ties among
    // random floats).
    assert_eq!(zeros(&param(&model, "conv2d", "kernel")), 16);
    assert_eq!(zeros(&param(&model, "dense", "kernel")), 576);
    assert_eq!(zeros(&param(&model, "dense_1", "kernel")), 48);
    for layer in ["conv2d", "dense", "dense_1"] {
        assert_eq!(zeros(&param(&model, layer, "bias")), 0, "{layer} bias");
    }
    // Depthwise kernels are not prunable: trained, not masked.
    let depthwise = param(&model, "depthwise_conv2d", "depthwise_kernel");
    assert_eq!(zeros(&depthwise), 0);
    assert_ne!(depthwise, depthwise_before);
}

#[test]
fn masks_change_only_at_pruning_steps() {
    let mut model = small_model(5);
    let (x, y) = random_data(48, 3);
    let data = Dataset::new(&x, &[6, 6, 1], &y).unwrap();
    let schedule = polynomial(0.2, 0.6, 2, 20, 3.0, 5);
    let mut watch = Watch {
        pruner: Pruner::new(&model, schedule, None).unwrap(),
        zeroed: None,
        checked_steps: 0,
        targets: Vec::new(),
    };
    let config = FitConfig {
        epochs: 2,
        batch_size: 6,
        ..FitConfig::default()
    };
    let mut adam = Adam::new(1e-3);
    fit(
        &mut model,
        &mut adam,
        &mut SparseCategoricalCrossentropy,
        &data,
        &config,
        &mut watch,
    )
    .unwrap();
    // 16 steps (0..=15); updates at 2, 7 and 12 with 0.2, 0.449314 and 0.564883.
    assert_eq!(watch.targets.len(), 16);
    let (a, b, c) = (Some(0.2f32), Some(0.449_314f32), Some(0.564_883f32));
    let want = [None, None, a, a, a, a, a, b, b, b, b, b, c, c, c, c];
    for (step, (got, want)) in watch.targets.iter().zip(want).enumerate() {
        match (got, want) {
            (None, None) => {}
            (Some(g), Some(w)) => assert!(close(*g, w), "step {step}: {g} vs {w}"),
            _ => panic!("step {step}: {got:?} vs {want:?}"),
        }
    }
    // dense_1 [20, 4]: k = round(80·(1 − 0.564883)) = round(34.81) = 35 kept.
    assert_eq!(zeros(&param(&model, "dense_1", "kernel")), 45);
}

#[test]
fn block_pruning_refuses_a_dense_narrower_than_a_block() {
    let model = small_model(1);
    let schedule = Schedule::constant_sparsity(0.5, 0).unwrap();
    // dense_1 has 20 inputs: no whole 1x32 block.
    let err = Pruner::new(&model, schedule.clone(), Some([1, 32]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("dense"), "{err}");
    // 1x1 means element masks; a fitting block reports its partial weights.
    assert!(Pruner::new(&model, schedule.clone(), Some([1, 1]))
        .unwrap()
        .partial_block_weights()
        .is_empty());
    // dense: 48 inputs × 20 units in 1x16 blocks fit exactly; dense_1: 20 inputs = 16 + 4,
    // so 4 inputs × 4 units are partial.
    let p = Pruner::new(&model, schedule, Some([1, 16])).unwrap();
    assert_eq!(p.partial_block_weights(), [("dense_1".to_string(), 16)]);
}

struct CountEpochs(usize, f32);
impl PruneProgress for CountEpochs {
    fn on_epoch_end(&mut self, _s: &ferrolite::nn::EpochSummary, sparsity: f32) {
        self.0 += 1;
        self.1 = sparsity;
    }
}

#[test]
fn a_pruning_run_saves_an_ordinary_model_with_exact_zeros() {
    let mut model = small_model(8);
    let (x, y) = random_data(60, 4);
    let data = Dataset::new(&x, &[6, 6, 1], &y).unwrap();
    let config = PruneConfig {
        schedule: polynomial(0.3, 0.75, 0, 12, 3.0, 4),
        block: Some([1, 16]),
        layers: None,
        learning_rate: 1e-3,
        fit: FitConfig {
            epochs: 2,
            batch_size: 10,
            validation_split: 0.1,
            ..FitConfig::default()
        },
    };
    // 54 training samples, 6 batches per epoch.
    assert_eq!(ferrolite::nn::prune::fit_steps(60, &config.fit), 12);
    let mut progress = CountEpochs(0, 0.0);
    let report = prune(&mut model, &data, &config, &mut progress).unwrap();
    assert_eq!(progress.0, 2);
    assert_eq!(report.steps, 12);
    assert_eq!(report.train_samples, 54);
    let names: Vec<&str> = report.layers.iter().map(|l| l.layer.as_str()).collect();
    assert_eq!(names, KERNELS);
    // Last update at step 8: 0.75 − 0.45·(1/3)³ = 0.733333. conv2d: keep round(7.2) = 7
    // of 27; dense ([48, 20] = 60 blocks of 16): keep round(16.0) = 16 blocks, 704 zeros;
    // dense_1 (4 full blocks + 16 partial weights): keep round(1.07) = 1 block, 80 − 16.
    let zeros_by_layer: Vec<usize> = report.layers.iter().map(|l| l.zeros).collect();
    assert_eq!(zeros_by_layer, [20, 704, 64]);
    assert_eq!(report.layers[2].partial_block_weights, 16);
    assert!(report.layers[0].block.is_none() && report.layers[1].block == Some([1, 16]));

    let dir = std::env::temp_dir().join(format!("ferrolite-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let record = io::TrainingRecord {
        pruning: Some(report.record(&config)),
        ..Default::default()
    };
    io::save(&dir, &model, Some(&record)).unwrap();
    let (loaded, meta) = io::load_with_metadata(&dir).unwrap();
    assert_eq!(meta.training.unwrap().pruning, Some(report.record(&config)));
    // The exported float graph carries the zeros: count them per constant by shape
    // (TFLite layouts: conv [out, kh, kw, in], FC [units, inputs]).
    let exported = ferrolite::nn::export(&loaded).unwrap();
    let zeros_of = |shape: &[usize]| -> usize {
        let t = exported
            .graph
            .tensors
            .iter()
            .find(|t| t.shape == shape && t.data.is_some())
            .unwrap();
        t.data
            .as_ref()
            .unwrap()
            .chunks_exact(4)
            .filter(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) == 0.0)
            .count()
    };
    assert_eq!(zeros_of(&[3, 3, 3, 1]), 20);
    assert_eq!(zeros_of(&[20, 48]), 704);
    assert_eq!(zeros_of(&[4, 20]), 64);
    let _ = std::fs::remove_dir_all(&dir);

    // A run that never reaches begin_step still zeroes the partial blocks.
    let mut model = small_model(8);
    let late = PruneConfig {
        schedule: polynomial(0.3, 0.7, 1000, 2000, 3.0, 4),
        ..config
    };
    let report = prune(&mut model, &data, &late, &mut NoCallback).unwrap();
    let zeros_by_layer: Vec<usize> = report.layers.iter().map(|l| l.zeros).collect();
    assert_eq!(zeros_by_layer, [0, 0, 16]);
}
