use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{default_data_dir, Out};
use crate::data::{self, Split};
use crate::nn::{self, io, Dataset};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ferrolite evaluate models/cnn\n  ferrolite evaluate models/cnn --limit 1000 --json"
)]
pub struct Args {
    /// Model directory (model.json + model.safetensors), as written by `ferrolite train`.
    model: PathBuf,
    /// MNIST directory with t10k-images-idx3-ubyte(.gz) and t10k-labels-idx1-ubyte(.gz)
    /// [default: the vendored fixtures/mnist].
    #[arg(long)]
    data: Option<PathBuf>,
    /// Evaluate only the first N test images.
    #[arg(long)]
    limit: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Print {"accuracy", "loss", "correct", "samples", "seconds"} as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<i32> {
    let out = Out::new(a.json);
    if a.batch == 0 {
        bail!("--batch must be at least 1");
    }
    if a.limit == Some(0) {
        bail!("--limit 0 leaves no test images to evaluate");
    }
    if a.model.is_file() {
        bail!(
            "{} is a file; `evaluate` takes a model directory (for a .tflite use `ferrolite eval`)",
            a.model.display()
        );
    }
    let mut model = io::load(&a.model)?;
    let per_sample: usize = model.input_shape().iter().product();
    if per_sample != 28 * 28 || model.output_shape() != [10] {
        bail!(
            "the model maps {:?} to {:?}; MNIST evaluation needs 784 values in and 10 scores out",
            model.input_shape(),
            model.output_shape()
        );
    }
    let test = data::load(&default_data_dir(a.data), Split::Test)?;
    let n = a.limit.unwrap_or(test.count).min(test.count);
    let x = test.images_f32_scaled(0..n);
    let shape = model.input_shape().to_vec();
    let set = Dataset::new(&x, &shape, test.labels_range(0..n))?;
    let start = Instant::now();
    let (loss, accuracy) = nn::evaluate(&mut model, &set, a.batch).context("evaluating")?;
    let seconds = start.elapsed().as_secs_f64();
    let correct = (f64::from(accuracy) * n as f64).round() as usize;
    out.line(format!(
        "accuracy {:.2}% ({correct}/{n} MNIST test images), loss {loss:.4}, in {seconds:.2} s",
        accuracy * 100.0
    ));
    if a.json {
        out.json(&serde_json::json!({
            "accuracy": accuracy,
            "loss": loss,
            "correct": correct,
            "samples": n,
            "seconds": seconds,
        }));
    }
    Ok(0)
}
