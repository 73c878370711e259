//! RESHAPE: New shape, same elements; the target comes from the options or from input 1.

use super::common::{misrouted, version_1, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 22;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RESHAPE",
    arity: Arity::range(1, 2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0"],
    read,
    write,
    version: version_1,
    summary,
    prepare: super::exec::shape::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_reshape_options(), "ReshapeOptions")?;
    Ok(Op::Reshape {
        new_shape: o.and_then(|o| o.new_shape()).map(|v| v.iter().collect()),
    })
}

/// An absent `new_shape` stays absent (the shape then comes from input 1), so a file
/// round-trips.
fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Reshape { new_shape } = op else {
        return misrouted(op);
    };
    let new_shape = new_shape.as_ref().map(|s| fbb.create_vector(s));
    let table = fb::ReshapeOptions::create(fbb, &fb::ReshapeOptionsArgs { new_shape });
    (
        fb::BuiltinOptions::ReshapeOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::Reshape { new_shape: Some(s) } => format!("new_shape {s:?}"),
        _ => String::new(),
    }
}
