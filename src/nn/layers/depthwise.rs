//! Keras `DepthwiseConv2D`: each input channel convolved with its own
//! `depth_multiplier` filters, one sample per task.

use rayon::prelude::*;

use super::{
    add_bias, column_sums, kernel_and_bias, layer_err, no_cache, positive_pair, weight, Activation,
    DepthwiseConv2DConfig, Layer, Mode, Param,
};
use crate::nn::conv::{self, Geom};
use crate::nn::rng::Rng;
use crate::nn::NnError;

/// What a training-mode forward keeps for backward.
#[derive(Clone, Debug)]
struct DepthwiseCache {
    x: Vec<f32>,
    /// The output after the activation; empty for a linear one.
    y: Vec<f32>,
}

#[derive(Clone, Debug)]
pub(super) struct DepthwiseConv2D {
    geom: Geom,
    depth_multiplier: usize,
    activation: Activation,
    use_bias: bool,
    /// `depthwise_kernel` [kh, kw, in, mult], then `bias` [in·mult] when `use_bias`.
    params: Vec<Param>,
    cache: Option<DepthwiseCache>,
}

impl DepthwiseConv2D {
    /// The layer and its per-sample output shape.
    pub(super) fn new(
        name: &str,
        c: &DepthwiseConv2DConfig,
        input_shape: &[usize],
        rng: &mut Rng,
    ) -> Result<(Self, Vec<usize>), NnError> {
        positive_pair(name, "kernel_size", c.kernel_size)?;
        if c.depth_multiplier == 0 {
            return Err(layer_err(name, "depth_multiplier must be positive"));
        }
        let g = Geom::new(
            name,
            input_shape,
            c.kernel_size,
            c.strides,
            c.dilation_rate,
            c.padding,
        )?;
        let kernel_shape = vec![c.kernel_size[0], c.kernel_size[1], g.c, c.depth_multiplier];
        let oc = g.c * c.depth_multiplier;
        let params = kernel_and_bias("depthwise_kernel", kernel_shape, oc, c.use_bias, rng);
        let layer = DepthwiseConv2D {
            geom: g,
            depth_multiplier: c.depth_multiplier,
            activation: c.activation,
            use_bias: c.use_bias,
            params,
            cache: None,
        };
        Ok((layer, vec![g.oh, g.ow, oc]))
    }
}

impl Layer for DepthwiseConv2D {
    fn forward(&mut self, x: Vec<f32>, batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let g = self.geom;
        let mult = self.depth_multiplier;
        let oc = g.c * mult;
        let per_out = g.oh * g.ow * oc;
        let mut y = vec![0.0f32; batch * per_out];
        let kernel = weight(&self.params, 0);
        y.par_chunks_mut(per_out)
            .zip(x.par_chunks(g.in_len()))
            .for_each(|(ys, xs)| conv::depthwise_sample(&g, mult, xs, kernel, ys));
        if self.use_bias {
            add_bias(&mut y, weight(&self.params, 1));
        }
        self.activation.apply(&mut y, oc);
        self.cache = mode.training.then(|| DepthwiseCache {
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
        batch: usize,
        need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let g = self.geom;
        let cache = self
            .cache
            .as_ref()
            .ok_or_else(|| no_cache("DepthwiseConv2D"))?;
        let mult = self.depth_multiplier;
        let oc = g.c * mult;
        let mut dz = dy;
        self.activation.backward(&cache.y, &mut dz, oc);
        let (kp, rest) = self.params.split_at_mut(1);
        if let Some(bias) = rest.first_mut() {
            column_sums(&dz, oc, &mut bias.grad);
        }
        let kp = &mut kp[0];
        let per_in = g.in_len();
        let per_out = g.oh * g.ow * oc;
        let chunk = conv::sample_chunk(batch);
        let mut dx = if need_dx {
            vec![0.0f32; batch * per_in]
        } else {
            Vec::new()
        };
        let kernel = &kp.value;
        let klen = kernel.len();
        let x = &cache.x;
        // Each task sums the kernel gradient of its chunk of samples; the partial sums
        // are added in chunk order below, so the result does not depend on threads.
        let sample = |n: usize, dk: &mut [f32], dxs: Option<&mut [f32]>| {
            conv::depthwise_backward_sample(
                &g,
                mult,
                &x[n * per_in..][..per_in],
                kernel,
                &dz[n * per_out..][..per_out],
                dk,
                dxs,
            )
        };
        let partials: Vec<Vec<f32>> = if need_dx {
            dx.par_chunks_mut(chunk * per_in)
                .enumerate()
                .map(|(i, dxs)| {
                    let mut dk = vec![0.0f32; klen];
                    for (s, dxs) in dxs.chunks_mut(per_in).enumerate() {
                        sample(i * chunk + s, &mut dk, Some(dxs));
                    }
                    dk
                })
                .collect()
        } else {
            (0..batch.div_ceil(chunk))
                .into_par_iter()
                .map(|i| {
                    let mut dk = vec![0.0f32; klen];
                    for n in i * chunk..((i + 1) * chunk).min(batch) {
                        sample(n, &mut dk, None);
                    }
                    dk
                })
                .collect()
        };
        kp.grad.fill(0.0);
        for part in &partials {
            kp.grad.iter_mut().zip(part).for_each(|(g, p)| *g += p);
        }
        Ok(need_dx.then_some(dx))
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
