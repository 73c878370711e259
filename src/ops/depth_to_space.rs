//! DEPTH_TO_SPACE: moves blocks of channels into block_size x block_size spatial tiles (NHWC).

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 5;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "DEPTH_TO_SPACE",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["2.1.0", "2.5.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::layout::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_depth_to_space_options(),
        "DepthToSpaceOptions",
    )?;
    Ok(Op::DepthToSpace {
        block_size: o.map_or(0, |o| o.block_size()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::DepthToSpace { block_size } = op else {
        return misrouted(op);
    };
    let table = fb::DepthToSpaceOptions::create(
        fbb,
        &fb::DepthToSpaceOptionsArgs {
            block_size: *block_size,
        },
    );
    (
        fb::BuiltinOptions::DepthToSpaceOptions,
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
        Op::DepthToSpace { block_size } => format!("block {block_size}"),
        _ => String::new(),
    }
}
