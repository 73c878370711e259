//! Float16 quantization (docs §4): every float32 constant an operator reads is stored as
//! float16 and turned back into float32 by a DEQUANTIZE op at the start of the graph;
//! the model's inputs and outputs stay float32.

use half::f16;

use super::QuantError;
use crate::ir::{decode, DType, Model, Op, Operator, Tensor};

/// Stores the float constants of `model` as float16.
pub fn quantize_float16(model: &Model) -> Result<Model, QuantError> {
    super::check_float_model(model)?;
    let mut out = model.clone();
    let g = &mut out.graph;
    let mut used = vec![false; g.tensors.len()];
    for op in &g.operators {
        for &t in op.inputs.iter().flatten() {
            if let Some(u) = used.get_mut(t) {
                *u = true;
            }
        }
    }
    let mut front = Vec::new();
    for (t, &is_used) in used.iter().enumerate() {
        let tensor = &g.tensors[t];
        let Some(data) = tensor.data.as_ref() else {
            continue;
        };
        if !is_used || tensor.dtype != DType::F32 || tensor.sparsity.is_some() {
            continue;
        }
        let halves: Vec<u8> = decode::f32s(data)
            .into_iter()
            .flat_map(|x| f16::from_f32(x).to_le_bytes())
            .collect();
        // The float32 value the ops read: same shape, the constant's name made unique
        // with a numeric suffix as TF's exporter does.
        let name = unique_name(&g.tensors, &tensor.name);
        let mut expanded = Tensor::activation(name, DType::F32, tensor.shape.clone());
        expanded.shape_signature = tensor.shape_signature.clone();
        let idx = g.tensors.len();
        g.tensors.push(expanded);
        let tensor = &mut g.tensors[t];
        tensor.dtype = DType::F16;
        tensor.data = Some(halves);
        for op in &mut g.operators {
            for i in op.inputs.iter_mut().flatten() {
                if *i == t {
                    *i = idx;
                }
            }
        }
        front.push(Operator::new(Op::Dequantize, vec![t], vec![idx]));
    }
    g.operators.splice(0..0, front);
    out.validate().map_err(QuantError::Malformed)?;
    Ok(out)
}

/// `base` followed by the smallest number ≥ 1 that no tensor's name uses yet.
pub(crate) fn unique_name(tensors: &[Tensor], base: &str) -> String {
    (1..)
        .map(|n| format!("{base}{n}"))
        .find(|candidate| tensors.iter().all(|t| &t.name != candidate))
        .unwrap_or_else(|| base.to_string())
}
