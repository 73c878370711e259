//! SHAPE: The input's shape as an int32 or int64 vector; computed at plan time.

use super::common::{misrouted, version_1, Fbb, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::Op;
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::{lower_dtype, tensor_type, type_name, ReadError};

pub const CODE: i32 = 77;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SHAPE",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::NonFloat),
    weights: None,
    runtime_versions: &["1.10.0"],
    read,
    write,
    version: version_1,
    summary,
    prepare: super::exec::shape::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    // Without options TF's kernel would have no type; int32 is what converters write.
    let t = r
        .options(r.fop.builtin_options_as_shape_options(), "ShapeOptions")?
        .map_or(fb::TensorType::INT32, |o| o.out_type());
    let out_type = lower_dtype(t)
        .ok_or_else(|| r.bad(format!("out_type {} is not supported", type_name(t))))?;
    Ok(Op::Shape { out_type })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Shape { out_type } = op else {
        return misrouted(op);
    };
    let table = fb::ShapeOptions::create(
        fbb,
        &fb::ShapeOptionsArgs {
            out_type: tensor_type(*out_type),
        },
    );
    (
        fb::BuiltinOptions::ShapeOptions,
        Some(table.as_union_value()),
    )
}

fn summary(op: &Op) -> String {
    match op {
        Op::Shape { out_type } => format!("out {out_type}"),
        _ => String::new(),
    }
}
