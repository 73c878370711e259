//! Dynamic-range quantization (docs §4): constant weights of at least 1024 elements of
//! CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED become int8 (symmetric, narrow range,
//! per channel: dim 0 for conv and FC, dim 3 for depthwise) and the ops run their hybrid
//! kernels; activations and biases stay float. FULLY_CONNECTED gets
//! `asymmetric_quantize_inputs`, as the MLIR converter sets it.

use super::params;
use super::QuantError;
use crate::ir::{decode, DType, Model, Op, Quantization};

/// Smallest weight TF's dynamic-range pass quantizes (`minimum_elements_for_weights`).
pub const MIN_ELEMENTS: usize = 1024;

/// Quantizes the large weights of `model` (float32) for hybrid kernels.
pub fn quantize_dynamic(model: &Model, per_tensor_dense: bool) -> Result<Model, QuantError> {
    super::check_float_model(model)?;
    let mut out = model.clone();
    let g = &mut out.graph;
    for k in 0..g.operators.len() {
        let (axis, is_fc) = match &g.operators[k].op {
            Op::Conv2d(_) => (0, false),
            Op::FullyConnected(_) => (0, true),
            Op::DepthwiseConv2d(_) => (3, false),
            _ => continue,
        };
        let Some(w) = g.operators[k].input(1) else {
            continue;
        };
        let Some(tensor) = g.tensors.get(w) else {
            continue;
        };
        let large = tensor.num_elements() >= MIN_ELEMENTS;
        let dense_f32 = tensor.dtype == DType::F32 && tensor.sparsity.is_none();
        let Some(data) = tensor.data.as_ref().filter(|_| large && dense_f32) else {
            continue;
        };
        if data.len() < tensor.num_elements() * 4 || axis >= tensor.shape.len() {
            continue;
        }
        let mut values = decode::f32s(data);
        values.truncate(tensor.num_elements());
        let (scales, q, dim) = if per_tensor_dense && is_fc {
            let (s, q) = params::symmetric_per_tensor(&values);
            (vec![s], q, 0)
        } else {
            let (s, q) = params::symmetric_per_channel(&values, &tensor.shape, axis);
            (s, q, axis)
        };
        let tensor = &mut g.tensors[w];
        tensor.dtype = DType::I8;
        tensor.data = Some(q.iter().map(|&v| v as u8).collect());
        tensor.quantization = Some(Quantization {
            zero_point: vec![0; scales.len()],
            scale: scales,
            quantized_dimension: dim,
            ..Default::default()
        });
        if let Op::FullyConnected(o) = &mut g.operators[k].op {
            o.asymmetric_quantize_inputs = true;
        }
    }
    out.validate().map_err(QuantError::Malformed)?;
    Ok(out)
}
