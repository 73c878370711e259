//! The plan: a model specialized to input shapes (built by the passes in
//! [`super::passes`]), and the executor that runs its steps over one arena.

use std::sync::Arc;

use super::passes;
use super::{KernelError, PlanError, RunError, TensorInfo};
use crate::ir::{DType, Model, TensorBuf, Value, View, ViewMut};
use crate::kernels::cpu::CpuFeatures;
use crate::ops::exec::Kernel;

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

impl Plan {
    /// Plans `model` for inputs of the given shapes, in the passes of `interp/passes.rs`.
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
        // Asked once per process; every kernel of the plan picks its variant from it.
        let cpu = CpuFeatures::detect();
        let mut known = passes::seed(graph, input_shapes)?;
        let candidates = passes::prepare_and_fold(graph, &mut known, cpu)?;
        let candidates = passes::prune(graph, candidates);
        let layout = passes::lay_out_arena(graph, &candidates, &known);

        let slot_of = |t: usize| -> Slot {
            if let Some(c) = known.const_slot[t] {
                return Slot::Const(c);
            }
            match (layout.offsets[t], known.infos[t].as_ref()) {
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
                    known.infos[t]
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
            constants: known.constants,
            infos: known.infos,
            arena: vec![0u64; layout.bytes.div_ceil(8)],
            arena_bytes: layout.bytes,
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
