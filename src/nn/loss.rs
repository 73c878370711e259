//! Losses on logits. A [`Loss`] returns the batch-mean loss and its gradient with
//! respect to the logits, which is all a training step needs: custom objectives
//! (distillation against teacher logits, regularizers) implement the same trait.

use super::{NnError, Tensor};

/// A training objective on a batch of logits `[batch, classes]`.
pub trait Loss {
    /// Mean loss over the batch and d(loss)/d(logits). `indices` are the batch's
    /// positions in the training data (for losses that look up per-sample targets,
    /// e.g. precomputed teacher logits).
    fn compute(
        &mut self,
        logits: &Tensor,
        labels: &[u8],
        indices: &[usize],
    ) -> Result<(f32, Tensor), NnError>;
}

/// Keras `SparseCategoricalCrossentropy(from_logits=True)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SparseCategoricalCrossentropy;

impl Loss for SparseCategoricalCrossentropy {
    fn compute(
        &mut self,
        logits: &Tensor,
        labels: &[u8],
        _indices: &[usize],
    ) -> Result<(f32, Tensor), NnError> {
        sparse_softmax_cross_entropy(logits, labels)
    }
}

fn rows<'a>(
    logits: &'a Tensor,
    labels: &[u8],
) -> Result<(usize, std::slice::ChunksExact<'a, f32>), NnError> {
    let (batch, classes) = match logits.shape[..] {
        [b, c] if c > 0 && b * c == logits.data.len() => (b, c),
        _ => {
            return Err(NnError::Shape(format!(
                "logits must be [batch, classes], got {:?}",
                logits.shape
            )))
        }
    };
    if labels.len() != batch {
        return Err(NnError::Shape(format!(
            "{} labels for a batch of {batch}",
            labels.len()
        )));
    }
    if let Some(&bad) = labels.iter().find(|&&l| usize::from(l) >= classes) {
        return Err(NnError::Shape(format!(
            "label {bad} out of range for {classes} classes"
        )));
    }
    Ok((classes, logits.data.chunks_exact(classes)))
}

/// Mean cross-entropy of softmax(logits) against integer labels, and its gradient
/// `(softmax - onehot) / batch`. Uses `log_softmax = z - max - ln Σ exp(z - max)`, so
/// large logits neither overflow nor lose the loss to rounding.
pub fn sparse_softmax_cross_entropy(
    logits: &Tensor,
    labels: &[u8],
) -> Result<(f32, Tensor), NnError> {
    let (classes, chunks) = rows(logits, labels)?;
    let batch = labels.len();
    let mut grad = vec![0.0f32; logits.data.len()];
    let mut total = 0.0f64;
    let inv_batch = 1.0 / batch.max(1) as f32;
    for ((row, g), &label) in chunks.zip(grad.chunks_exact_mut(classes)).zip(labels) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&z| f64::from(z - max).exp()).sum();
        let log_sum = sum.ln();
        let label = usize::from(label);
        total += log_sum - f64::from(row[label] - max);
        for (gi, &z) in g.iter_mut().zip(row) {
            *gi = ((f64::from(z - max) - log_sum).exp() as f32) * inv_batch;
        }
        g[label] -= inv_batch;
    }
    Ok((
        (total / batch.max(1) as f64) as f32,
        Tensor::new(logits.shape.clone(), grad)?,
    ))
}

/// Number of rows whose arg-max (first on ties, as numpy/Keras) equals the label.
pub fn accuracy(logits: &Tensor, labels: &[u8]) -> Result<usize, NnError> {
    let (_, chunks) = rows(logits, labels)?;
    Ok(chunks
        .zip(labels)
        .filter(|(row, &label)| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best == usize::from(label)
        })
        .count())
}
