use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{default_data_dir, Out};
use crate::data::{self, Split};
use crate::nn::io::{self, EpochRecord, TrainingRecord};
use crate::nn::{
    self, presets, Adam, BatchProgress, Callback, Dataset, EpochSummary, FitConfig, ModelConfig,
    Optimizer, Sequential, Sgd, SparseCategoricalCrossentropy,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("model").required(true).args(["preset", "arch"])))]
#[command(
    after_help = "Examples:\n  ferrolite train --preset mnist-cnn --epochs 5 -o models/cnn\n  ferrolite train --arch arch.json --validation-split 0.1 -o models/mine\n  ferrolite train --preset mnist-mlp --limit 2000 --epochs 1 -o /tmp/quick --force"
)]
pub struct Args {
    /// A named architecture.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(presets::NAMES))]
    preset: Option<String>,
    /// An architecture as JSON: {"name", "input_shape", "layers": [{"name",
    /// "class_name", "config"}]} (the "architecture" of a model.json; a whole model.json
    /// works too).
    #[arg(long, value_name = "ARCH.json")]
    arch: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Images per optimizer step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Step size of the optimizer.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f32,
    /// Fraction of the training images held out for validation (taken from the end,
    /// as Keras does).
    #[arg(long, default_value_t = 0.0)]
    validation_split: f32,
    /// Seeds the initial weights, the shuffles and dropout: the same seed gives the
    /// same weights.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    optimizer: OptimizerKind,
    /// SGD momentum (Keras' default is 0).
    #[arg(long, default_value_t = 0.0)]
    momentum: f32,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// MNIST directory with the train-* and t10k-* IDX files (.gz or raw)
    /// [default: the vendored fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Model directory to write (model.json + model.safetensors).
    #[arg(short = 'o', long = "output", alias = "out")]
    out: PathBuf,
    /// Replace an existing model in the output directory.
    #[arg(long)]
    force: bool,
    /// Print {"epochs": [...], "test_accuracy", ...} as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Reads an architecture file: a bare [`ModelConfig`] or a whole model.json.
pub(super) fn read_arch(path: &Path) -> Result<ModelConfig> {
    let text = crate::fsutil::read_input_text(path, &crate::fsutil::InputLimit::JSON)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    let arch = value.get("architecture").cloned().unwrap_or(value);
    serde_json::from_value(arch).with_context(|| {
        format!(
            "{}: not an architecture (expected {{\"name\", \"input_shape\", \"layers\"}})",
            path.display()
        )
    })
}

/// Fails unless `out` may receive a model.
pub(super) fn check_out_dir(out: &Path, force: bool) -> Result<()> {
    // Before any training: a link, a file or a directory of other files is refused.
    crate::fsutil::check_output_dir(out, &io::MODEL_FILES)?;
    if !force && out.join(io::MODEL_JSON).exists() {
        bail!(
            "refusing to overwrite the model in {}; pass --force to replace it or choose another output",
            out.display()
        );
    }
    Ok(())
}

/// Per-batch progress bar and per-epoch summary lines.
struct Progress<'a> {
    out: &'a Out,
    bar: Option<indicatif::ProgressBar>,
}

impl Callback for Progress<'_> {
    fn on_batch_end(&mut self, p: &BatchProgress) {
        let bar = self.bar.get_or_insert_with(|| epoch_bar(p));
        // Redrawing costs little, but formatting on each of 1875 batches is enough.
        if p.batch.is_multiple_of(8) || p.batch == p.batches {
            bar.set_message(batch_message(p));
        }
        bar.set_position(p.batch as u64);
    }

    fn on_epoch_end(&mut self, s: &EpochSummary) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.out.line(epoch_line(s));
    }
}

/// The bar of one epoch, prefixed "epoch i/n" (hidden unless stderr is a terminal).
pub(super) fn epoch_bar(p: &BatchProgress) -> indicatif::ProgressBar {
    let bar = super::progress_bar(p.batches as u64, "");
    bar.set_style(super::bar_style(
        "{prefix} [{bar:30}] {pos}/{len} eta {eta} {msg}",
    ));
    bar.set_prefix(format!("epoch {}/{}", p.epoch + 1, p.epochs));
    bar
}

pub(super) fn batch_message(p: &BatchProgress) -> String {
    format!(
        "loss {:.4} acc {:.4} {:.0} img/s",
        p.loss, p.accuracy, p.images_per_sec
    )
}

/// Refuses the training flags every training command shares when they make no sense.
pub(super) fn check_fit_flags(
    epochs: usize,
    batch_size: usize,
    validation_split: f32,
    learning_rate: f32,
) -> Result<()> {
    if epochs == 0 {
        bail!("--epochs 0 would train nothing; give at least 1");
    }
    if batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if !(0.0..1.0).contains(&validation_split) {
        bail!("--validation-split must be in [0, 1), got {validation_split}");
    }
    if !(learning_rate > 0.0 && learning_rate.is_finite()) {
        bail!("--learning-rate must be a positive number");
    }
    Ok(())
}

/// A freshly initialized model from a preset name or an architecture file (the preset
/// wins when both are given; `None` when neither is).
pub(super) fn build_model(
    preset: Option<&str>,
    arch: Option<&Path>,
    seed: u64,
) -> Result<Option<Sequential>> {
    Ok(Some(match (preset, arch) {
        (Some(name), _) => presets::by_name(name, seed)
            .with_context(|| format!("unknown preset {name}"))?
            .with_context(|| format!("building preset {name}"))?,
        (None, Some(path)) => {
            let config = read_arch(path)?;
            Sequential::from_config(&config, seed)
                .with_context(|| format!("{}: cannot build the architecture", path.display()))?
        }
        (None, None) => return Ok(None),
    }))
}

/// MNIST as the training commands use it: the first `limit` training images and the
/// whole test set, pixels scaled to [0, 1].
pub(super) struct MnistSplits {
    pub train_x: Vec<f32>,
    pub train_y: Vec<u8>,
    pub test_x: Vec<f32>,
    pub test_y: Vec<u8>,
}

impl MnistSplits {
    /// Reads `data` (default: the vendored copy); refuses a limit that leaves nothing.
    pub fn load(data: Option<PathBuf>, limit: Option<usize>) -> Result<MnistSplits> {
        let dir = default_data_dir(data);
        let train = data::load(&dir, Split::Train)?;
        let test = data::load(&dir, Split::Test)?;
        let n_train = limit.unwrap_or(train.count).min(train.count);
        if n_train == 0 {
            bail!("--limit 0 leaves no training images");
        }
        Ok(MnistSplits {
            train_x: train.images_f32_scaled(0..n_train),
            train_y: train.labels_range(0..n_train).to_vec(),
            test_x: test.images_f32_scaled(0..test.count),
            test_y: test.labels,
        })
    }
}

/// Fails unless `model` maps an MNIST image to 10 class scores.
pub(super) fn check_mnist_model(model: &Sequential) -> Result<()> {
    let per_sample: usize = model.input_shape().iter().product();
    if per_sample != 28 * 28 {
        bail!(
            "the model takes {:?} inputs; MNIST training needs 784 values (28×28) per sample",
            model.input_shape()
        );
    }
    if model.output_shape() != [10] {
        bail!(
            "the model outputs {:?}; MNIST training needs 10 class scores",
            model.output_shape()
        );
    }
    Ok(())
}

pub(super) fn epoch_line(s: &EpochSummary) -> String {
    let mut line = format!(
        "epoch {}/{}: loss {:.4} acc {:.4}",
        s.epoch + 1,
        s.epochs,
        s.loss,
        s.accuracy
    );
    if let (Some(l), Some(a)) = (s.val_loss, s.val_accuracy) {
        line.push_str(&format!(" val_loss {l:.4} val_acc {a:.4}"));
    }
    line.push_str(&format!(
        " ({:.1} s, {:.0} img/s)",
        s.seconds, s.images_per_sec
    ));
    line
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    check_fit_flags(a.epochs, a.batch_size, a.validation_split, a.learning_rate)?;
    check_out_dir(&a.out, a.force)?;

    let mut model = build_model(a.preset.as_deref(), a.arch.as_deref(), a.seed)?
        .context("pass --preset NAME or --arch ARCH.json")?;
    check_mnist_model(&model)?;
    model.check_batch(a.batch_size, "--batch-size")?;

    let mnist = MnistSplits::load(a.data, a.limit)?;
    let n_train = mnist.train_y.len();
    let input_shape = model.input_shape().to_vec();
    let dataset = Dataset::new(&mnist.train_x, &input_shape, &mnist.train_y)?;

    let mut optimizer: Box<dyn Optimizer> = match a.optimizer {
        OptimizerKind::Adam => Box::new(Adam::new(a.learning_rate)),
        OptimizerKind::Sgd => Box::new(Sgd::new(a.learning_rate, a.momentum)),
    };
    let (trainable, frozen) = model.param_count();
    out.line(format!(
        "training {} ({} trainable + {} non-trainable weights) on {}, {}, batch {}, {:?} lr {}",
        model.name(),
        super::thousands(trainable as u64),
        super::thousands(frozen as u64),
        super::training_images(n_train, a.validation_split),
        super::count(a.epochs, "epoch", "epochs"),
        a.batch_size,
        a.optimizer,
        a.learning_rate
    ));
    let fit_config = FitConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        validation_split: a.validation_split,
        shuffle: true,
        seed: a.seed,
    };
    let started = Instant::now();
    let mut progress = Progress {
        out: &out,
        bar: None,
    };
    let history = nn::fit(
        &mut model,
        optimizer.as_mut(),
        &mut SparseCategoricalCrossentropy,
        &dataset,
        &fit_config,
        &mut progress,
    )
    .context("training")?;
    let train_seconds = started.elapsed().as_secs_f64();

    let test_set = Dataset::new(&mnist.test_x, &input_shape, &mnist.test_y)?;
    let eval_start = Instant::now();
    let (test_loss, test_accuracy) =
        nn::evaluate(&mut model, &test_set, 256).context("evaluating on the test set")?;
    out.line(format!(
        "test accuracy {:.2}% ({} MNIST test images), loss {:.4}, in {:.1} s",
        test_accuracy * 100.0,
        mnist.test_y.len(),
        test_loss,
        eval_start.elapsed().as_secs_f64()
    ));

    // The count fit trained on: widening the f32 split directly would say 2399 of 3000
    // for 0.2 while fit trains on 2400.
    let n_fit = nn::training_samples(n_train, a.validation_split);
    let record = TrainingRecord {
        optimizer: match a.optimizer {
            OptimizerKind::Adam => "adam".into(),
            OptimizerKind::Sgd => format!("sgd(momentum={})", a.momentum),
        },
        learning_rate: a.learning_rate,
        batch_size: a.batch_size,
        validation_split: a.validation_split,
        shuffle_seed: a.seed,
        train_samples: n_fit,
        history: history.epochs.iter().map(EpochRecord::from).collect(),
        test_accuracy: Some(test_accuracy),
        ..Default::default()
    };
    io::save(&a.out, &model, Some(&record))
        .with_context(|| format!("saving the model to {}", a.out.display()))?;
    out.line(format!("saved {}", a.out.display()));

    if a.json {
        let epochs: Vec<serde_json::Value> = history
            .epochs
            .iter()
            .map(|s| {
                serde_json::json!({
                    "epoch": s.epoch + 1,
                    "loss": s.loss,
                    "accuracy": s.accuracy,
                    "val_loss": s.val_loss,
                    "val_accuracy": s.val_accuracy,
                    "seconds": s.seconds,
                    "images_per_sec": s.images_per_sec,
                })
            })
            .collect();
        out.json(&serde_json::json!({
            "model": a.out.display().to_string(),
            "name": model.name(),
            "train_samples": n_fit,
            "epochs": epochs,
            "train_seconds": train_seconds,
            "test_accuracy": test_accuracy,
            "test_loss": test_loss,
            "test_samples": mnist.test_y.len(),
        }));
    }
    Ok(0)
}
