//! UNIDIRECTIONAL_SEQUENCE_LSTM: a whole LSTM layer over a sequence, as TFLite's converter
//! emits a Keras `LSTM`. Operands (TFLite's order): 0 input; 1–4 input-to-{input, forget,
//! cell, output} weights; 5–8 recurrent-to-gate weights; 9–11 cell-to-{input, forget,
//! output} peepholes; 12–15 gate biases; 16–17 projection weights and bias; 18 output
//! state and 19 cell state (variable tensors); 20–23 layer-norm coefficients. The input
//! gate's operands are omitted in CIFG models, peepholes, projection and layer norm when
//! unused.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef};
use crate::ir::{DType, LstmOptions, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 44;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "UNIDIRECTIONAL_SEQUENCE_LSTM",
    // Only the input is required by position; which of the others must be present
    // depends on the variant, which the kernel checks.
    arity: Arity::range(1, 24),
    // TFLite's int8 LSTM needs intermediate tensors and int16 cell states that
    // ferrolite's quantizer does not make.
    quant: None,
    weights: None,
    runtime_versions: &["1.13.1", "1.14.0", "2.3.0", "2.12.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::lstm::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop
            .builtin_options_as_unidirectional_sequence_lstmoptions(),
        "UnidirectionalSequenceLSTMOptions",
    )?;
    Ok(Op::UnidirectionalSequenceLstm(LstmOptions {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
        cell_clip: o.map_or(0.0, |o| o.cell_clip()),
        proj_clip: o.map_or(0.0, |o| o.proj_clip()),
        time_major: o.is_some_and(|o| o.time_major()),
        asymmetric_quantize_inputs: o.is_some_and(|o| o.asymmetric_quantize_inputs()),
        diagonal_recurrent_tensors: o.is_some_and(|o| o.diagonal_recurrent_tensors()),
    }))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::UnidirectionalSequenceLstm(o) = op else {
        return misrouted(op);
    };
    let table = fb::UnidirectionalSequenceLSTMOptions::create(
        fbb,
        &fb::UnidirectionalSequenceLSTMOptionsArgs {
            fused_activation_function: activation(o.activation),
            cell_clip: o.cell_clip,
            proj_clip: o.proj_clip,
            time_major: o.time_major,
            asymmetric_quantize_inputs: o.asymmetric_quantize_inputs,
            diagonal_recurrent_tensors: o.diagonal_recurrent_tensors,
        },
    );
    (
        fb::BuiltinOptions::UnidirectionalSequenceLSTMOptions,
        Some(table.as_union_value()),
    )
}

/// TF's rule: 5 for 16x8, 4 with diagonal recurrent weights, 2 hybrid (3 asymmetric).
fn version(s: &OpSig) -> i32 {
    let Op::UnidirectionalSequenceLstm(o) = &s.op.op else {
        return 1;
    };
    let weight =
        s.op.input(2)
            .and_then(|t| s.graph.tensors.get(t))
            .map(|t| t.dtype);
    if s.in0 == Some(DType::I16) && weight == Some(DType::I8) && s.out0 == Some(DType::I16) {
        5
    } else if o.diagonal_recurrent_tensors {
        4
    } else if s.in0 == Some(DType::F32) && weight == Some(DType::I8) && s.out0 == Some(DType::F32) {
        if o.asymmetric_quantize_inputs {
            3
        } else {
            2
        }
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::UnidirectionalSequenceLstm(o) => format!(
            "{}{}{}{}",
            o.activation.name(),
            if o.time_major { " time_major" } else { "" },
            if o.cell_clip > 0.0 {
                format!(" cell_clip {}", o.cell_clip)
            } else {
                String::new()
            },
            if o.proj_clip > 0.0 {
                format!(" proj_clip {}", o.proj_clip)
            } else {
                String::new()
            }
        ),
        _ => String::new(),
    }
}
