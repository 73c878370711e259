//! Operator versions and the minimum runtime version, as TensorFlow's exporter computes them.
//!
//! The rules follow `GetBuiltinOperatorVersion` (LiteRT
//! `tflite/converter/tools/versioning/op_version.cc`, with the operator signature built as in
//! `op_signature.cc`) restricted to the ops in [`Op`], and the runtime table of
//! `runtime_version.cc`. A runtime refuses an op whose (code, version) it has not registered,
//! so the version must never be lower than what the tensor types demand; it also should not
//! be higher than needed, or older runtimes refuse a model they could run.
//!
//! Cases the IR cannot express are not reachable here: int4 and uint32 tensors, conv and FC
//! `quantized_bias_type`, ADD/SUB `pot_scale_int16 = false` (the writer always leaves the
//! default `true`).

use crate::ir::{DType, Graph, Op, Operator, Tensor};

/// The tensor at operator slot `i` of `list`, if the slot is present and in range.
fn slot<'g>(graph: &'g Graph, list: &[Option<usize>], i: usize) -> Option<&'g Tensor> {
    list.get(i)
        .copied()
        .flatten()
        .and_then(|t| graph.tensors.get(t))
}

fn dtype_of(t: Option<&Tensor>) -> Option<DType> {
    t.map(|t| t.dtype)
}

/// Number of scales of a quantized tensor (0 when not quantized).
fn scale_count(t: Option<&Tensor>) -> usize {
    t.and_then(|t| t.quantization.as_ref())
        .map_or(0, |q| q.scale.len())
}

/// `scales > 1 && scales == shape[quantized_dimension]`, TF's test for per-channel
/// DEQUANTIZE/QUANTIZE tensors.
fn per_axis_along_quantized_dim(t: Option<&Tensor>) -> bool {
    let Some(t) = t else { return false };
    let Some(q) = t.quantization.as_ref() else {
        return false;
    };
    q.scale.len() > 1 && t.shape.get(q.quantized_dimension) == Some(&q.scale.len())
}

/// TF checks scale count against a fixed weight dimension (0 for conv/FC filters, 3 for
/// depthwise), regardless of `quantized_dimension`.
fn per_channel_along(t: Option<&Tensor>, dim: usize) -> bool {
    let Some(t) = t else { return false };
    let n = scale_count(Some(t));
    n > 0 && t.shape.get(dim) == Some(&n)
}

fn rank(t: Option<&Tensor>) -> usize {
    t.map_or(0, |t| t.shape.len())
}

/// Binary ops get a higher version when they broadcast above rank 4.
fn broadcasts_above_rank4(graph: &Graph, op: &Operator) -> bool {
    let a = slot(graph, &op.inputs, 0);
    let b = slot(graph, &op.inputs, 1);
    let differ = match (a, b) {
        (Some(a), Some(b)) => a.shape != b.shape,
        _ => false,
    };
    differ && rank(a).max(rank(b)) > 4
}

/// The version TensorFlow would give `op` in `graph`.
pub fn op_version(graph: &Graph, op: &Operator) -> i32 {
    use DType::*;
    let in0_t = slot(graph, &op.inputs, 0);
    let in1_t = slot(graph, &op.inputs, 1);
    let outputs: Vec<Option<usize>> = op.outputs.iter().map(|&o| Some(o)).collect();
    let out0_t = slot(graph, &outputs, 0);
    let in0 = dtype_of(in0_t);
    let in1 = dtype_of(in1_t);
    let out0 = dtype_of(out0_t);
    let hybrid = in0 == Some(F32) && in1 == Some(I8) && out0 == Some(F32);
    let all_i8 = in0 == Some(I8) && in1 == Some(I8) && out0 == Some(I8);

    match &op.op {
        Op::Conv2d(_) => {
            let grouped = match (in0_t, in1_t) {
                (Some(i), Some(f)) if i.shape.len() >= 4 && f.shape.len() >= 4 => {
                    i.shape[3] != f.shape[3]
                }
                _ => false,
            };
            if grouped {
                6
            } else if all_i8 {
                3
            } else if hybrid {
                if per_channel_along(in1_t, 0) {
                    5
                } else {
                    2
                }
            } else {
                1
            }
        }
        Op::DepthwiseConv2d(o) => {
            if hybrid {
                if per_channel_along(in1_t, 3) {
                    6
                } else {
                    4
                }
            } else if all_i8 {
                3
            } else if o.dilation_w != 1 || o.dilation_h != 1 {
                2
            } else {
                1
            }
        }
        Op::FullyConnected(o) => {
            let sparse_weight = in1_t.is_some_and(|t| t.sparsity.is_some());
            if hybrid && per_channel_along(in1_t, 0) {
                12
            } else if sparse_weight {
                8
            } else if in0 == Some(I16) && in1 == Some(I16) && out0 == Some(I16) {
                7
            } else if op.inputs.len() == 2 {
                6
            } else if o.keep_num_dims {
                5
            } else if all_i8 {
                4
            } else if hybrid {
                if o.asymmetric_quantize_inputs {
                    9
                } else {
                    3
                }
            } else if o.shuffled_weights {
                2
            } else {
                1
            }
        }
        Op::Mul { .. } => {
            let quantized = |t: Option<&Tensor>| t.is_some_and(|t| t.quantization.is_some());
            let input_quantized = quantized(in0_t) || quantized(in1_t);
            let first_scale = |t: Option<&Tensor>| {
                t.and_then(|t| t.quantization.as_ref())
                    .and_then(|q| q.scale.first().copied())
                    .unwrap_or(0.0)
            };
            let (s1, s2, so) = (first_scale(in0_t), first_scale(in1_t), first_scale(out0_t));
            if in0 == Some(I16) && !input_quantized {
                7
            } else if in0 == Some(I64) {
                5
            } else if in0 == Some(I16) {
                4
            } else if s1 != 0.0 && s2 != 0.0 && so != 0.0 && s1 * s2 / so >= 1.0 {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::MaxPool2d(_) | Op::AveragePool2d(_) => {
            if in0 == Some(I16) && out0 == Some(I16) {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::Transpose => {
            let r = rank(in0_t);
            if r > 5 {
                6
            } else if in0 == Some(I16) {
                5
            } else if r > 4 {
                4
            } else if in0 == Some(Bool) {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::Dequantize => {
            if in0 == Some(I16) || in0 == Some(F16) {
                3
            } else if in0 == Some(I8) {
                if per_axis_along_quantized_dim(in0_t) {
                    5
                } else {
                    2
                }
            } else {
                1
            }
        }
        Op::Quantize => {
            if per_axis_along_quantized_dim(out0_t) {
                3
            } else if out0 == Some(I16) {
                2
            } else {
                1
            }
        }
        Op::Relu => match in0 {
            Some(I16) => 3,
            Some(I8) | Some(U8) => 2,
            _ => 1,
        },
        Op::StridedSlice(o) => {
            if o.offset {
                8
            } else if o.ellipsis_mask != 0 || o.new_axis_mask != 0 {
                6
            } else if rank(in0_t) > 4 {
                4
            } else if in0 == Some(Bool) {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::Pack { .. } => {
            if in0 == Some(I8) {
                2
            } else if in0 == Some(I16) && out0 == Some(I16) {
                3
            } else {
                1
            }
        }
        Op::Add { .. } => {
            let input_quantized = in0_t.is_some_and(|t| t.quantization.is_some());
            if in0 == Some(I16) && !input_quantized {
                5
            } else if in0 == Some(I64) {
                4
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::Sub { .. } => {
            if in0 == Some(I64) {
                4
            } else if broadcasts_above_rank4(graph, op) {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::Div { .. } => {
            if broadcasts_above_rank4(graph, op) {
                2
            } else {
                1
            }
        }
        Op::Tanh | Op::Logistic => {
            if in0 == Some(I16) && out0 == Some(I16) {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::LeakyRelu { .. } => {
            if in0 == Some(I16) {
                2
            } else {
                1
            }
        }
        Op::Pad => {
            if in0 == Some(Bool) {
                5
            } else if rank(in0_t) > 4 {
                4
            } else if in0 == Some(I16) {
                3
            } else if in0 == Some(I8) {
                2
            } else {
                1
            }
        }
        Op::Concatenation { .. } => match in0 {
            Some(I16) => 3,
            Some(I8) => 2,
            _ => 1,
        },
        Op::Softmax { .. } | Op::Mean { .. } | Op::Relu6 => match in0 {
            Some(I16) => 3,
            Some(I8) => 2,
            _ => 1,
        },
        Op::Reshape { .. }
        | Op::Squeeze { .. }
        | Op::Shape { .. }
        | Op::HardSwish
        | Op::Densify => 1,
    }
}

/// The first TFLite runtime release that registers `code` at `version`, from TF's table
/// as each op's registry entry holds it;
/// `None` for pairs the table does not list (TF then skips the pair).
pub fn runtime_version(code: i32, version: i32) -> Option<&'static str> {
    let table = crate::ops::by_code(code).map_or(&[][..], |d| d.runtime_versions);
    let index = usize::try_from(version).ok()?.checked_sub(1)?;
    table.get(index).copied()
}

/// Orders dotted version strings numerically, component by component ("1.14.0" > "1.5.0").
fn version_key(v: &str) -> Vec<u64> {
    v.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The highest runtime version any of `(code, version)` needs, or `None` if no pair is
/// in the table.
pub fn min_runtime_version(pairs: impl IntoIterator<Item = (i32, i32)>) -> Option<&'static str> {
    pairs
        .into_iter()
        .filter_map(|(c, v)| runtime_version(c, v))
        .max_by_key(|v| version_key(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops;

    #[test]
    fn runtime_table_matches_tf_examples() {
        // Values quoted in the format notes (docs §1.2).
        assert_eq!(runtime_version(ops::conv_2d::CODE, 3), Some("1.14.0"));
        assert_eq!(
            runtime_version(ops::fully_connected::CODE, 4),
            Some("1.14.0")
        );
        assert_eq!(
            runtime_version(ops::fully_connected::CODE, 8),
            Some("2.3.0")
        );
        assert_eq!(runtime_version(ops::densify::CODE, 1), Some("2.2.0"));
        assert_eq!(runtime_version(ops::dequantize::CODE, 3), Some("1.15.0"));
        assert_eq!(runtime_version(ops::reshape::CODE, 2), None);
        assert_eq!(runtime_version(ops::reshape::CODE, 0), None);
    }

    #[test]
    fn numeric_not_lexicographic_maximum() {
        let v = min_runtime_version([
            (ops::shape::CODE, 1),
            (ops::conv_2d::CODE, 1),
            (ops::pack::CODE, 1),
        ]);
        assert_eq!(v, Some("1.11.0"));
        let v = min_runtime_version([(ops::reshape::CODE, 1), (ops::dequantize::CODE, 1)]);
        assert_eq!(v, Some("1.13.1"));
        assert_eq!(min_runtime_version([]), None);
    }
}
