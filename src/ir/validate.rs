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
            if operator.outputs.len() != arity.outputs {
                return Err(GraphError::OutputCount {
                    index: k,
                    op,
                    expected: arity.outputs,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::{Plan, PlanError};
    use crate::ir::{Activation, Op, Operator, Quantization};

    /// x[1,4] + c[1,4] -> y[1,4], a graph every check accepts.
    fn add_graph() -> Graph {
        Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, vec![1, 4]),
                Tensor::constant_f32("c", vec![1, 4], &[1.0, 2.0, 3.0, 4.0]),
                Tensor::activation("y", DType::F32, vec![1, 4]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(
                Op::Add {
                    activation: Activation::None,
                },
                vec![0, 1],
                vec![2],
            )],
        }
    }

    /// Both the check itself and the planner, which must return it and not panic.
    fn refused(graph: Graph) -> GraphError {
        let err = graph.validate().expect_err("graph should be refused");
        let model = Model {
            graph,
            ..Default::default()
        };
        match Plan::new(&model, &[vec![1, 4]]) {
            Err(PlanError::Graph(e)) => assert_eq!(e, err),
            Err(other) => panic!("planner gave {other}, expected the graph error {err}"),
            Ok(_) => panic!("planner accepted a graph validate refuses: {err}"),
        }
        err
    }

    #[test]
    fn a_sound_graph_passes_and_plans() {
        let g = add_graph();
        assert_eq!(g.validate(), Ok(()));
        let model = Model::with_default_signature(g);
        assert_eq!(model.validate(), Ok(()));
        assert!(Plan::new(&model, &[vec![1, 4]]).is_ok());
    }

    #[test]
    fn out_of_range_operand_is_named() {
        let mut g = add_graph();
        g.operators[0].inputs[1] = Some(7);
        let e = refused(g);
        assert_eq!(
            e,
            GraphError::TensorIndex {
                what: "operator #0 (ADD) input 1".into(),
                index: 7,
                count: 3
            }
        );
        let mut g = add_graph();
        g.operators[0].outputs[0] = 3;
        assert!(matches!(
            refused(g),
            GraphError::TensorIndex { index: 3, .. }
        ));
        let mut g = add_graph();
        g.outputs = vec![9];
        assert!(
            matches!(refused(g), GraphError::TensorIndex { what, index: 9, .. } if what == "graph output list")
        );
    }

    #[test]
    fn out_of_range_graph_input_is_refused_before_the_planner_indexes_it() {
        let mut g = add_graph();
        g.inputs = vec![5];
        assert!(
            matches!(refused(g), GraphError::TensorIndex { what, index: 5, .. } if what == "graph input list")
        );
    }

    #[test]
    fn operand_counts_follow_the_op() {
        let mut g = add_graph();
        g.operators[0].inputs.push(Some(1));
        assert_eq!(
            refused(g),
            GraphError::InputCount {
                index: 0,
                op: "ADD",
                expected: "2".into(),
                got: 3
            }
        );
        // A trailing omitted operand names nothing and is tolerated.
        let mut g = add_graph();
        g.operators[0].inputs.push(None);
        assert_eq!(g.validate(), Ok(()));
        let mut g = add_graph();
        g.operators[0].outputs.push(1);
        assert!(matches!(
            refused(g),
            GraphError::OutputCount {
                expected: 1,
                got: 2,
                ..
            }
        ));
        let mut g = add_graph();
        g.operators[0].inputs[0] = None;
        assert_eq!(
            refused(g),
            GraphError::MissingInput {
                index: 0,
                op: "ADD",
                slot: 0
            }
        );
    }

    #[test]
    fn an_omitted_bias_is_allowed_an_omitted_weight_is_not() {
        let mut g = add_graph();
        g.tensors[1] = Tensor::constant_f32("w", vec![4, 4], &[0.0; 16]);
        g.operators[0] = Operator {
            op: Op::FullyConnected(Default::default()),
            inputs: vec![Some(0), Some(1), None],
            outputs: vec![2],
        };
        assert_eq!(g.validate(), Ok(()));
        g.operators[0].inputs[1] = None;
        assert!(matches!(
            g.validate(),
            Err(GraphError::MissingInput {
                slot: 1,
                op: "FULLY_CONNECTED",
                ..
            })
        ));
    }

    #[test]
    fn constant_bytes_must_match_the_shape() {
        let mut g = add_graph();
        if let Some(d) = g.tensors[1].data.as_mut() {
            d.truncate(12);
        }
        assert_eq!(
            refused(g),
            GraphError::ConstantSize {
                tensor: 1,
                name: "c".into(),
                shape: vec![1, 4],
                dtype: DType::F32,
                need: 16,
                have: 12
            }
        );
        let mut g = add_graph();
        if let Some(d) = g.tensors[1].data.as_mut() {
            d.extend([0; 4]);
        }
        assert!(matches!(
            refused(g),
            GraphError::ConstantSize {
                need: 16,
                have: 20,
                ..
            }
        ));
    }

    #[test]
    fn oversized_and_overflowing_shapes_are_refused() {
        let mut g = add_graph();
        // 2^28 float32 elements: 1 GiB exactly fits, one more element does not.
        g.tensors[2].shape = vec![1 << 28];
        assert_eq!(g.validate(), Ok(()));
        g.tensors[2].shape = vec![(1 << 28) + 1];
        assert!(matches!(refused(g), GraphError::TooLarge { tensor: 2, .. }));
        let mut g = add_graph();
        g.tensors[2].shape = vec![usize::MAX, 2];
        assert!(matches!(refused(g), GraphError::TooLarge { .. }));
    }

    #[test]
    fn quantization_tables_must_agree_with_the_shape() {
        let mut g = add_graph();
        g.tensors[0].quantization = Some(Quantization {
            scale: vec![0.5, 0.5],
            zero_point: vec![0],
            ..Default::default()
        });
        assert!(matches!(
            refused(g),
            GraphError::Quantization { tensor: 0, .. }
        ));
        let mut g = add_graph();
        g.tensors[0].quantization = Some(Quantization {
            scale: vec![0.5; 3],
            zero_point: vec![0; 3],
            quantized_dimension: 1,
            ..Default::default()
        });
        assert!(matches!(refused(g), GraphError::Quantization { .. }));
        let mut g = add_graph();
        g.tensors[0].quantization = Some(Quantization {
            quantized_dimension: 2,
            ..Quantization::per_tensor(0.5, 0)
        });
        assert!(matches!(refused(g), GraphError::Quantization { .. }));
    }

    #[test]
    fn signature_indices_are_checked() {
        let mut model = Model::with_default_signature(add_graph());
        if let Some(sig) = model.signature.as_mut() {
            sig.outputs[0].1 = 4;
        }
        assert!(matches!(
            model.validate(),
            Err(GraphError::TensorIndex { index: 4, .. })
        ));
    }
}
