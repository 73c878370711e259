//! PACK: Stacks `values_count` inputs along a new axis (prepare checks the count against the options).

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 83;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "PACK",
    arity: Arity::range(1, usize::MAX),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.11.0", "1.14.0", "2.3.0", "2.13.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::shape::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_pack_options(), "PackOptions")?;
    Ok(Op::Pack {
        values_count: o.map_or(0, |o| o.values_count()),
        axis: o.map_or(0, |o| o.axis()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Pack { values_count, axis } = op else {
        return misrouted(op);
    };
    let table = fb::PackOptions::create(
        fbb,
        &fb::PackOptionsArgs {
            values_count: *values_count,
            axis: *axis,
        },
    );
    (
        fb::BuiltinOptions::PackOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I8) {
        2
    } else if s.in0 == Some(DType::I16) && s.out0 == Some(DType::I16) {
        3
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::Pack { values_count, axis } => format!("values {values_count} axis {axis}"),
        _ => String::new(),
    }
}
