//! SQUEEZE: Drops size-1 dimensions.

use super::common::{misrouted, version_1, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 43;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SQUEEZE",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.6.0", "2.5.0"],
    read,
    write,
    version: version_1,
    summary,
    prepare: super::exec::shape::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_squeeze_options(), "SqueezeOptions")?;
    Ok(Op::Squeeze {
        dims: o
            .and_then(|o| o.squeeze_dims())
            .map(|v| v.iter().collect())
            .unwrap_or_default(),
    })
}

/// No dims (squeeze every size-1 dimension) is written as an absent vector, as TF does.
fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Squeeze { dims } = op else {
        return misrouted(op);
    };
    let squeeze_dims = (!dims.is_empty()).then(|| fbb.create_vector(dims));
    let table = fb::SqueezeOptions::create(fbb, &fb::SqueezeOptionsArgs { squeeze_dims });
    (
        fb::BuiltinOptions::SqueezeOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::Squeeze { dims } => format!("dims {dims:?}"),
        _ => String::new(),
    }
}
