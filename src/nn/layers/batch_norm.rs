//! Keras `BatchNormalization` on the last axis, and its folding into the layer before
//! it for export.

use super::{layer_err, no_cache, Layer, Mode, Param};
use crate::nn::NnError;

/// What a training-mode forward keeps for backward.
#[derive(Clone, Debug)]
struct BatchNormCache {
    /// The normalized input `(x - mean)·inv_std`.
    xhat: Vec<f32>,
    /// `1/sqrt(var + epsilon)` of the batch, per channel.
    inv_std: Vec<f32>,
}

/// Training uses the batch statistics (biased variance) and updates
/// `moving = moving·momentum + batch·(1-momentum)`; inference uses the moving ones.
#[derive(Clone, Debug)]
pub(super) struct BatchNormalization {
    momentum: f32,
    epsilon: f32,
    channels: usize,
    /// `gamma`, `beta`, `moving_mean`, `moving_variance` (the last two not trainable).
    params: Vec<Param>,
    cache: Option<BatchNormCache>,
}

impl BatchNormalization {
    pub(super) fn new(
        name: &str,
        momentum: f32,
        epsilon: f32,
        input_shape: &[usize],
    ) -> Result<Self, NnError> {
        let last = input_shape.last().copied().unwrap_or(0);
        if last == 0 || epsilon <= 0.0 || epsilon.is_nan() || !(0.0..=1.0).contains(&momentum) {
            return Err(layer_err(name, format!("needs a non-empty last axis, epsilon > 0 and momentum in [0, 1] (input {input_shape:?}, epsilon {epsilon}, momentum {momentum})")));
        }
        let params = vec![
            Param::new("gamma", vec![last], vec![1.0; last], true),
            Param::new("beta", vec![last], vec![0.0; last], true),
            Param::new("moving_mean", vec![last], vec![0.0; last], false),
            Param::new("moving_variance", vec![last], vec![1.0; last], false),
        ];
        Ok(BatchNormalization {
            momentum,
            epsilon,
            channels: last,
            params,
            cache: None,
        })
    }
}

impl Layer for BatchNormalization {
    fn forward(&mut self, mut x: Vec<f32>, _batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let (c, momentum, epsilon) = (self.channels, self.momentum, self.epsilon);
        let rows = x.len() / c;
        self.cache = None;
        let [gamma, beta, moving_mean, moving_var] = &mut self.params[..] else {
            return Ok(x);
        };
        if !mode.training {
            let scale: Vec<f32> = (0..c)
                .map(|i| gamma.value[i] / (moving_var.value[i] + epsilon).sqrt())
                .collect();
            for row in x.chunks_mut(c) {
                for i in 0..c {
                    row[i] = (row[i] - moving_mean.value[i]) * scale[i] + beta.value[i];
                }
            }
            return Ok(x);
        }
        // Statistics in f64, summed in row order: accurate and order-fixed.
        let mut mean = vec![0.0f64; c];
        for row in x.chunks(c) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
        let mut var = vec![0.0f64; c];
        for row in x.chunks(c) {
            for i in 0..c {
                let d = f64::from(row[i]) - mean[i];
                var[i] += d * d;
            }
        }
        var.iter_mut().for_each(|v| *v /= rows.max(1) as f64);
        let inv_std: Vec<f32> = var
            .iter()
            .map(|&v| (1.0 / (v + f64::from(epsilon)).sqrt()) as f32)
            .collect();
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let mut xhat = x;
        for row in xhat.chunks_mut(c) {
            for i in 0..c {
                row[i] = (row[i] - mean32[i]) * inv_std[i];
            }
        }
        let mut y = xhat.clone();
        for row in y.chunks_mut(c) {
            for ((v, g), b) in row.iter_mut().zip(&gamma.value).zip(&beta.value) {
                *v = *v * g + b;
            }
        }
        for i in 0..c {
            moving_mean.value[i] = moving_mean.value[i] * momentum + mean32[i] * (1.0 - momentum);
            moving_var.value[i] = moving_var.value[i] * momentum + var[i] as f32 * (1.0 - momentum);
        }
        self.cache = Some(BatchNormCache { xhat, inv_std });
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let c = self.channels;
        let BatchNormCache { xhat, inv_std } = self
            .cache
            .as_ref()
            .ok_or_else(|| no_cache("BatchNormalization"))?;
        let rows = dy.len() / c;
        let mut dgamma = vec![0.0f64; c];
        let mut dbeta = vec![0.0f64; c];
        for (gy, xh) in dy.chunks(c).zip(xhat.chunks(c)) {
            for i in 0..c {
                dgamma[i] += f64::from(gy[i]) * f64::from(xh[i]);
                dbeta[i] += f64::from(gy[i]);
            }
        }
        let (gp, rest) = self.params.split_at_mut(1);
        let gamma = &mut gp[0];
        let mut dx = dy;
        let n = rows as f32;
        for (d, xh) in dx.chunks_mut(c).zip(xhat.chunks(c)) {
            for i in 0..c {
                let s = gamma.value[i] * inv_std[i] / n;
                d[i] = s * (n * d[i] - dbeta[i] as f32 - xh[i] * dgamma[i] as f32);
            }
        }
        gamma
            .grad
            .iter_mut()
            .zip(&dgamma)
            .for_each(|(g, v)| *g = *v as f32);
        if let Some(beta) = rest.first_mut() {
            beta.grad
                .iter_mut()
                .zip(&dbeta)
                .for_each(|(g, v)| *g = *v as f32);
        }
        Ok(Some(dx))
    }

    fn params(&self) -> &[Param] {
        &self.params
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// Folds an inference-mode BatchNormalization into the preceding Conv2D /
/// DepthwiseConv2D / Dense weights: with `s = gamma / sqrt(var + eps)` per output
/// channel, `kernel' = kernel·s` and `bias' = (bias - mean)·s + beta`. The output
/// channel is the fastest-varying index of all three Keras kernel layouts (for
/// depthwise, channel `ci·mult + m` is the flat index of the last two axes), so the
/// channel of kernel element `i` is `i % channels`. `bias: None` means no bias (zero).
pub fn fold_batch_norm(
    kernel: &[f32],
    bias: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    moving_mean: &[f32],
    moving_variance: &[f32],
    epsilon: f32,
) -> Result<(Vec<f32>, Vec<f32>), NnError> {
    let c = gamma.len();
    if c == 0
        || beta.len() != c
        || moving_mean.len() != c
        || moving_variance.len() != c
        || !kernel.len().is_multiple_of(c)
        || bias.is_some_and(|b| b.len() != c)
    {
        return Err(NnError::Shape(format!(
            "cannot fold a {c}-channel BatchNormalization into a kernel of {} values",
            kernel.len()
        )));
    }
    let scale: Vec<f32> = gamma
        .iter()
        .zip(moving_variance)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let folded_kernel = kernel
        .iter()
        .enumerate()
        .map(|(i, w)| w * scale[i % c])
        .collect();
    let folded_bias = (0..c)
        .map(|i| (bias.map_or(0.0, |b| b[i]) - moving_mean[i]) * scale[i] + beta[i])
        .collect();
    Ok((folded_kernel, folded_bias))
}
