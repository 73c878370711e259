//! Several models side by side (`ferrolite compare`): file size raw and zipped, MNIST
//! test accuracy, how often each agrees with the first on the top class and by how much
//! their scores differ, and inference time measured in interleaved rounds.

use std::time::Duration;

use super::accuracy::{self, Answers};
use super::VerifyError;
use crate::data::Mnist;
use crate::interp::Interpreter;
use crate::ir::Model;

/// One model to compare: a label (its file name), its `.tflite` bytes and the model.
pub struct Candidate {
    pub file: String,
    pub bytes: Vec<u8>,
    pub model: Model,
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub file: String,
    pub bytes: usize,
    /// The file alone in a .zip, deflate level 6 (TFMOT's gzipped size).
    pub zip_bytes: usize,
    /// Top-1 accuracy on the MNIST test images (a fraction).
    pub accuracy: f64,
    pub correct: usize,
    pub samples: usize,
    /// Median µs per one-image inference in the built-in interpreter.
    pub us_per_inference: f64,
    /// Fraction of images whose top class matches the first model's (1 for the first).
    pub top1_agreement: f64,
    /// Largest difference of a score from the first model's, quantized scores taken as
    /// the real numbers they stand for.
    pub max_abs_diff: f64,
}

/// Compares `candidates` on the first `limit` test images of `mnist`, `batch` images
/// per call, timing each for about `budget`; `progress(model, images done)`.
pub fn compare(
    candidates: &[Candidate],
    mnist: &Mnist,
    limit: Option<usize>,
    batch: usize,
    budget: Duration,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Row>, VerifyError> {
    let mut answers: Vec<Answers> = Vec::with_capacity(candidates.len());
    let mut interps = Vec::with_capacity(candidates.len());
    for (k, c) in candidates.iter().enumerate() {
        let mut interp = Interpreter::new(c.model.clone())?;
        let a = accuracy::answers(&mut interp, mnist, limit, batch, |done| progress(k, done))
            .map_err(|e| VerifyError::Input(format!("{}: {e}", c.file)))?;
        if let Some(first) = answers.first() {
            if a.classes != first.classes {
                return Err(VerifyError::Structure(format!(
                    "{} gives {} scores per image and {} gives {}",
                    c.file, a.classes, candidates[0].file, first.classes
                )));
            }
        }
        answers.push(a);
        interps.push(interp);
    }
    let one: Vec<_> = interps
        .iter()
        .map(|i| {
            let input = &i.model().graph.tensors[i.model().graph.inputs[0]];
            accuracy::mnist_batch(input, &mnist.images[..mnist.rows * mnist.cols], 1)
        })
        .collect::<Result<_, _>>()?;
    let mut runs: Vec<Box<dyn FnMut() -> Result<(), VerifyError> + '_>> = interps
        .iter_mut()
        .zip(&one)
        .map(|(interp, x)| {
            Box::new(move || {
                interp
                    .run(std::slice::from_ref(x))
                    .map(|_| ())
                    .map_err(VerifyError::from)
            }) as Box<dyn FnMut() -> Result<(), VerifyError>>
        })
        .collect();
    let mut refs: Vec<&mut dyn FnMut() -> Result<(), VerifyError>> =
        runs.iter_mut().map(|f| f.as_mut() as _).collect();
    let micros = super::timing::interleaved_median_micros(&mut refs, budget, 7)?;
    let first = &answers[0];
    Ok(candidates
        .iter()
        .zip(&answers)
        .zip(micros)
        .map(|((c, a), us)| {
            let agree = a
                .predictions
                .iter()
                .zip(&first.predictions)
                .filter(|(p, q)| p == q)
                .count();
            let max_abs_diff = a
                .scores
                .iter()
                .zip(&first.scores)
                .map(|(p, q)| f64::from((p - q).abs()))
                .fold(0.0, f64::max);
            Row {
                file: c.file.clone(),
                bytes: c.bytes.len(),
                zip_bytes: super::size::zip_bytes(&c.file, &c.bytes),
                accuracy: a.accuracy.accuracy,
                correct: a.accuracy.correct,
                samples: a.accuracy.samples,
                us_per_inference: us,
                top1_agreement: if a.predictions.is_empty() {
                    0.0
                } else {
                    agree as f64 / a.predictions.len() as f64
                },
                max_abs_diff,
            }
        })
        .collect())
}
