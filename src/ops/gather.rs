//! GATHER: slices of the params (input 0) along `axis` at the indices in input 1, with
//! `batch_dims` leading dims shared by both.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 36;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "GATHER",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &[
        "1.6.0", "1.14.0", "1.15.0", "2.4.0", "2.5.0", "2.13.0", "2.15.0",
    ],
    read,
    write,
    version,
    summary,
    prepare: super::exec::gather::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_gather_options(), "GatherOptions")?;
    Ok(Op::Gather {
        axis: o.map_or(0, |o| o.axis()),
        batch_dims: o.map_or(0, |o| o.batch_dims()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Gather { axis, batch_dims } = op else {
        return misrouted(op);
    };
    let table = fb::GatherOptions::create(
        fbb,
        &fb::GatherOptionsArgs {
            axis: *axis,
            batch_dims: *batch_dims,
        },
    );
    (
        fb::BuiltinOptions::GatherOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let batched = matches!(s.op.op, Op::Gather { batch_dims, .. } if batch_dims != 0);
    if s.in1 == Some(DType::I16) {
        6
    } else if batched {
        5
    } else if s.in0 == Some(DType::I16) {
        4
    } else if s.in0 == Some(DType::Bool) {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::Gather { axis, batch_dims } => format!("axis {axis} batch_dims {batch_dims}"),
        _ => String::new(),
    }
}
