//! Planning: shapes, per-op preparation, plan-time folding, and the arena layout.

use std::sync::Arc;

use crate::ir::{TensorBuf, Value, View, ViewMut};
use super::{KernelError, PlanError, RunError, TensorInfo, MAX_TENSOR_BYTES};
use crate::ir::{DType, Model, Op};
use crate::kernels::cpu::CpuFeatures;
use crate::ops::exec::{Kernel, PrepareCtx};

/// Arena offsets are multiples of this, so every view is aligned for any element type
/// and for SIMD loads.
const ALIGN: usize = 64;

/// Operands a step's views hold on the stack; only CONCATENATION/PACK of many tensors,
/// the LSTM (24 inputs) and wide SPLITs go past these and allocate their view lists.
const INLINE_INPUTS: usize = 16;
const INLINE_OUTPUTS: usize = 8;

/// Where a kernel finds one of its inputs or outputs.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Absent,
    Const(usize),
    Arena {
        offset: usize,
        len: usize,
        dtype: DType,
    },
}

struct Step {
    index: usize,
    op: &'static str,
    kernel: Box<dyn Kernel>,
    inputs: Vec<Slot>,
    outputs: Vec<Slot>,
}

/// A model specialized to concrete input shapes, ready to run.
pub struct Plan {
    input_shapes: Vec<Vec<usize>>,
    input_names: Vec<String>,
    inputs: Vec<Slot>,
    outputs: Vec<(Slot, Vec<usize>)>,
    steps: Vec<Step>,
    constants: Vec<Arc<TensorBuf>>,
    infos: Vec<Option<TensorInfo>>,
    arena: Vec<u64>,
    arena_bytes: usize,
}

/// A non-constant tensor awaiting an arena offset.
struct Pending {
    tensor: usize,
    bytes: usize,
    first: usize,
    last: usize,
}

impl Plan {
    /// Plans `model` for inputs of the given shapes.
    pub fn new(model: &Model, input_shapes: &[Vec<usize>]) -> Result<Plan, PlanError> {
        let graph = &model.graph;
        // Graphs built in code (quantizer, exporter, lowering) reach the planner without
        // the reader's checks; after this every index below is in range.
        graph.validate()?;
        if input_shapes.len() != graph.inputs.len() {
            return Err(PlanError::InputCount {
                expected: graph.inputs.len(),
                got: input_shapes.len(),
            });
        }
        let mut infos: Vec<Option<TensorInfo>> = vec![None; graph.tensors.len()];
        // Asked once per process; every kernel of the plan picks its variant from it.
        let cpu = CpuFeatures::detect();
        let mut constants: Vec<Arc<TensorBuf>> = Vec::new();
        let mut const_slot: Vec<Option<usize>> = vec![None; graph.tensors.len()];

        for (k, (&t, shape)) in graph.inputs.iter().zip(input_shapes).enumerate() {
            let decl = &graph.tensors[t];
            check_input_shape(k, &decl.name, &decl.shape, shape)?;
            check_size(t, &decl.name, shape, decl.dtype)?;
            infos[t] = Some(TensorInfo {
                name: decl.name.clone(),
                dtype: decl.dtype,
                shape: shape.clone(),
                quantization: decl.quantization.clone(),
                sparsity: None,
                constant: None,
            });
        }

        for (t, decl) in graph.tensors.iter().enumerate() {
            if infos[t].is_some() {
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
            const_slot[t] = Some(constants.len());
            constants.push(buf.clone());
            infos[t] = Some(TensorInfo {
                name: decl.name.clone(),
                dtype: decl.dtype,
                shape: decl.shape.clone(),
                quantization: decl.quantization.clone(),
                sparsity: decl.sparsity.clone(),
                constant: Some(buf),
            });
        }

        // Variable tensors without data (SVDF and LSTM state) start as zeros and are kept
        // by the kernel that reads them; they are known, not computed, and get no slot.
        for (t, decl) in graph.tensors.iter().enumerate() {
            if decl.is_variable && infos[t].is_none() {
                check_size(t, &decl.name, &decl.shape, decl.dtype)?;
                infos[t] = Some(TensorInfo {
                    name: decl.name.clone(),
                    dtype: decl.dtype,
                    shape: decl.shape.clone(),
                    quantization: decl.quantization.clone(),
                    sparsity: None,
                    constant: None,
                });
            }
        }

        // Prepare every operator in order; fold the ones whose outputs are known now.
        struct Candidate {
            index: usize,
            op: &'static str,
            kernel: Box<dyn Kernel>,
            inputs: Vec<Option<usize>>,
            outputs: Vec<usize>,
        }
        let mut candidates: Vec<Candidate> = Vec::new();
        for (index, operator) in graph.operators.iter().enumerate() {
            let op_name = operator.op.name();
            let op_err = |message: String| PlanError::Operator {
                index,
                op: op_name,
                message,
            };
            for &t in operator.inputs.iter().flatten() {
                if infos[t].is_none() {
                    return Err(PlanError::UndefinedTensor {
                        index,
                        op: op_name,
                        tensor: t,
                        name: graph.tensors[t].name.clone(),
                    });
                }
                let sparse = infos[t].as_ref().is_some_and(|i| i.sparsity.is_some());
                if sparse && !matches!(operator.op, Op::Densify | Op::FullyConnected(_)) {
                    return Err(op_err(format!(
                        "reads sparse tensor {t} ('{}') directly; only DENSIFY and FULLY_CONNECTED accept sparse tensors",
                        graph.tensors[t].name
                    )));
                }
            }
            for &t in &operator.outputs {
                if infos[t].is_some() {
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
                    .map(|i| i.and_then(|t| infos[t].as_ref()))
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
                .all(|&t| infos[t].as_ref().is_some_and(|i| i.constant.is_some()));
            let fold = all_const || prepared.kernel.shape_only();

            let mut outs: Vec<TensorBuf> = Vec::new();
            if fold {
                let views: Vec<View<'_>> = operator
                    .inputs
                    .iter()
                    .map(|i| {
                        match i
                            .and_then(|t| infos[t].as_ref())
                            .and_then(|i| i.constant.as_deref())
                        {
                            Some(buf) => buf.view(),
                            None => View::Absent,
                        }
                    })
                    .collect();
                outs = operator
                    .outputs
                    .iter()
                    .zip(&prepared.output_shapes)
                    .map(|(&t, s)| TensorBuf::zeros(graph.tensors[t].dtype, s.iter().product()))
                    .collect();
                let mut out_views: Vec<ViewMut<'_>> =
                    outs.iter_mut().map(|b| b.view_mut()).collect();
                prepared
                    .kernel
                    .run(&views, &mut out_views)
                    .map_err(|e| op_err(format!("while computing at plan time: {}", e.0)))?;
            }
            let mut outs = outs.into_iter();
            for (&t, shape) in operator.outputs.iter().zip(prepared.output_shapes) {
                let decl = &graph.tensors[t];
                let constant = if fold {
                    let buf = Arc::new(
                        outs.next()
                            .unwrap_or_else(|| TensorBuf::zeros(decl.dtype, 0)),
                    );
                    const_slot[t] = Some(constants.len());
                    constants.push(buf.clone());
                    Some(buf)
                } else {
                    None
                };
                infos[t] = Some(TensorInfo {
                    name: decl.name.clone(),
                    dtype: decl.dtype,
                    shape,
                    quantization: decl.quantization.clone(),
                    sparsity: None,
                    constant,
                });
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
            if infos[t].is_none() {
                return Err(PlanError::OutputNotProduced {
                    tensor: t,
                    name: graph.tensors[t].name.clone(),
                });
            }
        }

        // Keep only the steps that contribute to an output.
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
        let candidates: Vec<Candidate> = candidates
            .into_iter()
            .zip(keep)
            .filter_map(|(c, k)| k.then_some(c))
            .collect();

        // Lifetimes in step positions: model inputs are born before step 0, model
        // outputs live past the last step.
        let n_steps = candidates.len();
        let mut first: Vec<Option<usize>> = vec![None; graph.tensors.len()];
        let mut last: Vec<usize> = vec![0; graph.tensors.len()];
        for &t in &graph.inputs {
            first[t] = Some(0);
        }
        for (pos, cand) in candidates.iter().enumerate() {
            for &t in cand.inputs.iter().flatten() {
                if const_slot[t].is_none() {
                    last[t] = last[t].max(pos);
                }
            }
            for &t in &cand.outputs {
                first[t] = Some(pos);
                last[t] = last[t].max(pos);
            }
        }
        for &t in &graph.outputs {
            if const_slot[t].is_none() {
                last[t] = n_steps;
            }
        }
        let mut pending: Vec<Pending> = Vec::new();
        for (t, f) in first.iter().enumerate() {
            if let (Some(f), Some(info)) = (f, infos[t].as_ref()) {
                if const_slot[t].is_none() {
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
        let (offsets, arena_bytes) = assign_offsets(&mut pending, graph.tensors.len());

        let slot_of = |t: usize| -> Slot {
            if let Some(c) = const_slot[t] {
                return Slot::Const(c);
            }
            match (offsets[t], infos[t].as_ref()) {
                (Some(offset), Some(info)) => Slot::Arena {
                    offset,
                    len: info.num_elements(),
                    dtype: info.dtype,
                },
                _ => Slot::Absent,
            }
        };
        let steps = candidates
            .into_iter()
            .map(|c| Step {
                index: c.index,
                op: c.op,
                inputs: c
                    .inputs
                    .iter()
                    .map(|i| i.map(slot_of).unwrap_or(Slot::Absent))
                    .collect(),
                outputs: c.outputs.iter().map(|&t| slot_of(t)).collect(),
                kernel: c.kernel,
            })
            .collect();
        let inputs = graph.inputs.iter().map(|&t| slot_of(t)).collect();
        let outputs = graph
            .outputs
            .iter()
            .map(|&t| {
                (
                    slot_of(t),
                    infos[t]
                        .as_ref()
                        .map(|i| i.shape.clone())
                        .unwrap_or_default(),
                )
            })
            .collect();

        Ok(Plan {
            input_shapes: input_shapes.to_vec(),
            input_names: graph
                .inputs
                .iter()
                .map(|&t| graph.tensors[t].name.clone())
                .collect(),
            inputs,
            outputs,
            steps,
            constants,
            infos,
            arena: vec![0u64; arena_bytes.div_ceil(8)],
            arena_bytes,
        })
    }

    /// The input shapes this plan was made for.
    pub fn input_shapes(&self) -> &[Vec<usize>] {
        &self.input_shapes
    }

    /// Bytes of the shared activation arena.
    pub fn arena_bytes(&self) -> usize {
        self.arena_bytes
    }

    /// Number of operators that run per inference (after plan-time folding).
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }

    /// Indices of the model operators that run per inference, in order.
    pub fn step_operators(&self) -> Vec<usize> {
        self.steps.iter().map(|s| s.index).collect()
    }

    /// What the planner derived for tensor `t` (shape, constant contents).
    pub fn tensor_info(&self, t: usize) -> Option<&TensorInfo> {
        self.infos.get(t).and_then(|i| i.as_ref())
    }

    /// Runs one batch with inputs of exactly the planned shapes.
    pub fn run(&mut self, inputs: &[Value]) -> Result<Vec<Value>, RunError> {
        self.load_inputs(inputs)?;
        self.execute(None)?;
        Ok(self.collect_outputs())
    }

    /// Like [`Plan::run`], writing into `outputs`, which must hold one value per model
    /// output with the planned dtype and shape (as [`Plan::new_outputs`] makes them).
    /// Nothing is allocated: the timing loop of `ferrolite bench` and callers that run
    /// many batches reuse their outputs.
    pub fn run_into(&mut self, inputs: &[Value], outputs: &mut [Value]) -> Result<(), RunError> {
        self.check_outputs(outputs)?;
        self.load_inputs(inputs)?;
        self.execute(None)?;
        for (k, out) in outputs.iter_mut().enumerate() {
            let src = self.output_view(k);
            out.data
                .view_mut()
                .copy_from(&src)
                .map_err(|e| output_error(k, e))?;
        }
        Ok(())
    }

    /// Zeroed outputs of the planned dtypes and shapes, for [`Plan::run_into`].
    pub fn new_outputs(&self) -> Vec<Value> {
        self.outputs
            .iter()
            .map(|(slot, shape)| {
                let dtype = match *slot {
                    Slot::Arena { dtype, .. } => dtype,
                    Slot::Const(c) => self.constants[c].dtype(),
                    Slot::Absent => DType::F32,
                };
                let len = match *slot {
                    Slot::Absent => 0,
                    _ => shape.iter().product(),
                };
                Value::new(shape.clone(), TensorBuf::zeros(dtype, len))
            })
            .collect()
    }

    /// The planned output shapes, one per model output.
    pub fn output_shapes(&self) -> impl Iterator<Item = &[usize]> {
        self.outputs.iter().map(|(_, shape)| shape.as_slice())
    }

    /// Like [`Plan::run`], adding each step's wall time in seconds to `seconds`
    /// (indexed like [`Plan::step_operators`]), for per-operator profiles.
    pub fn run_timed(
        &mut self,
        inputs: &[Value],
        seconds: &mut [f64],
    ) -> Result<Vec<Value>, RunError> {
        self.load_inputs(inputs)?;
        self.execute(Some(seconds))?;
        Ok(self.collect_outputs())
    }

    pub(crate) fn check_outputs(&self, outputs: &[Value]) -> Result<(), RunError> {
        if outputs.len() != self.outputs.len() {
            return Err(RunError::Kernel {
                index: 0,
                op: "output",
                message: format!(
                    "{} output values were given for a model with {} outputs",
                    outputs.len(),
                    self.outputs.len()
                ),
            });
        }
        for (k, (out, (_, shape))) in outputs.iter().zip(&self.outputs).enumerate() {
            if &out.shape != shape {
                return Err(output_error(
                    k,
                    KernelError::new(format!(
                        "the output value has shape {:?}, the plan makes {shape:?}",
                        out.shape
                    )),
                ));
            }
        }
        Ok(())
    }

    fn load_inputs(&mut self, inputs: &[Value]) -> Result<(), RunError> {
        self.check_inputs(inputs)?;
        for (k, value) in inputs.iter().enumerate() {
            self.load_input(k, value.data.view())?;
        }
        Ok(())
    }

    /// Errors for inputs of the wrong count, dtypes or shapes.
    pub(crate) fn check_inputs(&self, inputs: &[Value]) -> Result<(), RunError> {
        if inputs.len() != self.inputs.len() {
            return Err(PlanError::InputCount {
                expected: self.inputs.len(),
                got: inputs.len(),
            }
            .into());
        }
        for (k, value) in inputs.iter().enumerate() {
            let Some(&Slot::Arena { dtype, .. }) = self.inputs.get(k) else {
                continue;
            };
            if value.dtype() != dtype {
                return Err(PlanError::InputType {
                    index: k,
                    name: self.input_name(k),
                    expected: dtype,
                    got: value.dtype(),
                }
                .into());
            }
            if value.shape != self.input_shapes[k] {
                return Err(PlanError::InputSize {
                    index: k,
                    name: self.input_name(k),
                    shape: value.shape.clone(),
                    expected: self.input_len(k),
                    got: value.data.len(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Elements input `k` has in this plan.
    fn input_len(&self, k: usize) -> usize {
        match self.inputs.get(k) {
            Some(Slot::Arena { len, .. }) => *len,
            _ => self.input_shapes.get(k).map_or(0, |s| s.iter().product()),
        }
    }

    /// Copies input `k` (of the planned shape, checked by its dtype and length) into the
    /// arena. The parallel runner calls it with a batch slice of a caller's input.
    pub(crate) fn load_input(&mut self, k: usize, data: View<'_>) -> Result<(), RunError> {
        let Some(&slot) = self.inputs.get(k) else {
            return Err(PlanError::InputCount {
                expected: self.inputs.len(),
                got: k + 1,
            }
            .into());
        };
        if let Slot::Arena { len, dtype, .. } = slot {
            let got = view_dtype(&data);
            if got != Some(dtype) {
                return Err(PlanError::InputType {
                    index: k,
                    name: self.input_name(k),
                    expected: dtype,
                    got: got.unwrap_or(dtype),
                }
                .into());
            }
            if data.len() != len {
                return Err(PlanError::InputSize {
                    index: k,
                    name: self.input_name(k),
                    shape: self.input_shapes[k].clone(),
                    expected: len,
                    got: data.len(),
                }
                .into());
            }
            let base = self.arena.as_mut_ptr() as *mut u8;
            // SAFETY: the slot lies inside the arena (planned from the same shapes), and
            // no other view of the arena exists outside a step.
            let mut dst = unsafe { view_mut_at(base, slot) };
            dst.copy_from(&data).map_err(|e| RunError::Kernel {
                index: 0,
                op: "input",
                message: e.0,
            })?;
        }
        Ok(())
    }

    /// Output `k` as the last run left it in the arena (empty if there is none).
    pub(crate) fn output_view(&self, k: usize) -> View<'_> {
        match self.outputs.get(k) {
            // SAFETY: the slot lies inside the arena, and `&self` rules out a running
            // step or any mutable view of it.
            Some((slot, _)) => unsafe {
                view_at(self.arena.as_ptr() as *mut u8, &self.constants, *slot)
            },
            None => View::Absent,
        }
    }

    fn collect_outputs(&self) -> Vec<Value> {
        (0..self.outputs.len())
            .map(|k| {
                let data = self
                    .output_view(k)
                    .to_buf()
                    .unwrap_or(TensorBuf::F32(Vec::new()));
                Value::new(self.outputs[k].1.clone(), data)
            })
            .collect()
    }

    /// Runs every step on the inputs already in the arena. Allocates nothing: the views
    /// of a step sit in fixed arrays unless it has more operands than they hold.
    pub(crate) fn execute(&mut self, mut seconds: Option<&mut [f64]>) -> Result<(), RunError> {
        let base = self.arena.as_mut_ptr() as *mut u8;
        for (k, step) in self.steps.iter().enumerate() {
            let started = seconds.as_ref().map(|_| std::time::Instant::now());
            // SAFETY: within one step every arena slot it touches is live, and the planner
            // gives simultaneously live tensors disjoint byte ranges; an operator never
            // writes a tensor it reads (the planner rejects redefinitions). So the shared
            // input views and the exclusive output views never alias.
            let mut in_inline = [View::Absent; INLINE_INPUTS];
            let in_heap: Vec<View<'_>>;
            let in_views: &[View<'_>] = if step.inputs.len() <= INLINE_INPUTS {
                for (v, s) in in_inline.iter_mut().zip(&step.inputs) {
                    *v = unsafe { view_at(base, &self.constants, *s) };
                }
                &in_inline[..step.inputs.len()]
            } else {
                in_heap = step
                    .inputs
                    .iter()
                    .map(|s| unsafe { view_at(base, &self.constants, *s) })
                    .collect();
                &in_heap
            };
            let mut out_inline: [ViewMut<'_>; INLINE_OUTPUTS] =
                std::array::from_fn(|_| ViewMut::F32(&mut []));
            let mut out_heap: Vec<ViewMut<'_>>;
            let out_views: &mut [ViewMut<'_>] = if step.outputs.len() <= INLINE_OUTPUTS {
                for (v, s) in out_inline.iter_mut().zip(&step.outputs) {
                    *v = unsafe { view_mut_at(base, *s) };
                }
                &mut out_inline[..step.outputs.len()]
            } else {
                out_heap = step
                    .outputs
                    .iter()
                    .map(|s| unsafe { view_mut_at(base, *s) })
                    .collect();
                &mut out_heap
            };
            step.kernel
                .run(in_views, out_views)
                .map_err(|e| RunError::Kernel {
                    index: step.index,
                    op: step.op,
                    message: e.0,
                })?;
            if let (Some(t), Some(s)) = (started, seconds.as_deref_mut()) {
                if let Some(slot) = s.get_mut(k) {
                    *slot += t.elapsed().as_secs_f64();
                }
            }
        }
        Ok(())
    }

    fn input_name(&self, k: usize) -> String {
        self.input_names.get(k).cloned().unwrap_or_default()
    }
}

fn output_error(k: usize, e: KernelError) -> RunError {
    RunError::Kernel {
        index: k,
        op: "output",
        message: e.0,
    }
}

fn view_dtype(v: &View<'_>) -> Option<DType> {
    Some(match v {
        View::Absent => return None,
        View::F32(_) => DType::F32,
        View::F16(_) => DType::F16,
        View::I8(_) => DType::I8,
        View::U8(_) => DType::U8,
        View::I16(_) => DType::I16,
        View::I32(_) => DType::I32,
        View::I64(_) => DType::I64,
        View::Bool(_) => DType::Bool,
    })
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

/// Greedy placement, largest tensors first: each goes at the lowest offset that does
/// not overlap a placed tensor whose lifetime overlaps its own. Returns per-tensor
/// offsets and the arena size.
fn assign_offsets(pending: &mut [Pending], n_tensors: usize) -> (Vec<Option<usize>>, usize) {
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
    (offsets, total)
}

/// # Safety
/// `slot`, if in the arena, must lie inside the allocation `base` points to, and no
/// mutable view of the same bytes may exist while the returned view is alive.
unsafe fn view_at<'a>(base: *mut u8, constants: &'a [Arc<TensorBuf>], slot: Slot) -> View<'a> {
    use std::slice::from_raw_parts as raw;
    match slot {
        Slot::Absent => View::Absent,
        Slot::Const(c) => constants[c].view(),
        Slot::Arena { offset, len, dtype } => {
            let p = base.add(offset);
            match dtype {
                DType::F32 => View::F32(raw(p as *const f32, len)),
                DType::F16 => View::F16(raw(p as *const half::f16, len)),
                DType::I8 => View::I8(raw(p as *const i8, len)),
                DType::U8 => View::U8(raw(p as *const u8, len)),
                DType::I16 => View::I16(raw(p as *const i16, len)),
                DType::I32 => View::I32(raw(p as *const i32, len)),
                DType::I64 => View::I64(raw(p as *const i64, len)),
                DType::Bool => View::Bool(raw(p as *const bool, len)),
            }
        }
    }
}

/// # Safety
/// As for [`view_at`], and no other view of the same bytes may exist at all. Arena
/// slots only; a constant slot yields an empty view (outputs are never constants).
unsafe fn view_mut_at<'a>(base: *mut u8, slot: Slot) -> ViewMut<'a> {
    use std::slice::from_raw_parts_mut as raw;
    match slot {
        Slot::Arena { offset, len, dtype } => {
            let p = base.add(offset);
            match dtype {
                DType::F32 => ViewMut::F32(raw(p as *mut f32, len)),
                DType::F16 => ViewMut::F16(raw(p as *mut half::f16, len)),
                DType::I8 => ViewMut::I8(raw(p as *mut i8, len)),
                DType::U8 => ViewMut::U8(raw(p, len)),
                DType::I16 => ViewMut::I16(raw(p as *mut i16, len)),
                DType::I32 => ViewMut::I32(raw(p as *mut i32, len)),
                DType::I64 => ViewMut::I64(raw(p as *mut i64, len)),
                DType::Bool => ViewMut::Bool(raw(p as *mut bool, len)),
            }
        }
        _ => ViewMut::F32(&mut []),
    }
}
