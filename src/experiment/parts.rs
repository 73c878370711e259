//! The three parts of the study, and the shared steps they are made of (train, save,
//! write a `.tflite`, measure it).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::report::{Artifact, Distillation, Pruning, Ptq, TractCheck};
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

/// "1 epoch", "5 epochs".
pub(super) fn epochs(n: usize) -> String {
    if n == 1 {
        "1 epoch".into()
    } else {
        format!("{n} epochs")
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

    pub fn train_set(&self) -> Result<Dataset<'_>, ExperimentError> {
        Dataset::new(&self.train_x, &MNIST_SHAPE, &self.train_y).map_err(|e| stage_err("MNIST", e))
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
            train_samples: (self.train_y.len() as f64 * (1.0 - f64::from(validation_split))).floor()
                as usize,
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
        Ok(f64::from(acc))
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
            zip_bytes: zip_bytes_until_merge(&bytes),
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
            note: Some(e.to_string()),
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
    let (float, float_bytes) = ctx.stage("part 1: float .tflite", |ctx| {
        let (a, bytes) = ctx.write_tflite("cnn_float32.tflite", &float_ir)?;
        let line = format!("{} bytes, accuracy {:.2}%", a.bytes, a.accuracy * 100.0);
        Ok(((a, bytes), line))
    })?;
    let started = Instant::now();
    let (int8, int8_ir, int8_bytes, convert_seconds) =
        ctx.stage("part 1: full-integer .tflite (uint8 IO)", |ctx| {
            let samples = ctx.calibration(&float_ir)?;
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
            let samples = ctx.calibration(&float_ir)?;
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

/// Part 2: baseline, prune, sparse float and sparse int8 files.
pub(super) fn part2_pruning(_ctx: &mut Context) -> Result<Pruning, ExperimentError> {
    Err(stage_err("part 2", "pruning is not wired in yet"))
}

/// Part 3: teacher, then distilled and scratch students per seed and setting.
pub(super) fn part3_distillation(_ctx: &mut Context) -> Result<Distillation, ExperimentError> {
    Err(stage_err("part 3", "distillation is not wired in yet"))
}

// Replaced by crate::verify::size::zip_bytes when the sparse branch lands.
fn zip_bytes_until_merge(bytes: &[u8]) -> usize {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
    let _ = enc.write_all(bytes);
    enc.finish().map(|v| v.len()).unwrap_or(0)
}
