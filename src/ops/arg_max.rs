//! ARG_MAX: the index of the largest value along the axis given by input 1 (the first
//! such index on ties), as int32 or int64 per the options.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::{lower_dtype, tensor_type, type_name, ReadError};

pub const CODE: i32 = 56;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "ARG_MAX",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::NonFloat),
    weights: None,
    runtime_versions: &["1.9.0", "1.14.0", "2.9.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::arg_min_max::prepare,
};

/// Absent options mean the schema default, FLOAT32, which TFLite's kernel (and
/// ferrolite's prepare) refuses as an index type.
fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let t = r
        .options(r.fop.builtin_options_as_arg_max_options(), "ArgMaxOptions")?
        .map_or(fb::TensorType::FLOAT32, |o| o.output_type());
    Ok(Op::ArgMax {
        output_type: index_type(r, t)?,
    })
}

/// The IR type of an ARG_MAX / ARG_MIN `output_type` (shared with ARG_MIN).
pub(super) fn index_type(r: &ReadCtx, t: fb::TensorType) -> Result<DType, ReadError> {
    lower_dtype(t).ok_or_else(|| r.bad(format!("output_type {} is not supported", type_name(t))))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::ArgMax { output_type } = op else {
        return misrouted(op);
    };
    let table = fb::ArgMaxOptions::create(
        fbb,
        &fb::ArgMaxOptionsArgs {
            output_type: tensor_type(*output_type),
        },
    );
    (
        fb::BuiltinOptions::ArgMaxOptions,
        Some(table.as_union_value()),
    )
}

/// bool input → 3, int8 → 2, else 1 (ARG_MIN's rule too).
pub(super) fn version(s: &OpSig) -> i32 {
    match s.in0 {
        Some(DType::Bool) => 3,
        Some(DType::I8) => 2,
        _ => 1,
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::ArgMax { output_type } => format!("out {output_type}"),
        _ => String::new(),
    }
}
