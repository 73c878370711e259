//! Knowledge distillation as in the Keras example (`examples/vision/knowledge_distillation.py`):
//! the student minimizes
//! `α·CE(labels, student) + (1−α)·T²·KLD(softmax(teacher/T) ‖ softmax(student/T))`.
//!
//! The teacher is frozen: it runs in inference mode once over the training samples before
//! the first step and only its cached logits are used afterwards, so nothing can flow back
//! into it (the Keras 3 example lets gradients reach the teacher, which is a bug). The
//! student trains through [`fit`], so a distilled student and a student trained alone
//! with the same [`FitConfig`] see the same batches in the same order.

use std::cell::Cell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};

use super::loss::{sparse_softmax_cross_entropy, Loss};
use super::optim::Optimizer;
use super::train::{fit, BatchProgress, Callback, Dataset, EpochSummary, FitConfig, NoCallback};
use super::{NnError, Sequential, Tensor};

/// Keras' KLDivergence clips both distributions to this range before the logarithm.
const KLD_EPSILON: f64 = 1e-7;

/// How strongly the student follows the labels versus the teacher.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DistillConfig {
    /// Weight of the cross-entropy with the labels; the teacher term gets `1 − alpha`.
    pub alpha: f32,
    /// Softens both distributions before they are compared.
    pub temperature: f32,
}

impl Default for DistillConfig {
    /// The setting that beat the student trained alone on the mean of 3 seeds in this
    /// project's sweep with a 99.1% teacher (README, `ferrolite distill`); TensorFlow's
    /// runs for the study also found α 0.5, T 4 better than the example's α 0.1, T 10.
    fn default() -> Self {
        DistillConfig {
            alpha: 0.5,
            temperature: 4.0,
        }
    }
}

impl DistillConfig {
    /// Fails on α outside [0, 1] or a non-positive temperature.
    pub fn validate(&self) -> Result<(), NnError> {
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(NnError::State(format!(
                "alpha must be in [0, 1], got {}",
                self.alpha
            )));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return Err(NnError::State(format!(
                "temperature must be a positive number, got {}",
                self.temperature
            )));
        }
        Ok(())
    }
}

/// How a model was distilled, for `model.json` (`training.distillation`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct DistillationRecord {
    /// Where the teacher came from (its model directory, as given).
    pub teacher: String,
    /// The teacher's architecture name.
    pub teacher_name: String,
    pub teacher_params: usize,
    /// The teacher's test accuracy as its own `model.json` recorded it, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_test_accuracy: Option<f32>,
    pub alpha: f32,
    pub temperature: f32,
}

/// The two terms of a distillation loss, batch means.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct DistillTerms {
    /// Cross-entropy of the student with the labels.
    pub ce: f32,
    /// `T²·KLD(teacher ‖ student)`: the teacher term as it enters the loss before the
    /// `1 − α` weight (what Keras reports as `distillation_loss`).
    pub kd: f32,
}

/// The loss, its two terms and d(loss)/d(student logits) for one batch.
///
/// `student` and `teacher` are `[batch, classes]` logits. The gradient is exact for the
/// clipped KLD: where a student probability was clipped, the clip passes no gradient
/// (as TensorFlow's `clip_by_value`).
pub fn distillation_loss(
    student: &Tensor,
    teacher: &Tensor,
    labels: &[u8],
    config: &DistillConfig,
) -> Result<(f32, DistillTerms, Tensor), NnError> {
    config.validate()?;
    if student.shape != teacher.shape {
        return Err(NnError::Shape(format!(
            "student logits {:?} and teacher logits {:?} differ in shape",
            student.shape, teacher.shape
        )));
    }
    let (ce, ce_grad) = sparse_softmax_cross_entropy(student, labels)?;
    let classes = student.shape[1];
    let batch = labels.len();
    let t = f64::from(config.temperature);
    let alpha = f64::from(config.alpha);
    // d(T²·KLD)/ds carries a 1/T from the softened softmax: T²/T = T.
    let kd_scale = t * t;
    let inv_batch = 1.0 / batch.max(1) as f64;
    let mut kld_sum = 0.0f64;
    let mut grad = Vec::with_capacity(student.data.len());
    let mut p = vec![0.0f64; classes];
    let mut q = vec![0.0f64; classes];
    let mut g = vec![0.0f64; classes];
    for ((s_row, t_row), ce_row) in student
        .data
        .chunks_exact(classes)
        .zip(teacher.data.chunks_exact(classes))
        .zip(ce_grad.data.chunks_exact(classes))
    {
        softmax_tempered(t_row, t, &mut p);
        softmax_tempered(s_row, t, &mut q);
        let mut row_kld = 0.0;
        // g = d(KLD_row)/dq on the clipped q; then back through softmax(s/T):
        // dL/ds_j = q_j (g_j − Σ_c g_c q_c) / T.
        for c in 0..classes {
            let pc = p[c].clamp(KLD_EPSILON, 1.0);
            let qc_clipped = q[c].clamp(KLD_EPSILON, 1.0);
            row_kld += pc * (pc / qc_clipped).ln();
            let passes = (KLD_EPSILON..=1.0).contains(&q[c]);
            g[c] = if passes { -pc / qc_clipped } else { 0.0 };
        }
        kld_sum += row_kld;
        let gq: f64 = g.iter().zip(&q).map(|(gc, qc)| gc * qc).sum();
        for c in 0..classes {
            let dkd = q[c] * (g[c] - gq) / t;
            let total = alpha * f64::from(ce_row[c]) + (1.0 - alpha) * kd_scale * dkd * inv_batch;
            grad.push(total as f32);
        }
    }
    let kld = kld_sum * inv_batch;
    let kd = kd_scale * kld;
    let loss = alpha * f64::from(ce) + (1.0 - alpha) * kd;
    Ok((
        loss as f32,
        DistillTerms { ce, kd: kd as f32 },
        Tensor::new(student.shape.clone(), grad)?,
    ))
}

/// softmax(z / t) in f64, stable for large logits.
fn softmax_tempered(z: &[f32], t: f64, out: &mut [f64]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(z) {
        *o = ((f64::from(v) - f64::from(max)) / t).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
}

/// Running sums of the terms over an epoch, shared between the loss (which adds to them)
/// and the progress adapter (which reads and resets them).
#[derive(Clone, Copy, Debug, Default)]
struct TermSums {
    ce: f64,
    kd: f64,
    samples: usize,
}

impl TermSums {
    fn means(&self) -> DistillTerms {
        let n = self.samples.max(1) as f64;
        DistillTerms {
            ce: (self.ce / n) as f32,
            kd: (self.kd / n) as f32,
        }
    }
}

/// The distillation objective as a [`Loss`]: looks the teacher's logits up by the
/// batch's positions in the training data.
pub struct DistillLoss {
    teacher_logits: Tensor,
    config: DistillConfig,
    sums: Rc<Cell<TermSums>>,
}

impl DistillLoss {
    /// `teacher_logits` is `[samples, classes]`, row `i` for training sample `i`.
    pub fn new(teacher_logits: Tensor, config: DistillConfig) -> Result<Self, NnError> {
        config.validate()?;
        if teacher_logits.shape.len() != 2 || teacher_logits.shape[1] == 0 {
            return Err(NnError::Shape(format!(
                "teacher logits must be [samples, classes], got {:?}",
                teacher_logits.shape
            )));
        }
        Ok(DistillLoss {
            teacher_logits,
            config,
            sums: Rc::new(Cell::new(TermSums::default())),
        })
    }

    /// Mean terms of the batches computed since the last [`DistillLoss::reset_terms`].
    pub fn terms(&self) -> DistillTerms {
        self.sums.get().means()
    }

    pub fn reset_terms(&mut self) {
        self.sums.set(TermSums::default());
    }

    fn teacher_rows(&self, indices: &[usize]) -> Result<Tensor, NnError> {
        let classes = self.teacher_logits.shape[1];
        let cached = self.teacher_logits.shape[0];
        let mut data = Vec::with_capacity(indices.len() * classes);
        for &i in indices {
            let row = self
                .teacher_logits
                .data
                .get(i * classes..(i + 1) * classes)
                .ok_or_else(|| {
                    NnError::Shape(format!(
                        "sample {i} has no teacher logits (cached for {cached} samples)"
                    ))
                })?;
            data.extend_from_slice(row);
        }
        Tensor::new(vec![indices.len(), classes], data)
    }
}

impl Loss for DistillLoss {
    fn compute(
        &mut self,
        logits: &Tensor,
        labels: &[u8],
        indices: &[usize],
    ) -> Result<(f32, Tensor), NnError> {
        if indices.len() != labels.len() {
            return Err(NnError::Shape(format!(
                "{} indices for {} labels",
                indices.len(),
                labels.len()
            )));
        }
        let teacher = self.teacher_rows(indices)?;
        let (loss, terms, grad) = distillation_loss(logits, &teacher, labels, &self.config)?;
        let mut sums = self.sums.get();
        let n = labels.len() as f64;
        sums.ce += f64::from(terms.ce) * n;
        sums.kd += f64::from(terms.kd) * n;
        sums.samples += labels.len();
        self.sums.set(sums);
        Ok((loss, grad))
    }
}

/// Progress after each batch: [`fit`]'s figures plus the running means of the terms.
#[derive(Clone, Debug, PartialEq)]
pub struct DistillProgress {
    pub progress: BatchProgress,
    pub terms: DistillTerms,
}

/// One epoch of distillation: [`fit`]'s summary (its `loss` is the combined loss) and
/// the epoch means of the terms.
#[derive(Clone, Debug, PartialEq)]
pub struct DistillEpoch {
    pub summary: EpochSummary,
    pub terms: DistillTerms,
}

/// Hooks into [`distill`]; all default to doing nothing.
pub trait DistillCallback {
    fn on_batch_end(&mut self, _progress: &DistillProgress) {}
    fn on_epoch_end(&mut self, _epoch: &DistillEpoch) {}
}

impl DistillCallback for NoCallback {}

/// What [`distill`] did.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DistillReport {
    pub epochs: Vec<DistillEpoch>,
    /// Time spent computing the teacher's logits (once, before training).
    pub teacher_seconds: f64,
}

/// Adapts a [`DistillCallback`] to [`fit`]'s [`Callback`], reading the terms the loss
/// accumulates.
struct TermsAdapter<'a> {
    sums: Rc<Cell<TermSums>>,
    inner: &'a mut dyn DistillCallback,
    epochs: Vec<DistillEpoch>,
}

impl Callback for TermsAdapter<'_> {
    fn on_batch_end(&mut self, progress: &BatchProgress) {
        self.inner.on_batch_end(&DistillProgress {
            progress: progress.clone(),
            terms: self.sums.get().means(),
        });
    }

    fn on_epoch_end(&mut self, summary: &EpochSummary) {
        let epoch = DistillEpoch {
            summary: summary.clone(),
            terms: self.sums.get().means(),
        };
        self.sums.set(TermSums::default());
        self.inner.on_epoch_end(&epoch);
        self.epochs.push(epoch);
    }
}

/// Fails unless `teacher` and `student` take the same input and give the same number of
/// class scores.
pub fn check_compatible(student: &Sequential, teacher: &Sequential) -> Result<(), NnError> {
    if student.input_shape() != teacher.input_shape() {
        return Err(NnError::Shape(format!(
            "the teacher takes {:?} inputs but the student takes {:?}",
            teacher.input_shape(),
            student.input_shape()
        )));
    }
    let (s, t) = (student.output_shape(), teacher.output_shape());
    if s.len() != 1 || t.len() != 1 || s != t {
        return Err(NnError::Shape(format!(
            "the teacher gives {t:?} class scores but the student gives {s:?}; both must give the same number of classes"
        )));
    }
    Ok(())
}

/// The frozen teacher's logits over every sample of `data` (inference mode), row `i` for
/// sample `i`: what [`distill_from_logits`] looks up. Computing them once lets several
/// students (seeds, settings) share one teacher pass.
pub fn teacher_logits(teacher: &mut Sequential, data: &Dataset) -> Result<Tensor, NnError> {
    if data.sample_shape != teacher.input_shape() {
        return Err(NnError::Shape(format!(
            "the data holds {:?} samples but the teacher takes {:?}",
            data.sample_shape,
            teacher.input_shape()
        )));
    }
    teacher.predict(data.x, 256)
}

/// Trains `student` on `data` against the frozen `teacher` with [`fit`]'s batching,
/// shuffling and validation split. The teacher's logits over `data` are computed once in
/// inference mode; the teacher's weights are never touched.
pub fn distill(
    student: &mut Sequential,
    teacher: &mut Sequential,
    optimizer: &mut dyn Optimizer,
    data: &Dataset,
    fit_config: &FitConfig,
    config: &DistillConfig,
    callback: &mut dyn DistillCallback,
) -> Result<DistillReport, NnError> {
    config.validate()?;
    check_compatible(student, teacher)?;
    let started = std::time::Instant::now();
    let logits = teacher_logits(teacher, data)?;
    let teacher_seconds = started.elapsed().as_secs_f64();
    let mut report = distill_from_logits(
        student, &logits, optimizer, data, fit_config, config, callback,
    )?;
    report.teacher_seconds = teacher_seconds;
    Ok(report)
}

/// [`distill`] with the teacher's logits already computed by [`teacher_logits`] over the
/// same `data`.
pub fn distill_from_logits(
    student: &mut Sequential,
    teacher_logits: &Tensor,
    optimizer: &mut dyn Optimizer,
    data: &Dataset,
    fit_config: &FitConfig,
    config: &DistillConfig,
    callback: &mut dyn DistillCallback,
) -> Result<DistillReport, NnError> {
    config.validate()?;
    if data.sample_shape != student.input_shape() {
        return Err(NnError::Shape(format!(
            "the data holds {:?} samples but the student takes {:?}",
            data.sample_shape,
            student.input_shape()
        )));
    }
    // The validation part is included in the logits: fit's training indices are
    // positions in `data` because the training part is its prefix.
    let classes = student.output_shape();
    if teacher_logits.shape.len() != 2
        || teacher_logits.shape[0] != data.len()
        || classes != [teacher_logits.shape[1]]
    {
        return Err(NnError::Shape(format!(
            "teacher logits {:?} do not fit {} samples and a student with {:?} outputs",
            teacher_logits.shape,
            data.len(),
            classes
        )));
    }
    let mut loss = DistillLoss::new(teacher_logits.clone(), *config)?;
    let mut adapter = TermsAdapter {
        sums: Rc::clone(&loss.sums),
        inner: callback,
        epochs: Vec::new(),
    };
    fit(
        student,
        optimizer,
        &mut loss,
        data,
        fit_config,
        &mut adapter,
    )?;
    Ok(DistillReport {
        epochs: adapter.epochs,
        teacher_seconds: 0.0,
    })
}
