//! SPACE_TO_DEPTH: folds block_size x block_size spatial tiles into channels (NHWC).

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 26;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "SPACE_TO_DEPTH",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.5.0", "1.14.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::layout::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_space_to_depth_options(),
        "SpaceToDepthOptions",
    )?;
    Ok(Op::SpaceToDepth {
        block_size: o.map_or(0, |o| o.block_size()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::SpaceToDepth { block_size } = op else {
        return misrouted(op);
    };
    let table = fb::SpaceToDepthOptions::create(
        fbb,
        &fb::SpaceToDepthOptionsArgs {
            block_size: *block_size,
        },
    );
    (
        fb::BuiltinOptions::SpaceToDepthOptions,
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
        Op::SpaceToDepth { block_size } => format!("block {block_size}"),
        _ => String::new(),
    }
}
