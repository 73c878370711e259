//! Full-integer int8 quantization (docs §2) of a float32 model with calibrated ranges.
//!
//! Parameters are chosen as TensorFlow's MLIR quantizer chooses them:
//! - every float activation gets asymmetric int8 parameters from its calibrated range
//!   ([`params::asymmetric_int8`]);
//! - SOFTMAX and LOGISTIC outputs are fixed at (1/256, -128), TANH at (1/128, 0);
//! - ops that must keep their input's parameters (pools, RESHAPE, SQUEEZE, PAD,
//!   TRANSPOSE, STRIDED_SLICE, CONCATENATION, PACK) follow TF's `RemoveRedundantStatsOps`:
//!   a single-input such op passes its input's parameters forward and its own range is
//!   ignored; a multi-input one (concatenation, pack) keeps its result's range and pushes
//!   it backwards onto its inputs; where an input's parameters are fixed otherwise, a
//!   requantizing QUANTIZE (int8 → int8) is inserted;
//! - CONV_2D and FULLY_CONNECTED weights are symmetric narrow-range per channel on dim 0,
//!   DEPTHWISE_CONV_2D on dim 3; biases int32 with scale input × weight scale;
//! - other float constants are asymmetric int8 with their own range;
//! - ops with no int8 kernel in TFLite (FLOOR, NEG, POW, SQUARE) stay float32 with their
//!   float constants, between a DEQUANTIZE of each int8 input and a QUANTIZE of the
//!   output to the parameters its calibrated range gives, as TF's converter leaves them
//!   (`keep_float_islands`).
//!
//! Tensor indices of the input model are kept; boundary ops and requantized copies add
//! tensors at the end.

use super::calibrate::Calibration;
use super::params;
use super::{Int8Options, IoType, QuantError};
use crate::ir::{decode, DType, Graph, Model, Op, Operator, Quantization, Tensor};
use crate::ops::QuantRule as Rule;

/// How an operator constrains its output's parameters; `None` for ops a float model
/// may not contain (the registry's boundary ops).
fn rule(op: &Op) -> Option<Rule> {
    op.def().quant
}

/// Operand slots of a weighted op: (weight slot, its per-channel axis, bias slot).
fn weight_slots(op: &Op) -> Option<(usize, usize, usize)> {
    op.def().weights.map(|w| (w.weight, w.channel_axis, w.bias))
}

/// Per-tensor activation parameters.
type Params = (f32, i64);

/// An operand to requantize: (operator, operand slot, parameters it needs).
type Requantize = (usize, usize, Params);

fn is_float_activation(t: &Tensor) -> bool {
    t.dtype == DType::F32 && !t.is_constant()
}

/// Float operands (activations and constants) of an operator, for TF's
/// "prefers the result scale" test: more than one means the result's range wins.
fn float_operand_count(graph: &Graph, op: &Operator) -> usize {
    op.inputs
        .iter()
        .flatten()
        .filter(|&&t| graph.tensors.get(t).is_some_and(|t| t.dtype == DType::F32))
        .count()
}

/// Chooses every float activation's parameters. Returns them, plus the (operator,
/// operand slot, parameters) of inputs that must be requantized to what their
/// same-scale consumer needs.
fn choose_params(
    graph: &Graph,
    calibration: &Calibration,
) -> Result<(Vec<Option<Params>>, Vec<Requantize>), QuantError> {
    let n = graph.tensors.len();
    let producer: Vec<Option<usize>> = {
        let mut p = vec![None; n];
        for (k, op) in graph.operators.iter().enumerate() {
            for &t in &op.outputs {
                if let Some(slot) = p.get_mut(t) {
                    *slot = Some(k);
                }
            }
        }
        p
    };
    let consumers: Vec<Vec<usize>> = {
        let mut c = vec![Vec::new(); n];
        for (k, op) in graph.operators.iter().enumerate() {
            for &t in op.inputs.iter().flatten() {
                if let Some(list) = c.get_mut(t) {
                    if !list.contains(&k) {
                        list.push(k);
                    }
                }
            }
        }
        c
    };
    let rule_of = |k: usize| graph.operators.get(k).and_then(|o| rule(&o.op));
    let activation = |t: usize| graph.tensors.get(t).is_some_and(is_float_activation);

    // Which tensors carry a range ("stats") and which of those TF drops as redundant.
    let has_stats: Vec<bool> = (0..n).map(activation).collect();
    let mut redundant = vec![false; n];
    // Step 1 (forward): a fixed-range op's range is replaced; a same-scale op with one
    // float operand inherits its input's parameters, so its own range is dropped.
    let mut work: Vec<usize> = (0..n).filter(|&t| has_stats[t]).collect();
    while let Some(t) = work.pop() {
        if let Some(Rule::Fixed(..)) = producer[t].and_then(rule_of) {
            redundant[t] = true;
        }
        for &k in &consumers[t] {
            let op = &graph.operators[k];
            if rule_of(k) != Some(Rule::SameScale) || float_operand_count(graph, op) > 1 {
                continue;
            }
            for &r in &op.outputs {
                if has_stats.get(r) == Some(&true) {
                    redundant[r] = true;
                    work.push(r);
                }
            }
        }
    }
    // Step 2 (backward): a same-scale op whose result keeps its range imposes it on its
    // inputs, whose own ranges are dropped.
    let mut work: Vec<usize> = (0..n).filter(|&t| has_stats[t] && !redundant[t]).collect();
    while let Some(t) = work.pop() {
        let Some(k) = producer[t] else { continue };
        if rule_of(k) != Some(Rule::SameScale) {
            continue;
        }
        for &u in graph.operators[k].inputs.iter().flatten() {
            if has_stats.get(u) == Some(&true) {
                redundant[u] = true;
                work.push(u);
            }
        }
    }

    let mut chosen: Vec<Option<Params>> = vec![None; n];
    for t in 0..n {
        if !has_stats[t] {
            continue;
        }
        if let Some(Rule::Fixed(s, z)) = producer[t].and_then(rule_of) {
            chosen[t] = Some((s, z));
        } else if !redundant[t] {
            let (lo, hi) = calibration.range(t).ok_or_else(|| QuantError::NoRange {
                tensor: t,
                name: graph.tensors[t].name.clone(),
            })?;
            chosen[t] = Some(params::asymmetric_int8(lo, hi));
        }
    }

    // Fill the dropped ones through same-scale ops until nothing changes: a lone
    // input's parameters flow forward; otherwise the result's flow backward.
    let same_scale: Vec<usize> = (0..graph.operators.len())
        .filter(|&k| rule_of(k) == Some(Rule::SameScale))
        .collect();
    let float_inputs = |k: usize| -> Vec<usize> {
        graph.operators[k]
            .inputs
            .iter()
            .flatten()
            .copied()
            .filter(|&t| activation(t))
            .collect()
    };
    loop {
        let mut changed = false;
        for &k in &same_scale {
            let inputs = float_inputs(k);
            let Some(&out) = graph.operators[k].outputs.first() else {
                continue;
            };
            if !activation(out) {
                continue;
            }
            let source = match inputs.as_slice() {
                [only] if chosen[*only].is_some() => chosen[*only],
                _ => chosen[out].or_else(|| inputs.iter().find_map(|&t| chosen[t])),
            };
            let Some(p) = source else { continue };
            for t in inputs.iter().copied().chain(std::iter::once(out)) {
                if chosen[t].is_none() {
                    chosen[t] = Some(p);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    // Inputs of same-scale ops whose parameters differ from the result's.
    let mut requantize = Vec::new();
    for &k in &same_scale {
        let op = &graph.operators[k];
        let Some(out_params) = op
            .outputs
            .first()
            .and_then(|&o| chosen.get(o).copied().flatten())
        else {
            continue;
        };
        for (slot, t) in op.inputs.iter().enumerate() {
            if let Some(t) = *t {
                if activation(t) && chosen[t].is_some_and(|p| p != out_params) {
                    requantize.push((k, slot, out_params));
                }
            }
        }
    }

    for t in 0..n {
        if has_stats[t] && chosen[t].is_none() {
            return Err(QuantError::NoRange {
                tensor: t,
                name: graph.tensors[t].name.clone(),
            });
        }
    }
    Ok((chosen, requantize))
}

fn tensor_err(graph: &Graph, t: usize, message: impl Into<String>) -> QuantError {
    QuantError::Tensor {
        tensor: t,
        name: graph
            .tensors
            .get(t)
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        message: message.into(),
    }
}

fn f32_values(graph: &Graph, t: usize) -> Result<Vec<f32>, QuantError> {
    let tensor = graph
        .tensors
        .get(t)
        .ok_or_else(|| tensor_err(graph, t, "index out of range"))?;
    match (&tensor.data, tensor.dtype, &tensor.sparsity) {
        (Some(d), DType::F32, None) if d.len() >= tensor.num_elements() * 4 => {
            let mut v = decode::f32s(d);
            v.truncate(tensor.num_elements());
            Ok(v)
        }
        _ => Err(tensor_err(graph, t, "expected a dense float32 constant")),
    }
}

fn set_i8(tensor: &mut Tensor, values: &[i8], q: Quantization) {
    tensor.dtype = DType::I8;
    tensor.data = Some(values.iter().map(|&v| v as u8).collect());
    tensor.quantization = Some(q);
}

/// Quantizes `model` (float32) to int8 with the calibrated ranges.
pub fn quantize_int8(
    model: &Model,
    calibration: &Calibration,
    options: &Int8Options,
) -> Result<Model, QuantError> {
    super::check_float_model(model)?;
    let graph = &model.graph;
    for (k, op) in graph.operators.iter().enumerate() {
        if rule(&op.op).is_none() {
            return Err(QuantError::UnsupportedOp {
                index: k,
                op: op.op.name(),
            });
        }
    }
    let (chosen, requantize) = choose_params(graph, calibration)?;
    let mut out = model.clone();
    let g = &mut out.graph;

    // Activations.
    for (t, p) in chosen.iter().enumerate() {
        if let (Some((s, z)), Some(tensor)) = (p, g.tensors.get_mut(t)) {
            tensor.dtype = DType::I8;
            tensor.quantization = Some(Quantization::per_tensor(*s, *z));
        }
    }

    // Constants, by the role their first consumer gives them (float islands keep theirs).
    let mut done = vec![false; g.tensors.len()];
    for (k, op) in graph.operators.iter().enumerate() {
        if rule(&op.op) == Some(Rule::Float) {
            continue;
        }
        // The first quantized activation input (input 0, except TRANSPOSE_CONV's input 2
        // after its output shape and weights): biases are scaled by it.
        let input_params = op
            .inputs
            .iter()
            .flatten()
            .find_map(|&t| chosen.get(t).copied().flatten());
        let output_params = op
            .outputs
            .first()
            .and_then(|&t| chosen.get(t).copied().flatten());
        let weights = weight_slots(&op.op);
        let mut weight_scales: Option<Vec<f32>> = None;
        if let Some((w_slot, axis, _)) = weights {
            let w = op.input(w_slot).ok_or_else(|| QuantError::Operator {
                index: k,
                op: op.op.name(),
                message: "has no weights".into(),
            })?;
            if !graph.tensors[w].is_constant() {
                return Err(QuantError::Operator {
                    index: k,
                    op: op.op.name(),
                    message: "weights computed at run time are not supported".into(),
                });
            }
            if done[w] {
                return Err(tensor_err(graph, w, "weights shared by several operators"));
            }
            let values = f32_values(graph, w)?;
            let shape = graph.tensors[w].shape.clone();
            let per_tensor = options.per_tensor_dense && matches!(op.op, Op::FullyConnected(_));
            let (scales, q, dim) = if per_tensor {
                let (s, q) = params::symmetric_per_tensor(&values);
                (vec![s], q, 0)
            } else {
                if axis >= shape.len() {
                    return Err(tensor_err(graph, w, "weights have too few dimensions"));
                }
                let (s, q) = params::symmetric_per_channel(&values, &shape, axis);
                (s, q, axis)
            };
            let quant = Quantization {
                scale: scales.clone(),
                zero_point: vec![0; scales.len()],
                quantized_dimension: dim,
                ..Default::default()
            };
            set_i8(&mut g.tensors[w], &q, quant);
            done[w] = true;
            weight_scales = Some(scales);
        }
        for (slot, t) in op.inputs.iter().enumerate() {
            let Some(t) = *t else { continue };
            let tensor = &graph.tensors[t];
            if !tensor.is_constant() || tensor.dtype != DType::F32 || done[t] {
                continue;
            }
            let is_bias = weights.is_some_and(|(_, _, b)| b == slot);
            if is_bias {
                let (Some(ws), Some((in_s, _))) = (&weight_scales, input_params) else {
                    return Err(tensor_err(
                        graph,
                        t,
                        "bias without quantized input and weights",
                    ));
                };
                let values = f32_values(graph, t)?;
                if ws.len() != 1 && ws.len() != values.len() {
                    return Err(tensor_err(
                        graph,
                        t,
                        "bias length differs from the output channels",
                    ));
                }
                let scales: Vec<f32> = ws.iter().map(|&w| params::bias_scale(in_s, w)).collect();
                let q = params::quantize_bias(&values, &scales);
                let tensor = &mut g.tensors[t];
                tensor.dtype = DType::I32;
                tensor.data = Some(q.iter().flat_map(|v| v.to_le_bytes()).collect());
                tensor.quantization = Some(Quantization {
                    zero_point: vec![0; scales.len()],
                    scale: scales,
                    quantized_dimension: 0,
                    ..Default::default()
                });
            } else {
                let values = f32_values(graph, t)?;
                let (s, z) = match rule(&op.op) {
                    Some(Rule::SameScale) => output_params.unwrap_or((1.0, 0)),
                    _ => {
                        let lo = values.iter().copied().fold(0.0f32, f32::min);
                        let hi = values.iter().copied().fold(0.0f32, f32::max);
                        params::asymmetric_int8(lo, hi)
                    }
                };
                let q = params::quantize_asymmetric_int8(&values, s, z);
                set_i8(&mut g.tensors[t], &q, Quantization::per_tensor(s, z));
            }
            done[t] = true;
        }
    }

    // Requantize inputs whose parameters differ from their same-scale consumer's: the
    // copy goes right before the consumer.
    let mut inserts: Vec<(usize, Operator)> = Vec::new();
    for (k, slot, (s, z)) in requantize {
        let Some(src) = g.operators[k].input(slot) else {
            continue;
        };
        let mut copy = g.tensors[src].clone();
        copy.name = format!("{}_requantized", copy.name);
        copy.quantization = Some(Quantization::per_tensor(s, z));
        copy.data = None;
        let idx = g.tensors.len();
        g.tensors.push(copy);
        g.operators[k].inputs[slot] = Some(idx);
        inserts.push((k, Operator::new(Op::Quantize, vec![src], vec![idx])));
    }
    for (k, op) in inserts.into_iter().rev() {
        g.operators.insert(k, op);
    }

    keep_float_islands(&mut out);
    apply_io(&mut out, options.io)?;
    out.validate().map_err(QuantError::Malformed)?;
    Ok(out)
}

/// Puts the ops with no int8 kernel (`Rule::Float`) back in float32, operator order kept:
/// before such an op, a DEQUANTIZE of each int8 operand it reads (one per tensor, shared
/// by later float ops); after it, when anything but another float op reads its output
/// (or the output is a model output), a QUANTIZE to the parameters chosen for that
/// output. The int8 copy takes over the output's name and uses; the float tensor gets a
/// numbered name, as TF's files have it.
fn keep_float_islands(model: &mut Model) {
    let is_float_op = |op: &Operator| rule(&op.op) == Some(Rule::Float);
    let g = &mut model.graph;
    if !g.operators.iter().any(is_float_op) {
        return;
    }
    let mut dequantized: Vec<Option<usize>> = vec![None; g.tensors.len()];
    let mut quantized: Vec<Option<usize>> = vec![None; g.tensors.len()];
    let old = std::mem::take(&mut g.operators);
    // Outputs of float ops that something other than a float op reads.
    let mut needs_int8 = vec![false; g.tensors.len()];
    for op in old.iter().filter(|op| !is_float_op(op)) {
        for &t in op.inputs.iter().flatten() {
            if let Some(flag) = needs_int8.get_mut(t) {
                *flag = true;
            }
        }
    }
    for &t in &g.outputs {
        if let Some(flag) = needs_int8.get_mut(t) {
            *flag = true;
        }
    }
    let mut ops = Vec::with_capacity(old.len());
    for mut op in old {
        if !is_float_op(&op) {
            for t in op.inputs.iter_mut().flatten() {
                if let Some(Some(q)) = quantized.get(*t) {
                    *t = *q;
                }
            }
            ops.push(op);
            continue;
        }
        for t in op.inputs.iter_mut().flatten() {
            let Some(tensor) = g.tensors.get(*t) else {
                continue;
            };
            if tensor.dtype != DType::I8 {
                continue;
            }
            let float = match dequantized[*t] {
                Some(f) => f,
                None => {
                    let mut copy = tensor.clone();
                    copy.name = if g.tensors.iter().any(|t| t.name == "tfl.dequantize") {
                        super::float16::unique_name(&g.tensors, "tfl.dequantize")
                    } else {
                        "tfl.dequantize".to_string()
                    };
                    copy.dtype = DType::F32;
                    copy.quantization = None;
                    copy.data = None;
                    copy.sparsity = None;
                    let f = g.tensors.len();
                    g.tensors.push(copy);
                    dequantized.push(None);
                    quantized.push(None);
                    needs_int8.push(false);
                    ops.push(Operator::new(Op::Dequantize, vec![*t], vec![f]));
                    dequantized[*t] = Some(f);
                    f
                }
            };
            *t = float;
        }
        let mut after = Vec::new();
        for &o in &op.outputs {
            let Some(tensor) = g.tensors.get(o) else {
                continue;
            };
            if tensor.dtype != DType::I8 {
                continue;
            }
            let int8 = tensor.clone();
            let float_name = super::float16::unique_name(&g.tensors, &int8.name);
            let float = &mut g.tensors[o];
            float.dtype = DType::F32;
            float.quantization = None;
            if !needs_int8[o] {
                continue;
            }
            float.name = float_name;
            let q = g.tensors.len();
            g.tensors.push(int8);
            dequantized.push(None);
            quantized.push(None);
            needs_int8.push(false);
            quantized[o] = Some(q);
            after.push(Operator::new(Op::Quantize, vec![o], vec![q]));
        }
        ops.push(op);
        ops.extend(after);
    }
    g.operators = ops;
    for t in &mut g.outputs {
        if let Some(Some(q)) = quantized.get(*t) {
            *t = *q;
        }
    }
    if let Some(sig) = model.signature.as_mut() {
        for (_, t) in sig.outputs.iter_mut() {
            if let Some(Some(q)) = quantized.get(*t) {
                *t = *q;
            }
        }
    }
}

/// Rewrites the model's boundary for the requested IO type.
fn apply_io(model: &mut Model, io: IoType) -> Result<(), QuantError> {
    if io == IoType::Int8 {
        return Ok(());
    }
    let g = &mut model.graph;
    let mut front = Vec::new();
    for (n, input) in g.inputs.clone().into_iter().enumerate() {
        let (s, z) = g.tensors[input]
            .scale_zero_point()
            .ok_or_else(|| tensor_err(g, input, "model input is not a quantized activation"))?;
        let mut inner = g.tensors[input].clone();
        inner.name = if n == 0 {
            "tfl.quantize".to_string()
        } else {
            format!("tfl.quantize{n}")
        };
        let idx = g.tensors.len();
        g.tensors.push(inner);
        for op in &mut g.operators {
            for i in op.inputs.iter_mut().flatten() {
                if *i == input {
                    *i = idx;
                }
            }
        }
        let outer = &mut g.tensors[input];
        match io {
            IoType::Float32 => {
                outer.dtype = DType::F32;
                outer.quantization = None;
            }
            _ => {
                outer.dtype = DType::U8;
                outer.quantization = Some(Quantization::per_tensor(s, z + 128));
            }
        }
        front.push(Operator::new(Op::Quantize, vec![input], vec![idx]));
    }
    let mut back = Vec::new();
    let mut new_outputs = Vec::new();
    for output in g.outputs.clone() {
        let (s, z) = g.tensors[output]
            .scale_zero_point()
            .ok_or_else(|| tensor_err(g, output, "model output is not a quantized activation"))?;
        let mut outer = g.tensors[output].clone();
        g.tensors[output].name = super::float16::unique_name(&g.tensors, &outer.name);
        let op = match io {
            IoType::Float32 => {
                outer.dtype = DType::F32;
                outer.quantization = None;
                Op::Dequantize
            }
            _ => {
                outer.dtype = DType::U8;
                outer.quantization = Some(Quantization::per_tensor(s, z + 128));
                Op::Quantize
            }
        };
        let idx = g.tensors.len();
        g.tensors.push(outer);
        back.push(Operator::new(op, vec![output], vec![idx]));
        new_outputs.push(idx);
    }
    let old_outputs = std::mem::replace(&mut g.outputs, new_outputs.clone());
    g.operators.splice(0..0, front);
    g.operators.extend(back);
    if let Some(sig) = model.signature.as_mut() {
        for (_, t) in sig.outputs.iter_mut() {
            if let Some(pos) = old_outputs.iter().position(|o| o == t) {
                *t = new_outputs[pos];
            }
        }
    }
    Ok(())
}
