//! `ferrolite compare`: several models in one table.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use super::{default_data_dir, load_runnable, progress_bar, Out};
use crate::data::{self, Split};
use crate::verify::compare::{self, Candidate};

#[derive(clap::Args)]
#[command(after_help = "\
The first model is the reference for agreement: the share of test images whose top \
class matches its, and the largest score difference (int8 scores dequantized).

Examples:
  ferrolite compare cnn_float.tflite cnn_int8.tflite cnn_dynamic.tflite
  ferrolite compare models/cnn cnn_int8.tflite --limit 2000 --json")]
pub struct Args {
    /// Two or more .tflite files or model directories; the first is the reference.
    #[arg(required = true, num_args = 2..)]
    models: Vec<PathBuf>,
    /// MNIST directory with the t10k-* files [default: the vendored fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Use only the first N test images.
    #[arg(long)]
    limit: Option<usize>,
    /// Images per interpreter call while measuring accuracy.
    #[arg(long, default_value_t = 100, alias = "batch")]
    batch_size: usize,
    /// Seconds of timing per model (one image per inference, rounds interleaved).
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Print {"models": [{"file", "bytes", "zip_bytes", "accuracy", ...}]} on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    if a.limit == Some(0) {
        bail!("--limit 0 leaves no test images to compare on");
    }
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if !(a.seconds > 0.0 && a.seconds.is_finite()) {
        bail!("--seconds must be a positive number");
    }
    let mut candidates = Vec::with_capacity(a.models.len());
    for path in &a.models {
        let (model, bytes) = load_runnable(path)?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        candidates.push(Candidate { file, bytes, model });
    }
    let mnist = data::load(&default_data_dir(a.data), Split::Test)?;
    let per_model = a.limit.unwrap_or(mnist.count).min(mnist.count) as u64;
    let bar = progress_bar(per_model * candidates.len() as u64, "evaluating");
    let rows = compare::compare(
        &candidates,
        &mnist,
        a.limit,
        a.batch_size,
        Duration::from_secs_f64(a.seconds),
        |k, done| bar.set_position(k as u64 * per_model + done as u64),
    );
    bar.finish_and_clear();
    let rows = rows?;
    let width = rows.iter().map(|r| r.file.len()).max().unwrap_or(4).max(4);
    out.line(format!(
        "{:<width$}  {:>9}  {:>9}  {:>8}  {:>9}  {:>10}  {:>12}",
        "file", "bytes", "zipped", "accuracy", "agreement", "max |Δ|", "µs/inference"
    ));
    for (k, r) in rows.iter().enumerate() {
        let (agreement, diff) = if k == 0 {
            ("(ref)".to_string(), "—".to_string())
        } else {
            (
                format!("{:.2}%", 100.0 * r.top1_agreement),
                super::significant(r.max_abs_diff),
            )
        };
        out.line(format!(
            "{:<width$}  {:>9}  {:>9}  {:>7.2}%  {:>9}  {:>10}  {:>12.1}",
            r.file,
            super::thousands(r.bytes as u64),
            super::thousands(r.zip_bytes as u64),
            100.0 * r.accuracy,
            agreement,
            diff,
            r.us_per_inference
        ));
    }
    if let Some(r) = rows.first() {
        out.line(format!(
            "on {} MNIST test images; agreement and max |Δ| against {}",
            super::thousands(r.samples as u64),
            r.file
        ));
    }
    if a.json {
        out.json(&serde_json::json!({ "models": rows }));
    }
    Ok(0)
}
