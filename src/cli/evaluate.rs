//! `eval` of a model directory: float accuracy and loss through the training engine
//! (what `evaluate` did before it became an alias of `eval`).
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::{default_data_dir, Out};
use crate::data::{self, Split};
use crate::nn::{self, io, Dataset};

pub(super) fn run_dir(
    dir: &Path,
    data: Option<PathBuf>,
    limit: Option<usize>,
    batch: usize,
    json: bool,
) -> Result<i32> {
    let out = Out::new(json);
    let mut model = io::load(dir)?;
    let per_sample: usize = model.input_shape().iter().product();
    if per_sample != 28 * 28 || model.output_shape() != [10] {
        bail!(
            "the model maps {:?} to {:?}; MNIST evaluation needs 784 values in and 10 scores out",
            model.input_shape(),
            model.output_shape()
        );
    }
    let test = data::load(&default_data_dir(data), Split::Test)?;
    let n = limit.unwrap_or(test.count).min(test.count);
    let x = test.images_f32_scaled(0..n);
    let shape = model.input_shape().to_vec();
    let set = Dataset::new(&x, &shape, test.labels_range(0..n))?;
    let start = Instant::now();
    let (loss, accuracy) = nn::evaluate(&mut model, &set, batch).context("evaluating")?;
    let seconds = start.elapsed().as_secs_f64();
    let correct = (f64::from(accuracy) * n as f64).round() as usize;
    out.line(format!(
        "accuracy {:.2}% ({}/{} MNIST test images), loss {loss:.4}, in {seconds:.2} s",
        accuracy * 100.0,
        super::thousands(correct as u64),
        super::thousands(n as u64)
    ));
    if json {
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
