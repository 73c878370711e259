//! Calibration: run the float model over representative samples, one at a time as TF's
//! representative dataset feeds them, and record each tensor's global min/max (TFLite's
//! calibration logger keeps the plain running min and max).
//!
//! The interpreter does the work: a copy of the graph whose outputs are every tensor of
//! interest is planned once, and the planner keeps graph outputs alive to the end of a
//! run, so each intermediate can be read after `run`.

use std::io::Read;
use std::path::Path;

use super::QuantError;
use crate::interp::{Interpreter, TensorBuf, Value};
use crate::ir::{DType, Model, Tensor};

/// Representative inputs: one entry per sample, each holding one batch-1 value per model
/// input.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    pub inputs: Vec<Vec<Value>>,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The first `count` MNIST training images (pixels / 255 in float32) shaped as the
    /// model's single input with batch 1. Only those images are read from `dir`.
    pub fn mnist_train(model: &Model, dir: &Path, count: usize) -> Result<Samples, QuantError> {
        let input = single_input(model)?;
        let per_image = 28 * 28;
        let shape = batch_one_shape(input, per_image)?;
        let pixels = first_train_images(dir, count)?;
        // Rounded once from the exact quotient, as numpy's uint8 / 255.0.
        let table: Vec<f32> = (0..=255u8).map(|p| (f64::from(p) / 255.0) as f32).collect();
        let inputs = pixels
            .chunks_exact(per_image)
            .map(|img| {
                let data = img.iter().map(|&p| table[usize::from(p)]).collect();
                vec![Value::new(shape.clone(), TensorBuf::F32(data))]
            })
            .collect();
        Ok(Samples { inputs })
    }

    /// Rows of a float32 batch (e.g. an `input.npy`), each shaped as the model's single
    /// input with batch 1; at most `limit` rows.
    pub fn from_batch(
        model: &Model,
        batch: &Value,
        limit: Option<usize>,
    ) -> Result<Samples, QuantError> {
        let input = single_input(model)?;
        let TensorBuf::F32(values) = &batch.data else {
            return Err(QuantError::Samples(format!(
                "calibration data must be float32, got {}",
                batch.dtype()
            )));
        };
        let rows = batch.shape.first().copied().unwrap_or(0);
        let per_row = values.len().checked_div(rows).unwrap_or(0);
        let shape = batch_one_shape(input, per_row)?;
        let take = limit.unwrap_or(rows).min(rows);
        let inputs = values
            .chunks_exact(per_row.max(1))
            .take(take)
            .map(|row| vec![Value::new(shape.clone(), TensorBuf::F32(row.to_vec()))])
            .collect();
        Ok(Samples { inputs })
    }
}

fn single_input(model: &Model) -> Result<&Tensor, QuantError> {
    match model.graph.inputs.as_slice() {
        [i] => {
            model.graph.tensors.get(*i).ok_or_else(|| {
                QuantError::Samples("the model's input index is out of range".into())
            })
        }
        other => Err(QuantError::Samples(format!(
            "calibration supports models with one input; this one has {}",
            other.len()
        ))),
    }
}

/// The model input's shape with batch 1, checked to hold `per_sample` elements.
fn batch_one_shape(input: &Tensor, per_sample: usize) -> Result<Vec<usize>, QuantError> {
    let mut shape = input.shape.clone();
    if let Some(first) = shape.first_mut() {
        *first = 1;
    }
    let n: usize = shape.iter().product();
    if input.dtype != DType::F32 || shape.is_empty() || n != per_sample {
        return Err(QuantError::Samples(format!(
            "model input '{}' is {} {:?}; calibration samples have {} values each",
            input.name, input.dtype, input.shape, per_sample
        )));
    }
    Ok(shape)
}

/// Reads only the first `count` images of `train-images-idx3-ubyte(.gz)` in `dir`
/// (the whole file is 47 MB; calibration needs a few hundred KB of it).
fn first_train_images(dir: &Path, count: usize) -> Result<Vec<u8>, QuantError> {
    let name = "train-images-idx3-ubyte";
    let err = |m: String| QuantError::Samples(m);
    let gz = dir.join(format!("{name}.gz"));
    let raw = dir.join(name);
    let open = |p: &Path| {
        crate::fsutil::open_input(p, &crate::fsutil::InputLimit::IDX)
            .map(|(f, _)| std::io::BufReader::new(f))
            .map_err(|e| err(e.to_string()))
    };
    // Whatever is at either name is opened (a directory or FIFO gets its own message).
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    let mut reader: Box<dyn Read> = if exists(&gz) {
        Box::new(flate2::read::MultiGzDecoder::new(open(&gz)?))
    } else if exists(&raw) {
        Box::new(open(&raw)?)
    } else {
        return Err(err(format!(
            "MNIST training images not found in {} (expected {name}.gz)",
            dir.display()
        )));
    };
    let mut header = [0u8; 16];
    reader
        .read_exact(&mut header)
        .map_err(|e| err(format!("{name}: {e}")))?;
    let word =
        |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if word(0) != 0x0803 || word(8) != 28 || word(12) != 28 {
        return Err(err(format!("{name}: not a 28×28 MNIST image file")));
    }
    let available = word(4) as usize;
    if count > available {
        return Err(err(format!(
            "{count} calibration images requested, the training set has {available}"
        )));
    }
    // Read incrementally: the count is bounded only by the header, which may lie.
    let want = count.saturating_mul(28 * 28);
    let mut pixels = Vec::new();
    reader
        .take(want as u64)
        .read_to_end(&mut pixels)
        .map_err(|e| err(format!("{name}: {e}")))?;
    if pixels.len() < want {
        return Err(err(format!(
            "{name}: holds {} images, not the {count} requested; the file is cut short",
            pixels.len() / (28 * 28)
        )));
    }
    Ok(pixels)
}

/// Runs a model and hands back chosen intermediate tensors along with the outputs.
pub struct Tracer {
    interp: Interpreter,
    /// Model tensor index of each traced output, in output order.
    tensors: Vec<usize>,
}

impl Tracer {
    /// Traces every tensor for which `want(index, tensor)` holds and that an operator
    /// produces (model inputs are known to the caller already).
    pub fn new(model: &Model, want: impl Fn(usize, &Tensor) -> bool) -> Result<Tracer, QuantError> {
        let mut traced = model.clone();
        let graph = &mut traced.graph;
        let mut tensors = Vec::new();
        for op in &graph.operators {
            for &t in &op.outputs {
                if let Some(tensor) = graph.tensors.get(t) {
                    if !tensor.is_constant() && want(t, tensor) && !tensors.contains(&t) {
                        tensors.push(t);
                    }
                }
            }
        }
        graph.outputs = tensors.clone();
        traced.signature = None;
        let interp = Interpreter::new(traced)?;
        Ok(Tracer { interp, tensors })
    }

    /// The traced tensor indices, in the order [`Tracer::run`] returns them.
    pub fn tensors(&self) -> &[usize] {
        &self.tensors
    }

    pub fn run(&mut self, inputs: &[Value]) -> Result<Vec<Value>, QuantError> {
        Ok(self.interp.run(inputs)?)
    }
}

/// Global min/max of each float tensor over the calibration samples; `None` for
/// tensors that are not float activations.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub ranges: Vec<Option<(f32, f32)>>,
    pub samples: usize,
}

impl Calibration {
    pub fn range(&self, tensor: usize) -> Option<(f32, f32)> {
        self.ranges.get(tensor).copied().flatten()
    }
}

/// Widens `range` by `values`; on a NaN or infinity, returns its index instead (no
/// int8 range can hold it, and skipping it would hide bad data as a missing range).
fn update(range: &mut Option<(f32, f32)>, values: &[f32]) -> Result<(), usize> {
    if let Some(i) = values.iter().position(|x| !x.is_finite()) {
        return Err(i);
    }
    for &x in values {
        *range = Some(match *range {
            None => (x, x),
            Some((lo, hi)) => (lo.min(x), hi.max(x)),
        });
    }
    Ok(())
}

/// Records the range of every float32 tensor (model inputs and every operator output)
/// over `samples`, one sample per run.
pub fn calibrate(model: &Model, samples: &Samples) -> Result<Calibration, QuantError> {
    if samples.is_empty() {
        return Err(QuantError::Samples("no calibration samples".into()));
    }
    let mut tracer = Tracer::new(model, |_, t| t.dtype == DType::F32)?;
    let mut ranges = vec![None; model.graph.tensors.len()];
    let name = |t: usize| {
        model
            .graph
            .tensors
            .get(t)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    };
    for (s, sample) in samples.inputs.iter().enumerate() {
        for (&t, value) in model.graph.inputs.iter().zip(sample) {
            if let (TensorBuf::F32(v), Some(r)) = (&value.data, ranges.get_mut(t)) {
                update(r, v).map_err(|i| {
                    QuantError::Samples(format!(
                        "calibration sample {s} holds {} at element {i} of input '{}'; calibration data must be finite",
                        v[i],
                        name(t)
                    ))
                })?;
            }
        }
        let outputs = tracer.run(sample)?;
        for (&t, value) in tracer.tensors.iter().zip(&outputs) {
            if let (TensorBuf::F32(v), Some(r)) = (&value.data, ranges.get_mut(t)) {
                update(r, v).map_err(|i| QuantError::NonFinite {
                    tensor: t,
                    name: name(t),
                    value: v[i],
                    sample: s,
                })?;
            }
        }
    }
    Ok(Calibration {
        ranges,
        samples: samples.len(),
    })
}
