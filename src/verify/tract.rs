//! Running `.tflite` bytes with tract-tflite, the peer runtime for cross-checks and
//! benchmarks.

use tract_tflite::prelude::*;

use super::VerifyError;
use crate::interp::{TensorBuf, Value};

/// Ops tract-tflite 0.23 has no translation for, among those ferrolite runs.
pub const TRACT_LACKS: &[&str] = &["PACK", "QUANTIZE", "DEQUANTIZE", "DENSIFY"];

/// A model loaded into tract, planned for fixed input shapes.
pub struct TractRunner {
    state: TypedSimpleState,
}

/// tract's error chains embed multi-line debug dumps of flatbuffer tables; reports need
/// one line, and the root cause is at the end of the chain.
fn tract_err(context: &str, e: impl std::fmt::Display) -> VerifyError {
    let text = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // The operator tract was translating, when its error names one (the dump of the
    // OperatorCode table would otherwise be cut off below).
    let context = match failing_op(&text) {
        Some(op) => format!("{context} {op}"),
        None => context.to_string(),
    };
    let chars: Vec<char> = text.chars().collect();
    let text = if chars.len() > 240 {
        format!("…{}", chars[chars.len() - 200..].iter().collect::<String>())
    } else {
        text
    };
    VerifyError::Tract(format!("{context}: {text}"))
}

/// The last `builtin_code: NAME` of a tract error text (the innermost operator).
pub fn failing_op(text: &str) -> Option<String> {
    let at = text.rfind("builtin_code: ")? + "builtin_code: ".len();
    let name: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Runs `f`, turning a panic inside tract into an error: tract 0.23 indexes out of
/// bounds on some valid files (MEAN with negative axes), and a cross-check must end with
/// a message, not a crash. The panic message is kept; the default hook's report to
/// stderr is silenced while `f` runs.
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T, VerifyError>) -> Result<T, VerifyError> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        Err(VerifyError::Tract(format!(
            "{what}: tract crashed: {message}"
        )))
    })
}

impl TractRunner {
    /// Loads `bytes` with tract, fixes the input shapes, optimizes and plans.
    pub fn new(bytes: &[u8], input_shapes: &[Vec<usize>]) -> Result<TractRunner, VerifyError> {
        guard("loading", || Self::load(bytes, input_shapes))
    }

    fn load(bytes: &[u8], input_shapes: &[Vec<usize>]) -> Result<TractRunner, VerifyError> {
        let mut model = tract_tflite::tflite()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| tract_err("loading", format!("{e:#}")))?;
        for (i, shape) in input_shapes.iter().enumerate() {
            let dt = model
                .input_fact(i)
                .map_err(|e| tract_err("reading input facts", e))?
                .datum_type;
            model = model
                .with_input_fact(i, TypedFact::dt_shape(dt, shape.as_slice()))
                .map_err(|e| tract_err("setting input shapes", e))?;
        }
        let plan = model
            .into_optimized()
            .map_err(|e| tract_err("optimizing", format!("{e:#}")))?
            .into_runnable()
            .map_err(|e| tract_err("planning", e))?;
        let state = tract_tflite::internal::tract_core::plan::SimpleState::new(&plan)
            .map_err(|e| tract_err("planning", e))?;
        Ok(TractRunner { state })
    }

    /// Runs one batch.
    pub fn run(&mut self, inputs: &[Value]) -> Result<Vec<Value>, VerifyError> {
        guard("running", || self.run_unguarded(inputs))
    }

    fn run_unguarded(&mut self, inputs: &[Value]) -> Result<Vec<Value>, VerifyError> {
        let mut tv: TVec<TValue> = TVec::new();
        for (i, v) in inputs.iter().enumerate() {
            let fact_dt = self
                .state
                .model()
                .input_fact(i)
                .map_err(|e| tract_err("input facts", e))?
                .datum_type;
            let t = to_tensor(v)?;
            // Quantized inputs carry their scale in tract's datum type.
            let t = if t.datum_type() != fact_dt && fact_dt.unquantized() == t.datum_type() {
                let mut t = t;
                unsafe { t.set_datum_type(fact_dt) };
                t
            } else {
                t
            };
            tv.push(t.into_tvalue());
        }
        let outs = self
            .state
            .run(tv)
            .map_err(|e| tract_err("running", format!("{e:#}")))?;
        outs.iter().map(|t| from_tensor(t)).collect()
    }
}

fn to_tensor(v: &Value) -> Result<Tensor, VerifyError> {
    let s = &v.shape;
    let t = match &v.data {
        TensorBuf::F32(d) => Tensor::from_shape(s, d),
        TensorBuf::I8(d) => Tensor::from_shape(s, d),
        TensorBuf::U8(d) => Tensor::from_shape(s, d),
        TensorBuf::I16(d) => Tensor::from_shape(s, d),
        TensorBuf::I32(d) => Tensor::from_shape(s, d),
        TensorBuf::I64(d) => Tensor::from_shape(s, d),
        TensorBuf::Bool(d) => Tensor::from_shape(s, d),
        TensorBuf::F16(d) => Tensor::from_shape(s, d),
    };
    t.map_err(|e| tract_err("building an input tensor", e))
}

fn from_tensor(t: &Tensor) -> Result<Value, VerifyError> {
    let shape = t.shape().to_vec();
    let plain = t.datum_type().unquantized();
    let cast = |dt: DatumType| {
        t.cast_to_dt(dt)
            .map_err(|e| tract_err("reading an output", e))
    };
    let data = match plain {
        DatumType::F32 => TensorBuf::F32(
            cast(DatumType::F32)?
                .to_plain_array_view::<f32>()
                .map_err(|e| tract_err("output", e))?
                .iter()
                .copied()
                .collect(),
        ),
        DatumType::I8 => {
            let mut t = t.clone();
            unsafe { t.set_datum_type(DatumType::I8) };
            TensorBuf::I8(
                t.to_plain_array_view::<i8>()
                    .map_err(|e| tract_err("output", e))?
                    .iter()
                    .copied()
                    .collect(),
            )
        }
        DatumType::U8 => {
            let mut t = t.clone();
            unsafe { t.set_datum_type(DatumType::U8) };
            TensorBuf::U8(
                t.to_plain_array_view::<u8>()
                    .map_err(|e| tract_err("output", e))?
                    .iter()
                    .copied()
                    .collect(),
            )
        }
        DatumType::I32 => TensorBuf::I32(
            cast(DatumType::I32)?
                .to_plain_array_view::<i32>()
                .map_err(|e| tract_err("output", e))?
                .iter()
                .copied()
                .collect(),
        ),
        other => {
            return Err(tract_err(
                "reading an output",
                format!("unexpected type {other:?}"),
            ))
        }
    };
    Ok(Value::new(shape, data))
}
