//! SPLIT: `num_splits` equal pieces along a constant axis (input 0) of the data
//! (input 1), one output each.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 49;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SPLIT",
    arity: Arity::fixed_any_outputs(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0", "1.14.0", "2.3.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::layout::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_split_options(), "SplitOptions")?;
    Ok(Op::Split {
        num_splits: o.map_or(0, |o| o.num_splits()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Split { num_splits } = op else {
        return misrouted(op);
    };
    let table = fb::SplitOptions::create(
        fbb,
        &fb::SplitOptionsArgs {
            num_splits: *num_splits,
        },
    );
    (
        fb::BuiltinOptions::SplitOptions,
        Some(table.as_union_value()),
    )
}

/// The data is input 1 (input 0 is the axis).
fn version(s: &OpSig) -> i32 {
    match s.in1 {
        Some(DType::I16) => 4,
        Some(DType::I32) => 3,
        Some(DType::I8) => 2,
        _ => 1,
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::Split { num_splits } => format!("num_splits {num_splits}"),
        _ => String::new(),
    }
}
