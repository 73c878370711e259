//! Keras `Permute`: reorders the per-sample axes.

use super::{layer_err, Layer, Mode};
use crate::nn::{checked_numel, NnError};

/// Keras' 1-based `dims` of a Permute layer as 0-based per-sample axes: output axis `i`
/// is input axis `axes[i]`.
pub fn permute_axes(dims: &[usize], rank: usize) -> Result<Vec<usize>, String> {
    let mut seen = vec![false; rank];
    let mut axes = Vec::with_capacity(rank);
    for &d in dims {
        if d == 0 || d > rank || std::mem::replace(&mut seen[d - 1], true) {
            return Err(format!(
                "dims {dims:?} must be a permutation of 1..={rank} (1-based, batch excluded)"
            ));
        }
        axes.push(d - 1);
    }
    if axes.len() != rank {
        return Err(format!(
            "dims {dims:?} must name each of the {rank} axes once"
        ));
    }
    Ok(axes)
}

/// Permutes every sample of `data` (per-sample shape `shape`) by Keras `dims`; with
/// `inverse` the data is in the permuted layout and goes back (the gradient path).
fn permute_samples(
    data: &[f32],
    shape: &[usize],
    dims: &[usize],
    batch: usize,
    inverse: bool,
) -> Result<Vec<f32>, NnError> {
    let axes = permute_axes(dims, shape.len()).map_err(NnError::Shape)?;
    let numel = checked_numel(shape)?;
    // Element strides of the input layout, read in output-axis order.
    let mut in_strides = vec![1usize; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        in_strides[a] = in_strides[a + 1] * shape[a + 1];
    }
    let out_shape: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    let strides: Vec<usize> = axes.iter().map(|&a| in_strides[a]).collect();
    // source[k] = input offset of output element k (row-major over out_shape).
    let mut source = Vec::with_capacity(numel);
    let mut index = vec![0usize; out_shape.len()];
    for _ in 0..numel {
        source.push(
            index
                .iter()
                .zip(&strides)
                .map(|(i, s)| i * s)
                .sum::<usize>(),
        );
        for a in (0..index.len()).rev() {
            index[a] += 1;
            if index[a] < out_shape[a] {
                break;
            }
            index[a] = 0;
        }
    }
    let mut out = vec![0.0f32; data.len()];
    for (src, dst) in data
        .chunks_exact(numel.max(1))
        .zip(out.chunks_exact_mut(numel.max(1)))
        .take(batch)
    {
        for (k, &from) in source.iter().enumerate() {
            if inverse {
                dst[from] = src[k];
            } else {
                dst[k] = src[from];
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Debug)]
pub(super) struct Permute {
    dims: Vec<usize>,
    input_shape: Vec<usize>,
}

impl Permute {
    /// The layer and its per-sample output shape.
    pub(super) fn new(
        name: &str,
        dims: &[usize],
        input_shape: &[usize],
    ) -> Result<(Self, Vec<usize>), NnError> {
        let axes = permute_axes(dims, input_shape.len())
            .map_err(|e| layer_err(name, format!("{e} (input {input_shape:?})")))?;
        let output_shape = axes.iter().map(|&a| input_shape[a]).collect();
        let layer = Permute {
            dims: dims.to_vec(),
            input_shape: input_shape.to_vec(),
        };
        Ok((layer, output_shape))
    }
}

impl Layer for Permute {
    fn forward(&mut self, x: Vec<f32>, batch: usize, _mode: Mode) -> Result<Vec<f32>, NnError> {
        permute_samples(&x, &self.input_shape, &self.dims, batch, false)
    }

    fn backward(
        &mut self,
        dy: Vec<f32>,
        batch: usize,
        _need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError> {
        permute_samples(&dy, &self.input_shape, &self.dims, batch, true).map(Some)
    }

    fn clone_box(&self) -> Box<dyn Layer> {
        Box::new(self.clone())
    }
}
