//! The built-in interpreter: a planner that specializes a model to concrete input
//! shapes (validating every op, computing per-op constants once, folding what is known
//! at plan time, assigning arena offsets by tensor lifetime) and kernels that compute.

mod parallel;
mod passes;
mod plan;
#[cfg(test)]
mod validate_tests;

use std::sync::Arc;

pub use crate::ir::limits::MAX_TENSOR_BYTES;
use crate::ir::{DType, Model};
pub use crate::ir::{KernelError, TensorBuf, Value, View, ViewMut};
pub use crate::ops::exec::TensorInfo;
pub use plan::Plan;

/// Returns early with a [`KernelError`] built like `format!`.
#[macro_export]
macro_rules! kbail {
    ($($arg:tt)*) => {
        return Err($crate::ir::KernelError::new(format!($($arg)*)))
    };
}

/// Why a model could not be planned for the given input shapes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Graph(#[from] crate::ir::GraphError),
    #[error("operator #{index} {op}: {message}")]
    Operator {
        index: usize,
        op: &'static str,
        message: String,
    },
    #[error("operator #{index} {op} reads tensor {tensor} ('{name}'), which no earlier operator produces and which is neither a model input nor a constant")]
    UndefinedTensor {
        index: usize,
        op: &'static str,
        tensor: usize,
        name: String,
    },
    #[error("tensor {tensor} ('{name}') is written by more than one operator, or is a model input that an operator writes")]
    RedefinedTensor { tensor: usize, name: String },
    #[error("model output {tensor} ('{name}') is never produced")]
    OutputNotProduced { tensor: usize, name: String },
    #[error("the model has {expected} inputs, {got} were given")]
    InputCount { expected: usize, got: usize },
    #[error("input {index} ('{name}') expects {expected} data, got {got}")]
    InputType {
        index: usize,
        name: String,
        expected: DType,
        got: DType,
    },
    #[error("input {index} ('{name}') expects shape {expected}, got {got:?}")]
    InputShape {
        index: usize,
        name: String,
        expected: String,
        got: Vec<usize>,
    },
    #[error(
        "input {index} ('{name}') has {got} elements but its shape {shape:?} needs {expected}"
    )]
    InputSize {
        index: usize,
        name: String,
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error(
        "tensor {tensor} ('{name}') would need {bytes} bytes, more than the {limit}-byte limit"
    )]
    TooLarge {
        tensor: usize,
        name: String,
        bytes: usize,
        limit: usize,
    },
}

/// An error while running a planned model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("operator #{index} {op} failed: {message}")]
    Kernel {
        index: usize,
        op: &'static str,
        message: String,
    },
}

/// Runs a model, re-planning when the input shapes change (e.g. a new batch size), and
/// splitting a batch over threads when asked to (see [`Interpreter::set_threads`]).
pub struct Interpreter {
    model: Arc<Model>,
    plan: Plan,
    threads: usize,
    /// Per-thread plans for the planned batch, when it is split.
    split: Option<parallel::Split>,
}

impl Interpreter {
    /// Plans `model` for the shapes its inputs declare, which validates every operator.
    /// It runs on the calling thread until [`Interpreter::set_threads`] says otherwise.
    pub fn new(model: Model) -> Result<Interpreter, PlanError> {
        let model = Arc::new(model);
        let shapes: Vec<Vec<usize>> = model
            .graph
            .inputs
            .iter()
            .map(|&i| {
                model
                    .graph
                    .tensors
                    .get(i)
                    .map(|t| t.shape.clone())
                    .unwrap_or_default()
            })
            .collect();
        let plan = Plan::new(&model, &shapes)?;
        Ok(Interpreter {
            model,
            plan,
            threads: 1,
            split: None,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The current plan (for arena size and per-op details). It is the plan of the whole
    /// batch, also when the batch runs split over threads (each thread has its own).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Splits each batch over up to `threads` threads (at least 1; 1 runs on the calling
    /// thread): each thread gets its own plan and arena for a contiguous slice of the
    /// batch, and the results are bit for bit those of one thread. A batch of one row, or
    /// a model that mixes batch rows or keeps state between calls, runs on one thread.
    pub fn set_threads(&mut self, threads: usize) -> Result<(), PlanError> {
        let threads = threads.max(1);
        if threads != self.threads {
            self.threads = threads;
            self.split = parallel::Split::new(&self.model, &self.plan, threads);
        }
        Ok(())
    }

    /// The thread count asked for with [`Interpreter::set_threads`].
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Threads the planned batch actually runs on (1 when it is not split).
    pub fn threads_in_use(&self) -> usize {
        self.split.as_ref().map_or(1, |s| s.workers())
    }

    /// Re-plans for new input shapes unless they are the planned ones.
    pub fn resize(&mut self, shapes: &[Vec<usize>]) -> Result<(), PlanError> {
        if self.plan.input_shapes() != shapes {
            // The old workers go first: their arenas need not live beside the new ones.
            self.split = None;
            self.plan = Plan::new(&self.model, shapes)?;
            self.split = parallel::Split::new(&self.model, &self.plan, self.threads);
        }
        Ok(())
    }

    /// Runs one batch. Inputs must match the model's input types; their shapes may
    /// differ from the declared ones in the batch (first) dimension.
    pub fn run(&mut self, inputs: &[Value]) -> Result<Vec<Value>, RunError> {
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
        self.resize(&shapes)?;
        match &mut self.split {
            None => self.plan.run(inputs),
            Some(split) => {
                self.plan.check_inputs(inputs)?;
                let mut outputs = self.plan.new_outputs();
                split.run_into(inputs, &mut outputs)?;
                Ok(outputs)
            }
        }
    }

    /// Zeroed outputs of the planned dtypes and shapes, for [`Interpreter::run_into`].
    pub fn new_outputs(&self) -> Vec<Value> {
        self.plan.new_outputs()
    }

    /// Runs one batch of the planned shapes into `outputs` (as
    /// [`Interpreter::new_outputs`] makes them), allocating nothing: no re-planning, no
    /// output buffers. Inputs of other shapes are an error; call
    /// [`Interpreter::resize`] first.
    pub fn run_into(&mut self, inputs: &[Value], outputs: &mut [Value]) -> Result<(), RunError> {
        match &mut self.split {
            None => self.plan.run_into(inputs, outputs),
            Some(split) => {
                self.plan.check_inputs(inputs)?;
                self.plan.check_outputs(outputs)?;
                split.run_into(inputs, outputs)
            }
        }
    }
}

impl Interpreter {
    /// Mutable access to the plan, for timed runs.
    pub fn plan_mut(&mut self) -> &mut Plan {
        &mut self.plan
    }
}
