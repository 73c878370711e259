//! ARG_MIN: the index of the smallest value along the axis given by input 1 (the first
//! such index on ties), as int32 or int64 per the options.

use super::common::{misrouted, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::{tensor_type, ReadError};

pub const CODE: i32 = 79;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "ARG_MIN",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::NonFloat),
    weights: None,
    runtime_versions: &["1.9.0", "1.14.0", "2.9.0"],
    read,
    write,
    version: super::arg_max::version,
    summary,
    prepare: super::exec::arg_min_max::prepare,
};

/// Absent options mean the schema default, FLOAT32, which TFLite's kernel (and
/// ferrolite's prepare) refuses as an index type.
fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let t = r
        .options(r.fop.builtin_options_as_arg_min_options(), "ArgMinOptions")?
        .map_or(fb::TensorType::FLOAT32, |o| o.output_type());
    Ok(Op::ArgMin {
        output_type: super::arg_max::index_type(r, t)?,
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::ArgMin { output_type } = op else {
        return misrouted(op);
    };
    let table = fb::ArgMinOptions::create(
        fbb,
        &fb::ArgMinOptionsArgs {
            output_type: tensor_type(*output_type),
        },
    );
    (
        fb::BuiltinOptions::ArgMinOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::ArgMin { output_type } => format!("out {output_type}"),
        _ => String::new(),
    }
}
