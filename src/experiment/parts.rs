//! The three parts of the study, and the shared steps they are made of (train, save,
//! write a `.tflite`, measure it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::report::{
    epochs, mean_std, Artifact, Distillation, ElementMasks, LayerSparsity, Pruning, Ptq, SweepRow,
    TractCheck,
};
use super::{Config, ExperimentError, Observer};
use crate::data::{self, Mnist, Split};
use crate::interp::Interpreter;
use crate::nn::io::{EpochRecord, TrainingRecord};
use crate::nn::{self, Adam, Callback, Dataset, FitConfig, Sequential};
use crate::quant::{self, Int8Options, IoType, Mode, Samples};

/// MNIST images are 28×28.
const MNIST_SHAPE: [usize; 2] = [28, 28];

pub(super) fn stage_err(stage: &str, e: impl std::fmt::Display) -> ExperimentError {
    ExperimentError::Stage {
        stage: stage.to_string(),
        message: e.to_string(),
    }
}

/// State shared by the parts: the data, the output directory, what was written.
pub(super) struct Context<'a> {
    pub config: &'a Config,
    pub dir: PathBuf,
    pub observer: &'a mut dyn Observer,
    train_x: Vec<f32>,
    train_y: Vec<u8>,
    test: Mnist,
    test_x: Vec<f32>,
    pub artifacts: Vec<Artifact>,
}

/// Forwards training progress to the observer.
struct Forward<'a, 'b> {
    observer: &'a mut (dyn Observer + 'b),
}

impl Callback for Forward<'_, '_> {
    fn on_batch_end(&mut self, p: &nn::BatchProgress) {
        self.observer.batch(p);
    }
    fn on_epoch_end(&mut self, s: &nn::EpochSummary) {
        self.observer.epoch(s);
    }
}

/// A trained model and how it was trained.
pub(super) struct Trained {
    pub model: Sequential,
    pub record: TrainingRecord,
    pub seconds: f64,
}

impl<'a> Context<'a> {
    pub fn new(
        config: &'a Config,
        dir: &Path,
        observer: &'a mut dyn Observer,
    ) -> Result<Context<'a>, ExperimentError> {
        let train = data::load(&config.data_dir, Split::Train)
            .map_err(|e| stage_err("loading MNIST", e))?;
        let test =
            data::load(&config.data_dir, Split::Test).map_err(|e| stage_err("loading MNIST", e))?;
        let n = config
            .settings
            .train_limit
            .unwrap_or(train.count)
            .min(train.count);
        if n == 0 {
            return Err(stage_err("loading MNIST", "no training images"));
        }
        for sub in ["models", "tflite"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| ExperimentError::Io {
                path: dir.join(sub).display().to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(Context {
            config,
            dir: dir.to_path_buf(),
            observer,
            train_x: train.images_f32_scaled(0..n),
            train_y: train.labels_range(0..n).to_vec(),
            test_x: test.images_f32_scaled(0..test.count),
            test,
            artifacts: Vec::new(),
        })
    }

    /// Runs `f` as a named stage: reported before and after, with its time.
    pub fn stage<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Self) -> Result<(T, String), ExperimentError>,
    ) -> Result<T, ExperimentError> {
        self.observer.stage_started(what);
        let started = Instant::now();
        let (value, result) = f(self)?;
        self.observer
            .stage_finished(what, started.elapsed().as_secs_f64(), &result);
        Ok(value)
    }

    /// Trains a preset from scratch with Adam (lr 1e-3) and sparse cross-entropy.
    pub fn train(
        &mut self,
        preset: &str,
        seed: u64,
        epochs: usize,
        batch_size: usize,
        validation_split: f32,
    ) -> Result<Trained, ExperimentError> {
        let what = format!("training {preset}");
        let mut model = nn::presets::by_name(preset, seed)
            .ok_or_else(|| stage_err(&what, format!("unknown preset {preset}")))?
            .map_err(|e| stage_err(&what, e))?;
        let fit = FitConfig {
            epochs,
            batch_size,
            validation_split,
            shuffle: true,
            seed,
        };
        let started = Instant::now();
        let mut optimizer = Adam::new(1e-3);
        let train = Dataset::new(&self.train_x, &MNIST_SHAPE, &self.train_y)
            .map_err(|e| stage_err(&what, e))?;
        let history = nn::fit(
            &mut model,
            &mut optimizer,
            &mut nn::SparseCategoricalCrossentropy,
            &train,
            &fit,
            &mut Forward {
                observer: &mut *self.observer,
            },
        )
        .map_err(|e| stage_err(&what, e))?;
        let seconds = started.elapsed().as_secs_f64();
        let record = TrainingRecord {
            optimizer: "adam".into(),
            learning_rate: 1e-3,
            batch_size,
            validation_split,
            shuffle_seed: seed,
            train_samples: nn::training_samples(self.train_y.len(), validation_split),
            history: history.epochs.iter().map(EpochRecord::from).collect(),
            ..Default::default()
        };
        Ok(Trained {
            model,
            record,
            seconds,
        })
    }

    /// Float accuracy of a model (its own forward pass) on the test set.
    pub fn evaluate_model(&self, model: &mut Sequential) -> Result<f64, ExperimentError> {
        let test = Dataset::new(&self.test_x, &MNIST_SHAPE, &self.test.labels)
            .map_err(|e| stage_err("evaluating", e))?;
        let (_, acc) = nn::evaluate(model, &test, 256).map_err(|e| stage_err("evaluating", e))?;
        // evaluate's f32 fraction back to a whole count of images, so accuracies read as
        // 0.9785 rather than 0.9784999489784241.
        let n = self.test.labels.len() as f64;
        Ok((f64::from(acc) * n).round() / n.max(1.0))
    }

    /// Saves a model directory under `models/`.
    pub fn save_model(
        &self,
        name: &str,
        model: &Sequential,
        record: &TrainingRecord,
    ) -> Result<(), ExperimentError> {
        nn::io::save(&self.dir.join("models").join(name), model, Some(record))
            .map_err(|e| stage_err(&format!("saving {name}"), e))
    }

    /// Writes `model` as `tflite/NAME`, measures its accuracy in the interpreter and
    /// records it as an artifact; returns (bytes, zip bytes, accuracy, file bytes).
    pub fn write_tflite(
        &mut self,
        name: &str,
        model: &crate::ir::Model,
    ) -> Result<(Artifact, Vec<u8>), ExperimentError> {
        let what = format!("writing {name}");
        let bytes = crate::tflite::write(model).map_err(|e| stage_err(&what, e))?;
        let path = self.dir.join("tflite").join(name);
        crate::data::files::write_atomic(&path, &bytes).map_err(|e| stage_err(&what, e))?;
        // Measured on what was written, read back: the file is what users get.
        let read = crate::tflite::read(&bytes).map_err(|e| stage_err(&what, e))?;
        let accuracy = self.evaluate_tflite(name, read)?;
        let artifact = Artifact {
            file: format!("tflite/{name}"),
            bytes: bytes.len(),
            zip_bytes: crate::verify::size::zip_bytes(name, &bytes),
            accuracy,
        };
        self.artifacts.push(artifact.clone());
        Ok((artifact, bytes))
    }

    /// Top-1 accuracy of a `.tflite` model on the whole test set.
    pub fn evaluate_tflite(
        &self,
        name: &str,
        model: crate::ir::Model,
    ) -> Result<f64, ExperimentError> {
        let what = format!("evaluating {name}");
        let mut interp = Interpreter::new(model).map_err(|e| stage_err(&what, e))?;
        let acc = crate::verify::accuracy::evaluate(&mut interp, &self.test, None, 100, |_| {})
            .map_err(|e| stage_err(&what, e))?;
        Ok(acc.accuracy)
    }

    /// Calibration samples: the first N training images, as `convert` takes them.
    pub fn calibration(&self, model: &crate::ir::Model) -> Result<Samples, ExperimentError> {
        Samples::mnist_train(
            model,
            &self.config.data_dir,
            self.config.settings.calibration,
        )
        .map_err(|e| stage_err("calibration", e))
    }
}

/// Runs tract on the first 8 test images and compares with ferrolite.
#[cfg(feature = "tract")]
fn tract_check(ctx: &Context, file: &str, bytes: &[u8], model: &crate::ir::Model) -> TractCheck {
    let attempt = || -> Result<(String, crate::verify::Diff, bool), crate::verify::VerifyError> {
        let inputs = crate::verify::sample_inputs(model, 8, Some(&ctx.test))?;
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
        let ours = Interpreter::new(model.clone())?.run(&inputs)?;
        let (mut runner, setup) = crate::verify::tract_for(bytes, model, &shapes)?;
        let theirs = runner.run(&inputs)?;
        let integer = ours.iter().all(|v| {
            !matches!(
                v.data,
                crate::interp::TensorBuf::F32(_) | crate::interp::TensorBuf::F16(_)
            )
        });
        // Integer outputs: one quantized step (tract rounds requantization its own way).
        let (abs, rel) = if integer { (1.0, 0.0) } else { (1e-4, 1e-4) };
        let diff = crate::verify::compare(&ours, &theirs, abs, rel)?;
        Ok((setup.model, diff, diff.outside_tolerance == 0))
    };
    match attempt() {
        Ok((how, diff, agree)) => TractCheck {
            file: file.to_string(),
            how,
            agree: Some(agree),
            max_abs_diff: Some(diff.max_abs),
            note: None,
        },
        Err(e) => TractCheck {
            file: file.to_string(),
            how: "not run".into(),
            agree: None,
            max_abs_diff: None,
            // tract's own text follows in parentheses; the reason comes first.
            note: Some(
                e.to_string()
                    .split(" (original file")
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
        },
    }
}

#[cfg(not(feature = "tract"))]
fn tract_check(_ctx: &Context, file: &str, _bytes: &[u8], _model: &crate::ir::Model) -> TractCheck {
    TractCheck {
        file: file.to_string(),
        how: "not run".into(),
        agree: None,
        max_abs_diff: None,
        note: Some("built without the tract feature".into()),
    }
}

/// Part 1: train mnist-cnn, write float and full-integer (uint8 IO) `.tflite`, measure
/// both, cross-check with tract.
pub(super) fn part1_ptq(ctx: &mut Context) -> Result<Ptq, ExperimentError> {
    let s = ctx.config.settings.clone();
    let seed = ctx.config.seed;
    let mut trained = ctx.stage(
        &format!("part 1: training mnist-cnn ({})", epochs(s.ptq_epochs)),
        |ctx| {
            let mut t = ctx.train("mnist-cnn", seed, s.ptq_epochs, 32, 0.0)?;
            let acc = ctx.evaluate_model(&mut t.model)?;
            t.record.test_accuracy = Some(acc as f32);
            ctx.save_model("cnn", &t.model, &t.record)?;
            let line = format!("test accuracy {:.2}%", acc * 100.0);
            Ok((t, line))
        },
    )?;
    let keras_accuracy = f64::from(trained.record.test_accuracy.unwrap_or(0.0));
    let float_ir = nn::export(&trained.model).map_err(|e| stage_err("exporting mnist-cnn", e))?;
    // One set of calibration images for both int8 conversions of this model.
    let samples = ctx.calibration(&float_ir)?;
    let (float, float_bytes) = ctx.stage("part 1: float .tflite", |ctx| {
        let (a, bytes) = ctx.write_tflite("cnn_float32.tflite", &float_ir)?;
        let line = format!("{} bytes, accuracy {:.2}%", a.bytes, a.accuracy * 100.0);
        Ok(((a, bytes), line))
    })?;
    let started = Instant::now();
    let (int8, int8_ir, int8_bytes, convert_seconds) =
        ctx.stage("part 1: full-integer .tflite (uint8 IO)", |ctx| {
            let options = Int8Options {
                io: IoType::Uint8,
                ..Default::default()
            };
            let converted = quant::convert(&float_ir, Mode::Int8, &options, Some(&samples))
                .map_err(|e| stage_err("int8 conversion", e))?;
            let convert_seconds = started.elapsed().as_secs_f64();
            let (a, bytes) = ctx.write_tflite("cnn_int8_uint8io.tflite", &converted.model)?;
            let line = format!(
                "{} bytes, accuracy {:.2}% ({:+.2} pp against float)",
                a.bytes,
                a.accuracy * 100.0,
                (a.accuracy - float.accuracy) * 100.0
            );
            Ok(((a, converted.model, bytes, convert_seconds), line))
        })?;
    let tract = ctx.stage("part 1: tract cross-check", |ctx| {
        let mut checks = vec![
            tract_check(ctx, &float.file, &float_bytes, &float_ir),
            tract_check(ctx, &int8.file, &int8_bytes, &int8_ir),
        ];
        // tract has no QUANTIZE, which uint8 IO needs at both ends: the int8-IO file of
        // the same model has the same integer kernels, so that one is compared instead.
        if checks[1].agree.is_none() {
            let converted = quant::convert(
                &float_ir,
                Mode::Int8,
                &Int8Options::default(),
                Some(&samples),
            )
            .map_err(|e| stage_err("int8 conversion", e))?;
            let bytes = crate::tflite::write(&converted.model)
                .map_err(|e| stage_err("int8 conversion", e))?;
            let mut check =
                tract_check(ctx, "the same model with int8 IO", &bytes, &converted.model);
            check.note = Some(format!(
                "checked because tract could not run the uint8-IO file ({})",
                checks[1].note.clone().unwrap_or_default()
            ));
            checks.push(check);
        }
        let line = checks
            .iter()
            .map(|c| match (c.agree, c.max_abs_diff) {
                (Some(a), Some(d)) => format!(
                    "{}: {} ({d:.2e})",
                    c.file,
                    if a { "agree" } else { "DISAGREE" }
                ),
                _ => format!("{}: not run", c.file),
            })
            .collect::<Vec<_>>()
            .join("; ");
        Ok((checks, line))
    })?;
    trained.record.test_accuracy = Some(keras_accuracy as f32);
    Ok(Ptq {
        float_accuracy: float.accuracy,
        int8_accuracy: int8.accuracy,
        keras_accuracy,
        float_bytes: float.bytes,
        int8_bytes: int8.bytes,
        float_zip_bytes: float.zip_bytes,
        int8_zip_bytes: int8.zip_bytes,
        train_seconds: trained.seconds,
        convert_seconds,
        tract,
    })
}

/// Forwards pruning progress to the observer.
struct PruneForward<'a, 'b> {
    observer: &'a mut (dyn Observer + 'b),
}

impl nn::prune::PruneProgress for PruneForward<'_, '_> {
    fn on_batch_end(&mut self, p: &nn::BatchProgress, _sparsity: f32) {
        self.observer.batch(p);
    }
    fn on_epoch_end(&mut self, s: &nn::EpochSummary, _sparsity: f32) {
        self.observer.epoch(s);
    }
}

/// A pruned model and what the pruner reported.
struct PrunedModel {
    model: Sequential,
    accuracy: f64,
    report: nn::prune::PruneReport,
    /// Dense layers whose inputs were made channel-major for block pruning.
    reordered: Vec<nn::block_layout::ChannelMajor>,
    /// The layers pruned (`None`: every Conv2D and Dense).
    pruned_layers: Option<Vec<String>>,
}

/// Prunes a copy of `baseline` with the study's schedule and saves it as `models/NAME`.
fn prune_stage(
    ctx: &mut Context,
    baseline: &Sequential,
    block: Option<[usize; 2]>,
    name: &str,
) -> Result<PrunedModel, ExperimentError> {
    let s = ctx.config.settings.clone();
    let seed = ctx.config.seed;
    let what = format!(
        "part 2: pruning {:.0}% → {:.0}% with {} ({} at batch {})",
        s.initial_sparsity * 100.0,
        s.final_sparsity * 100.0,
        match block {
            Some([r, c]) => format!("{r}×{c} Dense blocks"),
            None => "element masks".into(),
        },
        epochs(s.prune_epochs),
        s.prune_batch_size
    );
    ctx.stage(&what, |ctx| {
        let fit = FitConfig {
            epochs: s.prune_epochs,
            batch_size: s.prune_batch_size,
            validation_split: 0.1,
            shuffle: true,
            seed,
        };
        // TFMOT's tutorial ends the schedule with the run: steps per epoch × epochs.
        let end_step = nn::prune::fit_steps(ctx.train_y.len(), &fit);
        let schedule = nn::prune::Schedule::PolynomialDecay {
            initial_sparsity: s.initial_sparsity,
            final_sparsity: s.final_sparsity,
            begin_step: 0,
            end_step,
            power: 3.0,
            frequency: s.prune_frequency,
        };
        let mut config = nn::prune::PruneConfig {
            schedule,
            block,
            layers: None,
            learning_rate: 1e-3,
            fit,
        };
        // The same choices as `ferrolite prune`'s defaults: channel-major Dense inputs
        // and Dense-only pruning when blocks are used.
        let (mut model, reordered) = match block {
            Some([_, cols]) if cols > 1 => nn::block_layout::channel_major_blocks(baseline)
                .map_err(|e| stage_err("reordering", e))?,
            _ => (baseline.clone(), Vec::new()),
        };
        config.layers = nn::prune::default_layers(&model, block);
        let data = Dataset::new(&ctx.train_x, &MNIST_SHAPE, &ctx.train_y)
            .map_err(|e| stage_err("pruning", e))?;
        let report = nn::prune::prune(
            &mut model,
            &data,
            &config,
            &mut PruneForward {
                observer: &mut *ctx.observer,
            },
        )
        .map_err(|e| stage_err("pruning", e))?;
        let accuracy = ctx.evaluate_model(&mut model)?;
        let record = TrainingRecord {
            optimizer: "adam".into(),
            learning_rate: config.learning_rate,
            batch_size: config.fit.batch_size,
            validation_split: config.fit.validation_split,
            shuffle_seed: seed,
            train_samples: report.train_samples,
            history: report
                .history
                .epochs
                .iter()
                .map(EpochRecord::from)
                .collect(),
            test_accuracy: Some(accuracy as f32),
            pruning: Some(report.record(&config)),
            ..Default::default()
        };
        ctx.save_model(name, &model, &record)?;
        let line = format!(
            "test accuracy {:.2}%; {}",
            accuracy * 100.0,
            report
                .layers
                .iter()
                .map(|l| format!("{} {:.1}%", l.layer, l.sparsity() * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok((
            PrunedModel {
                model,
                accuracy,
                report,
                reordered,
                pruned_layers: config.layers.clone(),
            },
            line,
        ))
    })
}

/// Writes a pruned model as a float sparse file and as a sparse full-integer file with
/// names stripped (the issue's `convert` flags); returns both.
fn write_pruned(
    ctx: &mut Context,
    pruned: &PrunedModel,
    prefix: &str,
) -> Result<(Artifact, Artifact, String), ExperimentError> {
    ctx.stage(&format!("part 2: {prefix} .tflite files"), |ctx| {
        let pruned_ir = nn::export(&pruned.model).map_err(|e| stage_err("exporting", e))?;
        let (sparse_ir, _) = crate::sparse::sparsify(&pruned_ir, &Default::default())
            .map_err(|e| stage_err("storing sparse weights", e))?;
        let (float, _) = ctx.write_tflite(&format!("{prefix}_float32.tflite"), &sparse_ir)?;
        let samples = ctx.calibration(&pruned_ir)?;
        let int8 = quant::convert(
            &pruned_ir,
            Mode::Int8,
            &Int8Options::default(),
            Some(&samples),
        )
        .map_err(|e| stage_err("int8 conversion", e))?;
        let (sparse_int8, reports) = crate::sparse::sparsify(&int8.model, &Default::default())
            .map_err(|e| stage_err("storing sparse weights", e))?;
        let encodings = if reports.is_empty() {
            "every weight dense".to_string()
        } else {
            reports
                .iter()
                .map(|r| format!("{} as {}", r.name, r.encoding.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let stripped = crate::tflite::strip_names(&sparse_int8);
        let (pq, _) = ctx.write_tflite(&format!("{prefix}_int8.tflite"), &stripped)?;
        let line = format!(
            "float sparse {} bytes ({:.2}%), int8 sparse {} bytes ({:.2}%)",
            float.bytes,
            float.accuracy * 100.0,
            pq.bytes,
            pq.accuracy * 100.0
        );
        Ok(((float, pq, encodings), line))
    })
}

/// Part 2: baseline, prune 50% → 80% while fine-tuning (with 1×16 Dense blocks, the
/// issue's flow, and with element masks for comparison), then float and sparse int8
/// files of each.
pub(super) fn part2_pruning(ctx: &mut Context) -> Result<Pruning, ExperimentError> {
    let s = ctx.config.settings.clone();
    let seed = ctx.config.seed;
    let baseline = ctx.stage(
        &format!(
            "part 2: training the baseline ({}, validation split 0.1)",
            epochs(s.baseline_epochs)
        ),
        |ctx| {
            let mut t = ctx.train("mnist-cnn", seed, s.baseline_epochs, 32, 0.1)?;
            let acc = ctx.evaluate_model(&mut t.model)?;
            t.record.test_accuracy = Some(acc as f32);
            ctx.save_model("baseline", &t.model, &t.record)?;
            Ok((t, format!("test accuracy {:.2}%", acc * 100.0)))
        },
    )?;
    let baseline_accuracy = f64::from(baseline.record.test_accuracy.unwrap_or(0.0));
    let base_file = ctx.stage("part 2: baseline .tflite", |ctx| {
        let ir = nn::export(&baseline.model).map_err(|e| stage_err("exporting", e))?;
        let (a, _) = ctx.write_tflite("baseline_float32.tflite", &ir)?;
        let line = format!("{} bytes", a.bytes);
        Ok((a, line))
    })?;

    let pruned = prune_stage(ctx, &baseline.model, Some(s.prune_block), "pruned")?;
    let (pruned_file, pq_file, _) = write_pruned(ctx, &pruned, "pruned")?;
    let element = prune_stage(ctx, &baseline.model, None, "pruned_elements")?;
    let (_, element_pq, element_encodings) = write_pruned(ctx, &element, "pruned_elements")?;

    let report = &pruned.report;
    let mut notes: Vec<String> = report
        .layers
        .iter()
        .filter(|l| l.partial_block_weights > 0)
        .map(|l| {
            format!(
                "{}/{}: {} weights in partial trailing blocks zeroed by the pruner (the input width is not a multiple of the block; TFLite's block format cannot hold them).",
                l.layer, l.weight, l.partial_block_weights
            )
        })
        .collect();
    for c in &pruned.reordered {
        let [h, w, ch] = c.feature_map;
        notes.push(format!(
            "{}: inputs made channel-major before block pruning ({} before the flatten of the {h}×{w}×{ch} map, kernel rows reordered, same function; the .tflite has one TRANSPOSE more), so a 1×16 block holds 16 neighbouring positions of one channel instead of straddling two pixels' channels.",
            c.dense, c.permute
        ));
    }
    if let Some(layers) = &pruned.pruned_layers {
        notes.push(format!(
            "With blocks only {} pruned: the int8 file stores only FULLY_CONNECTED weights sparse, so pruning the Conv2D kernel would cost accuracy for no smaller file (the element-mask run below prunes every kernel, as TFMOT).",
            layers.join(", ")
        ));
    }
    notes.push(format!(
        "With element masks instead of blocks (same schedule): pruned {:.2}%, pruned + int8 {:.2}%, {} bytes ({} zipped); the int8 file stores {element_encodings} (LiteRT's int8 FULLY_CONNECTED reads sparse weights only in 1×16 blocks, and its default XNNPACK runtime refuses an int8 FULLY_CONNECTED fed by DENSIFY).",
        element.accuracy * 100.0,
        element_pq.accuracy * 100.0,
        element_pq.bytes,
        element_pq.zip_bytes
    ));
    let (weights, zeros) = report
        .layers
        .iter()
        .fold((0, 0), |(w, z), l| (w + l.weights, z + l.zeros));
    Ok(Pruning {
        baseline_accuracy,
        pruned_accuracy: pruned.accuracy,
        pruned_tflite_accuracy: pruned_file.accuracy,
        pruned_int8_accuracy: pq_file.accuracy,
        sparsity: zeros as f64 / weights.max(1) as f64,
        layers: report
            .layers
            .iter()
            .map(|l| LayerSparsity {
                layer: format!("{}/{}", l.layer, l.weight),
                weights: l.weights,
                zeros: l.zeros,
                sparsity: l.zeros as f64 / l.weights.max(1) as f64,
            })
            .collect(),
        baseline_bytes: base_file.bytes,
        pruned_bytes: pruned_file.bytes,
        pruned_int8_bytes: pq_file.bytes,
        baseline_zip_bytes: base_file.zip_bytes,
        pruned_zip_bytes: pruned_file.zip_bytes,
        pruned_int8_zip_bytes: pq_file.zip_bytes,
        size_ratio: base_file.bytes as f64 / pq_file.bytes.max(1) as f64,
        zip_size_ratio: base_file.zip_bytes as f64 / pq_file.zip_bytes.max(1) as f64,
        element_masks: ElementMasks {
            pruned_accuracy: element.accuracy,
            pruned_int8_accuracy: element_pq.accuracy,
            pruned_int8_bytes: element_pq.bytes,
            pruned_int8_zip_bytes: element_pq.zip_bytes,
        },
        notes,
    })
}

/// Forwards distillation progress to the observer.
struct DistillForward<'a, 'b> {
    observer: &'a mut (dyn Observer + 'b),
}

impl nn::distill::DistillCallback for DistillForward<'_, '_> {
    fn on_batch_end(&mut self, p: &nn::distill::DistillProgress) {
        self.observer.batch(&p.progress);
    }
    fn on_epoch_end(&mut self, e: &nn::distill::DistillEpoch) {
        self.observer.epoch(&e.summary);
    }
}

/// Part 3: train the teacher once, compute its logits once (it is frozen), then per
/// seed the student trained alone and, per setting, the student distilled — the same
/// initial weights, data order, batch size and epochs in both arms.
pub(super) fn part3_distillation(ctx: &mut Context) -> Result<Distillation, ExperimentError> {
    let s = ctx.config.settings.clone();
    let seed = ctx.config.seed;
    let (mut teacher, teacher_accuracy, teacher_seconds) = ctx.stage(
        &format!(
            "part 3: training the teacher {} ({})",
            s.teacher_preset,
            epochs(s.teacher_epochs)
        ),
        |ctx| {
            let mut t = ctx.train(&s.teacher_preset, seed, s.teacher_epochs, 32, 0.0)?;
            let acc = ctx.evaluate_model(&mut t.model)?;
            t.record.test_accuracy = Some(acc as f32);
            ctx.save_model("teacher", &t.model, &t.record)?;
            let ir = nn::export(&t.model).map_err(|e| stage_err("exporting the teacher", e))?;
            ctx.write_tflite("teacher_float32.tflite", &ir)?;
            let line = format!("test accuracy {:.2}%", acc * 100.0);
            Ok(((t.model, acc, t.seconds), line))
        },
    )?;
    let teacher_params = teacher.param_count().0;
    let logits = ctx.stage("part 3: teacher logits (once, inference mode)", |ctx| {
        let data = Dataset::new(&ctx.train_x, &MNIST_SHAPE, &ctx.train_y)
            .map_err(|e| stage_err("teacher logits", e))?;
        let logits = nn::distill::teacher_logits(&mut teacher, &data)
            .map_err(|e| stage_err("teacher logits", e))?;
        Ok((logits, format!("{} training images", data.len())))
    })?;

    let student_fit = |seed| FitConfig {
        epochs: s.student_epochs,
        batch_size: 32,
        validation_split: 0.0,
        shuffle: true,
        seed,
    };
    let mut scratch = Vec::new();
    let mut student_params = 0;
    for (i, &student_seed) in s.seeds.iter().enumerate() {
        let what = format!(
            "part 3: {} alone, seed {student_seed} ({})",
            s.student_preset,
            epochs(s.student_epochs)
        );
        let acc = ctx.stage(&what, |ctx| {
            let mut t = ctx.train(&s.student_preset, student_seed, s.student_epochs, 32, 0.0)?;
            let acc = ctx.evaluate_model(&mut t.model)?;
            t.record.test_accuracy = Some(acc as f32);
            ctx.save_model(
                &format!("student_scratch_seed{student_seed}"),
                &t.model,
                &t.record,
            )?;
            if i == 0 {
                let ir = nn::export(&t.model).map_err(|e| stage_err("exporting", e))?;
                ctx.write_tflite(&format!("student_scratch_seed{student_seed}.tflite"), &ir)?;
            }
            Ok((acc, format!("test accuracy {:.2}%", acc * 100.0)))
        })?;
        scratch.push(acc);
    }
    let (scratch_mean, scratch_std) = mean_std(&scratch);

    let mut sweep = Vec::new();
    for (setting, &(alpha, temperature)) in s.distill_settings.iter().enumerate() {
        let mut accs = Vec::new();
        for (i, &student_seed) in s.seeds.iter().enumerate() {
            let what = format!(
                "part 3: {} distilled (α {alpha}, T {temperature}), seed {student_seed}",
                s.student_preset
            );
            let acc = ctx.stage(&what, |ctx| {
                let stage = "distillation";
                let mut student = nn::presets::by_name(&s.student_preset, student_seed)
                    .ok_or_else(|| stage_err(stage, "unknown student preset"))?
                    .map_err(|e| stage_err(stage, e))?;
                student_params = student.param_count().0;
                let data = Dataset::new(&ctx.train_x, &MNIST_SHAPE, &ctx.train_y)
                    .map_err(|e| stage_err(stage, e))?;
                let fit = student_fit(student_seed);
                let config = nn::distill::DistillConfig { alpha, temperature };
                let started = Instant::now();
                let report = nn::distill::distill_from_logits(
                    &mut student,
                    &logits,
                    &mut Adam::new(1e-3),
                    &data,
                    &fit,
                    &config,
                    &mut DistillForward {
                        observer: &mut *ctx.observer,
                    },
                )
                .map_err(|e| stage_err(stage, e))?;
                let seconds = started.elapsed().as_secs_f64();
                let acc = ctx.evaluate_model(&mut student)?;
                let record = TrainingRecord {
                    optimizer: "adam".into(),
                    learning_rate: 1e-3,
                    batch_size: fit.batch_size,
                    validation_split: 0.0,
                    shuffle_seed: student_seed,
                    train_samples: data.len(),
                    history: report
                        .epochs
                        .iter()
                        .map(|e| EpochRecord::from(&e.summary))
                        .collect(),
                    test_accuracy: Some(acc as f32),
                    distillation: Some(nn::distill::DistillationRecord {
                        teacher: "models/teacher".into(),
                        teacher_name: s.teacher_preset.clone(),
                        teacher_params,
                        teacher_test_accuracy: Some(teacher_accuracy as f32),
                        alpha,
                        temperature,
                    }),
                    ..Default::default()
                };
                let name = format!("student_distilled_a{alpha}_t{temperature}_seed{student_seed}");
                ctx.save_model(&name, &student, &record)?;
                if setting == 0 && i == 0 {
                    let ir = nn::export(&student).map_err(|e| stage_err("exporting", e))?;
                    ctx.write_tflite(&format!("{name}.tflite"), &ir)?;
                }
                Ok((
                    acc,
                    format!(
                        "test accuracy {:.2}% ({:+.2} pp against alone) in {seconds:.1} s",
                        acc * 100.0,
                        (acc - scratch[i]) * 100.0
                    ),
                ))
            })?;
            accs.push(acc);
        }
        let (mean, std) = mean_std(&accs);
        let wins = accs.iter().zip(&scratch).filter(|(d, s)| d > s).count();
        sweep.push(SweepRow {
            alpha,
            temperature,
            distilled_accuracy: accs,
            mean,
            std,
            wins,
        });
    }
    let headline = sweep
        .first()
        .cloned()
        .ok_or_else(|| stage_err("part 3", "no distillation setting to run"))?;
    Ok(Distillation {
        teacher: s.teacher_preset.clone(),
        teacher_accuracy,
        teacher_params,
        teacher_seconds,
        student: s.student_preset.clone(),
        student_params,
        epochs: s.student_epochs,
        seeds: s.seeds.clone(),
        alpha: headline.alpha,
        temperature: headline.temperature,
        distilled_accuracy: headline.distilled_accuracy.clone(),
        scratch_accuracy: scratch,
        distilled_mean: headline.mean,
        distilled_std: headline.std,
        scratch_mean,
        scratch_std,
        sweep,
    })
}
