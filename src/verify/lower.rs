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
    /// the form tract-tflite translates (see `fc_for_tract`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rewritten: Vec<String>,
    /// "OP #i" for each hybrid op (float input, int8 weights) given float32 weights
    /// w = scale·(q − zero point): the twin then skips the op's input quantization, so
    /// it is no longer the same function (see `dequantize_hybrid_weights`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dequantized: Vec<String>,
}

impl Lowering {
    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
            && self.densified.is_empty()
            && self.rewritten.is_empty()
            && self.dequantized.is_empty()
    }

    /// True when the twin computes exactly what the model computes.
    pub fn is_exact(&self) -> bool {
        self.dequantized.is_empty()
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
    dequantize_hybrid_weights(graph, &mut report)?;
    // After the shapes are the planned ones: the rewrites size their reshapes from them.
    ops_for_tract(graph, &mut report);
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
    out.validate().map_err(VerifyError::Malformed)?;
    Ok((out, report))
}

/// True for an op ferrolite runs with a hybrid kernel: float32 input, int8 constant
/// weights (what `convert --quantize dynamic` writes).
pub fn is_hybrid(graph: &crate::ir::Graph, op: &crate::ir::Operator) -> bool {
    use crate::ir::DType;
    let weighted = matches!(
        op.op,
        Op::FullyConnected(_) | Op::Conv2d(_) | Op::DepthwiseConv2d(_)
    );
    let (Some(x), Some(w)) = (op.input(0), op.input(1)) else {
        return false;
    };
    let (Some(x), Some(w)) = (graph.tensors.get(x), graph.tensors.get(w)) else {
        return false;
    };
    weighted && x.dtype == DType::F32 && w.dtype == DType::I8 && w.data.is_some()
}

/// The float value of each element of an int8 weight tensor, scale·(q − zero point)
/// with the scale and zero point of its channel along the quantized dimension.
pub fn dequantized_weights(t: &crate::ir::Tensor) -> Result<Vec<f32>, VerifyError> {
    let bad = |why: &str| VerifyError::Input(format!("weights '{}': {why}", t.name));
    let data = t.data.as_deref().ok_or_else(|| bad("not a constant"))?;
    let q = t.quantization.as_ref().ok_or_else(|| bad("no scale"))?;
    let n = t.num_elements();
    if data.len() < n || q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
        return Err(bad("data or quantization do not match the shape"));
    }
    let axis = q.quantized_dimension;
    let (channels, inner) = if q.scale.len() == 1 {
        (1, 1)
    } else {
        match t.shape.get(axis) {
            Some(&d) if d == q.scale.len() => (d, t.shape[axis + 1..].iter().product()),
            _ => {
                return Err(bad(
                    "one scale per channel expected along the quantized dimension",
                ))
            }
        }
    };
    Ok(data[..n]
        .iter()
        .enumerate()
        .map(|(k, &b)| {
            let c = if channels == 1 {
                0
            } else {
                (k / inner) % channels
            };
            q.scale[c] * (f32::from(b as i8) - q.zero_point[c] as f32)
        })
        .collect())
}

/// Gives every hybrid op float32 weights. tract-tflite has no hybrid kernels; with the
/// weights a hybrid kernel multiplies, stored as floats, the op becomes a float op that
/// differs from the hybrid one only by the hybrid kernel's rounding of its input to
/// int8 (at most one input step per element), which a checker can bound.
fn dequantize_hybrid_weights(
    graph: &mut crate::ir::Graph,
    report: &mut Lowering,
) -> Result<(), VerifyError> {
    use crate::ir::DType;
    for i in 0..graph.operators.len() {
        if !is_hybrid(graph, &graph.operators[i]) {
            continue;
        }
        let Some(w) = graph.operators[i].input(1) else {
            continue;
        };
        let values = dequantized_weights(&graph.tensors[w])?;
        let t = &mut graph.tensors[w];
        t.dtype = DType::F32;
        t.data = Some(values.iter().flat_map(|v| v.to_le_bytes()).collect());
        t.quantization = None;
        let op = &mut graph.operators[i];
        if let Op::FullyConnected(o) = &mut op.op {
            o.asymmetric_quantize_inputs = false;
        }
        report.dequantized.push(format!("{} #{i}", op.op.name()));
    }
    Ok(())
}

/// Rewrites ops tract-tflite 0.23 refuses, crashes on or lacks into ops it runs, each
/// computing the same values (float sums may be taken in another order):
/// - a float MEAN over the height and width of an image is a global AVERAGE_POOL_2D
///   (tract rounds float MEAN results);
/// - MEAN's negative axes are counted from the front (tract indexes out of bounds);
/// - STRIDED_SLICE with a shrink-axis mask slices a length-1 range on those axes and a
///   RESHAPE drops them;
/// - PACK (at run time) is a RESHAPE of each input that inserts the new axis, then
///   CONCATENATION along it;
/// - DEPTHWISE_CONV_2D with a depth multiplier above 1 is a CONV_2D whose weights are
///   zero except where output channel o reads input channel o / multiplier (the
///   quantization zero point for integer weights, so it adds nothing);
/// - SPLIT and SPLIT_V (which tract-tflite lacks) are one SLICE per output;
/// - DEPTH_TO_SPACE and SPACE_TO_DEPTH (also missing) are RESHAPE to six dims,
///   TRANSPOSE of the two middle pairs, RESHAPE back;
/// - MediaPipe's custom `Convolution2DTransposeBias`, which no stock runtime registers,
///   is the builtin TRANSPOSE_CONV with its bias as input 3 and the planned output shape
///   as input 0 (LiteRT runs that, so the twin checks the custom kernel against it).
fn ops_for_tract(graph: &mut crate::ir::Graph, report: &mut Lowering) {
    let mut operators = Vec::with_capacity(graph.operators.len());
    for (i, op) in std::mem::take(&mut graph.operators).into_iter().enumerate() {
        let replaced = match &op.op {
            Op::Mean { .. } => mean_with_positive_axes(graph, &op, i, report),
            Op::StridedSlice(_) => strided_slice_without_shrink(graph, &op, i, report),
            Op::Pack { .. } => pack_as_concatenation(graph, &op, i, report),
            Op::DepthwiseConv2d(_) => depthwise_as_conv(graph, &op, i, report),
            Op::Split { .. } | Op::SplitV { .. } => split_as_slices(graph, &op, i, report),
            Op::DepthToSpace { .. } | Op::SpaceToDepth { .. } => {
                block_move_as_transpose(graph, &op, i, report)
            }
            Op::TransposeConvBias { .. } => transpose_conv_bias_as_builtin(graph, &op, i, report),
            _ => None,
        };
        match replaced {
            Some(ops) => operators.extend(ops),
            None => operators.push(op),
        }
    }
    graph.operators = operators;
}

fn push_tensor(graph: &mut crate::ir::Graph, t: crate::ir::Tensor) -> usize {
    graph.tensors.push(t);
    graph.tensors.len() - 1
}

fn const_i32s(graph: &crate::ir::Graph, t: Option<usize>) -> Option<Vec<i32>> {
    let tensor = graph.tensors.get(t?)?;
    (tensor.dtype == crate::ir::DType::I32)
        .then(|| tensor.data.as_deref().map(crate::ir::decode::i32s))
        .flatten()
}

fn shape_tensor(name: String, dims: &[usize]) -> crate::ir::Tensor {
    let dims: Vec<i32> = dims.iter().map(|&d| d as i32).collect();
    crate::ir::Tensor::constant_i32(name, vec![dims.len()], &dims)
}

/// An activation like `like` (type, quantization) with another shape.
fn activation_like(like: &crate::ir::Tensor, name: String, shape: Vec<usize>) -> crate::ir::Tensor {
    let mut t = crate::ir::Tensor::activation(name, like.dtype, shape);
    t.quantization = like.quantization.clone();
    t
}

fn mean_with_positive_axes(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    let (x, y) = (op.input(0)?, *op.outputs.first()?);
    let in_shape = graph.tensors.get(x)?.shape.clone();
    let rank = in_shape.len() as i32;
    let axes = const_i32s(graph, op.input(1))?;
    let mut positive: Vec<i32> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a })
        .collect();
    positive.sort_unstable();
    positive.dedup();
    // tract-tflite 0.23 rounds a float MEAN to a whole number (see
    // tract::known_fault); over the spatial axes of an image it is a global
    // AVERAGE_POOL_2D, which tract computes right.
    if graph.tensors[x].dtype == crate::ir::DType::F32 && rank == 4 && positive == [1, 2] {
        let name = format!("ferrolite_lowered_mean{i}");
        let pooled_shape = vec![in_shape[0], 1, 1, in_shape[3]];
        let pool = Op::AveragePool2d(crate::ir::Pool2dOptions {
            padding: crate::ir::Padding::Valid,
            stride_w: 1,
            stride_h: 1,
            filter_w: in_shape[2] as i32,
            filter_h: in_shape[1] as i32,
            activation: crate::ir::Activation::None,
        });
        report.rewritten.push(format!(
            "MEAN #{i} over height and width as a global AVERAGE_POOL_2D"
        ));
        if graph.tensors[y].shape == pooled_shape {
            return Some(vec![crate::ir::Operator::new(pool, vec![x], vec![y])]);
        }
        let like = graph.tensors[y].clone();
        let out_shape = like.shape.clone();
        let pooled = push_tensor(
            graph,
            activation_like(&like, format!("{name}/pool"), pooled_shape),
        );
        let shape = push_tensor(graph, shape_tensor(format!("{name}/shape"), &out_shape));
        return Some(vec![
            crate::ir::Operator::new(pool, vec![x], vec![pooled]),
            crate::ir::Operator::new(
                Op::Reshape { new_shape: None },
                vec![pooled, shape],
                vec![y],
            ),
        ]);
    }
    if axes.iter().all(|&a| a >= 0) {
        return None;
    }
    let positive: Vec<i32> = axes
        .iter()
        .map(|&a| if a < 0 { a + rank } else { a })
        .collect();
    let t = crate::ir::Tensor::constant_i32(
        format!("ferrolite_lowered_mean{i}/axes"),
        vec![positive.len()],
        &positive,
    );
    let mut op = op.clone();
    op.inputs[1] = Some(push_tensor(graph, t));
    report
        .rewritten
        .push(format!("MEAN #{i} with its axes counted from the front"));
    Some(vec![op])
}

fn strided_slice_without_shrink(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    let Op::StridedSlice(o) = &op.op else {
        return None;
    };
    if o.shrink_axis_mask == 0 || o.ellipsis_mask != 0 || o.new_axis_mask != 0 || o.offset {
        return None;
    }
    let (x, y) = (op.input(0)?, *op.outputs.first()?);
    let in_shape = graph.tensors[x].shape.clone();
    let out_shape = graph.tensors[y].shape.clone();
    let rank = in_shape.len();
    let (mut begin, mut end, mut strides) = (
        const_i32s(graph, op.input(1))?,
        const_i32s(graph, op.input(2))?,
        const_i32s(graph, op.input(3))?,
    );
    let shrunk = (0..rank)
        .filter(|a| o.shrink_axis_mask & (1 << a) != 0)
        .count();
    if begin.len() != rank || end.len() != rank || strides.len() != rank || rank > 31 {
        return None;
    }
    if out_shape.len() + shrunk != rank {
        return None;
    }
    let mut options = o.clone();
    let mut kept = out_shape.iter();
    let mut mid_shape = Vec::with_capacity(rank);
    for a in 0..rank {
        let bit = 1 << a;
        if o.shrink_axis_mask & bit == 0 {
            mid_shape.push(*kept.next()?);
            continue;
        }
        let dim = in_shape[a] as i32;
        let start = if o.begin_mask & bit != 0 { 0 } else { begin[a] };
        let start = if start < 0 { start + dim } else { start };
        if !(0..dim).contains(&start) {
            return None;
        }
        (begin[a], end[a], strides[a]) = (start, start + 1, 1);
        options.begin_mask &= !bit;
        options.end_mask &= !bit;
        mid_shape.push(1);
    }
    options.shrink_axis_mask = 0;
    let name = format!("ferrolite_lowered_slice{i}");
    let mut constant = |what: &str, v: &[i32]| {
        let t = crate::ir::Tensor::constant_i32(format!("{name}/{what}"), vec![v.len()], v);
        push_tensor(graph, t)
    };
    let (b, e, s) = (
        constant("begin", &begin),
        constant("end", &end),
        constant("strides", &strides),
    );
    let like = graph.tensors[y].clone();
    let mid = push_tensor(
        graph,
        activation_like(&like, format!("{name}/slice"), mid_shape),
    );
    let shape = push_tensor(graph, shape_tensor(format!("{name}/shape"), &out_shape));
    report.rewritten.push(format!(
        "STRIDED_SLICE #{i} (shrink-axis mask) as STRIDED_SLICE + RESHAPE"
    ));
    Some(vec![
        crate::ir::Operator::new(Op::StridedSlice(options), vec![x, b, e, s], vec![mid]),
        crate::ir::Operator::new(Op::Reshape { new_shape: None }, vec![mid, shape], vec![y]),
    ])
}

fn pack_as_concatenation(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    let Op::Pack { axis, .. } = op.op else {
        return None;
    };
    let inputs: Vec<usize> = op.inputs.iter().copied().collect::<Option<_>>()?;
    let in_shape = graph.tensors.get(*inputs.first()?)?.shape.clone();
    let axis = if axis < 0 {
        axis + in_shape.len() as i32 + 1
    } else {
        axis
    };
    let at = usize::try_from(axis)
        .ok()
        .filter(|&a| a <= in_shape.len())?;
    let mut expanded_shape = in_shape.clone();
    expanded_shape.insert(at, 1);
    let name = format!("ferrolite_lowered_pack{i}");
    let shape = push_tensor(
        graph,
        shape_tensor(format!("{name}/shape"), &expanded_shape),
    );
    let mut ops = Vec::new();
    let mut expanded = Vec::new();
    for (k, &x) in inputs.iter().enumerate() {
        if graph.tensors[x].shape != in_shape {
            return None;
        }
        let like = graph.tensors[x].clone();
        let e = push_tensor(
            graph,
            activation_like(&like, format!("{name}/{k}"), expanded_shape.clone()),
        );
        ops.push(crate::ir::Operator::new(
            Op::Reshape { new_shape: None },
            vec![x, shape],
            vec![e],
        ));
        expanded.push(e);
    }
    ops.push(crate::ir::Operator::new(
        Op::Concatenation {
            axis,
            activation: crate::ir::Activation::None,
        },
        expanded,
        op.outputs.clone(),
    ));
    report
        .rewritten
        .push(format!("PACK #{i} as RESHAPE per input + CONCATENATION"));
    Some(ops)
}

/// Output k of a split along `axis` is the SLICE starting where outputs 0..k end, as
/// long as the declared output shapes tile the input along the axis.
fn split_as_slices(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    let (data, axis_slot) = match op.op {
        Op::Split { .. } => (op.input(1)?, op.input(0)),
        Op::SplitV { .. } => (op.input(0)?, op.input(2)),
        _ => return None,
    };
    let in_shape = graph.tensors.get(data)?.shape.clone();
    let axis = *const_i32s(graph, axis_slot)?.first()?;
    let rank = in_shape.len() as i32;
    let axis = usize::try_from(if axis < 0 { axis + rank } else { axis })
        .ok()
        .filter(|&a| a < in_shape.len())?;
    let name = format!("ferrolite_lowered_split{i}");
    let mut ops = Vec::new();
    let mut offset = 0usize;
    for (k, &y) in op.outputs.iter().enumerate() {
        let out_shape = graph.tensors.get(y)?.shape.clone();
        let same_elsewhere = out_shape.len() == in_shape.len()
            && (0..in_shape.len()).all(|d| d == axis || out_shape[d] == in_shape[d]);
        if !same_elsewhere {
            return None;
        }
        let mut begin = vec![0; in_shape.len()];
        begin[axis] = offset;
        offset += out_shape[axis];
        let b = push_tensor(graph, shape_tensor(format!("{name}/begin{k}"), &begin));
        let s = push_tensor(graph, shape_tensor(format!("{name}/size{k}"), &out_shape));
        ops.push(crate::ir::Operator::new(
            Op::Slice,
            vec![data, b, s],
            vec![y],
        ));
    }
    if offset != in_shape[axis] {
        return None;
    }
    report
        .rewritten
        .push(format!("{} #{i} as one SLICE per output", op.op.name()));
    Some(ops)
}

/// DEPTH_TO_SPACE views [n, h, w, b*b*c] as [n, h, w, b, b, c] and SPACE_TO_DEPTH views
/// [n, h*b, w*b, c] as [n, h, b, w, b, c]; swapping dims 2 and 3 turns one into the
/// other, and a RESHAPE gives the op's output shape.
fn block_move_as_transpose(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    let (to_space, block) = match op.op {
        Op::DepthToSpace { block_size } => (true, block_size),
        Op::SpaceToDepth { block_size } => (false, block_size),
        _ => return None,
    };
    let b = usize::try_from(block).ok().filter(|&b| b > 0)?;
    let x = op.input(0)?;
    let y = *op.outputs.first()?;
    let like = graph.tensors.get(x)?.clone();
    let &[n, h, w, c] = like.shape.as_slice() else {
        return None;
    };
    let (split, moved, out) = if to_space {
        let bb = b.checked_mul(b)?;
        let oc = c.checked_div(bb).filter(|oc| oc * bb == c)?;
        (
            vec![n, h, w, b, b, oc],
            vec![n, h, b, w, b, oc],
            vec![n, h.checked_mul(b)?, w.checked_mul(b)?, oc],
        )
    } else {
        if h % b != 0 || w % b != 0 {
            return None;
        }
        let (oh, ow) = (h / b, w / b);
        let depth = b.checked_mul(b)?.checked_mul(c)?;
        (
            vec![n, oh, b, ow, b, c],
            vec![n, oh, ow, b, b, c],
            vec![n, oh, ow, depth],
        )
    };
    if graph.tensors.get(y)?.shape != out {
        return None;
    }
    let name = format!("ferrolite_lowered_block{i}");
    let split_shape = push_tensor(graph, shape_tensor(format!("{name}/split"), &split));
    let perm = push_tensor(
        graph,
        shape_tensor(format!("{name}/perm"), &[0, 1, 3, 2, 4, 5]),
    );
    let out_shape = push_tensor(graph, shape_tensor(format!("{name}/out"), &out));
    let a = push_tensor(graph, activation_like(&like, format!("{name}/a"), split));
    let t = push_tensor(graph, activation_like(&like, format!("{name}/t"), moved));
    report.rewritten.push(format!(
        "{} #{i} as RESHAPE + TRANSPOSE + RESHAPE",
        op.op.name()
    ));
    Some(vec![
        crate::ir::Operator::new(
            Op::Reshape { new_shape: None },
            vec![x, split_shape],
            vec![a],
        ),
        crate::ir::Operator::new(Op::Transpose, vec![a, perm], vec![t]),
        crate::ir::Operator::new(Op::Reshape { new_shape: None }, vec![t, out_shape], vec![y]),
    ])
}

fn transpose_conv_bias_as_builtin(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    let Op::TransposeConvBias {
        padding,
        stride_w,
        stride_h,
    } = op.op
    else {
        return None;
    };
    let (x, w, b) = (op.input(0)?, op.input(1)?, op.input(2)?);
    let y = *op.outputs.first()?;
    let out_shape = graph.tensors.get(y)?.shape.clone();
    let shape = push_tensor(
        graph,
        shape_tensor(
            format!("{}/output_shape", graph.tensors[y].name),
            &out_shape,
        ),
    );
    report
        .rewritten
        .push(format!("{} #{i} as TRANSPOSE_CONV", op.op.name()));
    Some(vec![crate::ir::Operator::new(
        Op::TransposeConv {
            padding,
            stride_w,
            stride_h,
            activation: crate::ir::Activation::None,
        },
        vec![shape, w, x, b],
        vec![y],
    )])
}

fn depthwise_as_conv(
    graph: &mut crate::ir::Graph,
    op: &crate::ir::Operator,
    i: usize,
    report: &mut Lowering,
) -> Option<Vec<crate::ir::Operator>> {
    use crate::ir::{Conv2dOptions, DType};
    let Op::DepthwiseConv2d(o) = &op.op else {
        return None;
    };
    let (x, w) = (op.input(0)?, op.input(1)?);
    let channels = *graph.tensors[x].shape.get(3)?;
    let wt = &graph.tensors[w];
    let [1, kh, kw, out_c] = wt.shape[..] else {
        return None;
    };
    if channels == 0 || out_c == channels || !out_c.is_multiple_of(channels) {
        return None;
    }
    let multiplier = out_c / channels;
    let size = match wt.dtype {
        DType::F32 => 4,
        DType::I8 | DType::U8 => 1,
        _ => return None,
    };
    let data = wt.data.as_deref()?;
    if data.len() < kh * kw * out_c * size {
        return None;
    }
    let q = wt.quantization.clone();
    // The byte pattern of a zero weight in output channel o.
    let zero = |o: usize| -> Vec<u8> {
        match (&q, wt.dtype) {
            (Some(q), DType::I8 | DType::U8) => {
                let zp = q.zero_point.get(o).or(q.zero_point.first()).copied();
                vec![zp.unwrap_or(0) as u8]
            }
            _ => vec![0; size],
        }
    };
    let mut bytes = Vec::with_capacity(out_c * kh * kw * channels * size);
    for oc in 0..out_c {
        let z = zero(oc);
        for y in 0..kh {
            for xx in 0..kw {
                for c in 0..channels {
                    if c == oc / multiplier {
                        let at = ((y * kw + xx) * out_c + oc) * size;
                        bytes.extend_from_slice(&data[at..at + size]);
                    } else {
                        bytes.extend_from_slice(&z);
                    }
                }
            }
        }
    }
    let mut filter = wt.clone();
    filter.name = format!("ferrolite_lowered_depthwise{i}/filter");
    filter.shape = vec![out_c, kh, kw, channels];
    filter.shape_signature = None;
    filter.data = Some(bytes);
    if let Some(q) = &mut filter.quantization {
        q.quantized_dimension = 0;
    }
    let filter = push_tensor(graph, filter);
    let mut conv = op.clone();
    conv.op = Op::Conv2d(Conv2dOptions {
        padding: o.padding,
        stride_w: o.stride_w,
        stride_h: o.stride_h,
        dilation_w: o.dilation_w,
        dilation_h: o.dilation_h,
        activation: o.activation,
    });
    conv.inputs[1] = Some(filter);
    report.rewritten.push(format!(
        "DEPTHWISE_CONV_2D #{i} (depth multiplier {multiplier}) as CONV_2D with zero weights across channels"
    ));
    Some(vec![conv])
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
/// - a missing bias becomes an all-zero int32 bias, which adds nothing;
/// - a float FULLY_CONNECTED whose input is not rank 2 gets the same RESHAPEs.
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
        // tract's float FULLY_CONNECTED also takes only a rank-2 input.
        let float = xt.dtype == DType::F32 && wt.dtype == DType::F32;
        if !(quantized || float) || wt.shape.len() != 2 || options.shuffled_weights {
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
        let needs_bias = quantized && op.input(2).is_none();
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
            Some(b) => Some(b),
            None if float => None,
            None => Some({
                let mut t =
                    Tensor::constant_i32(format!("{name}/zero_bias"), vec![out_c], &vec![0; out_c]);
                t.quantization = Some(Quantization {
                    scale: w_q.scale.iter().map(|s| s * x_scale).collect(),
                    zero_point: vec![0; w_q.scale.len()],
                    ..Default::default()
                });
                push(t)
            }),
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
            operators.push(Operator {
                op: conv,
                inputs: vec![Some(view), Some(filter), bias],
                outputs: vec![conv_out],
            });
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
        fc.inputs = vec![Some(input), Some(w), bias];
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
