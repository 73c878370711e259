//! RESIZE_NEAREST_NEIGHBOR: NHWC nearest-neighbour resampling to the constant size in
//! input 1, with TF's `align_corners` and `half_pixel_centers` conventions.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 97;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RESIZE_NEAREST_NEIGHBOR",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.13.1", "1.14.0", "2.3.0", "2.4.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::resize::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_resize_nearest_neighbor_options(),
        "ResizeNearestNeighborOptions",
    )?;
    Ok(Op::ResizeNearestNeighbor {
        align_corners: o.is_some_and(|o| o.align_corners()),
        half_pixel_centers: o.is_some_and(|o| o.half_pixel_centers()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::ResizeNearestNeighbor {
        align_corners,
        half_pixel_centers,
    } = op
    else {
        return misrouted(op);
    };
    let table = fb::ResizeNearestNeighborOptions::create(
        fbb,
        &fb::ResizeNearestNeighborOptionsArgs {
            align_corners: *align_corners,
            half_pixel_centers: *half_pixel_centers,
        },
    );
    (
        fb::BuiltinOptions::ResizeNearestNeighborOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let flagged = matches!(
        s.op.op,
        Op::ResizeNearestNeighbor {
            align_corners: true,
            ..
        } | Op::ResizeNearestNeighbor {
            half_pixel_centers: true,
            ..
        }
    );
    if s.in0 == Some(DType::I16) {
        4
    } else if flagged {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

/// The `inspect` text of the two resize flags (shared with RESIZE_BILINEAR).
pub(super) fn flags(align_corners: bool, half_pixel_centers: bool) -> String {
    let mut parts = Vec::new();
    if align_corners {
        parts.push("align_corners");
    }
    if half_pixel_centers {
        parts.push("half_pixel_centers");
    }
    parts.join(" ")
}

fn summary(op: &Op) -> String {
    match op {
        Op::ResizeNearestNeighbor {
            align_corners,
            half_pixel_centers,
        } => flags(*align_corners, *half_pixel_centers),
        _ => String::new(),
    }
}
