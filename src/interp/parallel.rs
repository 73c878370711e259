//! Batch parallelism: a batch is cut into contiguous row ranges, one per worker, and
//! each worker runs its own plan (its own arena, so no two threads share scratch) on a
//! thread of a pool the split owns. Kernels compute every batch row on its own, so the
//! rows come out bit for bit as one plan running the whole batch would make them — as
//! long as the model itself never mixes rows, which [`Split::new`] checks before it
//! agrees to split.

use std::ops::Range;

use rayon::prelude::*;

use super::plan::Plan;
use super::{KernelError, PlanError, RunError};
use crate::ir::{DType, Model, Op};
use crate::ir::{Value, View, ViewMut};

/// The workers of one split batch.
pub(crate) struct Split {
    workers: Vec<Worker>,
    pool: rayon::ThreadPool,
    /// Elements in one batch row of each input and of each output.
    in_row: Vec<usize>,
    out_row: Vec<usize>,
    /// Where the outputs of the current call are, refilled per call (its capacity stays,
    /// so a run allocates nothing).
    out_at: Vec<OutAt>,
}

struct Worker {
    plan: Plan,
    rows: Range<usize>,
}

/// One caller output, as an address the workers may share: each writes only its rows.
#[derive(Clone, Copy)]
struct OutAt {
    addr: usize,
    dtype: DType,
    len: usize,
}

impl Split {
    /// Workers for `threads` threads over the batch `full` was planned for, or `None`
    /// when one plan should run it: a single thread or row, or a model whose rows are
    /// not independent (see [`rows_independent`]), or one whose slices cannot be planned
    /// (a SLICE fixed to the whole batch's size).
    pub(crate) fn new(model: &Model, full: &Plan, threads: usize) -> Option<Split> {
        let batch = rows_independent(model, full)?;
        let k = threads.min(batch);
        if k < 2 {
            return None;
        }
        let in_row: Vec<usize> = full
            .input_shapes()
            .iter()
            .map(|s| s[1..].iter().product())
            .collect();
        let out_row: Vec<usize> = full
            .output_shapes()
            .map(|s| s.get(1..).map_or(1, |r| r.iter().product()))
            .collect();
        let mut workers = Vec::with_capacity(k);
        let mut start = 0;
        for w in 0..k {
            // The first `batch % k` workers take one row more.
            let rows = batch / k + usize::from(w < batch % k);
            let shapes: Vec<Vec<usize>> = full
                .input_shapes()
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    s[0] = rows;
                    s
                })
                .collect();
            // The whole batch planned, so a slice that does not (a SLICE or RESHAPE
            // fixed to the whole batch's size) means: one plan runs it.
            let Ok(plan) = Plan::new(model, &shapes) else {
                return None;
            };
            // A plan whose outputs are not the full plan's rows would be a model that
            // mixes rows after all; one plan then runs the batch.
            let same = plan
                .output_shapes()
                .zip(full.output_shapes())
                .all(|(p, f)| {
                    p.first() == Some(&rows) && f.first() == Some(&batch) && p[1..] == f[1..]
                });
            if !same {
                return None;
            }
            workers.push(Worker {
                plan,
                rows: start..start + rows,
            });
            start += rows;
        }
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .thread_name(|i| format!("ferrolite-batch-{i}"))
            .build()
        {
            Ok(pool) => pool,
            // No threads to be had: one plan runs the batch, as with one thread.
            Err(_) => return None,
        };
        Some(Split {
            out_at: Vec::with_capacity(out_row.len()),
            workers,
            pool,
            in_row,
            out_row,
        })
    }

    /// Number of workers (threads) the batch is split over.
    pub(crate) fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Runs the batch; `inputs` have the full plan's shapes (the interpreter re-planned
    /// for them) and `outputs` the full plan's output shapes (checked by the caller).
    pub(crate) fn run_into(
        &mut self,
        inputs: &[Value],
        outputs: &mut [Value],
    ) -> Result<(), RunError> {
        let batch = self.workers.last().map_or(0, |w| w.rows.end);
        if inputs.len() != self.in_row.len() {
            return Err(PlanError::InputCount {
                expected: self.in_row.len(),
                got: inputs.len(),
            }
            .into());
        }
        for (k, (v, &row)) in inputs.iter().zip(&self.in_row).enumerate() {
            // The shape was checked; the data length is the caller's promise to keep.
            if v.data.len() != batch * row {
                return Err(PlanError::InputSize {
                    index: k,
                    name: String::new(),
                    shape: v.shape.clone(),
                    expected: batch * row,
                    got: v.data.len(),
                }
                .into());
            }
        }
        self.out_at.clear();
        for (k, (o, &row)) in outputs.iter_mut().zip(&self.out_row).enumerate() {
            if o.data.len() != batch * row {
                return Err(RunError::Kernel {
                    index: k,
                    op: "output",
                    message: format!(
                        "the output value of shape {:?} holds {} elements, not {}",
                        o.shape,
                        o.data.len(),
                        batch * row
                    ),
                });
            }
            self.out_at.push(OutAt::of(o.data.view_mut()));
        }
        let (in_row, out_row, out_at) = (&self.in_row, &self.out_row, &self.out_at);
        let workers = &mut self.workers;
        self.pool.install(|| {
            workers
                .par_iter_mut()
                .try_for_each(|w| w.run(inputs, in_row, out_row, out_at))
        })
    }
}

impl Worker {
    fn run(
        &mut self,
        inputs: &[Value],
        in_row: &[usize],
        out_row: &[usize],
        out_at: &[OutAt],
    ) -> Result<(), RunError> {
        let n = self.rows.len();
        for (k, (v, &row)) in inputs.iter().zip(in_row).enumerate() {
            let rows = sub_view(v.data.view(), self.rows.start * row, n * row)
                .ok_or_else(|| slice_error(k, "input"))?;
            self.plan.load_input(k, rows)?;
        }
        self.plan.execute(None)?;
        for (k, (at, &row)) in out_at.iter().zip(out_row).enumerate() {
            // SAFETY: `at` points into an output the caller lent exclusively for the whole
            // call (`Split::run_into` holds `&mut` on it while the pool runs); the
            // workers' row ranges are disjoint and inside it (its length was checked
            // against the batch), so this view aliases no other live one.
            let mut dst = unsafe { at.rows(self.rows.start * row, n * row) }
                .ok_or_else(|| slice_error(k, "output"))?;
            dst.copy_from(&self.plan.output_view(k))
                .map_err(|e: KernelError| RunError::Kernel {
                    index: k,
                    op: "output",
                    message: e.0,
                })?;
        }
        Ok(())
    }
}

fn slice_error(k: usize, what: &'static str) -> RunError {
    RunError::Kernel {
        index: k,
        op: what,
        message: format!("the batch rows of {what} {k} are out of range"),
    }
}

impl OutAt {
    fn of(v: ViewMut<'_>) -> OutAt {
        let (addr, dtype, len) = match v {
            ViewMut::F32(s) => (s.as_mut_ptr() as usize, DType::F32, s.len()),
            ViewMut::F16(s) => (s.as_mut_ptr() as usize, DType::F16, s.len()),
            ViewMut::I8(s) => (s.as_mut_ptr() as usize, DType::I8, s.len()),
            ViewMut::U8(s) => (s.as_mut_ptr() as usize, DType::U8, s.len()),
            ViewMut::I16(s) => (s.as_mut_ptr() as usize, DType::I16, s.len()),
            ViewMut::I32(s) => (s.as_mut_ptr() as usize, DType::I32, s.len()),
            ViewMut::I64(s) => (s.as_mut_ptr() as usize, DType::I64, s.len()),
            ViewMut::Bool(s) => (s.as_mut_ptr() as usize, DType::Bool, s.len()),
        };
        OutAt { addr, dtype, len }
    }

    /// Elements `start..start + len` of the output, or `None` past its end.
    ///
    /// # Safety
    /// The output must still be alive and lent to this call, and no other view of these
    /// elements may exist while the returned one lives.
    unsafe fn rows<'a>(&self, start: usize, len: usize) -> Option<ViewMut<'a>> {
        use std::slice::from_raw_parts_mut as raw;
        if start.checked_add(len)? > self.len {
            return None;
        }
        Some(match self.dtype {
            DType::F32 => ViewMut::F32(raw((self.addr as *mut f32).add(start), len)),
            DType::F16 => ViewMut::F16(raw((self.addr as *mut half::f16).add(start), len)),
            DType::I8 => ViewMut::I8(raw((self.addr as *mut i8).add(start), len)),
            DType::U8 => ViewMut::U8(raw((self.addr as *mut u8).add(start), len)),
            DType::I16 => ViewMut::I16(raw((self.addr as *mut i16).add(start), len)),
            DType::I32 => ViewMut::I32(raw((self.addr as *mut i32).add(start), len)),
            DType::I64 => ViewMut::I64(raw((self.addr as *mut i64).add(start), len)),
            DType::Bool => ViewMut::Bool(raw((self.addr as *mut bool).add(start), len)),
        })
    }
}

fn sub_view(v: View<'_>, start: usize, len: usize) -> Option<View<'_>> {
    let r = start..start.checked_add(len)?;
    Some(match v {
        View::Absent => View::Absent,
        View::F32(s) => View::F32(s.get(r)?),
        View::F16(s) => View::F16(s.get(r)?),
        View::I8(s) => View::I8(s.get(r)?),
        View::U8(s) => View::U8(s.get(r)?),
        View::I16(s) => View::I16(s.get(r)?),
        View::I32(s) => View::I32(s.get(r)?),
        View::I64(s) => View::I64(s.get(r)?),
        View::Bool(s) => View::Bool(s.get(r)?),
    })
}

/// The batch size, when every row of the batch `full` was planned for goes through the
/// model on its own, so that cutting the batch cannot change a result: all inputs share
/// a leading batch dimension of at least 2, no tensor keeps state across calls (SVDF,
/// LSTM), every tensor computed per run keeps that leading dimension, and no operator
/// moves data along it (a TRANSPOSE that moves axis 0, a GATHER on axis 0, a
/// STRIDED_SLICE stepping or reshaping axis 0, among the operators that run per call).
/// The shape test alone would miss those
/// last ones, which keep the shape and still mix rows.
pub(crate) fn rows_independent(model: &Model, full: &Plan) -> Option<usize> {
    let graph = &model.graph;
    let batch = *full.input_shapes().first()?.first()?;
    if batch < 2
        || full
            .input_shapes()
            .iter()
            .any(|s| s.first() != Some(&batch))
    {
        return None;
    }
    if graph.tensors.iter().any(|t| t.is_variable) {
        return None;
    }
    let constant = |t: Option<usize>| -> Option<Vec<i64>> {
        let buf = full.tensor_info(t?)?.constant.as_ref()?;
        buf.view().to_i64s().ok()
    };
    // Operators folded at plan time work on shapes and constants, not on rows.
    for operator in full
        .step_operators()
        .into_iter()
        .filter_map(|i| graph.operators.get(i))
    {
        let input = |i: usize| operator.inputs.get(i).copied().flatten();
        let ok = match &operator.op {
            Op::Svdf { .. } | Op::UnidirectionalSequenceLstm(_) => false,
            Op::Transpose => constant(input(1)).is_some_and(|p| p.first() == Some(&0)),
            Op::Gather { axis, .. } => {
                let rank = input(0)
                    .and_then(|t| full.tensor_info(t))
                    .map_or(0, |i| i.shape.len()) as i64;
                let axis = i64::from(*axis);
                rank > 0 && (if axis < 0 { axis + rank } else { axis }) != 0
            }
            Op::StridedSlice(o) => {
                o.ellipsis_mask == 0
                    && o.new_axis_mask & 1 == 0
                    && o.shrink_axis_mask & 1 == 0
                    && constant(input(3)).is_some_and(|s| s.first() == Some(&1))
            }
            _ => true,
        };
        if !ok {
            return None;
        }
    }
    for t in 0..graph.tensors.len() {
        if let Some(info) = full.tensor_info(t) {
            if info.constant.is_none() && info.shape.first() != Some(&batch) {
                return None;
            }
        }
    }
    Some(batch)
}
