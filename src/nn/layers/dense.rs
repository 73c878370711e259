//! Keras `Dense`: `y = act(x·kernel + bias)` on the last axis.

use super::{
    add_bias, column_sums, kernel_and_bias, layer_err, no_cache, weight, Activation, DenseConfig,
    Layer, Mode, Param,
};
use crate::nn::gemm::{par_gemm, Mat};
use crate::nn::rng::Rng;
use crate::nn::NnError;

/// What a training-mode forward keeps for backward.
#[derive(Clone, Debug)]
struct DenseCache {
    x: Vec<f32>,
    /// The output after the activation; empty for a linear one, whose derivative
    /// needs no output.
    y: Vec<f32>,
}

#[derive(Clone, Debug)]
pub(super) struct Dense {
    units: usize,
    activation: Activation,
    use_bias: bool,
    /// `kernel` [in, units], then `bias` [units] when `use_bias`.
    params: Vec<Param>,
    cache: Option<DenseCache>,
}

impl Dense {
    /// The layer and its per-sample output shape (the input's, last axis `units`).
    pub(super) fn new(
        name: &str,
        c: &DenseConfig,
        input_shape: &[usize],
        rng: &mut Rng,
    ) -> Result<(Self, Vec<usize>), NnError> {
        let last = input_shape.last().copied().unwrap_or(0);
        if last == 0 || c.units == 0 {
            return Err(layer_err(
                name,
                format!("needs units > 0 and a non-empty last axis, got input {input_shape:?}"),
            ));
        }
        let params = kernel_and_bias("kernel", vec![last, c.units], c.units, c.use_bias, rng);
        let mut output_shape = input_shape.to_vec();
        if let Some(l) = output_shape.last_mut() {
            *l = c.units;
        }
        let layer = Dense {
            units: c.units,
            activation: c.activation,
            use_bias: c.use_bias,
            params,
            cache: None,
        };
        Ok((layer, output_shape))
    }
}

impl Layer for Dense {
    fn forward(&mut self, x: Vec<f32>, _batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let inner = self.params.first().map(|p| p.shape[0]).unwrap_or(1);
        let rows = x.len() / inner;
        let mut y = vec![0.0f32; rows * self.units];
        par_gemm(
            rows,
            inner,
            self.units,
            Mat::rows(&x, inner),
            Mat::rows(weight(&self.params, 0), self.units),
            &mut y,
        );
        if self.use_bias {
            add_bias(&mut y, weight(&self.params, 1));
        }
        self.activation.apply(&mut y, self.units);
        self.cache = mode.training.then(|| DenseCache {
            y: if self.activation != Activation::Linear {
                y.clone()
            } else {
                Vec::new()
            },
            x,
        });
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let cache = self.cache.as_ref().ok_or_else(|| no_cache("Dense"))?;
        let units = self.units;
        let mut dz = dy;
        self.activation.backward(&cache.y, &mut dz, units);
        let (kp, rest) = self.params.split_at_mut(1);
        if let Some(bias) = rest.first_mut() {
            column_sums(&dz, units, &mut bias.grad);
        }
        let kp = &mut kp[0];
        let inner = kp.shape[0];
        let rows = dz.len() / units;
        par_gemm(
            inner,
            rows,
            units,
            Mat::transposed(&cache.x, inner),
            Mat::rows(&dz, units),
            &mut kp.grad,
        );
        if !need_dx {
            return Ok(None);
        }
        let mut dx = vec![0.0f32; rows * inner];
        par_gemm(
            rows,
            units,
            inner,
            Mat::rows(&dz, units),
            Mat::transposed(&kp.value, units),
            &mut dx,
        );
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
