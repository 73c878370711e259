use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use super::train::{
    batch_message, check_fit_flags, check_mnist_model, check_out_dir, epoch_bar, epoch_line,
    MnistSplits,
};
use super::Out;
use crate::data::files::refuse_overwrite;
use crate::nn::io::{self, EpochRecord, TrainingRecord};
use crate::nn::prune::{self as pruning, PruneConfig, PruneProgress, Pruner, Schedule};
use crate::nn::{self, BatchProgress, Dataset, EpochSummary, FitConfig};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ferrolite prune models/cnn -o models/pruned\n  ferrolite prune models/cnn -o models/pruned16 --block 1x16\n  ferrolite prune models/cnn -o models/p90 --schedule constant:0.9 --epochs 1"
)]
pub struct Args {
    /// Model directory to prune (model.json + model.safetensors); it is not modified.
    model: PathBuf,
    /// Model directory to write: the pruned model with plain weights (exact zeros).
    #[arg(short = 'o', long = "output", alias = "out")]
    out: PathBuf,
    /// polynomial:INITIAL:FINAL (TFMOT PolynomialDecay) or constant:TARGET
    /// (ConstantSparsity); sparsities in [0, 1).
    #[arg(long, default_value = "polynomial:0.5:0.8")]
    schedule: String,
    /// First step that prunes (the first batch is step 0).
    #[arg(long, default_value_t = 0)]
    begin_step: u64,
    /// Last step that may prune, or `auto`: for polynomial, the run's last step count
    /// (ceil(training images after the split / batch) × epochs); for constant, no end.
    #[arg(long, default_value = "auto")]
    end_step: String,
    /// Recompute the masks every N steps.
    #[arg(long, default_value_t = 100)]
    frequency: u64,
    /// Exponent of the polynomial schedule [default: 3].
    #[arg(long)]
    power: Option<f32>,
    /// Prune Dense kernels in RxC blocks of TFLite's [out, in] layout: R output units ×
    /// C consecutive inputs (1x16 is what LiteRT's int8 sparse FULLY_CONNECTED reads,
    /// 1x4 the float one). Conv2D kernels keep element masks (TFMOT applies block_size
    /// to 2-D weights only). Weights in trailing partial blocks are always zeroed.
    #[arg(long, value_name = "RxC")]
    block: Option<String>,
    /// With --block: `auto` makes the inputs of a Dense layer after Flatten
    /// channel-major (a Permute before the Flatten, the kernel rows reordered; the
    /// model computes the same function), so a block holds neighbouring positions of
    /// one channel instead of straddling two pixels' channels; `keep` leaves the
    /// layout as it is.
    #[arg(long, value_name = "auto|keep", default_value = "auto")]
    block_layout: String,
    /// Which Conv2D / Dense kernels to prune: `all`, a comma-separated list of layer
    /// names, or `auto`: with --block the Dense layers only (an int8 .tflite stores
    /// only FULLY_CONNECTED weights sparse, so pruning a Conv2D kernel would cost
    /// accuracy without making that file smaller), otherwise all, as TFMOT does.
    #[arg(long, value_name = "auto|all|NAMES", default_value = "auto")]
    layers: String,
    /// Passes over the training set while pruning.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Images per optimizer step.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Step size of the fresh Adam optimizer.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f32,
    /// Fraction of the training images held out for validation (taken from the end,
    /// as Keras does).
    #[arg(long, default_value_t = 0.1)]
    validation_split: f32,
    /// Seeds the shuffles.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// MNIST directory with the train-* and t10k-* IDX files (.gz or raw)
    /// [default: the vendored fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Replace an existing model in the output directory.
    #[arg(long)]
    force: bool,
    /// Print {"epochs": [...], "layers": [...], "test_accuracy", ...} as JSON on stdout.
    #[arg(long)]
    json: bool,
}

enum ScheduleKind {
    Polynomial { initial: f32, last: f32 },
    Constant { target: f32 },
}

fn parse_sparsity(text: &str) -> Result<f32> {
    let value: f32 = text
        .parse()
        .map_err(|_| anyhow!("--schedule: {text:?} is not a number"))?;
    if !(0.0..1.0).contains(&value) {
        bail!("--schedule: sparsity {text} is outside [0, 1)");
    }
    Ok(value)
}

fn parse_schedule(text: &str) -> Result<ScheduleKind> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        ["polynomial", initial, last] => {
            let (initial, last) = (parse_sparsity(initial)?, parse_sparsity(last)?);
            if last < initial {
                bail!("--schedule: the final sparsity {last} is below the initial {initial}");
            }
            Ok(ScheduleKind::Polynomial { initial, last })
        }
        ["constant", target] => Ok(ScheduleKind::Constant {
            target: parse_sparsity(target)?,
        }),
        _ => bail!(
            "--schedule {text:?} is not polynomial:INITIAL:FINAL or constant:TARGET (e.g. polynomial:0.5:0.8)"
        ),
    }
}

fn parse_block(text: &str) -> Result<[usize; 2]> {
    let bad = || anyhow!("--block {text:?} is not RxC with positive integers (e.g. 1x16)");
    let (r, c) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let rows: usize = r.trim().parse().map_err(|_| bad())?;
    let cols: usize = c.trim().parse().map_err(|_| bad())?;
    if rows == 0 || cols == 0 {
        return Err(bad());
    }
    Ok([rows, cols])
}

fn parse_end_step(text: &str) -> Result<Option<u64>> {
    if text == "auto" {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| anyhow!("--end-step {text:?} is not a step number or `auto`"))
}

/// Progress bar with the current sparsity, and one line per epoch.
struct Progress<'a> {
    out: &'a Out,
    bar: Option<indicatif::ProgressBar>,
    epoch_sparsity: Vec<f32>,
}

impl PruneProgress for Progress<'_> {
    fn on_batch_end(&mut self, p: &BatchProgress, sparsity: f32) {
        let bar = self.bar.get_or_insert_with(|| epoch_bar(p));
        if p.batch.is_multiple_of(8) || p.batch == p.batches {
            bar.set_message(format!("{} sparsity {sparsity:.3}", batch_message(p)));
        }
        bar.set_position(p.batch as u64);
    }

    fn on_epoch_end(&mut self, s: &EpochSummary, sparsity: f32) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.epoch_sparsity.push(sparsity);
        self.out
            .line(format!("{} sparsity {sparsity:.4}", epoch_line(s)));
    }
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let kind = parse_schedule(&a.schedule)?;
    let block = a.block.as_deref().map(parse_block).transpose()?;
    let end_step = parse_end_step(&a.end_step)?;
    if a.frequency == 0 {
        bail!("--frequency must be at least 1");
    }
    if let Some(power) = a.power {
        if matches!(kind, ScheduleKind::Constant { .. }) {
            bail!("--power applies to the polynomial schedule only");
        }
        if !(power > 0.0 && power.is_finite()) {
            bail!("--power must be a positive number, got {power}");
        }
    }
    check_fit_flags(a.epochs, a.batch_size, a.validation_split, a.learning_rate)?;
    if a.model.is_file() {
        bail!(
            "{} is a file; `prune` takes a model directory (made by `ferrolite train`)",
            a.model.display()
        );
    }
    refuse_overwrite(&[a.model.as_path()], &a.out)?;
    check_out_dir(&a.out, a.force)?;

    let mut model = io::load(&a.model)?;
    check_mnist_model(&model)?;
    match a.block_layout.as_str() {
        "auto" if block.is_some_and(|b| b[1] > 1) => {
            let (reordered, changes) = nn::block_layout::channel_major_blocks(&model)
                .with_context(|| format!("cannot reorder {}", a.model.display()))?;
            for c in &changes {
                let [h, w, ch] = c.feature_map;
                out.line(format!(
                    "note: {}: inputs made channel-major ({} before the flatten of the {h}×{w}×{ch} map, kernel rows reordered; same function, one TRANSPOSE more in a .tflite), so a block holds neighbouring positions of one channel (--block-layout keep to leave it)",
                    c.dense, c.permute
                ));
            }
            model = reordered;
        }
        "auto" | "keep" => {}
        other => bail!("--block-layout {other:?} is not auto or keep"),
    }
    let layers: Option<Vec<String>> = match a.layers.as_str() {
        "all" => None,
        "auto" => pruning::default_layers(&model, block),
        names => Some(
            names
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
        ),
    };

    let mnist = MnistSplits::load(a.data, a.limit)?;
    let n_train = mnist.train_y.len();
    let input_shape = model.input_shape().to_vec();
    let dataset = Dataset::new(&mnist.train_x, &input_shape, &mnist.train_y)?;

    let fit = FitConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        validation_split: a.validation_split,
        shuffle: true,
        seed: a.seed,
    };
    let steps = pruning::fit_steps(n_train, &fit);
    let schedule = match kind {
        ScheduleKind::Polynomial { initial, last } => {
            let end = end_step.unwrap_or(steps);
            if end <= a.begin_step {
                bail!(
                    "the end step {end}{} must be after --begin-step {}",
                    if end_step.is_none() {
                        format!(" (auto: {} epochs × steps per epoch)", a.epochs)
                    } else {
                        String::new()
                    },
                    a.begin_step
                );
            }
            Schedule::PolynomialDecay {
                initial_sparsity: initial,
                final_sparsity: last,
                begin_step: a.begin_step,
                end_step: end,
                power: a.power.unwrap_or(3.0),
                frequency: a.frequency,
            }
        }
        ScheduleKind::Constant { target } => Schedule::ConstantSparsity {
            target_sparsity: target,
            begin_step: a.begin_step,
            end_step,
            frequency: a.frequency,
        },
    };
    schedule
        .validate()
        .map_err(|e| anyhow!("bad pruning schedule: {e}"))?;
    // Building the masks up front refuses a block that does not fit before any
    // training and tells about partial blocks while the user can still change --block.
    let preview = Pruner::with_layers(&model, schedule.clone(), block, layers.as_deref())
        .with_context(|| format!("cannot prune {}", a.model.display()))?;
    for (layer, count) in preview.partial_block_weights() {
        out.line(format!(
            "note: {layer}: {count} kernel weights fall in partial {}x{} blocks (the kernel is not a whole number of blocks); they are zeroed, since TFLite's block format cannot hold them",
            block.map_or(1, |b| b[0]),
            block.map_or(1, |b| b[1]),
        ));
    }
    if steps <= a.begin_step {
        out.line(format!(
            "note: the run has {steps} steps, so pruning (from step {}) never starts",
            a.begin_step
        ));
    }
    drop(preview);

    out.line(format!(
        "pruning {} on {}: {}{}, {} ({}), batch {}, Adam lr {}",
        a.model.display(),
        super::training_images(n_train, a.validation_split),
        schedule,
        block.map_or(String::new(), |b| format!(
            ", Dense blocks {}x{}",
            b[0], b[1]
        )),
        super::count(a.epochs, "epoch", "epochs"),
        super::count(steps as usize, "step", "steps"),
        a.batch_size,
        a.learning_rate
    ));
    let config = PruneConfig {
        schedule,
        block,
        layers,
        learning_rate: a.learning_rate,
        fit,
    };
    let started = Instant::now();
    let mut progress = Progress {
        out: &out,
        bar: None,
        epoch_sparsity: Vec::new(),
    };
    let report = pruning::prune(&mut model, &dataset, &config, &mut progress).context("pruning")?;
    let train_seconds = started.elapsed().as_secs_f64();
    let epoch_sparsity = progress.epoch_sparsity;

    for l in &report.layers {
        out.line(format!(
            "  {}/{}: {} of {} weights zero ({:.2}%){}",
            l.layer,
            l.weight,
            l.zeros,
            l.weights,
            l.sparsity() * 100.0,
            l.block
                .map_or(String::new(), |b| format!(", {}x{} blocks", b[0], b[1]))
        ));
    }
    let test_set = Dataset::new(&mnist.test_x, &input_shape, &mnist.test_y)?;
    let (test_loss, test_accuracy) =
        nn::evaluate(&mut model, &test_set, 256).context("evaluating on the test set")?;
    out.line(format!(
        "test accuracy {:.2}% ({} MNIST test images), loss {:.4}",
        test_accuracy * 100.0,
        mnist.test_y.len(),
        test_loss
    ));

    let pruning_record = report.record(&config);
    let record = TrainingRecord {
        optimizer: "adam".into(),
        learning_rate: a.learning_rate,
        batch_size: a.batch_size,
        validation_split: a.validation_split,
        shuffle_seed: a.seed,
        train_samples: report.train_samples,
        history: report
            .history
            .epochs
            .iter()
            .map(EpochRecord::from)
            .collect(),
        test_accuracy: Some(test_accuracy),
        pruning: Some(pruning_record.clone()),
        ..Default::default()
    };
    io::save(&a.out, &model, Some(&record))
        .with_context(|| format!("saving the model to {}", a.out.display()))?;
    out.line(format!("saved {}", a.out.display()));

    if a.json {
        let epochs: Vec<serde_json::Value> = report
            .history
            .epochs
            .iter()
            .zip(&epoch_sparsity)
            .map(|(s, sparsity)| {
                serde_json::json!({
                    "epoch": s.epoch + 1,
                    "loss": s.loss,
                    "accuracy": s.accuracy,
                    "val_loss": s.val_loss,
                    "val_accuracy": s.val_accuracy,
                    "sparsity": sparsity,
                    "seconds": s.seconds,
                })
            })
            .collect();
        let layers: Vec<serde_json::Value> = report
            .layers
            .iter()
            .map(|l| {
                serde_json::json!({
                    "layer": l.layer,
                    "weights": l.weights,
                    "zeros": l.zeros,
                    "sparsity": l.sparsity(),
                    "block": l.block,
                    "partial_block_weights": l.partial_block_weights,
                })
            })
            .collect();
        out.json(&serde_json::json!({
            "model": a.out.display().to_string(),
            "source": a.model.display().to_string(),
            "schedule": pruning_record.schedule,
            "block": pruning_record.block,
            "train_samples": report.train_samples,
            "steps": report.steps,
            "epochs": epochs,
            "layers": layers,
            "train_seconds": train_seconds,
            "test_accuracy": test_accuracy,
            "test_loss": test_loss,
            "test_samples": mnist.test_y.len(),
        }));
    }
    Ok(0)
}
