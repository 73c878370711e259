//! Kernels, one file per op family. Each family exposes `prepare`, which validates
//! shapes and types, computes every per-op constant once, and returns the output shapes
//! and a [`Kernel`] that only computes.

use std::sync::Arc;

use crate::ir::{self, DType, KernelError, Operator, Quantization, Sparsity, TensorBuf};
use crate::ir::{View, ViewMut};
use crate::kernels::cpu::CpuFeatures;

pub mod activation;
pub mod concat;
pub mod conv;
pub mod densify;
pub mod elementwise;
#[cfg(test)]
mod elementwise_q8_tests;
pub mod fully_connected;
pub mod hybrid;
pub mod log_softmax;
pub mod lstm;
pub mod pad;
pub mod pool;
pub(crate) mod q8;
pub mod quantize;
pub mod reduce;
pub mod shape;
pub mod softmax;
pub(crate) mod softmax_lut;
pub mod sparse_fc;
#[cfg(test)]
mod sparse_fc_tests;
pub mod svdf;
#[cfg(test)]
pub(crate) mod test_support;
pub mod transpose;

// Issue 12: element-wise math and activations.
pub mod binary_math;
pub mod unary;

// Issue 12: resampling and layout.
pub mod cast;
pub mod gather;
pub mod layout;
pub mod prelu;
pub mod resize;

// Issue 12: reductions, normalization, matrix products and transpose convolution.
pub mod arg_min_max;
pub mod batch_matmul;
pub mod l2_normalization;
mod reduce_other;
pub mod transpose_conv;

// Issue 12: custom ops of Google's published models.
pub mod pool_argmax;
pub mod transpose_conv_bias;

/// What the planner knows of a tensor: type, concrete shape, quantization, and its
/// contents when they are constant (model constants and plan-time folded results).
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub quantization: Option<Quantization>,
    pub sparsity: Option<Sparsity>,
    pub constant: Option<Arc<TensorBuf>>,
}

impl TensorInfo {
    pub fn num_elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// Per-tensor (scale, zero point), if quantized per tensor.
    pub fn scale_zero_point(&self) -> Option<(f32, i64)> {
        let q = self.quantization.as_ref()?;
        match (q.scale.as_slice(), q.zero_point.as_slice()) {
            ([s], [z]) => Some((*s, *z)),
            _ => None,
        }
    }

    /// The constant contents, or an error naming the tensor (for inputs that kernels
    /// need at prepare time, such as reshape targets or paddings).
    pub fn constant_or_err(&self, what: &str) -> Result<&TensorBuf, KernelError> {
        self.constant.as_deref().ok_or_else(|| {
            KernelError::new(format!(
                "{what} ('{}') must be known when the model is planned (a constant or computed from shapes)",
                self.name
            ))
        })
    }
}

/// A prepared operator: everything that depends only on shapes, types and constants is
/// already computed, so `run` only moves and computes data.
pub trait Kernel: Send + Sync {
    /// `inputs` line up with the operator's inputs (`View::Absent` for an omitted one);
    /// `outputs` with its outputs, sized to the shapes `prepare` returned.
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError>;

    /// True when the outputs depend only on input shapes, not values (SHAPE): the planner
    /// then computes them once at plan time.
    fn shape_only(&self) -> bool {
        false
    }
}

/// What `prepare` sees: the operator, what is known of each input at plan time, and the
/// output tensors as the model declares them (their dtype and quantization are binding;
/// their shapes are recomputed by `prepare`).
pub struct PrepareCtx<'a> {
    pub op: &'a Operator,
    pub inputs: Vec<Option<&'a TensorInfo>>,
    pub outputs: Vec<&'a ir::Tensor>,
    /// The SIMD variants `prepare` may pick: the planner passes what this CPU has, tests
    /// pass a restricted value to exercise the slower variants.
    pub cpu: CpuFeatures,
}

impl<'a> PrepareCtx<'a> {
    /// Required input `i`.
    pub fn input(&self, i: usize) -> Result<&'a TensorInfo, KernelError> {
        self.inputs
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| KernelError::new(format!("input {i} is missing")))
    }

    /// Optional input `i` (absent when omitted or past the end).
    pub fn opt_input(&self, i: usize) -> Option<&'a TensorInfo> {
        self.inputs.get(i).copied().flatten()
    }

    /// The declared output tensor `i`.
    pub fn output(&self, i: usize) -> Result<&'a ir::Tensor, KernelError> {
        self.outputs
            .get(i)
            .copied()
            .ok_or_else(|| KernelError::new(format!("output {i} is missing")))
    }

    /// Fails unless the op has between `min` and `max` inputs and exactly `outputs` outputs.
    pub fn expect_arity(&self, min: usize, max: usize, outputs: usize) -> Result<(), KernelError> {
        let n = self.inputs.len();
        if n < min || n > max {
            return Err(KernelError::new(if min == max {
                format!("expects {min} inputs, has {n}")
            } else {
                format!("expects {min} to {max} inputs, has {n}")
            }));
        }
        if self.outputs.len() != outputs {
            return Err(KernelError::new(format!(
                "expects {outputs} outputs, has {}",
                self.outputs.len()
            )));
        }
        Ok(())
    }
}

/// The result of `prepare`: one shape per output and the kernel.
pub struct Prepared {
    pub output_shapes: Vec<Vec<usize>>,
    pub kernel: Box<dyn Kernel>,
}

impl Prepared {
    pub fn new(output_shapes: Vec<Vec<usize>>, kernel: impl Kernel + 'static) -> Prepared {
        Prepared {
            output_shapes,
            kernel: Box::new(kernel),
        }
    }
}

/// Prepares one operator: its registry entry's `prepare` hook.
pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    (ctx.op.op.def().prepare)(ctx)
}
