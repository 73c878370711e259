//! MEAN: Mean over the axes given by input 1.

use super::common::{misrouted, version_by_int_input, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 40;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "MEAN",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["1.6.0", "1.14.0", "2.4.0"],
    read,
    write,
    version: version_by_int_input,
    summary,
    prepare: super::exec::reduce::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_reducer_options(), "ReducerOptions")?;
    Ok(Op::Mean {
        keep_dims: o.is_some_and(|o| o.keep_dims()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Mean { keep_dims } = op else {
        return misrouted(op);
    };
    let table = fb::ReducerOptions::create(
        fbb,
        &fb::ReducerOptionsArgs {
            keep_dims: *keep_dims,
        },
    );
    (
        fb::BuiltinOptions::ReducerOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::Mean { keep_dims } => format!("keep_dims {keep_dims}"),
        _ => String::new(),
    }
}
