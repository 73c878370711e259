//! Reshape and Flatten: the data is already row-major, so both only relabel the shape
//! ([`super::BuiltLayer`] holds it) and pass values and gradients through.

use super::{Layer, Mode};
use crate::nn::NnError;

#[derive(Clone, Debug)]
pub(super) struct Reshape;

impl Layer for Reshape {
    fn forward(&mut self, x: Vec<f32>, _batch: usize, _mode: Mode) -> Result<Vec<f32>, NnError> {
        Ok(x)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        _batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        Ok(Some(dy))
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
