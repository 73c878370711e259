//! The planner's passes. [`super::Plan::new`] runs them in this order:
//!
//! 1. [`seed`]: what is known before any operator runs: the shapes the caller gave for
//!    the inputs, constant data, and variable tensors (recurrent state) that start at zero.
//! 2. [`prepare_and_fold`]: each operator, in graph order, infers its output shapes and
//!    builds its kernel through its `OpDef::prepare`; one whose inputs are all constants
//!    (or that only reads shapes) runs at once and its outputs become constants.
//! 3. [`prune`]: drops the steps no model output depends on.
//! 4. [`lay_out_arena`]: the lifetime of every computed tensor, then its offset in one
//!    arena shared by tensors whose lifetimes do not overlap.
//!
//! There is no fusion pass: activations are fused where the file already fuses them
//! (the `fused_activation_function` of CONV_2D, ADD, ...), and nowhere else yet.

use std::sync::Arc;

use super::{PlanError, TensorInfo, MAX_TENSOR_BYTES};
use crate::ir::{DType, Graph, Op, TensorBuf, View, ViewMut};
use crate::kernels::cpu::CpuFeatures;
use crate::ops::exec::{Kernel, PrepareCtx};

/// Arena offsets are multiples of this, so every view is aligned for any element type
/// and for SIMD loads.
pub(super) const ALIGN: usize = 64;

/// What the planner knows about each tensor, and the constants it holds.
pub(super) struct Known {
    /// Shape, type and (for constants) data of each tensor once known.
    pub infos: Vec<Option<TensorInfo>>,
    /// The model's constants followed by those folded at plan time.
    pub constants: Vec<Arc<TensorBuf>>,
    /// For each tensor, its index in `constants`.
    pub const_slot: Vec<Option<usize>>,
}

impl Known {
    fn info_of(decl: &crate::ir::Tensor, shape: Vec<usize>) -> TensorInfo {
        TensorInfo {
            name: decl.name.clone(),
            dtype: decl.dtype,
            shape,
            quantization: decl.quantization.clone(),
            sparsity: None,
            constant: None,
        }
    }

    fn add_constant(&mut self, t: usize, buf: Arc<TensorBuf>) {
        self.const_slot[t] = Some(self.constants.len());
        self.constants.push(buf);
    }

    fn is_constant(&self, t: usize) -> bool {
        self.infos[t].as_ref().is_some_and(|i| i.constant.is_some())
    }
}

/// An operator that survived folding: it runs on every call.
pub(super) struct Candidate {
    pub index: usize,
    pub op: &'static str,
    pub kernel: Box<dyn Kernel>,
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
}

/// Pass 1. `graph` must have passed `Graph::validate`, so every index is in range.
pub(super) fn seed(graph: &Graph, input_shapes: &[Vec<usize>]) -> Result<Known, PlanError> {
    let n = graph.tensors.len();
    let mut known = Known {
        infos: vec![None; n],
        constants: Vec::new(),
        const_slot: vec![None; n],
    };

    for (k, (&t, shape)) in graph.inputs.iter().zip(input_shapes).enumerate() {
        let decl = &graph.tensors[t];
        check_input_shape(k, &decl.name, &decl.shape, shape)?;
        check_size(t, &decl.name, shape, decl.dtype)?;
        known.infos[t] = Some(Known::info_of(decl, shape.clone()));
    }

    for (t, decl) in graph.tensors.iter().enumerate() {
        if known.infos[t].is_some() {
            continue;
        }
        let Some(bytes) = &decl.data else { continue };
        let buf = if decl.sparsity.is_some() {
            TensorBuf::from_le_bytes(decl.dtype, bytes)
        } else {
            let need = decl.dense_bytes();
            if bytes.len() < need {
                return Err(PlanError::Operator {
                    index: 0,
                    op: "constant",
                    message: format!(
                        "tensor {t} ('{}') has {} bytes of data, its shape {:?} needs {need}",
                        decl.name,
                        bytes.len(),
                        decl.shape
                    ),
                });
            }
            TensorBuf::from_le_bytes(decl.dtype, &bytes[..need])
        };
        let buf = Arc::new(buf);
        known.add_constant(t, buf.clone());
        known.infos[t] = Some(TensorInfo {
            sparsity: decl.sparsity.clone(),
            constant: Some(buf),
            ..Known::info_of(decl, decl.shape.clone())
        });
    }

    // Variable tensors without data (SVDF and LSTM state) start as zeros and are kept
    // by the kernel that reads them; they are known, not computed, and get no slot.
    for (t, decl) in graph.tensors.iter().enumerate() {
        if decl.is_variable && known.infos[t].is_none() {
            check_size(t, &decl.name, &decl.shape, decl.dtype)?;
            known.infos[t] = Some(Known::info_of(decl, decl.shape.clone()));
        }
    }
    Ok(known)
}

/// Pass 2. Returns the operators left to run, in order; every tensor an operator
/// produces is in `known.infos` afterwards.
pub(super) fn prepare_and_fold(
    graph: &Graph,
    known: &mut Known,
    cpu: CpuFeatures,
) -> Result<Vec<Candidate>, PlanError> {
    let mut candidates: Vec<Candidate> = Vec::new();
    for (index, operator) in graph.operators.iter().enumerate() {
        let op_name = operator.op.name();
        let op_err = |message: String| PlanError::Operator {
            index,
            op: op_name,
            message,
        };
        for &t in operator.inputs.iter().flatten() {
            let Some(info) = known.infos[t].as_ref() else {
                return Err(PlanError::UndefinedTensor {
                    index,
                    op: op_name,
                    tensor: t,
                    name: graph.tensors[t].name.clone(),
                });
            };
            if info.sparsity.is_some()
                && !matches!(operator.op, Op::Densify | Op::FullyConnected(_))
            {
                return Err(op_err(format!(
                    "reads sparse tensor {t} ('{}') directly; only DENSIFY and FULLY_CONNECTED accept sparse tensors",
                    graph.tensors[t].name
                )));
            }
        }
        for &t in &operator.outputs {
            if known.infos[t].is_some() {
                return Err(PlanError::RedefinedTensor {
                    tensor: t,
                    name: graph.tensors[t].name.clone(),
                });
            }
        }
        let ctx = PrepareCtx {
            op: operator,
            inputs: operator
                .inputs
                .iter()
                .map(|i| i.and_then(|t| known.infos[t].as_ref()))
                .collect(),
            outputs: operator
                .outputs
                .iter()
                .map(|&t| &graph.tensors[t])
                .collect(),
            cpu,
        };
        let prepared = (operator.op.def().prepare)(&ctx).map_err(|e| op_err(e.0))?;
        if prepared.output_shapes.len() != operator.outputs.len() {
            return Err(op_err(format!(
                "kernel produced {} output shapes for {} outputs",
                prepared.output_shapes.len(),
                operator.outputs.len()
            )));
        }
        for (&t, shape) in operator.outputs.iter().zip(&prepared.output_shapes) {
            check_size(t, &graph.tensors[t].name, shape, graph.tensors[t].dtype)?;
        }
        let all_const = operator
            .inputs
            .iter()
            .flatten()
            .all(|&t| known.is_constant(t));
        let fold = all_const || prepared.kernel.shape_only();

        let mut folded: Vec<TensorBuf> = Vec::new();
        if fold {
            let views: Vec<View<'_>> = operator
                .inputs
                .iter()
                .map(|i| {
                    match i
                        .and_then(|t| known.infos[t].as_ref())
                        .and_then(|i| i.constant.as_deref())
                    {
                        Some(buf) => buf.view(),
                        None => View::Absent,
                    }
                })
                .collect();
            folded = operator
                .outputs
                .iter()
                .zip(&prepared.output_shapes)
                .map(|(&t, s)| TensorBuf::zeros(graph.tensors[t].dtype, s.iter().product()))
                .collect();
            let mut out_views: Vec<ViewMut<'_>> = folded.iter_mut().map(|b| b.view_mut()).collect();
            prepared
                .kernel
                .run(&views, &mut out_views)
                .map_err(|e| op_err(format!("while computing at plan time: {}", e.0)))?;
        }
        let mut folded = folded.into_iter();
        for (&t, shape) in operator.outputs.iter().zip(prepared.output_shapes) {
            let decl = &graph.tensors[t];
            let mut info = Known::info_of(decl, shape);
            if fold {
                let buf = Arc::new(
                    folded
                        .next()
                        .unwrap_or_else(|| TensorBuf::zeros(decl.dtype, 0)),
                );
                known.add_constant(t, buf.clone());
                info.constant = Some(buf);
            }
            known.infos[t] = Some(info);
        }
        if !fold {
            candidates.push(Candidate {
                index,
                op: op_name,
                kernel: prepared.kernel,
                inputs: operator.inputs.clone(),
                outputs: operator.outputs.clone(),
            });
        }
    }

    for &t in &graph.outputs {
        if known.infos[t].is_none() {
            return Err(PlanError::OutputNotProduced {
                tensor: t,
                name: graph.tensors[t].name.clone(),
            });
        }
    }
    Ok(candidates)
}

/// Pass 3. Keeps only the steps that contribute to a model output, walking back
/// from the outputs.
pub(super) fn prune(graph: &Graph, candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut needed = vec![false; graph.tensors.len()];
    for &t in &graph.outputs {
        needed[t] = true;
    }
    let mut keep = vec![false; candidates.len()];
    for (c, cand) in candidates.iter().enumerate().rev() {
        if cand.outputs.iter().any(|&t| needed[t]) {
            keep[c] = true;
            for &t in cand.inputs.iter().flatten() {
                needed[t] = true;
            }
        }
    }
    candidates
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

/// Where the computed tensors live: an offset per tensor (`None` for constants and
/// tensors no step touches) and the arena's size in bytes.
pub(super) struct ArenaLayout {
    pub offsets: Vec<Option<usize>>,
    pub bytes: usize,
}

/// A computed tensor awaiting an arena offset; `first` and `last` are step positions.
struct Pending {
    tensor: usize,
    bytes: usize,
    first: usize,
    last: usize,
}

/// Pass 4. Lifetimes are counted in step positions: model inputs are born before
/// step 0, model outputs live past the last step.
pub(super) fn lay_out_arena(graph: &Graph, steps: &[Candidate], known: &Known) -> ArenaLayout {
    let n = graph.tensors.len();
    let computed = |t: usize| known.const_slot[t].is_none();
    let mut first: Vec<Option<usize>> = vec![None; n];
    let mut last: Vec<usize> = vec![0; n];
    for &t in &graph.inputs {
        first[t] = Some(0);
    }
    for (pos, step) in steps.iter().enumerate() {
        for &t in step.inputs.iter().flatten() {
            if computed(t) {
                last[t] = last[t].max(pos);
            }
        }
        for &t in &step.outputs {
            first[t] = Some(pos);
            last[t] = last[t].max(pos);
        }
    }
    for &t in &graph.outputs {
        if computed(t) {
            last[t] = steps.len();
        }
    }
    let mut pending: Vec<Pending> = Vec::new();
    for (t, f) in first.iter().enumerate() {
        if let (Some(f), Some(info)) = (f, known.infos[t].as_ref()) {
            if computed(t) {
                let bytes = info.num_elements() * info.dtype.size();
                pending.push(Pending {
                    tensor: t,
                    bytes: bytes.div_ceil(ALIGN) * ALIGN,
                    first: *f,
                    last: last[t],
                });
            }
        }
    }
    assign_offsets(&mut pending, n)
}

/// Greedy placement, largest tensors first: each goes at the lowest offset that does
/// not overlap a placed tensor whose lifetime overlaps its own.
fn assign_offsets(pending: &mut [Pending], n_tensors: usize) -> ArenaLayout {
    pending.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.tensor.cmp(&b.tensor)));
    let mut placed: Vec<(usize, usize, usize, usize)> = Vec::new(); // offset, bytes, first, last
    let mut offsets = vec![None; n_tensors];
    let mut total = 0usize;
    for p in pending.iter() {
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&(_, _, f, l)| f <= p.last && p.first <= l)
            .map(|&(o, b, _, _)| (o, o + b))
            .collect();
        busy.sort_unstable();
        let mut offset = 0usize;
        for (start, end) in busy {
            if offset + p.bytes <= start {
                break;
            }
            offset = offset.max(end);
        }
        placed.push((offset, p.bytes, p.first, p.last));
        offsets[p.tensor] = Some(offset);
        total = total.max(offset + p.bytes);
    }
    ArenaLayout {
        offsets,
        bytes: total,
    }
}

fn check_input_shape(
    k: usize,
    name: &str,
    declared: &[usize],
    given: &[usize],
) -> Result<(), PlanError> {
    let ok =
        declared.len() == given.len() && declared.iter().zip(given).skip(1).all(|(a, b)| a == b);
    if ok {
        return Ok(());
    }
    let expected = if declared.is_empty() {
        "[] (a scalar)".to_string()
    } else {
        let rest: Vec<String> = declared[1..].iter().map(|d| d.to_string()).collect();
        if rest.is_empty() {
            "[N]".to_string()
        } else {
            format!("[N, {}]", rest.join(", "))
        }
    };
    Err(PlanError::InputShape {
        index: k,
        name: name.to_string(),
        expected,
        got: given.to_vec(),
    })
}

fn check_size(t: usize, name: &str, shape: &[usize], dtype: DType) -> Result<(), PlanError> {
    let bytes = shape
        .iter()
        .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
        .unwrap_or(usize::MAX);
    if bytes > MAX_TENSOR_BYTES {
        return Err(PlanError::TooLarge {
            tensor: t,
            name: name.to_string(),
            bytes,
            limit: MAX_TENSOR_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(tensor: usize, bytes: usize, first: usize, last: usize) -> Pending {
        Pending {
            tensor,
            bytes,
            first,
            last,
        }
    }

    #[test]
    fn tensors_with_disjoint_lifetimes_share_offsets() {
        // A chain a -> b -> c: a and c never live together, so c reuses a's bytes.
        let mut p = vec![
            pending(0, 128, 0, 0),
            pending(1, 64, 0, 1),
            pending(2, 128, 1, 2),
        ];
        let layout = assign_offsets(&mut p, 3);
        assert_eq!(layout.offsets, vec![Some(0), Some(128), Some(0)]);
        assert_eq!(layout.bytes, 192);
    }

    #[test]
    fn tensors_alive_together_never_overlap() {
        let mut p = vec![
            pending(0, 64, 0, 2),
            pending(1, 192, 1, 1),
            pending(2, 64, 2, 3),
        ];
        let layout = assign_offsets(&mut p, 3);
        let span = |t: usize, b: usize| {
            let o = layout.offsets[t].expect("placed");
            o..o + b
        };
        let (a, b, c) = (span(0, 64), span(1, 192), span(2, 64));
        let disjoint = |x: &std::ops::Range<usize>, y: &std::ops::Range<usize>| {
            x.end <= y.start || y.end <= x.start
        };
        assert!(disjoint(&a, &b) && disjoint(&a, &c));
        assert_eq!(layout.bytes, 256);
    }
}
