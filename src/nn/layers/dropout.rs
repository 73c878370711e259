//! Keras `Dropout` (inverted): in training, zeroes each value with probability `rate`
//! and scales the rest by 1/(1-rate); identity at inference.

use super::{layer_err, no_cache, Layer, Mode};
use crate::nn::rng::{derive, Rng};
use crate::nn::NnError;

#[derive(Clone, Debug)]
pub(super) struct Dropout {
    rate: f32,
    /// The layer's position in the model: with the step seed, it seeds the mask, so
    /// two dropout layers never share one.
    index: usize,
    /// The mask of the last training-mode forward (`None` when it dropped nothing).
    mask: Option<Option<Vec<f32>>>,
}

impl Dropout {
    pub(super) fn new(name: &str, rate: f32, index: usize) -> Result<Self, NnError> {
        if !(0.0..1.0).contains(&rate) {
            return Err(layer_err(
                name,
                format!("rate must be in [0, 1), got {rate}"),
            ));
        }
        Ok(Dropout {
            rate,
            index,
            mask: None,
        })
    }
}

impl Layer for Dropout {
    fn forward(&mut self, x: Vec<f32>, _batch: usize, mode: Mode) -> Result<Vec<f32>, NnError> {
        if !mode.training || self.rate == 0.0 {
            self.mask = mode.training.then_some(None);
            return Ok(x);
        }
        let mut rng = Rng::new(derive(mode.seed, self.index as u64));
        let keep_scale = 1.0 / (1.0 - self.rate);
        let mask: Vec<f32> = (0..x.len())
            .map(|_| {
                if rng.next_f32() < self.rate {
                    0.0
                } else {
                    keep_scale
                }
            })
            .collect();
        let y = x.iter().zip(&mask).map(|(v, m)| v * m).collect();
        self.mask = Some(Some(mask));
        Ok(y)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        match self.mask.as_ref().ok_or_else(|| no_cache("Dropout"))? {
            None => Ok(Some(dy)),
            Some(mask) => Ok(Some(dy.iter().zip(mask).map(|(g, m)| g * m).collect())),
        }
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
