//! Keras `MaxPooling2D`, `AveragePooling2D` and `GlobalAveragePooling2D`, on the
//! window loops of `nn::pool`, one chunk of samples per task.

use rayon::prelude::*;

use super::{layer_err, no_cache, positive_pair, Layer, Mode, PoolConfig};
use crate::nn::conv::{self, Geom};
use crate::nn::{pool, NnError};

/// The window geometry of a pooling layer and its per-sample output shape.
fn pool_geom(
    name: &str,
    p: &PoolConfig,
    input_shape: &[usize],
) -> Result<(Geom, Vec<usize>), NnError> {
    positive_pair(name, "pool_size", p.pool_size)?;
    positive_pair(name, "strides", p.strides())?;
    let g = Geom::new(
        name,
        input_shape,
        p.pool_size,
        p.strides(),
        [1, 1],
        p.padding,
    )?;
    Ok((g, vec![g.oh, g.ow, g.c]))
}

#[derive(Clone, Debug)]
pub(super) struct MaxPooling2D {
    geom: Geom,
    /// For every output of the last training-mode forward, the input index that won.
    winners: Option<Vec<u32>>,
}

impl MaxPooling2D {
    pub(super) fn new(
        name: &str,
        p: &PoolConfig,
        input_shape: &[usize],
    ) -> Result<(Self, Vec<usize>), NnError> {
        let (geom, output_shape) = pool_geom(name, p, input_shape)?;
        Ok((
            MaxPooling2D {
                geom,
                winners: None,
            },
            output_shape,
        ))
    }
}

impl Layer for MaxPooling2D {
    fn forward(&mut self, x: Vec<f32>, batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        let g = self.geom;
        let per_out = g.oh * g.ow * g.c;
        let mut y = vec![0.0f32; batch * per_out];
        // Last step's buffer, reused.
        let mut idx = self.winners.take().unwrap_or_default();
        idx.resize(batch * per_out, 0);
        let chunk = conv::sample_chunk(batch);
        y.par_chunks_mut(chunk * per_out)
            .zip(idx.par_chunks_mut(chunk * per_out))
            .zip(x.par_chunks(chunk * g.in_len()))
            .for_each(|((ys, is), xs)| {
                for ((ys, is), xs) in ys
                    .chunks_mut(per_out)
                    .zip(is.chunks_mut(per_out))
                    .zip(xs.chunks(g.in_len()))
                {
                    pool::max_forward(&g, xs, ys, is)
                }
            });
        self.winners = mode.training.then_some(idx);
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let g = self.geom;
        let winners = self
            .winners
            .as_ref()
            .ok_or_else(|| no_cache("MaxPooling2D"))?;
        let per_out = g.oh * g.ow * g.c;
        let mut dx = vec![0.0f32; batch * g.in_len()];
        let chunk = conv::sample_chunk(batch);
        dx.par_chunks_mut(chunk * g.in_len())
            .zip(dy.par_chunks(chunk * per_out))
            .zip(winners.par_chunks(chunk * per_out))
            .for_each(|((d, gy), idx)| {
                for ((d, gy), idx) in d
                    .chunks_mut(g.in_len())
                    .zip(gy.chunks(per_out))
                    .zip(idx.chunks(per_out))
                {
                    pool::max_backward(gy, idx, d)
                }
            });
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

#[derive(Clone, Debug)]
pub(super) struct AveragePooling2D {
    geom: Geom,
}

impl AveragePooling2D {
    pub(super) fn new(
        name: &str,
        p: &PoolConfig,
        input_shape: &[usize],
    ) -> Result<(Self, Vec<usize>), NnError> {
        let (geom, output_shape) = pool_geom(name, p, input_shape)?;
        Ok((AveragePooling2D { geom }, output_shape))
    }
}

impl Layer for AveragePooling2D {
    fn forward(&mut self, x: Vec<f32>, batch: usize, _mode: Mode) -> Result<Vec<f32>, NnError> {
        let g = self.geom;
        let per_out = g.oh * g.ow * g.c;
        let mut y = vec![0.0f32; batch * per_out];
        y.par_chunks_mut(per_out)
            .zip(x.par_chunks(g.in_len()))
            .for_each(|(ys, xs)| pool::avg_forward(&g, xs, ys));
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let g = self.geom;
        let per_out = g.oh * g.ow * g.c;
        let mut dx = vec![0.0f32; batch * g.in_len()];
        dx.par_chunks_mut(g.in_len())
            .zip(dy.par_chunks(per_out))
            .for_each(|(d, gy)| pool::avg_backward(&g, gy, d));
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}

/// The mean over height and width of each channel.
#[derive(Clone, Debug)]
pub(super) struct GlobalAveragePooling2D {
    channels: usize,
    /// Pixels per sample (height × width).
    pixels: usize,
}

impl GlobalAveragePooling2D {
    pub(super) fn new(name: &str, input_shape: &[usize]) -> Result<(Self, Vec<usize>), NnError> {
        let &[h, w, c] = input_shape else {
            return Err(layer_err(
                name,
                format!("expects [height, width, channels], got {input_shape:?}"),
            ));
        };
        let layer = GlobalAveragePooling2D {
            channels: c,
            pixels: h * w,
        };
        Ok((layer, vec![c]))
    }
}

impl Layer for GlobalAveragePooling2D {
    fn forward(&mut self, x: Vec<f32>, batch: usize, _mode: Mode) -> Result<Vec<f32>, NnError> {
        let (c, hw) = (self.channels, self.pixels);
        let mut y = vec![0.0f32; batch * c];
        for (ys, xs) in y.chunks_mut(c).zip(x.chunks(hw * c)) {
            for px in xs.chunks(c) {
                ys.iter_mut().zip(px).for_each(|(y, v)| *y += v);
            }
            ys.iter_mut().for_each(|y| *y /= hw as f32);
        }
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        let (c, hw) = (self.channels, self.pixels);
        let mut dx = vec![0.0f32; batch * hw * c];
        for (ds, gy) in dx.chunks_mut(hw * c).zip(dy.chunks(c)) {
            for px in ds.chunks_mut(c) {
                px.iter_mut().zip(gy).for_each(|(d, g)| *d = g / hw as f32);
            }
        }
        Ok(Some(dx))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
