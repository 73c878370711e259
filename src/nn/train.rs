//! The training loop (Keras `fit` / `evaluate`) and its building blocks.

use std::time::Instant;

use super::loss::{accuracy, sparse_softmax_cross_entropy, Loss};
use super::optim::Optimizer;
use super::rng::{derive, Rng};
use super::{NnError, Sequential, Tensor};

/// Labelled samples stored back to back: sample `i` is
/// `x[i·numel(sample_shape)..][..numel(sample_shape)]` with label `labels[i]`.
#[derive(Clone, Copy, Debug)]
pub struct Dataset<'a> {
    pub x: &'a [f32],
    pub sample_shape: &'a [usize],
    pub labels: &'a [u8],
}

impl<'a> Dataset<'a> {
    pub fn new(x: &'a [f32], sample_shape: &'a [usize], labels: &'a [u8]) -> Result<Self, NnError> {
        let per: usize = sample_shape.iter().product();
        if per == 0 || x.len() != per * labels.len() {
            return Err(NnError::Shape(format!(
                "{} values do not hold {} samples of {sample_shape:?}",
                x.len(),
                labels.len()
            )));
        }
        Ok(Dataset {
            x,
            sample_shape,
            labels,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The first `n` samples and the rest.
    pub fn split_at(&self, n: usize) -> (Dataset<'a>, Dataset<'a>) {
        let n = n.min(self.len());
        let per = self.sample_len();
        let (xa, xb) = self.x.split_at(n * per);
        let (la, lb) = self.labels.split_at(n);
        (
            Dataset {
                x: xa,
                labels: la,
                ..*self
            },
            Dataset {
                x: xb,
                labels: lb,
                ..*self
            },
        )
    }
}

/// A mini-batch: inputs `[n, sample_shape...]`, labels, and the samples' positions in
/// the dataset.
#[derive(Clone, Debug)]
pub struct Batch {
    pub x: Tensor,
    pub labels: Vec<u8>,
    pub indices: Vec<usize>,
}

/// Copies the samples at `indices` into a batch.
pub fn gather_batch(data: &Dataset, indices: &[usize]) -> Result<Batch, NnError> {
    let per = data.sample_len();
    let mut x = Vec::with_capacity(indices.len() * per);
    let mut labels = Vec::with_capacity(indices.len());
    for &i in indices {
        let (Some(sample), Some(&label)) = (data.x.get(i * per..(i + 1) * per), data.labels.get(i))
        else {
            return Err(NnError::Shape(format!(
                "sample {i} is outside the dataset of {}",
                data.len()
            )));
        };
        x.extend_from_slice(sample);
        labels.push(label);
    }
    let mut shape = vec![indices.len()];
    shape.extend_from_slice(data.sample_shape);
    Ok(Batch {
        x: Tensor::new(shape, x)?,
        labels,
        indices: indices.to_vec(),
    })
}

/// What one training step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    pub loss: f32,
    /// Correctly classified samples (arg-max of the logits).
    pub correct: usize,
    pub size: usize,
}

/// One optimization step: training forward, `loss`, backward, optimizer update.
pub fn train_step(
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    loss: &mut dyn Loss,
    batch: Batch,
) -> Result<StepStats, NnError> {
    let Batch { x, labels, indices } = batch;
    let logits = model.forward_train(x)?;
    let (value, dlogits) = loss.compute(&logits, &labels, &indices)?;
    let correct = accuracy(&logits, &labels).unwrap_or(0);
    model.backward(dlogits)?;
    optimizer.step(&mut model.trainable_params_mut())?;
    Ok(StepStats {
        loss: value,
        correct,
        size: labels.len(),
    })
}

/// Keras `fit` arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Fraction held out for validation, taken from the end of the data before any
    /// shuffling (Keras' rule: the first floor(n·(1-split)) samples train).
    pub validation_split: f32,
    pub shuffle: bool,
    /// Drives the per-epoch shuffles.
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 1,
            batch_size: 32,
            validation_split: 0.0,
            shuffle: true,
            seed: 0,
        }
    }
}

/// Progress after each batch (running means over the epoch so far, like Keras' bar).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchProgress {
    /// 0-based.
    pub epoch: usize,
    pub epochs: usize,
    /// Batches done in this epoch (1-based count).
    pub batch: usize,
    pub batches: usize,
    pub samples_seen: usize,
    pub loss: f32,
    pub accuracy: f32,
    pub images_per_sec: f64,
}

/// End-of-epoch figures.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochSummary {
    pub epoch: usize,
    pub epochs: usize,
    pub loss: f32,
    pub accuracy: f32,
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
    /// Training time of the epoch (validation excluded).
    pub seconds: f64,
    pub images_per_sec: f64,
}

/// Hooks into [`fit`]. All methods default to doing nothing.
pub trait Callback {
    /// Runs before every training step's forward pass, e.g. to update pruning masks
    /// at the start of a step, where TFMOT updates them.
    fn before_step(&mut self, _model: &mut Sequential) -> Result<(), NnError> {
        Ok(())
    }
    fn on_batch_end(&mut self, _progress: &BatchProgress) {}
    /// Runs after every optimizer step, e.g. to re-apply pruning masks.
    fn after_step(&mut self, _model: &mut Sequential) -> Result<(), NnError> {
        Ok(())
    }
    fn on_epoch_end(&mut self, _summary: &EpochSummary) {}
}

/// A callback that does nothing.
pub struct NoCallback;
impl Callback for NoCallback {}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochSummary>,
}

/// The samples `fit` trains on out of `samples` with `validation_split`: Keras'
/// floor(n·(1 − split)).
pub fn training_samples(samples: usize, validation_split: f32) -> usize {
    // Keras computes this with the split as the f64 the user typed. Widening our f32
    // directly would turn 0.2 into 0.2000000030 and train on one sample fewer (2399 of
    // 3000); its shortest decimal form gives back the typed value.
    let split = validation_split
        .to_string()
        .parse::<f64>()
        .unwrap_or(f64::from(validation_split));
    (samples as f64 * (1.0 - split)).floor() as usize
}

/// Keras `model.fit(x, y, ...)` with the given optimizer and loss.
pub fn fit(
    model: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    loss: &mut dyn Loss,
    data: &Dataset,
    config: &FitConfig,
    callback: &mut dyn Callback,
) -> Result<History, NnError> {
    if config.batch_size == 0 {
        return Err(NnError::State("batch_size must be positive".into()));
    }
    if !(0.0..1.0).contains(&config.validation_split) {
        return Err(NnError::State(format!(
            "validation_split must be in [0, 1), got {}",
            config.validation_split
        )));
    }
    let n_train = training_samples(data.len(), config.validation_split);
    let (train, val) = data.split_at(n_train);
    if train.is_empty() {
        return Err(NnError::State("no training samples".into()));
    }
    model.check_batch(config.batch_size.min(train.len()), "the batch size")?;
    let batches = train.len().div_ceil(config.batch_size);
    let mut history = History::default();
    let mut order: Vec<usize> = (0..train.len()).collect();
    for epoch in 0..config.epochs {
        order.iter_mut().enumerate().for_each(|(i, o)| *o = i);
        if config.shuffle {
            Rng::new(derive(config.seed, epoch as u64)).shuffle(&mut order);
        }
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
        for (b, idx) in order.chunks(config.batch_size).enumerate() {
            let batch = gather_batch(&train, idx)?;
            callback.before_step(model)?;
            let stats = train_step(model, optimizer, loss, batch)?;
            callback.after_step(model)?;
            loss_sum += f64::from(stats.loss) * stats.size as f64;
            correct += stats.correct;
            seen += stats.size;
            callback.on_batch_end(&BatchProgress {
                epoch,
                epochs: config.epochs,
                batch: b + 1,
                batches,
                samples_seen: seen,
                loss: (loss_sum / seen as f64) as f32,
                accuracy: correct as f32 / seen as f32,
                images_per_sec: seen as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        let (val_loss, val_accuracy) = if val.is_empty() {
            (None, None)
        } else {
            let (l, a) = evaluate(model, &val, config.batch_size)?;
            (Some(l), Some(a))
        };
        let summary = EpochSummary {
            epoch,
            epochs: config.epochs,
            loss: (loss_sum / seen.max(1) as f64) as f32,
            accuracy: correct as f32 / seen.max(1) as f32,
            val_loss,
            val_accuracy,
            seconds,
            images_per_sec: seen as f64 / seconds.max(1e-9),
        };
        callback.on_epoch_end(&summary);
        history.epochs.push(summary);
    }
    Ok(history)
}

/// Inference-mode mean sparse cross-entropy (from logits) and accuracy.
pub fn evaluate(
    model: &mut Sequential,
    data: &Dataset,
    batch_size: usize,
) -> Result<(f32, f32), NnError> {
    let per = data.sample_len();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    let bs = batch_size.max(1);
    for (xs, ls) in data.x.chunks(per * bs).zip(data.labels.chunks(bs)) {
        let logits = model.predict(xs, bs)?;
        let (l, _) = sparse_softmax_cross_entropy(&logits, ls)?;
        loss_sum += f64::from(l) * ls.len() as f64;
        correct += accuracy(&logits, ls)?;
    }
    let n = data.len().max(1) as f64;
    Ok(((loss_sum / n) as f32, (correct as f64 / n) as f32))
}
