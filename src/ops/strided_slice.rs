//! STRIDED_SLICE: Slice by begin, end and strides (inputs 1 to 3) and the masks in the options.

use super::common::{misrouted, rank, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op, StridedSliceOptions};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 45;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "STRIDED_SLICE",
    arity: Arity::fixed(4),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &[
        "1.6.0", "1.14.0", "2.1.0", "2.2.0", "2.5.0", "2.6.0", "2.14.0", "2.14.0",
    ],
    read,
    write,
    version,
    summary,
    prepare: super::exec::shape::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_strided_slice_options(),
        "StridedSliceOptions",
    )?;
    Ok(Op::StridedSlice(StridedSliceOptions {
        begin_mask: o.map_or(0, |o| o.begin_mask()),
        end_mask: o.map_or(0, |o| o.end_mask()),
        ellipsis_mask: o.map_or(0, |o| o.ellipsis_mask()),
        new_axis_mask: o.map_or(0, |o| o.new_axis_mask()),
        shrink_axis_mask: o.map_or(0, |o| o.shrink_axis_mask()),
        offset: o.is_some_and(|o| o.offset()),
    }))
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::StridedSlice(o) = op else {
        return misrouted(op);
    };
    let table = fb::StridedSliceOptions::create(
        fbb,
        &fb::StridedSliceOptionsArgs {
            begin_mask: o.begin_mask,
            end_mask: o.end_mask,
            ellipsis_mask: o.ellipsis_mask,
            new_axis_mask: o.new_axis_mask,
            shrink_axis_mask: o.shrink_axis_mask,
            offset: o.offset,
        },
    );
    (
        fb::BuiltinOptions::StridedSliceOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let Op::StridedSlice(o) = &s.op.op else {
        return 1;
    };
    if o.offset {
        8
    } else if o.ellipsis_mask != 0 || o.new_axis_mask != 0 {
        6
    } else if rank(s.in0_t) > 4 {
        4
    } else if s.in0 == Some(DType::Bool) {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::StridedSlice(o) => format!(
            "masks begin {} end {} ellipsis {} new_axis {} shrink {}{}",
            o.begin_mask,
            o.end_mask,
            o.ellipsis_mask,
            o.new_axis_mask,
            o.shrink_axis_mask,
            if o.offset { " offset" } else { "" }
        ),
        _ => String::new(),
    }
}
