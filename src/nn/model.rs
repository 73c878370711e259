//! `Sequential`: a chain of layers built from an input shape, with Keras naming,
//! output-shape inference, parameter counts and a serializable architecture.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::arch::{self, ArchLimits, ArchNeeds};
use super::rng::{derive, Rng};
use super::{layer_err, BuiltLayer, LayerSpec, Mode, NnError, Param, Tensor};

/// One layer of a [`ModelConfig`]: `{"name": "conv2d", "class_name": "Conv2D",
/// "config": {...}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LayerEntry {
    pub name: String,
    #[serde(flatten)]
    pub spec: LayerSpec,
}

/// The architecture of a [`Sequential`] (no weights), for model files.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    /// Per-sample input shape.
    pub input_shape: Vec<usize>,
    pub layers: Vec<LayerEntry>,
}

/// A Keras-style sequential model.
#[derive(Clone, Debug)]
pub struct Sequential {
    name: String,
    input_shape: Vec<usize>,
    layers: Vec<BuiltLayer>,
    seed: u64,
    step: u64,
    /// What the architecture needs per sample, for checking batch sizes.
    needs: ArchNeeds,
}

impl Sequential {
    /// Builds `specs` in order on per-sample `input_shape`, naming layers as Keras does
    /// (`conv2d`, `conv2d_1`, `dense`, ...) and initializing weights from `seed`.
    pub fn new(input_shape: &[usize], specs: Vec<LayerSpec>, seed: u64) -> Result<Self, NnError> {
        let mut counts: HashMap<&'static str, usize> = HashMap::new();
        let entries = specs
            .into_iter()
            .map(|spec| {
                let base = spec.default_name();
                let n = counts.entry(base).or_insert(0);
                let name = if *n == 0 {
                    base.to_string()
                } else {
                    format!("{base}_{n}")
                };
                *n += 1;
                LayerEntry { name, spec }
            })
            .collect();
        Self::from_config(
            &ModelConfig {
                name: "sequential".into(),
                input_shape: input_shape.to_vec(),
                layers: entries,
            },
            seed,
        )
    }

    /// Builds a model from an architecture, with fresh weights from `seed`, after
    /// [`arch::check`] with the limits of [`ArchLimits::from_env`].
    pub fn from_config(config: &ModelConfig, seed: u64) -> Result<Self, NnError> {
        Self::from_config_with_limits(config, seed, &ArchLimits::from_env()?)
    }

    /// [`Sequential::from_config`] with explicit limits.
    pub fn from_config_with_limits(
        config: &ModelConfig,
        seed: u64,
        limits: &ArchLimits,
    ) -> Result<Self, NnError> {
        // Every size is bounded before the first weight is allocated.
        let needs = arch::check(config, limits)?;
        let mut rng = Rng::new(derive(seed, u64::MAX));
        let mut shape = config.input_shape.clone();
        let mut layers = Vec::with_capacity(config.layers.len());
        for (index, entry) in config.layers.iter().enumerate() {
            if layers.iter().any(|l: &BuiltLayer| l.name() == entry.name) {
                return Err(layer_err(&entry.name, "duplicate layer name"));
            }
            let layer = BuiltLayer::new(
                entry.spec.clone(),
                entry.name.clone(),
                index,
                &shape,
                &mut rng,
            )?;
            shape = layer.output_shape().to_vec();
            layers.push(layer);
        }
        Ok(Sequential {
            name: config.name.clone(),
            input_shape: config.input_shape.clone(),
            layers,
            seed,
            step: 0,
            needs,
        })
    }

    /// What the architecture needs: weights, activation bytes per sample, limits.
    pub fn needs(&self) -> &ArchNeeds {
        &self.needs
    }

    /// Fails when a batch of `batch` samples would need more activation memory than the
    /// limits allow; `flag` names the setting to lower in the message.
    pub fn check_batch(&self, batch: usize, flag: &str) -> Result<(), NnError> {
        self.needs.check_batch(batch, flag)
    }

    pub fn config(&self) -> ModelConfig {
        ModelConfig {
            name: self.name.clone(),
            input_shape: self.input_shape.clone(),
            layers: self
                .layers
                .iter()
                .map(|l| LayerEntry {
                    name: l.name().to_string(),
                    spec: l.spec().clone(),
                })
                .collect(),
        }
    }

    /// The model rebuilt on `config`, keeping the weights of every layer whose name and
    /// weight shapes are unchanged (fresh weights elsewhere), its seed and its step count.
    pub fn rebuilt(&self, config: &ModelConfig) -> Result<Sequential, NnError> {
        let mut model = Sequential::from_config(config, self.seed)?;
        model.step = self.step;
        for layer in model.layers_mut() {
            let Some(old) = self.layer(layer.name()) else {
                continue;
            };
            let same = old.params().len() == layer.params().len()
                && old
                    .params()
                    .iter()
                    .zip(layer.params())
                    .all(|(a, b)| a.name == b.name && a.shape == b.shape);
            if same {
                for (new, old) in layer.params_mut().iter_mut().zip(old.params()) {
                    new.set(&old.value)?;
                }
            }
        }
        Ok(model)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn set_name(&mut self, name: &str) {
        self.name = name.to_string();
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> &[usize] {
        self.layers
            .last()
            .map(|l| l.output_shape())
            .unwrap_or(&self.input_shape)
    }

    pub fn layers(&self) -> &[BuiltLayer] {
        &self.layers
    }

    pub fn layers_mut(&mut self) -> &mut [BuiltLayer] {
        &mut self.layers
    }

    pub fn layer(&self, name: &str) -> Option<&BuiltLayer> {
        self.layers.iter().find(|l| l.name() == name)
    }

    pub fn layer_mut(&mut self, name: &str) -> Option<&mut BuiltLayer> {
        self.layers.iter_mut().find(|l| l.name() == name)
    }

    /// (trainable, non-trainable) weight counts.
    pub fn param_count(&self) -> (usize, usize) {
        self.layers.iter().fold((0, 0), |(t, n), l| {
            let (lt, ln) = l.param_count();
            (t + lt, n + ln)
        })
    }

    /// Trainable parameters in model order (the order optimizers key their state by).
    pub fn trainable_params_mut(&mut self) -> Vec<&mut Param> {
        self.layers
            .iter_mut()
            .flat_map(|l| l.params_mut().iter_mut())
            .filter(|p| p.trainable)
            .collect()
    }

    /// The weights holding NaN or infinite values, named `layer/param`.
    pub fn nonfinite_weights(&self) -> Vec<crate::ir::NonFinite> {
        self.layers
            .iter()
            .flat_map(|l| {
                l.params().iter().filter_map(move |p| {
                    crate::ir::NonFinite::of(
                        &format!("{}/{}", l.name(), p.name),
                        p.value.iter().copied(),
                    )
                })
            })
            .collect()
    }

    /// The seed that initialized the model (and drives its dropout streams).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Training-mode forward passes run so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Runs all layers on `[batch, input_shape...]`.
    pub fn forward(&mut self, x: Tensor, mode: Mode) -> Result<Tensor, NnError> {
        let mut x = x;
        for layer in &mut self.layers {
            x = layer.forward(x, mode)?;
        }
        Ok(x)
    }

    /// Training-mode forward with this step's dropout seed (derived from the model
    /// seed and a step counter, so a run is reproducible).
    pub fn forward_train(&mut self, x: Tensor) -> Result<Tensor, NnError> {
        let seed = derive(self.seed, self.step);
        self.step += 1;
        self.forward(x, Mode::train(seed))
    }

    /// Back-propagates the gradient of the loss with respect to the model output
    /// through the last training-mode forward, filling every trainable `Param::grad`.
    pub fn backward(&mut self, doutput: Tensor) -> Result<(), NnError> {
        let first_trainable = self
            .layers
            .iter()
            .position(|l| l.params().iter().any(|p| p.trainable))
            .unwrap_or(self.layers.len());
        let mut grad = doutput;
        for (i, layer) in self.layers.iter_mut().enumerate().rev() {
            if i < first_trainable {
                break;
            }
            match layer.backward(grad, i > first_trainable)? {
                Some(g) => grad = g,
                None => break,
            }
        }
        Ok(())
    }

    /// Backward that also returns the gradient with respect to the model input.
    pub fn backward_to_input(&mut self, doutput: Tensor) -> Result<Tensor, NnError> {
        let mut grad = doutput;
        for layer in self.layers.iter_mut().rev() {
            grad = layer
                .backward(grad, true)?
                .ok_or_else(|| NnError::State("layer returned no input gradient".into()))?;
        }
        Ok(grad)
    }

    /// Inference on `count` samples stored back to back in `x`, `batch_size` at a
    /// time; returns `[count, output_shape...]`.
    pub fn predict(&mut self, x: &[f32], batch_size: usize) -> Result<Tensor, NnError> {
        let per: usize = self.input_shape.iter().product();
        if per == 0 || !x.len().is_multiple_of(per) {
            return Err(NnError::Shape(format!(
                "{} values is not a whole number of {:?} samples",
                x.len(),
                self.input_shape
            )));
        }
        self.check_batch(batch_size.max(1).min(x.len() / per), "the batch size")?;
        let count = x.len() / per;
        let out_per: usize = self.output_shape().iter().product();
        let mut out = Vec::with_capacity(count * out_per);
        for chunk in x.chunks(per * batch_size.max(1)) {
            let mut shape = vec![chunk.len() / per];
            shape.extend_from_slice(&self.input_shape);
            let y = self.forward(Tensor::new(shape, chunk.to_vec())?, Mode::inference())?;
            out.extend_from_slice(&y.data);
        }
        let mut shape = vec![count];
        shape.extend_from_slice(self.output_shape());
        Tensor::new(shape, out)
    }

    /// A Keras-like `model.summary()` table.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "Model: \"{}\"", self.name);
        let _ = writeln!(
            s,
            "{:<34}{:<22}{:>10}",
            "Layer (type)", "Output Shape", "Param #"
        );
        let _ = writeln!(s, "{}", "=".repeat(66));
        for l in &self.layers {
            let (t, n) = l.param_count();
            let shape = format!(
                "(None, {})",
                l.output_shape()
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(
                s,
                "{:<34}{:<22}{:>10}",
                format!("{} ({})", l.name(), l.spec().class_name()),
                shape,
                t + n
            );
        }
        let (t, n) = self.param_count();
        let _ = writeln!(s, "{}", "=".repeat(66));
        let _ = writeln!(s, "Total params: {}", t + n);
        let _ = writeln!(s, "Trainable params: {t}");
        let _ = writeln!(s, "Non-trainable params: {n}");
        s
    }
}
