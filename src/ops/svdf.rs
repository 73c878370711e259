//! SVDF: the low-rank time filter of keyword-spotting models. Inputs: the input
//! `[batch, input_size]`, feature weights `[filters, input_size]`, time weights
//! `[filters, memory]`, an optional bias `[units]`, and the state `[batch, filters *
//! memory]`, a variable tensor the op reads and rewrites on every invocation.

use super::common::{activation, misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 27;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SVDF",
    // Five operands, but the bias (3) may be omitted before the required state (4),
    // which `Arity` cannot say; the kernel insists on the state.
    arity: Arity::range(3, 5),
    // ferrolite's int8 quantizer does not make SVDF models (it would need the int16 state
    // and time weights TFLite's converter chooses); it runs the ones TFLite makes.
    quant: None,
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "2.2.0", "2.3.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::svdf::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_svdfoptions(), "SVDFOptions")?;
    Ok(Op::Svdf {
        rank: o.map_or(0, |o| o.rank()),
        activation: r.activation(o.map(|o| o.fused_activation_function()))?,
        asymmetric_quantize_inputs: o.is_some_and(|o| o.asymmetric_quantize_inputs()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Svdf {
        rank,
        activation: act,
        asymmetric_quantize_inputs,
    } = op
    else {
        return misrouted(op);
    };
    let table = fb::SVDFOptions::create(
        fbb,
        &fb::SVDFOptionsArgs {
            rank: *rank,
            fused_activation_function: activation(*act),
            asymmetric_quantize_inputs: *asymmetric_quantize_inputs,
        },
    );
    (
        fb::BuiltinOptions::SVDFOptions,
        Some(table.as_union_value()),
    )
}

/// TF's rule: 3 for full integer, 2 for hybrid (4 with asymmetric input quantization).
fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I8) {
        3
    } else if s.hybrid() {
        match s.op.op {
            Op::Svdf {
                asymmetric_quantize_inputs: true,
                ..
            } => 4,
            _ => 2,
        }
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::Svdf {
            rank, activation, ..
        } => format!("rank {rank} {}", activation.name()),
        _ => String::new(),
    }
}
