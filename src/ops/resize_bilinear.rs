//! RESIZE_BILINEAR: NHWC bilinear resampling to the constant size in input 1, with
//! TF's `align_corners` and `half_pixel_centers` conventions.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 23;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "RESIZE_BILINEAR",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::SameScale),
    weights: None,
    runtime_versions: &["1.7.0", "1.14.0", "2.2.0", "2.5.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::resize::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_resize_bilinear_options(),
        "ResizeBilinearOptions",
    )?;
    Ok(Op::ResizeBilinear {
        align_corners: o.is_some_and(|o| o.align_corners()),
        half_pixel_centers: o.is_some_and(|o| o.half_pixel_centers()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::ResizeBilinear {
        align_corners,
        half_pixel_centers,
    } = op
    else {
        return misrouted(op);
    };
    let table = fb::ResizeBilinearOptions::create(
        fbb,
        &fb::ResizeBilinearOptionsArgs {
            align_corners: *align_corners,
            half_pixel_centers: *half_pixel_centers,
        },
    );
    (
        fb::BuiltinOptions::ResizeBilinearOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    let half_pixel = matches!(
        s.op.op,
        Op::ResizeBilinear {
            half_pixel_centers: true,
            ..
        }
    );
    if s.in0 == Some(DType::I16) {
        4
    } else if half_pixel {
        3
    } else if s.in0 == Some(DType::I8) {
        2
    } else {
        1
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::ResizeBilinear {
            align_corners,
            half_pixel_centers,
        } => super::resize_nearest_neighbor::flags(*align_corners, *half_pixel_centers),
        _ => String::new(),
    }
}
