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
    /// "FULLY_CONNECTED #i as ..." for each quantized FULLY_CONNECTED rewritten into
    /// the form tract-tflite translates (see [`fc_for_tract`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewritten: Vec<String>,
}

impl Lowering {
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty() && self.densified.is_empty() && self.rewritten.is_empty()
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
    // After the shapes are the planned ones: the rewrite sizes its reshapes from them.
    fc_for_tract(graph, &mut report)?;
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
            // A per-axis table would no longer fit the empty shape (readers reject it).
            tensor.quantization = None;
        }
    }
    Ok((out, report))
}

/// Rewrites every quantized FULLY_CONNECTED of `graph` that tract-tflite 0.23 cannot
/// translate into ops it can, computing the same integers.
///
/// tract translates a quantized FULLY_CONNECTED into one EinSum `BI,OI,O,,,,,,->BO`: a
/// rank-2 input, a bias (the `O` operand) and a *scalar* weight scale. So:
/// - per-channel weights (TensorFlow's default for int8 Dense layers) become a 1x1
///   CONV_2D over a [rows, 1, 1, I] view of the input, whose output [rows, 1, 1, O] is
///   reshaped to the FC output. TFLite defines both ops per output channel as
///   acc = Σ w·(x − in_zp) + bias, then MultiplyByQuantizedMultiplier with the
///   multiplier of in_scale·w_scale[c]/out_scale, plus out_zp, clamped to the fused
///   activation: the same integers, and tract's conv takes per-channel scales;
/// - a per-tensor FC whose input is not rank 2 reads a RESHAPE to [rows, I] (what FC
///   does implicitly) and, with keep_num_dims, its output is reshaped back;
/// - a missing bias becomes an all-zero int32 bias, which adds nothing.
fn fc_for_tract(graph: &mut crate::ir::Graph, report: &mut Lowering) -> Result<(), VerifyError> {
    use crate::ir::{Conv2dOptions, DType, Operator, Padding, Quantization, Tensor};
    let mut operators = Vec::with_capacity(graph.operators.len());
    for (i, op) in std::mem::take(&mut graph.operators).into_iter().enumerate() {
        let Op::FullyConnected(options) = &op.op else {
            operators.push(op);
            continue;
        };
        let (Some(x), Some(w), Some(&y)) = (op.input(0), op.input(1), op.outputs.first()) else {
            operators.push(op);
            continue;
        };
        let (xt, wt, yt) = (&graph.tensors[x], &graph.tensors[w], &graph.tensors[y]);
        let quantized = matches!(xt.dtype, DType::I8 | DType::U8) && wt.dtype == xt.dtype;
        if !quantized || wt.shape.len() != 2 || options.shuffled_weights {
            operators.push(op);
            continue;
        }
        let (out_c, depth) = (wt.shape[0], wt.shape[1]);
        let x_len: usize = xt.shape.iter().product();
        if depth == 0 || !x_len.is_multiple_of(depth) {
            return Err(VerifyError::Input(format!(
                "FULLY_CONNECTED #{i}: input of {x_len} elements is not a multiple of depth {depth}"
            )));
        }
        let rows = x_len / depth;
        let w_q = wt.quantization.clone().unwrap_or_default();
        let per_channel = w_q.scale.len() > 1;
        let needs_bias = op.input(2).is_none();
        if !per_channel && xt.shape.len() == 2 && !needs_bias {
            operators.push(op);
            continue;
        }
        let (x_dtype, x_q, x_rank) = (xt.dtype, xt.quantization.clone(), xt.shape.len());
        let mut filter = wt.clone();
        let (y_dtype, y_q, y_shape) = (yt.dtype, yt.quantization.clone(), yt.shape.clone());
        let x_scale = x_q
            .as_ref()
            .and_then(|q| q.scale.first().copied())
            .unwrap_or(1.0);
        let name = format!("ferrolite_lowered_fc{i}");
        let mut push = |t: Tensor| {
            graph.tensors.push(t);
            graph.tensors.len() - 1
        };
        let shape_const = |dims: &[usize], what: &str| {
            let dims: Vec<i32> = dims.iter().map(|&d| d as i32).collect();
            Tensor::constant_i32(format!("{name}/{what}_shape"), vec![dims.len()], &dims)
        };
        let bias = match op.input(2) {
            Some(b) => b,
            None => {
                let mut t =
                    Tensor::constant_i32(format!("{name}/zero_bias"), vec![out_c], &vec![0; out_c]);
                t.quantization = Some(Quantization {
                    scale: w_q.scale.iter().map(|s| s * x_scale).collect(),
                    zero_point: vec![0; w_q.scale.len()],
                    ..Default::default()
                });
                push(t)
            }
        };
        let mut reshape_input = |dims: Vec<usize>, graph_push: &mut dyn FnMut(Tensor) -> usize| {
            let mut t = Tensor::activation(format!("{name}/input"), x_dtype, dims.clone());
            t.quantization = x_q.clone();
            let view = graph_push(t);
            let shape = graph_push(shape_const(&dims, "input"));
            operators.push(Operator::new(
                Op::Reshape { new_shape: None },
                vec![x, shape],
                vec![view],
            ));
            view
        };
        if per_channel {
            let view = reshape_input(vec![rows, 1, 1, depth], &mut push);
            filter.name = format!("{name}/filter");
            filter.shape = vec![out_c, 1, 1, depth];
            filter.shape_signature = None;
            let filter = push(filter);
            let mut conv_out =
                Tensor::activation(format!("{name}/conv"), y_dtype, vec![rows, 1, 1, out_c]);
            conv_out.quantization = y_q;
            let conv_out = push(conv_out);
            let conv = Op::Conv2d(Conv2dOptions {
                padding: Padding::Valid,
                stride_w: 1,
                stride_h: 1,
                dilation_w: 1,
                dilation_h: 1,
                activation: options.activation,
            });
            operators.push(Operator::new(
                conv,
                vec![view, filter, bias],
                vec![conv_out],
            ));
            let shape = push(shape_const(&y_shape, "output"));
            operators.push(Operator::new(
                Op::Reshape { new_shape: None },
                vec![conv_out, shape],
                vec![y],
            ));
            report.rewritten.push(format!(
                "FULLY_CONNECTED #{i} (per-channel weights) as RESHAPE + 1x1 CONV_2D + RESHAPE"
            ));
            continue;
        }
        let input = if x_rank == 2 {
            x
        } else {
            reshape_input(vec![rows, depth], &mut push)
        };
        let mut fc = op.clone();
        fc.inputs = vec![Some(input), Some(w), Some(bias)];
        if y_shape.len() != 2 {
            let mut flat = Tensor::activation(format!("{name}/output"), y_dtype, vec![rows, out_c]);
            flat.quantization = y_q;
            let flat = push(flat);
            let shape = push(shape_const(&y_shape, "output"));
            if let Op::FullyConnected(o) = &mut fc.op {
                o.keep_num_dims = false;
            }
            fc.outputs = vec![flat];
            operators.push(fc);
            operators.push(Operator::new(
                Op::Reshape { new_shape: None },
                vec![flat, shape],
                vec![y],
            ));
        } else {
            operators.push(fc);
        }
        report.rewritten.push(format!(
            "FULLY_CONNECTED #{i} with a rank-2 input{}",
            if needs_bias { " and a zero bias" } else { "" }
        ));
    }
    graph.operators = operators;
    Ok(())
}
