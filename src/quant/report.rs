//! Per-layer error of a quantized model against its float original over the calibration
//! samples: for every tensor an operator of the float model produces, the float values
//! against the quantized model's values of the same tensor (dequantized when integer).

use super::calibrate::{Samples, Tracer};
use super::QuantError;
use crate::ir::{DType, Model, Tensor};
use crate::ir::{TensorBuf, Value};

/// Error of one tensor, accumulated over all samples.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerError {
    pub tensor: usize,
    pub name: String,
    /// Type of the tensor in the quantized model.
    pub dtype: String,
    /// Signal-to-quantization-noise ratio, 10·log10(Σf² / Σ(f−q)²); infinite when the
    /// values are identical.
    pub sqnr_db: f64,
    /// Cosine similarity of the float and quantized values taken as one long vector.
    pub cosine: f64,
    pub max_abs_error: f64,
}

#[derive(Default, Clone)]
struct Acc {
    signal: f64,
    noise: f64,
    dot: f64,
    qq: f64,
    max_abs: f64,
}

/// Real values of an integer tensor of `tensor`'s (per-tensor) quantization, or the
/// float values themselves.
fn real_values(tensor: &Tensor, value: &Value) -> Option<Vec<f64>> {
    let raw = value.data.to_f64();
    match tensor.dtype {
        DType::F32 | DType::F16 => Some(raw),
        DType::I8 | DType::U8 | DType::I16 => {
            let (s, z) = tensor.scale_zero_point()?;
            Some(raw.iter().map(|&q| f64::from(s) * (q - z as f64)).collect())
        }
        _ => None,
    }
}

/// A float sample in the type of `input`: quantized with its scale and zero point
/// (`round_half_away(x / s) + zp`, clamped) when the model takes integers.
pub fn sample_for(input: &Tensor, value: &Value) -> Result<Value, QuantError> {
    let TensorBuf::F32(x) = &value.data else {
        return Err(QuantError::Samples("samples must be float32".into()));
    };
    let quantize = |lo: f32, hi: f32| -> Result<Vec<f32>, QuantError> {
        let (s, z) = input.scale_zero_point().ok_or_else(|| {
            QuantError::Samples(format!("input '{}' has no per-tensor scale", input.name))
        })?;
        Ok(x.iter()
            .map(|&v| ((v / s).round() + z as f32).clamp(lo, hi))
            .collect())
    };
    let data = match input.dtype {
        DType::F32 => value.data.clone(),
        DType::I8 => TensorBuf::I8(quantize(-128.0, 127.0)?.iter().map(|&v| v as i8).collect()),
        DType::U8 => TensorBuf::U8(quantize(0.0, 255.0)?.iter().map(|&v| v as u8).collect()),
        other => {
            return Err(QuantError::Samples(format!(
                "input '{}' is {other}; samples can feed float32, int8 or uint8 inputs",
                input.name
            )))
        }
    };
    Ok(Value::new(value.shape.clone(), data))
}

/// Compares every float activation of `float` with the same tensor of `quantized`
/// (tensor indices are shared: the passes only append tensors), worst SQNR first.
pub fn layer_report(
    float: &Model,
    quantized: &Model,
    samples: &Samples,
) -> Result<Vec<LayerError>, QuantError> {
    let n_float = float.graph.tensors.len();
    let mut f_tracer = Tracer::new(float, |_, t| t.dtype == DType::F32)?;
    let mut q_tracer = Tracer::new(quantized, |i, t| {
        i < n_float
            && float.graph.tensors[i].dtype == DType::F32
            && matches!(t.dtype, DType::F32 | DType::I8 | DType::U8 | DType::I16)
    })?;
    let mut accs: Vec<Option<Acc>> = vec![None; n_float];
    for sample in &samples.inputs {
        let q_inputs = quantized
            .graph
            .inputs
            .iter()
            .zip(sample)
            .map(|(&t, v)| sample_for(&quantized.graph.tensors[t], v))
            .collect::<Result<Vec<_>, _>>()?;
        let f_out = f_tracer.run(sample)?;
        let q_out = q_tracer.run(&q_inputs)?;
        let f_pos: Vec<Option<usize>> = {
            let mut p = vec![None; n_float];
            for (pos, &t) in f_tracer.tensors().iter().enumerate() {
                p[t] = Some(pos);
            }
            p
        };
        for (q_value, &t) in q_out.iter().zip(q_tracer.tensors()) {
            let Some(fv) = f_pos[t].and_then(|p| f_out.get(p)) else {
                continue;
            };
            let Some(qv) = real_values(&quantized.graph.tensors[t], q_value) else {
                continue;
            };
            let fv = fv.data.to_f64();
            if fv.len() != qv.len() {
                continue;
            }
            let acc = accs[t].get_or_insert_with(Acc::default);
            for (&f, &q) in fv.iter().zip(&qv) {
                let e = f - q;
                acc.signal += f * f;
                acc.noise += e * e;
                acc.dot += f * q;
                acc.qq += q * q;
                acc.max_abs = acc.max_abs.max(e.abs());
            }
        }
    }
    let mut layers: Vec<LayerError> = accs
        .into_iter()
        .enumerate()
        .filter_map(|(t, acc)| {
            let acc = acc?;
            let sqnr_db = if acc.noise == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (acc.signal / acc.noise).log10()
            };
            let norm = (acc.signal * acc.qq).sqrt();
            let cosine = if norm == 0.0 { 1.0 } else { acc.dot / norm };
            Some(LayerError {
                tensor: t,
                name: float.graph.tensors[t].name.clone(),
                dtype: quantized.graph.tensors[t].dtype.name().to_string(),
                sqnr_db,
                cosine,
                max_abs_error: acc.max_abs,
            })
        })
        .collect();
    layers.sort_by(|a, b| {
        a.sqnr_db
            .total_cmp(&b.sqnr_db)
            .then(a.tensor.cmp(&b.tensor))
    });
    Ok(layers)
}
