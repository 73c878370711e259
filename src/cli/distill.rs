use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::train::{
    build_model, check_fit_flags, check_out_dir, epoch_bar, epoch_line, MnistSplits,
};
use super::Out;
use crate::nn::distill::check_compatible;
use crate::nn::io::{self, EpochRecord, TrainingRecord};
use crate::nn::{
    self, presets, Adam, Dataset, DistillCallback, DistillConfig, DistillEpoch, DistillProgress,
    DistillationRecord, FitConfig,
};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("student").required(true).args(["student_preset", "student_arch"])))]
#[command(
    after_help = "Examples:\n  ferrolite distill --teacher models/convnet --student-preset mnist-student -o models/student\n  ferrolite distill --teacher models/convnet --student-preset mnist-student --alpha 0.1 --temperature 10 -o models/s2"
)]
pub struct Args {
    /// The teacher's model directory (from `ferrolite train`); it is only run, never trained.
    #[arg(long, value_name = "DIR")]
    teacher: PathBuf,
    /// The student as a named architecture.
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(presets::NAMES))]
    student_preset: Option<String>,
    /// The student as an architecture JSON file (as `train --arch`).
    #[arg(long, value_name = "ARCH.json")]
    student_arch: Option<PathBuf>,
    /// Weight of the cross-entropy with the labels; the teacher term gets 1 − α.
    #[arg(long, allow_negative_numbers = true, default_value_t = DistillConfig::default().alpha)]
    alpha: f32,
    /// Softens teacher and student distributions before they are compared.
    #[arg(long, allow_negative_numbers = true, default_value_t = DistillConfig::default().temperature)]
    temperature: f32,
    /// Passes over the training set.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Images per optimizer step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Step size of Adam.
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f32,
    /// Fraction of the training images held out for validation (taken from the end,
    /// as Keras does).
    #[arg(long, default_value_t = 0.0)]
    validation_split: f32,
    /// Seeds the student's initial weights and the shuffles: with the same seed, `train`
    /// on the same student sees the same batches in the same order.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// MNIST directory with the train-* and t10k-* IDX files (.gz or raw)
    /// [default: the vendored fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Model directory to write for the student (model.json + model.safetensors).
    #[arg(short = 'o', long = "output", alias = "out")]
    out: PathBuf,
    /// Replace an existing model in the output directory.
    #[arg(long)]
    force: bool,
    /// Print {"epochs": [...], "test_accuracy", ...} as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Per-batch bar showing both loss terms, and a line per epoch.
struct Progress<'a> {
    out: &'a Out,
    bar: Option<indicatif::ProgressBar>,
}

impl DistillCallback for Progress<'_> {
    fn on_batch_end(&mut self, d: &DistillProgress) {
        let p = &d.progress;
        let bar = self.bar.get_or_insert_with(|| epoch_bar(p));
        if p.batch.is_multiple_of(8) || p.batch == p.batches {
            bar.set_message(format!(
                "loss {:.4} (ce {:.4} kd {:.4}) acc {:.4} {:.0} img/s",
                p.loss, d.terms.ce, d.terms.kd, p.accuracy, p.images_per_sec
            ));
        }
        bar.set_position(p.batch as u64);
    }

    fn on_epoch_end(&mut self, e: &DistillEpoch) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        self.out.line(format!(
            "{} [ce {:.4} kd {:.4}]",
            epoch_line(&e.summary),
            e.terms.ce,
            e.terms.kd
        ));
    }
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    let config = DistillConfig {
        alpha: a.alpha,
        temperature: a.temperature,
    };
    if !(0.0..=1.0).contains(&a.alpha) {
        bail!("--alpha must be in [0, 1], got {}", a.alpha);
    }
    if !(a.temperature > 0.0 && a.temperature.is_finite()) {
        bail!(
            "--temperature must be a positive number, got {}",
            a.temperature
        );
    }
    check_fit_flags(a.epochs, a.batch_size, a.validation_split, a.learning_rate)?;
    if a.out == a.teacher {
        bail!("the output directory must not be the teacher's directory");
    }
    check_out_dir(&a.out, a.force)?;

    let (mut teacher, teacher_meta) = io::load_with_metadata(&a.teacher)
        .with_context(|| format!("loading the teacher from {}", a.teacher.display()))?;
    let mut student = build_model(
        a.student_preset.as_deref(),
        a.student_arch.as_deref(),
        a.seed,
    )?
    .context("pass --student-preset NAME or --student-arch ARCH.json")?;
    check_compatible(&student, &teacher).context("the teacher cannot teach this student")?;
    super::train::check_mnist_model(&student)?;

    let mnist = MnistSplits::load(a.data, a.limit)?;
    let n_train = mnist.train_y.len();
    let input_shape = student.input_shape().to_vec();
    let dataset = Dataset::new(&mnist.train_x, &input_shape, &mnist.train_y)?;

    let teacher_accuracy = teacher_meta.training.as_ref().and_then(|t| t.test_accuracy);
    let (teacher_params, _) = teacher.param_count();
    let (student_params, _) = student.param_count();
    out.line(format!(
        "distilling {} ({teacher_params} weights{}) into {} ({student_params} weights) on {}, α {} T {}, {}, batch {}, Adam lr {}",
        teacher.name(),
        teacher_accuracy
            .map(|acc| format!(", test accuracy {:.2}%", acc * 100.0))
            .unwrap_or_default(),
        student.name(),
        super::training_images(n_train, a.validation_split),
        a.alpha,
        a.temperature,
        super::count(a.epochs, "epoch", "epochs"),
        a.batch_size,
        a.learning_rate
    ));
    let fit_config = FitConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        validation_split: a.validation_split,
        shuffle: true,
        seed: a.seed,
    };
    let mut optimizer = Adam::new(a.learning_rate);
    let mut progress = Progress {
        out: &out,
        bar: None,
    };
    let started = Instant::now();
    let report = nn::distill(
        &mut student,
        &mut teacher,
        &mut optimizer,
        &dataset,
        &fit_config,
        &config,
        &mut progress,
    )
    .context("distilling")?;
    let train_seconds = started.elapsed().as_secs_f64();
    out.line(format!(
        "teacher logits for {n_train} images in {:.1} s (computed once)",
        report.teacher_seconds
    ));

    let test_set = Dataset::new(&mnist.test_x, &input_shape, &mnist.test_y)?;
    let (test_loss, test_accuracy) =
        nn::evaluate(&mut student, &test_set, 256).context("evaluating on the test set")?;
    out.line(format!(
        "student test accuracy {:.2}% ({} MNIST test images), loss {:.4}",
        test_accuracy * 100.0,
        mnist.test_y.len(),
        test_loss
    ));

    let n_fit = crate::nn::training_samples(n_train, a.validation_split);
    let record = TrainingRecord {
        optimizer: "adam".into(),
        learning_rate: a.learning_rate,
        batch_size: a.batch_size,
        validation_split: a.validation_split,
        shuffle_seed: a.seed,
        train_samples: n_fit,
        history: report
            .epochs
            .iter()
            .map(|e| EpochRecord::from(&e.summary))
            .collect(),
        test_accuracy: Some(test_accuracy),
        distillation: Some(DistillationRecord {
            teacher: a.teacher.display().to_string(),
            teacher_name: teacher.name().to_string(),
            teacher_params,
            teacher_test_accuracy: teacher_accuracy,
            alpha: a.alpha,
            temperature: a.temperature,
        }),
        ..Default::default()
    };
    io::save(&a.out, &student, Some(&record))
        .with_context(|| format!("saving the student to {}", a.out.display()))?;
    out.line(format!("saved {}", a.out.display()));

    if a.json {
        let epochs: Vec<serde_json::Value> = report
            .epochs
            .iter()
            .map(|e| {
                let s = &e.summary;
                serde_json::json!({
                    "epoch": s.epoch + 1,
                    "loss": s.loss,
                    "ce": e.terms.ce,
                    "kd": e.terms.kd,
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
            "name": student.name(),
            "teacher": a.teacher.display().to_string(),
            "teacher_test_accuracy": teacher_accuracy,
            "alpha": a.alpha,
            "temperature": a.temperature,
            "seed": a.seed,
            "train_samples": n_fit,
            "epochs": epochs,
            "teacher_seconds": report.teacher_seconds,
            "train_seconds": train_seconds,
            "test_accuracy": test_accuracy,
            "test_loss": test_loss,
            "test_samples": mnist.test_y.len(),
        }));
    }
    Ok(0)
}
