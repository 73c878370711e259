//! Activations: the [`Activation`] fused into Conv2D / DepthwiseConv2D / Dense, and the
//! layers that are only an activation (`Activation`, `ReLU`, `LeakyReLU`).

use serde::{Deserialize, Serialize};

use super::{layer_err, no_cache, Layer, Mode};
use crate::nn::NnError;

/// An activation, fused into Conv2D / DepthwiseConv2D / Dense (Keras `activation=`)
/// or as a layer of its own ([`crate::nn::LayerSpec::Activation`]). Softmax acts on the last axis.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    Softmax,
}

impl Activation {
    /// Applies in place to rows of `channels` values.
    pub(crate) fn apply(self, data: &mut [f32], channels: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => data.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Relu6 => data.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
            Activation::Sigmoid => data.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => data.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Softmax => {
                for row in data.chunks_mut(channels.max(1)) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0f32;
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    row.iter_mut().for_each(|v| *v /= sum);
                }
            }
        }
    }

    /// Turns the output gradient `dy` into the pre-activation gradient, in place, from
    /// the activation's output `y` (every derivative here is a function of it).
    pub(crate) fn backward(self, y: &[f32], dy: &mut [f32], channels: usize) {
        match self {
            Activation::Linear => {}
            // Selects rather than branches, so the loops vectorize.
            Activation::Relu => dy
                .iter_mut()
                .zip(y)
                .for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
            Activation::Relu6 => dy
                .iter_mut()
                .zip(y)
                .for_each(|(d, &y)| *d = if y > 0.0 && y < 6.0 { *d } else { 0.0 }),
            Activation::Sigmoid => dy.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (1.0 - y)),
            Activation::Tanh => dy.iter_mut().zip(y).for_each(|(d, &y)| *d *= 1.0 - y * y),
            Activation::Softmax => {
                let c = channels.max(1);
                for (d, y) in dy.chunks_mut(c).zip(y.chunks(c)) {
                    let dot: f32 = d.iter().zip(y).map(|(a, b)| a * b).sum();
                    d.iter_mut().zip(y).for_each(|(d, &y)| *d = y * (*d - dot));
                }
            }
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Keras `ReLU`: `max(x, 0)`, capped at `max_value` when given.
#[derive(Clone, Debug)]
pub(super) struct Relu {
    cap: f32,
    /// The input of the last training-mode forward: the derivative is a function of it.
    input: Option<Vec<f32>>,
}

impl Relu {
    pub(super) fn new(name: &str, max_value: Option<f32>) -> Result<Self, NnError> {
        if matches!(max_value, Some(m) if m.is_nan() || m <= 0.0) {
            return Err(layer_err(name, "max_value must be positive"));
        }
        Ok(Relu {
            cap: max_value.unwrap_or(f32::INFINITY),
            input: None,
        })
    }
}

impl Layer for Relu {
    fn forward(&mut self, x: Vec<f32>, _batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let cap = self.cap;
        let y = x.iter().map(|v| v.max(0.0).min(cap)).collect();
        self.input = mode.training.then_some(x);
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let x = self.input.as_ref().ok_or_else(|| no_cache("ReLU"))?;
        let cap = self.cap;
        let mut dx = dy;
        dx.iter_mut().zip(x).for_each(|(d, &x)| {
            if !(x > 0.0 && x < cap) {
                *d = 0.0
            }
        });
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// Keras `LeakyReLU`: `x` for x > 0, `alpha·x` otherwise.
#[derive(Clone, Debug)]
pub(super) struct LeakyRelu {
    alpha: f32,
    /// The input of the last training-mode forward: the derivative is a function of it.
    input: Option<Vec<f32>>,
}

impl LeakyRelu {
    pub(super) fn new(alpha: f32) -> Self {
        LeakyRelu { alpha, input: None }
    }
}

impl Layer for LeakyRelu {
    fn forward(&mut self, x: Vec<f32>, _batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let alpha = self.alpha;
        let y = x
            .iter()
            .map(|&v| if v > 0.0 { v } else { alpha * v })
            .collect();
        self.input = mode.training.then_some(x);
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let x = self.input.as_ref().ok_or_else(|| no_cache("LeakyReLU"))?;
        let alpha = self.alpha;
        let mut dx = dy;
        dx.iter_mut().zip(x).for_each(|(d, &x)| {
            if x <= 0.0 {
                *d *= alpha
            }
        });
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// Keras `Activation`: an [`Activation`] as a layer of its own, on the last axis.
#[derive(Clone, Debug)]
pub(super) struct ActivationLayer {
    activation: Activation,
    /// The size of the last axis (softmax's rows).
    channels: usize,
    /// The output of the last training-mode forward: every derivative is a function of it.
    output: Option<Vec<f32>>,
}

impl ActivationLayer {
    pub(super) fn new(activation: Activation, input_shape: &[usize]) -> Self {
        ActivationLayer {
            activation,
            channels: input_shape.last().copied().unwrap_or(1),
            output: None,
        }
    }
}

impl Layer for ActivationLayer {
    fn forward(&mut self, x: Vec<f32>, _batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let mut y = x;
        self.activation.apply(&mut y, self.channels);
        self.output = mode.training.then(|| y.clone());
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let y = self.output.as_ref().ok_or_else(|| no_cache("Activation"))?;
        let mut dx = dy;
        self.activation.backward(y, &mut dx, self.channels);
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
