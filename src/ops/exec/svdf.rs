//! SVDF: checks shapes and types, computes the int8 multipliers, and keeps the state.
//!
//! The state (input 4) is a variable tensor: TFLite keeps it across invocations, starting
//! from zeros. The planner gives variable tensors no arena slot (nothing produces them),
//! so the kernel owns the state and updates it on every run; a new plan (new input
//! shapes) starts from zeros again, as LiteRT's `ResetVariableTensors` does. The loops
//! are `kernels::reference::svdf`.

use std::sync::Mutex;

use super::shape::expect_output_dtype;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::vector_activation_bounds;
use crate::kernels::fixed_point::quantize_multiplier;
use crate::kernels::reference::svdf::{svdf_f32, svdf_i8, SvdfDims, SvdfInt8};
use crate::ops::exec::TensorInfo;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::Svdf {
        rank, activation, ..
    } = ctx.op.op
    else {
        kbail!("not an SVDF");
    };
    ctx.expect_arity(5, 5, 1)?;
    let input = ctx.input(0)?;
    let weights_feature = ctx.input(1)?;
    let weights_time = ctx.input(2)?;
    let bias = ctx.opt_input(3);
    let state = ctx.input(4)?;

    let [batch, input_size] = dims2(input, "input")?;
    let [filters, feature_depth] = dims2(weights_feature, "feature weights")?;
    let [time_filters, memory] = dims2(weights_time, "time weights")?;
    if feature_depth != input_size {
        kbail!("feature weights have depth {feature_depth}, the input {input_size}");
    }
    if time_filters != filters {
        kbail!("time weights have {time_filters} filters, feature weights {filters}");
    }
    let rank = usize::try_from(rank)
        .ok()
        .filter(|&r| r > 0 && filters % r == 0)
        .ok_or_else(|| {
            KernelError::new(format!(
                "rank {rank} must be positive and divide {filters} filters"
            ))
        })?;
    if memory == 0 {
        kbail!(
            "time weights have no memory (shape {:?})",
            weights_time.shape
        );
    }
    let d = SvdfDims {
        batch,
        input_size,
        filters,
        rank,
        memory,
    };
    let units = d.units();
    if let Some(b) = bias {
        if b.shape != [units] {
            kbail!("bias has shape {:?}, expected [{units}]", b.shape);
        }
    }
    let state_len = filters
        .checked_mul(memory)
        .and_then(|n| n.checked_mul(batch))
        .filter(|&n| n <= crate::ir::limits::MAX_TENSOR_BYTES)
        .ok_or_else(|| KernelError::new("the state is too large"))?;
    if state.shape != [batch, filters * memory] {
        kbail!(
            "state has shape {:?}, expected [{batch}, {}] (batch, filters x memory)",
            state.shape,
            filters * memory
        );
    }
    if state.constant.is_some() {
        kbail!(
            "the state ('{}') must be a variable tensor, not a constant",
            state.name
        );
    }
    let weights = |info: &TensorInfo, what: &str| {
        info.constant
            .clone()
            .ok_or_else(|| KernelError::new(format!("{what} ('{}') must be constant", info.name)))
    };
    let weights_feature_data = weights(weights_feature, "feature weights")?;
    let weights_time_data = weights(weights_time, "time weights")?;
    let bias_data = bias.map(|b| weights(b, "bias")).transpose()?;
    let output_shape = vec![batch, units];

    match (input.dtype, weights_feature.dtype) {
        (DType::F32, DType::F32) => {
            expect_output_dtype(ctx, 0, DType::F32)?;
            for (info, what) in [(weights_time, "time weights"), (state, "state")] {
                if info.dtype != DType::F32 {
                    kbail!("{what} are {}, expected float32", info.dtype);
                }
            }
            if bias.is_some_and(|b| b.dtype != DType::F32) {
                kbail!("a float SVDF needs a float32 bias");
            }
            let kernel = SvdfF32 {
                d,
                activation: vector_activation_bounds(activation)?,
                weights_feature: weights_feature_data.view().f32()?.to_vec(),
                weights_time: weights_time_data.view().f32()?.to_vec(),
                bias: bias_data
                    .map(|b| b.view().f32().map(<[f32]>::to_vec))
                    .transpose()?,
                state: Mutex::new((vec![0.0; state_len], vec![0.0; batch * filters])),
            };
            Ok(Prepared::new(vec![output_shape], kernel))
        }
        (DType::I8, DType::I8) => {
            expect_output_dtype(ctx, 0, DType::I8)?;
            if weights_time.dtype != DType::I16 || state.dtype != DType::I16 {
                kbail!(
                    "an int8 SVDF needs int16 time weights and state (has {} and {})",
                    weights_time.dtype,
                    state.dtype
                );
            }
            if bias.is_some_and(|b| b.dtype != DType::I32) {
                kbail!("an int8 SVDF needs an int32 bias");
            }
            let (input_scale, input_zp) = int8_params(input, "input")?;
            let (feature_scale, _) = symmetric(weights_feature, "feature weights")?;
            let (time_scale, _) = symmetric(weights_time, "time weights")?;
            let (state_scale, _) = symmetric(state, "state")?;
            let output = ctx.output(0)?;
            let (output_scale, output_zp) = match output.scale_zero_point() {
                Some((s, z)) if s > 0.0 && s.is_finite() && (-128..=127).contains(&z) => {
                    (s, z as i32)
                }
                _ => kbail!("output needs one positive scale and an int8 zero point"),
            };
            // TFLite multiplies and divides the scales in float, then widens.
            let feature = f64::from(input_scale * feature_scale / state_scale);
            let out = f64::from(state_scale * time_scale / output_scale);
            let kernel = SvdfI8 {
                d,
                q: SvdfInt8 {
                    input_zero_point: input_zp,
                    output_zero_point: output_zp,
                    feature_multiplier: quantize_multiplier(feature)?,
                    output_multiplier: quantize_multiplier(out)?,
                },
                weights_feature: weights_feature_data.view().i8()?.to_vec(),
                weights_time: weights_time_data.view().i16()?.to_vec(),
                bias: bias_data
                    .map(|b| b.view().i32().map(<[i32]>::to_vec))
                    .transpose()?,
                state: Mutex::new((vec![0; state_len], vec![0; batch * filters])),
            };
            Ok(Prepared::new(vec![output_shape], kernel))
        }
        (i, w) => kbail!("SVDF with {i} input and {w} feature weights is not supported"),
    }
}

fn dims2(info: &TensorInfo, what: &str) -> Result<[usize; 2], KernelError> {
    match info.shape.as_slice() {
        &[a, b] => Ok([a, b]),
        other => kbail!("{what} must be rank 2, has shape {other:?}"),
    }
}

fn int8_params(info: &TensorInfo, what: &str) -> Result<(f32, i32), KernelError> {
    match info.scale_zero_point() {
        Some((s, z)) if s > 0.0 && s.is_finite() && (-128..=127).contains(&z) => Ok((s, z as i32)),
        _ => kbail!(
            "{what} ('{}') needs one positive scale and an int8 zero point",
            info.name
        ),
    }
}

/// One positive scale with zero point 0: the reference kernel ignores these zero points.
fn symmetric(info: &TensorInfo, what: &str) -> Result<(f32, i32), KernelError> {
    match info.scale_zero_point() {
        Some((s, 0)) if s > 0.0 && s.is_finite() => Ok((s, 0)),
        _ => kbail!(
            "{what} ('{}') needs one positive scale and zero point 0",
            info.name
        ),
    }
}

fn first_output<'a, 'b>(
    outputs: &'a mut [ViewMut<'b>],
) -> Result<&'a mut ViewMut<'b>, KernelError> {
    outputs
        .first_mut()
        .ok_or_else(|| KernelError::new("no output"))
}

fn check_sizes(d: SvdfDims, input: usize, output: usize) -> Result<(), KernelError> {
    if input != d.batch * d.input_size || output != d.batch * d.units() {
        kbail!("input or output size differs from the plan");
    }
    Ok(())
}

fn lock<S>(state: &Mutex<S>) -> Result<std::sync::MutexGuard<'_, S>, KernelError> {
    state
        .lock()
        .map_err(|_| KernelError::new("the SVDF state was poisoned by a failed run"))
}

/// The state and the per-filter scratch, locked together for one step.
type StateF32 = Mutex<(Vec<f32>, Vec<f32>)>;
type StateI16 = Mutex<(Vec<i16>, Vec<i32>)>;

struct SvdfF32 {
    d: SvdfDims,
    activation: Option<(f32, f32)>,
    weights_feature: Vec<f32>,
    weights_time: Vec<f32>,
    bias: Option<Vec<f32>>,
    state: StateF32,
}

impl Kernel for SvdfF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = inputs.first().map(View::f32).transpose()?.unwrap_or(&[]);
        let output = first_output(outputs)?.f32()?;
        let d = self.d;
        check_sizes(d, input.len(), output.len())?;
        let mut guard = lock(&self.state)?;
        let (state, scratch) = &mut *guard;
        svdf_f32(
            d,
            input,
            &self.weights_feature,
            &self.weights_time,
            self.bias.as_deref(),
            self.activation,
            state,
            scratch,
            output,
        );
        Ok(())
    }
}

struct SvdfI8 {
    d: SvdfDims,
    q: SvdfInt8,
    weights_feature: Vec<i8>,
    weights_time: Vec<i16>,
    bias: Option<Vec<i32>>,
    state: StateI16,
}

impl Kernel for SvdfI8 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = inputs.first().map(View::i8).transpose()?.unwrap_or(&[]);
        let output = first_output(outputs)?.i8()?;
        let d = self.d;
        check_sizes(d, input.len(), output.len())?;
        let mut guard = lock(&self.state)?;
        let (state, scratch) = &mut *guard;
        svdf_i8(
            d,
            self.q,
            input,
            &self.weights_feature,
            &self.weights_time,
            self.bias.as_deref(),
            state,
            scratch,
            output,
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Activation, DType, Graph, Model, Op, Operator, Tensor};

    /// One filter, memory 2, weights that make the output "this input + 10 × the last":
    /// the interpreter must carry the state from one run to the next, and a new plan
    /// (another batch size) starts from zeros again.
    fn model(batch: usize) -> Model {
        let mut state = Tensor::activation("state", DType::F32, vec![batch, 2]);
        state.is_variable = true;
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, vec![batch, 1]),
                Tensor::constant_f32("feature", vec![1, 1], &[1.0]),
                Tensor::constant_f32("time", vec![1, 2], &[10.0, 1.0]),
                state,
                Tensor::activation("y", DType::F32, vec![batch, 1]),
            ],
            inputs: vec![0],
            outputs: vec![4],
            operators: vec![Operator {
                op: Op::Svdf {
                    rank: 1,
                    activation: Activation::None,
                    asymmetric_quantize_inputs: false,
                },
                inputs: vec![Some(0), Some(1), Some(2), None, Some(3)],
                outputs: vec![4],
            }],
        };
        Model::with_default_signature(graph)
    }

    fn run(i: &mut Interpreter, x: Vec<f32>) -> Vec<f32> {
        let out = i
            .run(&[Value::new(vec![x.len(), 1], TensorBuf::F32(x))])
            .unwrap();
        match &out[0].data {
            TensorBuf::F32(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_state_carries_over_between_runs_and_resets_with_a_new_plan() {
        let mut i = Interpreter::new(model(1)).unwrap();
        assert_eq!(run(&mut i, vec![1.0]), vec![1.0]);
        assert_eq!(run(&mut i, vec![2.0]), vec![12.0]);
        assert_eq!(run(&mut i, vec![0.0]), vec![20.0]);
        let mut two = Interpreter::new(model(2)).unwrap();
        assert_eq!(run(&mut two, vec![3.0, 4.0]), vec![3.0, 4.0]);
        assert_eq!(run(&mut two, vec![0.0, 0.0]), vec![30.0, 40.0]);
    }

    #[test]
    fn bad_ranks_and_shapes_are_refused() {
        let mut m = model(1);
        m.graph.operators[0].op = Op::Svdf {
            rank: 0,
            activation: Activation::None,
            asymmetric_quantize_inputs: false,
        };
        let e = Interpreter::new(m).err().unwrap().to_string();
        assert!(e.contains("rank 0"), "{e}");
        let mut m = model(1);
        m.graph.tensors[3].shape = vec![1, 3];
        let e = Interpreter::new(m).err().unwrap().to_string();
        assert!(e.contains("state has shape [1, 3]"), "{e}");
    }
}
