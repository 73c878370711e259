//! Top-1 accuracy on MNIST through the built-in interpreter.

use std::time::Instant;

use super::VerifyError;
use crate::data::Mnist;
use crate::interp::{Interpreter, TensorBuf, Value};
use crate::ir::{DType, Tensor};

/// Result of an accuracy run.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Accuracy {
    pub accuracy: f64,
    pub correct: usize,
    pub samples: usize,
    pub seconds: f64,
}

/// Rounds half away from zero, as TFLite's QUANTIZE and the fixtures do.
fn round_half_away(x: f32) -> f32 {
    x.round()
}

/// Turns MNIST images (u8 pixels, `count` of them) into a batch for `input`: pixels
/// scaled to \[0, 1\] in float32; for an integer input, quantized with the tensor's own
/// scale and zero point as q = clamp(round_half_away(x / scale) + zp).
pub fn mnist_batch(input: &Tensor, pixels: &[u8], count: usize) -> Result<Value, VerifyError> {
    let per_image = pixels.len().checked_div(count).unwrap_or(0);
    let rest: usize = input.shape.iter().skip(1).product();
    if input.shape.is_empty() || rest != per_image {
        return Err(VerifyError::Input(format!(
            "model input '{}' has shape {:?}, which does not hold one {}-pixel MNIST image per batch row",
            input.name, input.shape, per_image
        )));
    }
    let mut shape = input.shape.clone();
    shape[0] = count;
    // Rounded once from the exact quotient, as numpy computes uint8 / 255.0.
    let scaled = pixels.iter().map(|&p| (p as f64 / 255.0) as f32);
    let data = match input.dtype {
        DType::F32 => TensorBuf::F32(scaled.collect()),
        DType::I8 | DType::U8 | DType::I16 => {
            let (scale, zp) = input.scale_zero_point().ok_or_else(|| {
                VerifyError::Input(format!(
                    "model input '{}' is {} but has no per-tensor scale and zero point",
                    input.name, input.dtype
                ))
            })?;
            let (lo, hi) = match input.dtype {
                DType::I8 => (-128.0, 127.0),
                DType::U8 => (0.0, 255.0),
                _ => (-32768.0, 32767.0),
            };
            let q = scaled.map(|x| (round_half_away(x / scale) + zp as f32).clamp(lo, hi));
            match input.dtype {
                DType::I8 => TensorBuf::I8(q.map(|v| v as i8).collect()),
                DType::U8 => TensorBuf::U8(q.map(|v| v as u8).collect()),
                _ => TensorBuf::I16(q.map(|v| v as i16).collect()),
            }
        }
        other => {
            return Err(VerifyError::Input(format!(
                "model input '{}' is {other}; MNIST evaluation needs float32, int8, uint8 or int16",
                input.name
            )))
        }
    };
    Ok(Value::new(shape, data))
}

/// Index of the largest element of each row (the first on ties), rows being the
/// leading dimension.
pub fn argmax_rows(output: &Value) -> Vec<usize> {
    let rows = output.shape.first().copied().unwrap_or(1).max(1);
    let values = output.data.to_f64();
    let width = values.len() / rows;
    if width == 0 {
        return vec![0; rows];
    }
    argmax_chunks(&values, width)
}

/// Index of the largest element of each `width`-long chunk of `values` (the first on
/// ties). `width` must be positive.
pub fn argmax_chunks<T: PartialOrd + Copy>(values: &[T], width: usize) -> Vec<usize> {
    values
        .chunks(width)
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

/// Runs the model over the first `limit` images of `data` in batches of `batch`,
/// calling `progress` with the number of images done.
pub fn evaluate(
    interp: &mut Interpreter,
    data: &Mnist,
    limit: Option<usize>,
    batch: usize,
    progress: impl FnMut(usize),
) -> Result<Accuracy, VerifyError> {
    evaluate_with(interp, data, limit, batch, progress, |_| {})
}

/// What a model answered on the MNIST test images, for comparing models: accuracy,
/// and each image's scores as real numbers (a quantized output dequantized with its
/// scale and zero point, so that float and int8 models compare).
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    pub accuracy: Accuracy,
    /// Top-1 class of each image.
    pub predictions: Vec<usize>,
    /// Scores, `classes` per image.
    pub scores: Vec<f32>,
    pub classes: usize,
}

/// Like [`evaluate`], keeping every image's prediction and scores.
pub fn answers(
    interp: &mut Interpreter,
    data: &Mnist,
    limit: Option<usize>,
    batch: usize,
    progress: impl FnMut(usize),
) -> Result<Answers, VerifyError> {
    let graph = &interp.model().graph;
    let output = graph
        .outputs
        .first()
        .map(|&t| graph.tensors[t].clone())
        .ok_or_else(|| VerifyError::Input("the model has no output".into()))?;
    let dequantize = match (output.dtype, output.scale_zero_point()) {
        (DType::F32, _) => None,
        (_, Some((s, zp))) => Some((s, zp as f32)),
        (other, None) => {
            return Err(VerifyError::Input(format!(
                "output '{}' is {other} without a per-tensor scale and zero point",
                output.name
            )))
        }
    };
    let mut predictions = Vec::new();
    let mut scores = Vec::new();
    let mut classes = 0;
    let accuracy = evaluate_with(interp, data, limit, batch, progress, |out| {
        predictions.extend(argmax_rows(out));
        classes = out.data.len() / out.shape.first().copied().unwrap_or(1).max(1);
        scores.extend(out.data.to_f64().into_iter().map(|v| match dequantize {
            Some((s, zp)) => s * (v as f32 - zp),
            None => v as f32,
        }));
    })?;
    Ok(Answers {
        accuracy,
        predictions,
        scores,
        classes,
    })
}

fn evaluate_with(
    interp: &mut Interpreter,
    data: &Mnist,
    limit: Option<usize>,
    batch: usize,
    mut progress: impl FnMut(usize),
    mut each_batch: impl FnMut(&Value),
) -> Result<Accuracy, VerifyError> {
    let graph = &interp.model().graph;
    if graph.inputs.len() != 1 || graph.outputs.is_empty() {
        return Err(VerifyError::Input(format!(
            "MNIST evaluation needs a model with one input (this one has {}) and an output",
            graph.inputs.len()
        )));
    }
    let input = graph.tensors[graph.inputs[0]].clone();
    let total = limit.unwrap_or(data.count).min(data.count);
    let pixels_per = data.rows * data.cols;
    let batch = batch.max(1);
    let start = Instant::now();
    let mut correct = 0;
    let mut done = 0;
    while done < total {
        let n = batch.min(total - done);
        let pixels = &data.images[done * pixels_per..(done + n) * pixels_per];
        let value = mnist_batch(&input, pixels, n)?;
        let outputs = interp.run(&[value])?;
        let predictions = argmax_rows(&outputs[0]);
        correct += predictions
            .iter()
            .zip(&data.labels[done..done + n])
            .filter(|(p, &l)| **p == l as usize)
            .count();
        each_batch(&outputs[0]);
        done += n;
        progress(done);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Accuracy {
        accuracy: if total == 0 {
            0.0
        } else {
            correct as f64 / total as f64
        },
        correct,
        samples: total,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_ties() {
        let v = Value::new(vec![2, 3], TensorBuf::I8(vec![5, 7, 7, -1, -1, -2]));
        assert_eq!(argmax_rows(&v), vec![1, 0]);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_half_away(2.5), 3.0);
        assert_eq!(round_half_away(-2.5), -3.0);
        assert_eq!(round_half_away(0.49999997), 0.0);
    }
}
