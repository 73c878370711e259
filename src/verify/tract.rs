//! Running `.tflite` bytes with tract-tflite, the peer runtime for cross-checks and
//! benchmarks.

use tract_tflite::prelude::*;

use super::VerifyError;
use crate::interp::{TensorBuf, Value};

/// Ops tract-tflite 0.23 has no translation for, among those ferrolite runs.
pub const TRACT_LACKS: &[&str] = &["PACK", "QUANTIZE", "DEQUANTIZE", "DENSIFY"];

/// Why tract-tflite 0.23 computes `op` wrongly, when it is one of the faults found by
/// feeding it hand-computed cases (the tests below fail once tract is fixed):
/// - int8/uint8 TANH, LOGISTIC, SOFTMAX, MEAN, MUL, ABS, EXP, LOG and RSQRT come out in
///   the input's scale and
///   zero point, whatever the output tensor declares (int8 TANH of 1.0 at scale 1/16
///   gives 12, i.e. 0.75 at 1/16, where the output's scale 1/128 wants 97);
/// - a float MEAN is rounded to a whole number (the mean of 0.25, 0.5, 0.75, 1.5 gives 1).
pub fn known_fault(graph: &crate::ir::Graph, op: &crate::ir::Operator) -> Option<String> {
    use crate::ir::{DType, Op};
    let name = op.op.name();
    let x = graph.tensors.get(op.input(0)?)?;
    let y = graph.tensors.get(*op.outputs.first()?)?;
    let requantizing = matches!(
        op.op,
        Op::Tanh
            | Op::Logistic
            | Op::Softmax { .. }
            | Op::Mean { .. }
            | Op::Mul { .. }
            | Op::Abs
            | Op::Exp
            | Op::Log
            | Op::Rsqrt
    );
    if requantizing && matches!(y.dtype, DType::I8 | DType::U8 | DType::I16) && !same_scale(x, y) {
        return Some(format!(
            "tract-tflite 0.23 returns a quantized {name} in its input's scale and zero point, not its output's"
        ));
    }
    if matches!(op.op, Op::Mean { .. }) && y.dtype == DType::F32 {
        return Some("tract-tflite 0.23 rounds a float MEAN to a whole number".to_string());
    }
    None
}

fn same_scale(a: &crate::ir::Tensor, b: &crate::ir::Tensor) -> bool {
    match (&a.quantization, &b.quantization) {
        (Some(p), Some(q)) => p.scale == q.scale && p.zero_point == q.zero_point,
        (None, None) => true,
        _ => false,
    }
}

/// "OP #i: why" for each operator of `graph` tract computes wrongly.
pub fn known_faults(graph: &crate::ir::Graph) -> Vec<String> {
    graph
        .operators
        .iter()
        .enumerate()
        .filter_map(|(i, op)| {
            known_fault(graph, op).map(|why| format!("{} #{i}: {why}", op.op.name()))
        })
        .collect()
}

/// A model loaded into tract, planned for fixed input shapes.
pub struct TractRunner {
    state: TypedSimpleState,
}

/// tract's error chains embed multi-line debug dumps of flatbuffer tables and tensors
/// (hundreds of characters, weights included); users get one short sentence instead:
/// what tract was doing, the operator it was translating, and the cause in plain words
/// when it is a known limitation. The dump itself is never shown.
fn tract_err(context: &str, e: impl std::fmt::Display) -> VerifyError {
    let text = e.to_string();
    let op = failing_op(&text);
    let context = match &op {
        Some(op) => format!("{context} {op}"),
        None => context.to_string(),
    };
    VerifyError::Tract(format!("{context}: {}", plain_cause(&text, op.as_deref())))
}

/// A known tract-tflite limitation named in plain words, from the text of its error.
pub fn plain_cause(text: &str, op: Option<&str>) -> String {
    if let Some(op) = op.filter(|op| TRACT_LACKS.contains(op)) {
        return format!("tract-tflite has no {op} op");
    }
    let known: &[(&str, &str)] = &[
        (
            "`!options.asymmetric_quantize_inputs()`",
            "tract has no hybrid kernel with asymmetric input quantization",
        ),
        (
            "`options.new_axis_mask() == 0",
            "tract reads no STRIDED_SLICE with new-axis or shrink-axis masks",
        ),
        (
            "No super type",
            "tract has no kernel for these operand types (quantized operands of this op)",
        ),
        (
            "EinSum: Condition failed",
            "tract cannot translate this operand layout (rank or per-channel scales)",
        ),
        ("Unsupported", "tract-tflite has no translation for this op"),
    ];
    known
        .iter()
        .find(|(needle, _)| text.contains(needle))
        .map(|(_, plain)| plain.to_string())
        .unwrap_or_else(|| "tract-tflite failed".to_string())
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
        let message: String = message.chars().take(100).collect();
        Err(VerifyError::Tract(format!(
            "{what}: tract crashed ({message})"
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

#[cfg(test)]
mod tests {
    //! [`known_fault`] claims tract computes some ops wrongly; these hand-computed cases
    //! show it. When one fails, tract was fixed: drop that case from `known_fault`.
    use super::*;
    use crate::ir::{Activation, DType, Graph, Model, Op, Operator, Quantization, Tensor};

    fn quantized(name: &str, shape: Vec<usize>, scale: f32, zero_point: i64) -> Tensor {
        let mut t = Tensor::activation(name, DType::I8, shape);
        t.quantization = Some(Quantization::per_tensor(scale, zero_point));
        t
    }

    /// tract's and ferrolite's outputs of a one-op model.
    fn both(op: Op, tensors: Vec<Tensor>, reads: Vec<usize>, inputs: Vec<Value>) -> (Value, Value) {
        let out = tensors.len() - 1;
        let graph_inputs: Vec<usize> = (0..inputs.len()).collect();
        let graph = Graph {
            name: None,
            tensors,
            inputs: graph_inputs,
            outputs: vec![out],
            operators: vec![Operator::new(op, reads, vec![out])],
        };
        let model = Model::with_default_signature(graph);
        assert!(known_faults(&model.graph).len() == 1, "not a known fault");
        let bytes = crate::tflite::write(&model).unwrap();
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
        let theirs = TractRunner::new(&bytes, &shapes)
            .and_then(|mut r| r.run(&inputs))
            .unwrap();
        let ours = crate::interp::Plan::new(&model, &shapes)
            .unwrap()
            .run(&inputs)
            .unwrap();
        (ours[0].clone(), theirs[0].clone())
    }

    #[test]
    fn tract_gives_int8_tanh_in_the_input_scale() {
        // tanh(1.0) = 0.7616 and tanh(-0.5) = -0.4621: 97 and -59 at 1/128; tract
        // gives 12 and -7, the same values at the input's 1/16.
        let (ours, theirs) = both(
            Op::Tanh,
            vec![
                quantized("x", vec![1, 2], 1.0 / 16.0, 0),
                quantized("y", vec![1, 2], 1.0 / 128.0, 0),
            ],
            vec![0],
            vec![Value::new(vec![1, 2], TensorBuf::I8(vec![16, -8]))],
        );
        assert_eq!(ours.data, TensorBuf::I8(vec![97, -59]));
        assert_eq!(theirs.data, TensorBuf::I8(vec![12, -7]));
    }

    #[test]
    fn tract_gives_int8_abs_and_exp_in_the_input_scale() {
        // |1.0| and |-0.5| at (1/32, -128) are -96 and -112; tract gives 16 and 8, the
        // magnitudes at the input's (1/16, 0).
        let (ours, theirs) = both(
            Op::Abs,
            vec![
                quantized("x", vec![1, 2], 1.0 / 16.0, 0),
                quantized("y", vec![1, 2], 1.0 / 32.0, -128),
            ],
            vec![0],
            vec![Value::new(vec![1, 2], TensorBuf::I8(vec![16, -8]))],
        );
        assert_eq!(ours.data, TensorBuf::I8(vec![-96, -112]));
        assert_eq!(theirs.data, TensorBuf::I8(vec![16, 8]));
        // e^1 = 2.718 and e^0 = 1 at (1/8, -128): round(21.75) - 128 = -106 and -120;
        // tract gives 43 and 16, the same values at (1/16, 0).
        let (ours, theirs) = both(
            Op::Exp,
            vec![
                quantized("x", vec![1, 2], 1.0 / 16.0, 0),
                quantized("y", vec![1, 2], 1.0 / 8.0, -128),
            ],
            vec![0],
            vec![Value::new(vec![1, 2], TensorBuf::I8(vec![16, 0]))],
        );
        assert_eq!(ours.data, TensorBuf::I8(vec![-106, -120]));
        assert_eq!(theirs.data, TensorBuf::I8(vec![43, 16]));
    }

    #[test]
    fn tract_gives_int8_log_and_rsqrt_in_the_input_scale() {
        // ln 2 = 0.6931 and ln 1 = 0 at 1/32: 22 and 0; tract gives 11 and 0 (at 1/16).
        let case = |op, x: Vec<i8>| {
            both(
                op,
                vec![
                    quantized("x", vec![1, 2], 1.0 / 16.0, 0),
                    quantized("y", vec![1, 2], 1.0 / 32.0, 0),
                ],
                vec![0],
                vec![Value::new(vec![1, 2], TensorBuf::I8(x))],
            )
        };
        let (ours, theirs) = case(Op::Log, vec![32, 16]);
        assert_eq!(ours.data, TensorBuf::I8(vec![22, 0]));
        assert_eq!(theirs.data, TensorBuf::I8(vec![11, 0]));
        // 1/sqrt(4) = 0.5 and 1/sqrt(1) = 1 at 1/32: 16 and 32; tract gives 8 and 16.
        let (ours, theirs) = case(Op::Rsqrt, vec![64, 16]);
        assert_eq!(ours.data, TensorBuf::I8(vec![16, 32]));
        assert_eq!(theirs.data, TensorBuf::I8(vec![8, 16]));
    }

    #[test]
    fn tract_gives_int8_mul_in_the_input_scale() {
        // x·x for x = 1.0 and 0.5 (scale 1/16): 1.0 and 0.25 are 32 and 8 at the
        // output's 1/32; tract gives 16 and 4, the same values at 1/16.
        let (ours, theirs) = both(
            Op::Mul {
                activation: Activation::None,
            },
            vec![
                quantized("x", vec![1, 2], 1.0 / 16.0, 0),
                quantized("y", vec![1, 2], 1.0 / 32.0, 0),
            ],
            vec![0, 0],
            vec![Value::new(vec![1, 2], TensorBuf::I8(vec![16, 8]))],
        );
        assert_eq!(ours.data, TensorBuf::I8(vec![32, 8]));
        assert_eq!(theirs.data, TensorBuf::I8(vec![16, 4]));
    }

    #[test]
    fn tract_rounds_a_float_mean() {
        let (ours, theirs) = both(
            Op::Mean { keep_dims: false },
            vec![
                Tensor::activation("x", DType::F32, vec![1, 2, 2, 1]),
                Tensor::constant_i32("axes", vec![2], &[1, 2]),
                Tensor::activation("y", DType::F32, vec![1, 1]),
            ],
            vec![0, 1],
            vec![Value::new(
                vec![1, 2, 2, 1],
                TensorBuf::F32(vec![0.25, 0.5, 0.75, 1.5]),
            )],
        );
        assert_eq!(ours.data, TensorBuf::F32(vec![0.75]));
        assert_eq!(theirs.data, TensorBuf::F32(vec![1.0]));
    }

    #[test]
    fn a_tract_error_becomes_a_short_plain_sentence() {
        let dump = "Translating node #3 Operator { opcode_index: 2, builtin_options_type: \
                    FullyConnectedOptions, builtin_options: FullyConnectedOptions { \
                    asymmetric_quantize_inputs: true, .. }, inputs: [ 12,F16🟰 12,F16 0.0005, ] }: \
                    Opcode is OperatorCode { deprecated_builtin_code: 9, builtin_code: \
                    FULLY_CONNECTED, }: Condition failed: `!options.asymmetric_quantize_inputs()`";
        let VerifyError::Tract(m) = tract_err("loading", dump) else {
            panic!("not a tract error");
        };
        assert_eq!(
            m,
            "loading FULLY_CONNECTED: tract has no hybrid kernel with asymmetric input quantization"
        );
        // A dump that merely lists the flag is not that cause.
        let VerifyError::Tract(m) = tract_err(
            "loading",
            "FullyConnectedOptions { asymmetric_quantize_inputs: false } builtin_code: CONV_2D, }: boom",
        ) else {
            panic!("not a tract error");
        };
        assert_eq!(m, "loading CONV_2D: tract-tflite failed");
    }
}
