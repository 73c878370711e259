//! Magnitude pruning with TensorFlow Model Optimization's semantics
//! (`prune_low_magnitude`, `PolynomialDecay`, `ConstantSparsity`, `strip_pruning`).
//!
//! A [`Pruner`] holds one mask per prunable weight: the `kernel` of every Conv2D and
//! Dense layer (never biases, never depthwise kernels, as TFMOT's registry). At a pruning
//! step it recomputes the masks from the current magnitudes; before every forward pass
//! and after every optimizer step it zeroes the masked weights, so they are exactly zero
//! whenever anyone looks. Pruning needs no wrapper layers: the masks live beside the
//! model, so "stripping" is simply saving the model, whose kernels carry the zeros.
//!
//! # Why weights are masked rather than gradients
//! TFMOT assigns `w·mask` to the kernel variable before each forward pass; the gradient
//! is taken with respect to that variable, so it is *not* masked, and Adam keeps
//! moving the pruned weights between steps (the next forward re-zeroes them). Masking
//! the weights before the forward pass and again after the step reproduces that
//! exactly for every kept weight (Adam is elementwise, so a pruned position's moments
//! never touch a kept one) and keeps pruned weights at 0 at all times. Masking the
//! gradient instead would not be enough: Adam's first moment remembers gradients from
//! before a weight was pruned and would push it off zero for many steps. Masking both
//! would only change the moments of weights that are never used again (sparsity never
//! decreases and a pruned weight, being 0, never climbs back over the threshold), so it
//! buys nothing and would need an extra hook in the training loop.

use serde::{Deserialize, Serialize};

use super::train::{fit, training_samples, BatchProgress, Callback, EpochSummary, History};
use super::{Adam, Dataset, FitConfig, LayerSpec, NnError, Sequential};
use super::{NoCallback, SparseCategoricalCrossentropy};

/// When and how much to prune (TFMOT's `pruning_schedule`). Steps count optimizer
/// steps of the pruning run; the first batch is step 0.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// `sparsity = final + (initial − final)·(1 − p)^power` with
    /// `p = clip((step − begin)/(end − begin), 0, 1)`.
    PolynomialDecay {
        initial_sparsity: f32,
        final_sparsity: f32,
        begin_step: u64,
        end_step: u64,
        power: f32,
        frequency: u64,
    },
    /// The same sparsity at every pruning step; `end_step: None` prunes forever.
    ConstantSparsity {
        target_sparsity: f32,
        begin_step: u64,
        #[serde(default)]
        end_step: Option<u64>,
        frequency: u64,
    },
}

impl Schedule {
    /// TFMOT's `PolynomialDecay(initial, final, begin, end)` with its defaults
    /// power 3 and frequency 100.
    pub fn polynomial_decay(
        initial_sparsity: f32,
        final_sparsity: f32,
        begin_step: u64,
        end_step: u64,
    ) -> Result<Self, NnError> {
        let s = Schedule::PolynomialDecay {
            initial_sparsity,
            final_sparsity,
            begin_step,
            end_step,
            power: 3.0,
            frequency: 100,
        };
        s.validate()?;
        Ok(s)
    }

    /// TFMOT's `ConstantSparsity(target, begin)` with its defaults: no end, frequency 100.
    pub fn constant_sparsity(target_sparsity: f32, begin_step: u64) -> Result<Self, NnError> {
        let s = Schedule::ConstantSparsity {
            target_sparsity,
            begin_step,
            end_step: None,
            frequency: 100,
        };
        s.validate()?;
        Ok(s)
    }

    /// Fails on a sparsity outside [0, 1), a final sparsity below the initial one, an
    /// end step not after the begin step, frequency 0 or a non-positive power.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |m: String| Err(NnError::State(m));
        let check_sparsity = |what: &str, s: f32| {
            if (0.0..1.0).contains(&s) {
                Ok(())
            } else {
                Err(NnError::State(format!(
                    "{what} sparsity must be in [0, 1), got {s}"
                )))
            }
        };
        let (begin, end, frequency) = match *self {
            Schedule::PolynomialDecay {
                initial_sparsity,
                final_sparsity,
                begin_step,
                end_step,
                power,
                frequency,
            } => {
                check_sparsity("initial", initial_sparsity)?;
                check_sparsity("final", final_sparsity)?;
                if final_sparsity < initial_sparsity {
                    return bad(format!(
                        "final sparsity {final_sparsity} is below the initial sparsity {initial_sparsity}"
                    ));
                }
                if !(power > 0.0 && power.is_finite()) {
                    return bad(format!("power must be a positive number, got {power}"));
                }
                (begin_step, Some(end_step), frequency)
            }
            Schedule::ConstantSparsity {
                target_sparsity,
                begin_step,
                end_step,
                frequency,
            } => {
                check_sparsity("target", target_sparsity)?;
                (begin_step, end_step, frequency)
            }
        };
        if let Some(end) = end {
            if end <= begin {
                return bad(format!(
                    "the end step {end} must be after the begin step {begin}"
                ));
            }
        }
        if frequency == 0 {
            return bad("the pruning frequency must be at least 1 step".into());
        }
        Ok(())
    }

    fn steps(&self) -> (u64, Option<u64>, u64) {
        match *self {
            Schedule::PolynomialDecay {
                begin_step,
                end_step,
                frequency,
                ..
            } => (begin_step, Some(end_step), frequency),
            Schedule::ConstantSparsity {
                begin_step,
                end_step,
                frequency,
                ..
            } => (begin_step, end_step, frequency),
        }
    }

    /// Whether the masks are recomputed at `step`: begin ≤ step ≤ end and
    /// (step − begin) is a multiple of the frequency.
    pub fn should_prune(&self, step: u64) -> bool {
        let (begin, end, frequency) = self.steps();
        step >= begin
            && end.is_none_or(|end| step <= end)
            && (step - begin).is_multiple_of(frequency.max(1))
    }

    /// The target sparsity at `step`, computed in f32 as TFMOT does.
    pub fn sparsity(&self, step: u64) -> f32 {
        match *self {
            Schedule::PolynomialDecay {
                initial_sparsity,
                final_sparsity,
                begin_step,
                end_step,
                power,
                ..
            } => {
                let span = end_step.saturating_sub(begin_step).max(1) as f32;
                let p = (step as f32 - begin_step as f32) / span;
                let p = p.clamp(0.0, 1.0);
                (initial_sparsity - final_sparsity) * (1.0 - p).powf(power) + final_sparsity
            }
            Schedule::ConstantSparsity {
                target_sparsity, ..
            } => target_sparsity,
        }
    }
}

/// How many weights to keep: TFMOT's `max(round(n·(1 − sparsity)), 1)`, in f32 with
/// `tf.round`'s ties-to-even.
pub fn kept_count(n: usize, sparsity: f32) -> usize {
    let k = (n as f32 * (1.0 - sparsity)).round_ties_even();
    (k.max(1.0) as usize).min(n.max(1))
}

/// The magnitude mask of `values`: keep everything at least as large as the k-th
/// largest |v| (ties at the threshold are all kept, so more than k can survive, as in
/// TFMOT). `k` is clamped to 1..=len.
pub fn magnitude_mask(values: &[f32], k: usize) -> Vec<bool> {
    if values.is_empty() {
        return Vec::new();
    }
    let k = k.clamp(1, values.len());
    let mut magnitudes: Vec<f32> = values.iter().map(|v| v.abs()).collect();
    // Descending order: the k-th largest sits at index k − 1.
    let (_, threshold, _) = magnitudes.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let threshold = *threshold;
    values.iter().map(|v| v.abs() >= threshold).collect()
}

/// A block mask for a Keras Dense kernel `[inputs, units]` with `block = [rows, cols]`
/// in TFLite's `[out, in]` layout: `rows` consecutive units × `cols` consecutive inputs.
/// Blocks are ranked by their mean |w| (TFMOT's AVG pooling) and the top
/// `kept_count(full blocks, sparsity)` kept. Trailing blocks that do not fill a whole
/// window (inputs % cols, units % rows) cannot be stored in TFLite's block format and
/// are always masked. Returns the mask and the number of weights in partial blocks.
pub fn block_mask(
    kernel: &[f32],
    inputs: usize,
    units: usize,
    block: [usize; 2],
    sparsity: f32,
) -> Result<(Vec<bool>, usize), NnError> {
    let [rows, cols] = block;
    if rows == 0 || cols == 0 {
        return Err(NnError::State(format!(
            "block {rows}x{cols} must have positive sides"
        )));
    }
    if kernel.len() != inputs * units {
        return Err(NnError::Shape(format!(
            "a [{inputs}, {units}] kernel needs {} values, got {}",
            inputs * units,
            kernel.len()
        )));
    }
    let (full_in, full_units) = (inputs / cols, units / rows);
    if full_in == 0 || full_units == 0 {
        return Err(NnError::State(format!(
            "block {rows}x{cols} does not fit a kernel of {units} units × {inputs} inputs"
        )));
    }
    // Pooled means of the full blocks, indexed [input block][unit block].
    let mut pooled = vec![0.0f32; full_in * full_units];
    for bi in 0..full_in {
        for bo in 0..full_units {
            let mut sum = 0.0f32;
            for i in bi * cols..(bi + 1) * cols {
                let row = &kernel[i * units + bo * rows..i * units + (bo + 1) * rows];
                sum += row.iter().map(|w| w.abs()).sum::<f32>();
            }
            pooled[bi * full_units + bo] = sum / (rows * cols) as f32;
        }
    }
    let keep_blocks = magnitude_mask(&pooled, kept_count(pooled.len(), sparsity));
    let mut mask = vec![false; kernel.len()];
    for i in 0..full_in * cols {
        for o in 0..full_units * rows {
            mask[i * units + o] = keep_blocks[(i / cols) * full_units + o / rows];
        }
    }
    let partial = kernel.len() - full_in * cols * full_units * rows;
    Ok((mask, partial))
}

/// One line for people, e.g. "polynomial decay 0.5 → 0.8 (power 3) over steps 0..=844,
/// masks every 100 steps".
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Schedule::PolynomialDecay {
                initial_sparsity,
                final_sparsity,
                begin_step,
                end_step,
                power,
                frequency,
            } => write!(
                f,
                "polynomial decay {initial_sparsity} → {final_sparsity} (power {power}) over steps {begin_step}..={end_step}, masks every {frequency} steps"
            ),
            Schedule::ConstantSparsity {
                target_sparsity,
                begin_step,
                end_step,
                frequency,
            } => write!(
                f,
                "constant {target_sparsity} from step {begin_step}{}, masks every {frequency} steps",
                end_step.map_or(String::new(), |e| format!(" to {e}"))
            ),
        }
    }
}

/// The sparsity reached by one pruned kernel.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LayerSparsity {
    pub layer: String,
    /// Always `kernel`; named so the record says which weight.
    pub weight: String,
    /// `[rows, cols]` in TFLite's [out, in] layout when block-pruned; `None` for an
    /// element mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<[usize; 2]>,
    pub weights: usize,
    /// Weights that are exactly zero.
    pub zeros: usize,
    /// Weights zeroed because their block does not fill a whole window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub partial_block_weights: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl LayerSparsity {
    pub fn sparsity(&self) -> f32 {
        self.zeros as f32 / self.weights.max(1) as f32
    }
}

/// How a model was pruned, stored in `model.json` as `training.pruning`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PruningRecord {
    pub schedule: Schedule,
    /// The block requested for Dense kernels (`[rows, cols]`, TFLite [out, in]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<[usize; 2]>,
    /// Optimizer steps of the pruning run.
    pub steps: u64,
    pub layers: Vec<LayerSparsity>,
}

struct KernelMask {
    layer: String,
    layer_index: usize,
    param_index: usize,
    /// Keras Dense `[inputs, units]` when this kernel is block-pruned.
    block_geometry: Option<(usize, usize, [usize; 2])>,
    keep: Vec<bool>,
    partial_block_weights: usize,
}

/// The masks of one pruning run and its step counter. Use it as the [`Callback`] of
/// [`fit`], or call [`Pruner::before_step`] / [`Pruner::after_step`] around
/// `train_step` in a custom loop.
pub struct Pruner {
    schedule: Schedule,
    block: Option<[usize; 2]>,
    kernels: Vec<KernelMask>,
    step: u64,
    last_sparsity: Option<f32>,
}

impl Pruner {
    /// Masks for every Conv2D and Dense kernel of `model`, all ones at first except the
    /// partial blocks of block-pruned Dense kernels, which are masked from the start.
    /// `block` applies to Dense kernels only (`[1, 1]` means element masks); fails if a
    /// Dense kernel cannot hold one whole block or the model has nothing to prune.
    pub fn new(
        model: &Sequential,
        schedule: Schedule,
        block: Option<[usize; 2]>,
    ) -> Result<Self, NnError> {
        Self::with_layers(model, schedule, block, None)
    }

    /// [`Pruner::new`] restricted to the Conv2D / Dense layers named in `only` (all of
    /// them when `None`); a name that is not a prunable layer is an error.
    pub fn with_layers(
        model: &Sequential,
        schedule: Schedule,
        block: Option<[usize; 2]>,
        only: Option<&[String]>,
    ) -> Result<Self, NnError> {
        schedule.validate()?;
        if let Some(only) = only {
            for name in only {
                let prunable = model.layer(name).is_some_and(|l| {
                    matches!(l.spec(), LayerSpec::Dense(_) | LayerSpec::Conv2D(_))
                });
                if !prunable {
                    return Err(NnError::State(format!(
                        "{name:?} is not a Conv2D or Dense layer of the model"
                    )));
                }
            }
        }
        let block = block.filter(|&b| b != [1, 1]);
        let mut kernels = Vec::new();
        for (layer_index, layer) in model.layers().iter().enumerate() {
            let is_dense = match layer.spec() {
                LayerSpec::Dense(_) => true,
                LayerSpec::Conv2D(_) => false,
                _ => continue,
            };
            if only.is_some_and(|only| !only.iter().any(|n| n == layer.name())) {
                continue;
            }
            let Some(param_index) = layer.params().iter().position(|p| p.name == "kernel") else {
                continue;
            };
            let param = &layer.params()[param_index];
            let mut kernel = KernelMask {
                layer: layer.name().to_string(),
                layer_index,
                param_index,
                block_geometry: None,
                keep: vec![true; param.value.len()],
                partial_block_weights: 0,
            };
            if let (true, Some(block), &[inputs, units]) = (is_dense, block, param.shape.as_slice())
            {
                // Zero sparsity keeps every full block, leaving the partial ones masked.
                let ones = vec![1.0; param.value.len()];
                let (keep, partial) = block_mask(&ones, inputs, units, block, 0.0)
                    .map_err(|e| super::layer_err(layer.name(), e.to_string()))?;
                kernel.keep = keep;
                kernel.partial_block_weights = partial;
                kernel.block_geometry = Some((inputs, units, block));
            }
            kernels.push(kernel);
        }
        if kernels.is_empty() {
            return Err(NnError::State(
                "the model has no Conv2D or Dense kernel to prune".into(),
            ));
        }
        Ok(Pruner {
            schedule,
            block,
            kernels,
            step: 0,
            last_sparsity: None,
        })
    }

    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The block used for Dense kernels (`None` for element masks).
    pub fn block(&self) -> Option<[usize; 2]> {
        self.block
    }

    /// The next step to run (steps taken so far).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The schedule's sparsity at the last mask update (`None` before the first).
    pub fn target_sparsity(&self) -> Option<f32> {
        self.last_sparsity
    }

    /// The fraction of all pruned kernels' weights that the masks zero.
    pub fn masked_fraction(&self) -> f32 {
        let total: usize = self.kernels.iter().map(|k| k.keep.len()).sum();
        let masked: usize = self
            .kernels
            .iter()
            .map(|k| k.keep.iter().filter(|&&m| !m).count())
            .sum();
        masked as f32 / total.max(1) as f32
    }

    /// Weights per layer that sit in partial blocks (always masked), for the layers
    /// that have any.
    pub fn partial_block_weights(&self) -> Vec<(String, usize)> {
        self.kernels
            .iter()
            .filter(|k| k.partial_block_weights > 0)
            .map(|k| (k.layer.clone(), k.partial_block_weights))
            .collect()
    }

    fn kernel_values<'m>(
        model: &'m mut Sequential,
        k: &KernelMask,
    ) -> Result<&'m mut Vec<f32>, NnError> {
        let lost = || {
            NnError::State(format!(
                "the pruner's masks belong to another model (no kernel for {})",
                k.layer
            ))
        };
        let layer = model.layers_mut().get_mut(k.layer_index).ok_or_else(lost)?;
        if layer.name() != k.layer {
            return Err(lost());
        }
        let param = layer.params_mut().get_mut(k.param_index).ok_or_else(lost)?;
        if param.value.len() != k.keep.len() {
            return Err(lost());
        }
        Ok(&mut param.value)
    }

    /// Recomputes every mask from the current weights for `sparsity`.
    pub fn update_masks(&mut self, model: &mut Sequential, sparsity: f32) -> Result<(), NnError> {
        for k in &mut self.kernels {
            let values = Self::kernel_values(model, k)?;
            k.keep = match k.block_geometry {
                Some((inputs, units, block)) => {
                    block_mask(values, inputs, units, block, sparsity)?.0
                }
                None => magnitude_mask(values, kept_count(values.len(), sparsity)),
            };
        }
        self.last_sparsity = Some(sparsity);
        Ok(())
    }

    /// Zeroes every masked weight (exactly +0.0).
    pub fn apply(&self, model: &mut Sequential) -> Result<(), NnError> {
        for k in &self.kernels {
            let values = Self::kernel_values(model, k)?;
            for (w, &keep) in values.iter_mut().zip(&k.keep) {
                if !keep {
                    *w = 0.0;
                }
            }
        }
        Ok(())
    }

    /// The zeros now in each pruned kernel of `model`.
    pub fn report(&self, model: &mut Sequential) -> Result<Vec<LayerSparsity>, NnError> {
        let mut out = Vec::with_capacity(self.kernels.len());
        for k in &self.kernels {
            let values = Self::kernel_values(model, k)?;
            out.push(LayerSparsity {
                layer: k.layer.clone(),
                weight: "kernel".into(),
                block: k.block_geometry.map(|(_, _, b)| b),
                weights: values.len(),
                zeros: values.iter().filter(|&&w| w == 0.0).count(),
                partial_block_weights: k.partial_block_weights,
            });
        }
        Ok(out)
    }
}

impl Callback for Pruner {
    fn before_step(&mut self, model: &mut Sequential) -> Result<(), NnError> {
        if self.schedule.should_prune(self.step) {
            let sparsity = self.schedule.sparsity(self.step);
            self.update_masks(model, sparsity)?;
        }
        self.apply(model)
    }

    fn after_step(&mut self, model: &mut Sequential) -> Result<(), NnError> {
        self.step += 1;
        self.apply(model)
    }
}

/// Progress of a pruning run; `sparsity` is the fraction of the prunable weights the
/// masks currently zero.
pub trait PruneProgress {
    fn on_batch_end(&mut self, _progress: &BatchProgress, _sparsity: f32) {}
    fn on_epoch_end(&mut self, _summary: &EpochSummary, _sparsity: f32) {}
}

impl PruneProgress for NoCallback {}

/// What [`prune`] needs besides the model and data.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneConfig {
    pub schedule: Schedule,
    /// `[rows, cols]` blocks for Dense kernels in TFLite's [out, in] layout; Conv2D
    /// kernels always get element masks.
    pub block: Option<[usize; 2]>,
    /// The Conv2D / Dense layers to prune; `None` prunes all of them (TFMOT's
    /// whole-model `prune_low_magnitude`).
    pub layers: Option<Vec<String>>,
    /// Of the fresh Adam optimizer.
    pub learning_rate: f32,
    pub fit: FitConfig,
}

/// What a pruning run did.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneReport {
    pub layers: Vec<LayerSparsity>,
    pub history: History,
    pub steps: u64,
    /// Training samples after the validation split.
    pub train_samples: usize,
}

impl PruneReport {
    pub fn record(&self, config: &PruneConfig) -> PruningRecord {
        PruningRecord {
            schedule: config.schedule.clone(),
            block: config.block.filter(|&b| b != [1, 1]),
            steps: self.steps,
            layers: self.layers.clone(),
        }
    }
}

/// Optimizer steps `fit` takes on `samples` samples: ceil(train samples / batch) per
/// epoch — the `end_step` that makes a schedule finish with the run.
pub fn fit_steps(samples: usize, config: &FitConfig) -> u64 {
    let train = training_samples(samples, config.validation_split);
    (train.div_ceil(config.batch_size.max(1)) * config.epochs) as u64
}

struct Driver<'a> {
    pruner: Pruner,
    progress: &'a mut dyn PruneProgress,
}

impl Callback for Driver<'_> {
    fn before_step(&mut self, model: &mut Sequential) -> Result<(), NnError> {
        self.pruner.before_step(model)
    }
    fn after_step(&mut self, model: &mut Sequential) -> Result<(), NnError> {
        self.pruner.after_step(model)
    }
    fn on_batch_end(&mut self, p: &BatchProgress) {
        self.progress.on_batch_end(p, self.pruner.masked_fraction());
    }
    fn on_epoch_end(&mut self, s: &EpochSummary) {
        self.progress.on_epoch_end(s, self.pruner.masked_fraction());
    }
}

/// The layers a pruning run prunes unless told otherwise: with a block format
/// (`block` other than 1×1) the Dense layers only, since an int8 `.tflite` stores only
/// FULLY_CONNECTED weights sparse (in 1×16 blocks) and a pruned Conv2D kernel would cost
/// accuracy without making that file any smaller; otherwise every Conv2D and Dense
/// layer (`None`), as TFMOT's whole-model `prune_low_magnitude`.
pub fn default_layers(model: &Sequential, block: Option<[usize; 2]>) -> Option<Vec<String>> {
    block.filter(|&b| b != [1, 1])?;
    Some(
        model
            .layers()
            .iter()
            .filter(|l| matches!(l.spec(), LayerSpec::Dense(_)))
            .map(|l| l.name().to_string())
            .collect(),
    )
}

/// Fine-tunes `model` on `data` with a fresh Adam while pruning it (TFMOT's
/// `prune_low_magnitude` + `fit` + `strip_pruning`): when it returns, the masked
/// kernel weights are exact zeros and the model is an ordinary one to save.
pub fn prune(
    model: &mut Sequential,
    data: &Dataset,
    config: &PruneConfig,
    progress: &mut dyn PruneProgress,
) -> Result<PruneReport, NnError> {
    if !(config.learning_rate > 0.0 && config.learning_rate.is_finite()) {
        return Err(NnError::State(format!(
            "the learning rate must be a positive number, got {}",
            config.learning_rate
        )));
    }
    let pruner = Pruner::with_layers(
        model,
        config.schedule.clone(),
        config.block,
        config.layers.as_deref(),
    )?;
    let mut driver = Driver { pruner, progress };
    let mut optimizer = Adam::new(config.learning_rate);
    let history = fit(
        model,
        &mut optimizer,
        &mut SparseCategoricalCrossentropy,
        data,
        &config.fit,
        &mut driver,
    )?;
    // A run too short to reach `begin_step` leaves all-ones masks; the partial blocks
    // must still be zero for the block encoder.
    driver.pruner.apply(model)?;
    Ok(PruneReport {
        layers: driver.pruner.report(model)?,
        history,
        steps: driver.pruner.step(),
        train_samples: training_samples(data.len(), config.fit.validation_split),
    })
}
