//! Structural checks of a graph, shared by every producer and consumer.
//!
//! The reader, the quantizer, the trainer's exporter and the verifier's lowering all build
//! graphs, and the planner and writer index them. Checking the structure once, here, lets
//! the consumers index tensors directly instead of each re-checking (or panicking on) a
//! graph some producer got wrong. What an operator's options or tensor types mean is left
//! to the interpreter's `prepare`, so a model with nonsense options can still be read and
//! inspected.

use super::limits::MAX_TENSOR_BYTES;
use super::{DType, Graph, Model, Tensor};

/// How a graph breaks the rules [`Graph::validate`] checks, naming the operator or tensor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("{what} refers to tensor {index}, but the graph has {count} tensors")]
    TensorIndex {
        what: String,
        index: usize,
        count: usize,
    },
    #[error("operator #{index} {op} has {got} inputs, it takes {expected}")]
    InputCount {
        index: usize,
        op: &'static str,
        expected: String,
        got: usize,
    },
    #[error("operator #{index} {op} has {got} outputs, it produces {expected}")]
    OutputCount {
        index: usize,
        op: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("operator #{index} {op} omits input {slot}, which it requires")]
    MissingInput {
        index: usize,
        op: &'static str,
        slot: usize,
    },
    #[error("tensor {tensor} ('{name}') has shape {shape:?} of {dtype}, more than the {limit}-byte tensor limit")]
    TooLarge {
        tensor: usize,
        name: String,
        shape: Vec<usize>,
        dtype: DType,
        limit: usize,
    },
    #[error("tensor {tensor} ('{name}') holds {have} bytes of constant data, its shape {shape:?} of {dtype} needs {need}")]
    ConstantSize {
        tensor: usize,
        name: String,
        shape: Vec<usize>,
        dtype: DType,
        need: usize,
        have: usize,
    },
    #[error("tensor {tensor} ('{name}') has bad quantization: {message}")]
    Quantization {
        tensor: usize,
        name: String,
        message: String,
    },
}

/// How many inputs and outputs an operator takes. Input slots below `min_inputs` must be
/// present; slots from `min_inputs` on may be omitted (TFLite's -1, e.g. a bias), and
/// omitted slots past `max_inputs` are tolerated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arity {
    pub min_inputs: usize,
    pub max_inputs: usize,
    /// The output count, or [`Arity::ANY_OUTPUTS`] for ops whose options set it (SPLIT).
    pub outputs: usize,
}

impl Arity {
    /// Exactly `inputs` inputs, all required, and one output.
    pub const fn fixed(inputs: usize) -> Arity {
        Arity {
            min_inputs: inputs,
            max_inputs: inputs,
            outputs: 1,
        }
    }

    /// `min..=max` inputs and one output.
    pub const fn range(min: usize, max: usize) -> Arity {
        Arity {
            min_inputs: min,
            max_inputs: max,
            outputs: 1,
        }
    }

    /// `outputs` of ops that take their output count from their options: one or more.
    pub const ANY_OUTPUTS: usize = usize::MAX;

    /// Exactly `inputs` inputs, all required, and one or more outputs.
    pub const fn fixed_any_outputs(inputs: usize) -> Arity {
        Arity {
            min_inputs: inputs,
            max_inputs: inputs,
            outputs: Arity::ANY_OUTPUTS,
        }
    }

    fn describe_inputs(&self) -> String {
        if self.min_inputs == self.max_inputs {
            self.min_inputs.to_string()
        } else if self.max_inputs == usize::MAX {
            format!("{} or more", self.min_inputs)
        } else {
            format!("{} to {}", self.min_inputs, self.max_inputs)
        }
    }
}

impl Tensor {
    /// Bytes of the dense shape, or `None` past [`MAX_TENSOR_BYTES`] (or past `usize`).
    pub fn bounded_dense_bytes(&self) -> Option<usize> {
        self.shape
            .iter()
            .try_fold(self.dtype.size(), |a, &d| a.checked_mul(d))
            .filter(|&b| b <= MAX_TENSOR_BYTES)
    }
}

impl Graph {
    /// Checks that every tensor index (graph inputs and outputs, operator operands) is in
    /// range, that every operator has the operands its kind takes, that every dense
    /// tensor fits [`MAX_TENSOR_BYTES`], that every dense constant holds exactly
    /// shape × element size bytes (a sparse one: whole elements), and that quantization
    /// tables agree with the shape.
    pub fn validate(&self) -> Result<(), GraphError> {
        let count = self.tensors.len();
        let index = |what: &dyn Fn() -> String, t: usize| {
            if t < count {
                Ok(())
            } else {
                Err(GraphError::TensorIndex {
                    what: what(),
                    index: t,
                    count,
                })
            }
        };
        for &t in &self.inputs {
            index(&|| "graph input list".into(), t)?;
        }
        for &t in &self.outputs {
            index(&|| "graph output list".into(), t)?;
        }
        for (k, operator) in self.operators.iter().enumerate() {
            let op = operator.op.name();
            for (slot, t) in operator.inputs.iter().enumerate() {
                if let Some(t) = *t {
                    index(&|| format!("operator #{k} ({op}) input {slot}"), t)?;
                }
            }
            for (slot, &t) in operator.outputs.iter().enumerate() {
                index(&|| format!("operator #{k} ({op}) output {slot}"), t)?;
            }
            if matches!(operator.op, crate::ir::Op::Unsupported { .. }) {
                continue;
            }
            let arity = operator.op.arity();
            let n = operator.inputs.len();
            // Trailing omitted operands (-1 in the file) name nothing, so they do not
            // count against the maximum; whether a kernel tolerates them is its business.
            let used = operator
                .inputs
                .iter()
                .rposition(Option::is_some)
                .map_or(0, |i| i + 1);
            if n < arity.min_inputs || used > arity.max_inputs {
                return Err(GraphError::InputCount {
                    index: k,
                    op,
                    expected: arity.describe_inputs(),
                    got: n,
                });
            }
            if let Some(slot) = operator.inputs[..arity.min_inputs]
                .iter()
                .position(Option::is_none)
            {
                return Err(GraphError::MissingInput { index: k, op, slot });
            }
            let outputs_ok = if arity.outputs == Arity::ANY_OUTPUTS {
                !operator.outputs.is_empty()
            } else {
                operator.outputs.len() == arity.outputs
            };
            if !outputs_ok {
                return Err(GraphError::OutputCount {
                    index: k,
                    op,
                    expected: if arity.outputs == Arity::ANY_OUTPUTS {
                        1
                    } else {
                        arity.outputs
                    },
                    got: operator.outputs.len(),
                });
            }
        }
        for (t, tensor) in self.tensors.iter().enumerate() {
            validate_tensor(t, tensor)?;
        }
        Ok(())
    }
}

fn validate_tensor(t: usize, tensor: &Tensor) -> Result<(), GraphError> {
    let need = tensor
        .bounded_dense_bytes()
        .ok_or_else(|| GraphError::TooLarge {
            tensor: t,
            name: tensor.name.clone(),
            shape: tensor.shape.clone(),
            dtype: tensor.dtype,
            limit: MAX_TENSOR_BYTES,
        })?;
    if let Some(data) = &tensor.data {
        // A sparse tensor stores only the values its index vectors select, so only
        // whole elements can be checked here; `sparse` checks the rest against the
        // index vectors.
        let fits = match tensor.sparsity {
            None => data.len() == need,
            Some(_) => data.len() % tensor.dtype.size() == 0,
        };
        if !fits {
            return Err(GraphError::ConstantSize {
                tensor: t,
                name: tensor.name.clone(),
                shape: tensor.shape.clone(),
                dtype: tensor.dtype,
                need,
                have: data.len(),
            });
        }
    }
    if let Some(q) = &tensor.quantization {
        let bad = |message: String| GraphError::Quantization {
            tensor: t,
            name: tensor.name.clone(),
            message,
        };
        if q.scale.len() != q.zero_point.len() {
            return Err(bad(format!(
                "{} scales but {} zero points",
                q.scale.len(),
                q.zero_point.len()
            )));
        }
        let rank = tensor.shape.len();
        let qd = q.quantized_dimension;
        if !(qd < rank || (rank == 0 && qd == 0)) {
            return Err(bad(format!(
                "quantized_dimension {qd} is out of range for rank {rank}"
            )));
        }
        if q.scale.len() > 1 && tensor.shape.get(qd) != Some(&q.scale.len()) {
            return Err(bad(format!(
                "{} scales, but a per-axis tensor needs one per entry of dimension {qd}",
                q.scale.len()
            )));
        }
    }
    Ok(())
}

impl Model {
    /// [`Graph::validate`], plus the signature's tensor indices.
    pub fn validate(&self) -> Result<(), GraphError> {
        self.graph.validate()?;
        if let Some(sig) = &self.signature {
            let count = self.graph.tensors.len();
            for (name, t) in sig.inputs.iter().chain(&sig.outputs) {
                let t = *t;
                if t >= count {
                    return Err(GraphError::TensorIndex {
                        what: format!("signature '{}' entry '{name}'", sig.key),
                        index: t,
                        count,
                    });
                }
            }
        }
        Ok(())
    }
}
