//! SPLIT_V: pieces of the given sizes (input 1, one entry may be -1 for the rest) along
//! a constant axis (input 2) of the data (input 0), one output each.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 102;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SPLIT_V",
    arity: Arity::fixed_any_outputs(3),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.13.1", "2.3.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::layout::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_split_voptions(), "SplitVOptions")?;
    Ok(Op::SplitV {
        num_splits: o.map_or(0, |o| o.num_splits()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::SplitV { num_splits } = op else {
        return misrouted(op);
    };
    let table = fb::SplitVOptions::create(
        fbb,
        &fb::SplitVOptionsArgs {
            num_splits: *num_splits,
        },
    );
    (
        fb::BuiltinOptions::SplitVOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::SplitV { num_splits } => format!("num_splits {num_splits}"),
        _ => String::new(),
    }
}
