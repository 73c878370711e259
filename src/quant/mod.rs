//! Post-training quantization: IR → IR passes (full-integer int8, dynamic range,
//! float16) with calibration through the float interpreter.
//!
//! The passes follow what TensorFlow's MLIR converter writes (docs §2 and §4), so that a
//! model converted here matches the TensorFlow-made fixtures tensor by tensor:
//! - [`mod@calibrate`] runs the float model over representative samples, one at a time, and
//!   records every activation's global min/max (TFLite's calibrator);
//! - [`int8`] turns ranges into nudged int8 parameters, quantizes weights per channel
//!   (symmetric, narrow range) and biases to int32, and adds the IO boundary ops;
//! - [`dynamic`] stores large weights as int8 for hybrid kernels;
//! - [`float16`] stores float constants as float16 behind DEQUANTIZE ops;
//! - [`report`] measures, tensor by tensor, how far the quantized model drifts from the
//!   float one.
//!
//! Tensor indices of the float model are kept (new tensors are appended), so float and
//! quantized tensors can be paired by index.

pub mod calibrate;
pub mod dynamic;
pub mod float16;
pub mod int8;
pub mod params;
pub mod report;

pub use calibrate::{calibrate, Calibration, Samples};
pub use report::{layer_report, LayerError};

use crate::interp::{PlanError, RunError};

/// Which quantization to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Write the model as it is.
    None,
    /// Float constants stored as float16, each behind a DEQUANTIZE.
    Float16,
    /// Int8 weights for hybrid kernels, float activations.
    Dynamic,
    /// Full-integer int8 (needs calibration).
    Int8,
}

/// Element type of the model's inputs and outputs after full-integer quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoType {
    /// QUANTIZE after each input, DEQUANTIZE before each output.
    Float32,
    /// The int8 tensors are the model's inputs and outputs.
    Int8,
    /// uint8 inputs/outputs with the int8 scale and zero point + 128, converted by
    /// QUANTIZE ops at both ends.
    Uint8,
}

/// Options of the int8 pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Options {
    pub io: IoType,
    /// FULLY_CONNECTED weights with one scale instead of one per output channel (TF's
    /// `_experimental_disable_per_channel_quantization_for_dense_layers`).
    pub per_tensor_dense: bool,
}

impl Default for Int8Options {
    fn default() -> Self {
        Int8Options {
            io: IoType::Int8,
            per_tensor_dense: false,
        }
    }
}

/// Why a model could not be quantized.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantError {
    /// The quantizer built a graph that breaks [`crate::ir::Graph::validate`]: a bug
    /// here, reported rather than handed to the writer or the planner.
    #[error("the quantized model is malformed: {0}")]
    Malformed(crate::ir::GraphError),
    // Not #[from]: that would make the inner error a `source` as well, and chains
    // printed with their causes (anyhow's `{:#}`) would show it twice.
    #[error("the model cannot be calibrated: {0}")]
    Plan(PlanError),
    #[error("calibration run failed: {0}")]
    Run(RunError),
    #[error("calibration needs samples: {0}")]
    Samples(String),
    #[error("operator #{index} {op} has no int8 version in this converter; use --quantize dynamic or float16")]
    UnsupportedOp { index: usize, op: &'static str },
    #[error("the model is already quantized (tensor {tensor} '{name}' is {dtype}); quantization starts from a float32 model: convert the float .tflite or the model directory instead")]
    NotFloat {
        tensor: usize,
        name: String,
        dtype: crate::ir::DType,
    },
    #[error(
        "tensor {tensor} ('{name}') has no calibration range (it never ran during calibration)"
    )]
    NoRange { tensor: usize, name: String },
    /// A finite input gave a NaN or an infinity inside the model: its weights are not
    /// finite, or it overflows float32.
    #[error("tensor {tensor} ('{name}') computed {value} on calibration sample {sample}; a tensor must stay finite to be quantized (check the model's weights for NaN or Inf)")]
    NonFinite {
        tensor: usize,
        name: String,
        value: f32,
        sample: usize,
    },
    #[error("tensor {tensor} ('{name}'): {message}")]
    Tensor {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("operator #{index} {op}: {message}")]
    Operator {
        index: usize,
        op: &'static str,
        message: String,
    },
}

impl From<PlanError> for QuantError {
    fn from(e: PlanError) -> Self {
        QuantError::Plan(e)
    }
}

impl From<RunError> for QuantError {
    fn from(e: RunError) -> Self {
        QuantError::Run(e)
    }
}

/// Refuses models that are already quantized (any integer or float16 tensor that is not
/// a plain int32/int64/bool shape or index tensor): the passes start from float32.
pub fn check_float_model(model: &crate::ir::Model) -> Result<(), QuantError> {
    use crate::ir::DType;
    for (i, t) in model.graph.tensors.iter().enumerate() {
        let quantized = t.quantization.as_ref().is_some_and(|q| q.is_quantized());
        if matches!(t.dtype, DType::I8 | DType::U8 | DType::I16 | DType::F16) || quantized {
            return Err(QuantError::NotFloat {
                tensor: i,
                name: t.name.clone(),
                dtype: t.dtype,
            });
        }
    }
    Ok(())
}

/// What [`convert`] produced.
#[derive(Clone, Debug)]
pub struct Converted {
    pub model: crate::ir::Model,
    /// Calibration ranges (int8 only).
    pub calibration: Option<Calibration>,
}

/// Applies `mode` to a float32 model. Int8 needs `samples` (calibration runs over them);
/// the other modes ignore them.
pub fn convert(
    model: &crate::ir::Model,
    mode: Mode,
    options: &Int8Options,
    samples: Option<&Samples>,
) -> Result<Converted, QuantError> {
    let (model, calibration) = match mode {
        Mode::None => (model.clone(), None),
        Mode::Float16 => (float16::quantize_float16(model)?, None),
        Mode::Dynamic => (
            dynamic::quantize_dynamic(model, options.per_tensor_dense)?,
            None,
        ),
        Mode::Int8 => {
            let samples = samples
                .ok_or_else(|| QuantError::Samples("int8 needs calibration samples".into()))?;
            check_float_model(model)?;
            let calibration = calibrate(model, samples)?;
            (
                int8::quantize_int8(model, &calibration, options)?,
                Some(calibration),
            )
        }
    };
    Ok(Converted { model, calibration })
}
