//! FULLY_CONNECTED: Matrix product with [units, depth] weights (dense or sparse); the bias may be omitted.

use super::common::{activation, misrouted, per_channel_along, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule, WeightOperands};
use crate::ir::{DType, FullyConnectedOptions, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 9;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "FULLY_CONNECTED",
    arity: Arity::range(2, 3),
    quant: Some(QuantRule::Free),
    weights: Some(WeightOperands {
        weight: 1,
        channel_axis: 0,
        bias: 2,
    }),
    runtime_versions: &[
        "1.5.0", "1.10.0", "1.14.0", "1.14.0", "2.0.0", "2.1.0", "2.3.0", "2.3.0", "2.3.0",
        "2.11.0", "2.15.0", "2.17.0",
    ],
    read,
    write,
    version,
    summary,
    prepare: super::exec::fully_connected::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_fully_connected_options(),
        "FullyConnectedOptions",
    )?;
    let shuffled_weights = match o.map(|o| o.weights_format()) {
        None | Some(fb::FullyConnectedOptionsWeightsFormat::DEFAULT) => false,
        Some(fb::FullyConnectedOptionsWeightsFormat::SHUFFLED4x16INT8) => true,
        Some(other) => return Err(r.bad(format!("unknown weights_format {}", other.0))),
    };
    Ok(Op::FullyConnected(FullyConnectedOptions {
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
        keep_num_dims: o.is_some_and(|o| o.keep_num_dims()),
        asymmetric_quantize_inputs: o.is_some_and(|o| o.asymmetric_quantize_inputs()),
        shuffled_weights,
    }))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::FullyConnected(o) = op else {
        return misrouted(op);
    };
    let table = fb::FullyConnectedOptions::create(
        fbb,
        &fb::FullyConnectedOptionsArgs {
            fused_activation_function: activation(o.activation),
            weights_format: if o.shuffled_weights {
                fb::FullyConnectedOptionsWeightsFormat::SHUFFLED4x16INT8
            } else {
                fb::FullyConnectedOptionsWeightsFormat::DEFAULT
            },
            keep_num_dims: o.keep_num_dims,
            asymmetric_quantize_inputs: o.asymmetric_quantize_inputs,
            ..Default::default()
        },
    );
    (
        fb::BuiltinOptions::FullyConnectedOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let Op::FullyConnected(o) = &s.op.op else {
        return 1;
    };
    let sparse_weight = s.in1_t.is_some_and(|t| t.sparsity.is_some());
    let all_i16 =
        s.in0 == Some(DType::I16) && s.in1 == Some(DType::I16) && s.out0 == Some(DType::I16);
    if s.hybrid() && per_channel_along(s.in1_t, 0) {
        12
    } else if sparse_weight {
        8
    } else if all_i16 {
        7
    } else if s.op.inputs.len() == 2 {
        // No bias slot at all (an omitted bias, -1, still counts as 3 inputs).
        6
    } else if o.keep_num_dims {
        5
    } else if s.all_i8() {
        4
    } else if s.hybrid() {
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

fn summary(op: &Op) -> String {
    match op {
        Op::FullyConnected(o) => format!(
            "{}{}{}",
            o.activation.name(),
            if o.keep_num_dims {
                " keep_num_dims"
            } else {
                ""
            },
            if o.asymmetric_quantize_inputs {
                " asymmetric_inputs"
            } else {
                ""
            }
        ),
        _ => String::new(),
    }
}
