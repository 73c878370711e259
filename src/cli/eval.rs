use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{default_data_dir, load_runnable, progress_bar, Out};
use crate::data::{self, Split};
use crate::interp::Interpreter;
use crate::verify::accuracy;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ferrolite eval model_int8.tflite\n  ferrolite eval models/cnn --limit 1000 --json"
)]
pub struct Args {
    /// A .tflite model (run by the built-in interpreter), or a model directory from
    /// `ferrolite train` (run by the training engine, which also gives the loss).
    /// Input: one 28×28 image per batch row; output: class scores.
    model: PathBuf,
    /// MNIST directory with t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)
    /// [default: the vendored fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Evaluate only the first N test images.
    #[arg(long)]
    limit: Option<usize>,
    /// Images per interpreter call or forward pass.
    #[arg(long, default_value_t = 100, alias = "batch")]
    batch_size: usize,
    /// Print {"accuracy", "samples", "seconds", ...} as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, threads: usize) -> Result<i32> {
    let out = Out::new(a.json);
    if a.limit == Some(0) {
        anyhow::bail!("--limit 0 leaves no test images to evaluate");
    }
    if a.batch_size == 0 {
        anyhow::bail!("--batch-size must be at least 1");
    }
    if a.model.is_dir() {
        return super::evaluate::run_dir(&a.model, a.data, a.limit, a.batch_size, a.json);
    }
    let (model, _) = load_runnable(&a.model)?;
    let dir = default_data_dir(a.data);
    let mnist = data::load(&dir, Split::Test)?;
    let mut interp = Interpreter::new(model).context("planning the model")?;
    interp.set_threads(threads).context("planning the model")?;
    let total = a.limit.unwrap_or(mnist.count).min(mnist.count);
    let bar = progress_bar(total as u64, "evaluating");
    let result = accuracy::evaluate(&mut interp, &mnist, a.limit, a.batch_size, |done| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    let acc = result?;
    out.line(format!(
        "accuracy {:.2}% ({}/{} MNIST test images) in {:.2} s ({} images/s)",
        acc.accuracy * 100.0,
        super::thousands(acc.correct as u64),
        super::thousands(acc.samples as u64),
        acc.seconds,
        super::thousands((acc.samples as f64 / acc.seconds.max(1e-9)).round() as u64)
    ));
    if a.json {
        out.json(&serde_json::json!({
            "accuracy": acc.accuracy,
            "correct": acc.correct,
            "samples": acc.samples,
            "seconds": acc.seconds,
        }));
    }
    Ok(0)
}
