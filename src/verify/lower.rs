//! A "lowered twin" of a model for runtimes with fewer ops: everything ferrolite's
//! planner computes at plan time (constant DEQUANTIZE and DENSIFY, TensorFlow's
//! SHAPE → STRIDED_SLICE → PACK chain for a known batch) becomes a plain constant, and
//! sparse constants are stored dense. The twin computes the same function for the
//! planned input shapes, so comparing another runtime on it still checks every kernel
//! that runs per inference.

use super::VerifyError;
use crate::interp::Plan;
use crate::ir::{Model, Op};

/// What lowering changed, for reports.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Lowering {
    /// "OP #i" for each operator folded into a constant.
    pub folded: Vec<String>,
    /// Names of sparse constants stored dense.
    pub densified: Vec<String>,
}

impl Lowering {
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty() && self.densified.is_empty()
    }
}

/// Builds the lowered twin of `model` for the shapes `plan` was made for.
pub fn lower(model: &Model, plan: &Plan) -> Result<(Model, Lowering), VerifyError> {
    let mut out = model.clone();
    let mut report = Lowering::default();
    let running: Vec<usize> = plan.step_operators();
    let graph = &mut out.graph;

    let mut kept = Vec::new();
    for (i, op) in graph.operators.iter().enumerate() {
        if running.contains(&i) {
            kept.push(op.clone());
        } else {
            report.folded.push(format!("{} #{i}", op.op.name()));
        }
    }
    // Every tensor a kept op (or the graph) reads that the planner holds as a constant
    // gets that constant as its data, in its planned shape.
    let mut read: Vec<usize> = kept
        .iter()
        .flat_map(|op| op.inputs.iter().flatten().copied())
        .collect();
    read.extend(graph.outputs.iter().copied());
    read.sort_unstable();
    read.dedup();
    for t in read {
        let Some(info) = plan.tensor_info(t) else {
            continue;
        };
        let Some(buf) = info.constant.as_deref() else {
            continue;
        };
        let tensor = &mut graph.tensors[t];
        let dense = if let Some(sparsity) = &tensor.sparsity {
            report.densified.push(tensor.name.clone());
            crate::sparse::densify(sparsity, &tensor.shape, buf)?
        } else {
            buf.clone()
        };
        tensor.data = Some(dense.to_le_bytes());
        tensor.shape = info.shape.clone();
        tensor.shape_signature = None;
        tensor.sparsity = None;
    }
    // A RESHAPE whose shape input became a constant no longer needs the options.
    for op in &mut kept {
        if let (Op::Reshape { new_shape }, Some(_)) =
            (&mut op.op, op.inputs.get(1).copied().flatten())
        {
            *new_shape = None;
        }
    }
    graph.operators = kept;
    // Tensor shapes as planned (the batch the twin is for); tract reads them as facts.
    for (t, tensor) in graph.tensors.iter_mut().enumerate() {
        if let Some(info) = plan.tensor_info(t) {
            if tensor.sparsity.is_none() {
                tensor.shape = info.shape.clone();
                tensor.shape_signature = None;
            }
        }
    }
    // Drop constants nothing reads any more, so the twin stays small.
    let used: std::collections::HashSet<usize> = graph
        .operators
        .iter()
        .flat_map(|op| {
            op.inputs
                .iter()
                .flatten()
                .copied()
                .chain(op.outputs.iter().copied())
        })
        .chain(graph.inputs.iter().copied())
        .chain(graph.outputs.iter().copied())
        .collect();
    for (t, tensor) in graph.tensors.iter_mut().enumerate() {
        if !used.contains(&t) && tensor.data.is_some() {
            tensor.data = Some(Vec::new());
            tensor.shape = vec![0];
            tensor.sparsity = None;
        }
    }
    Ok((out, report))
}
