//! BATCH_MATMUL: matrix products over the last two dimensions, batch dimensions
//! broadcast; `adj_x` / `adj_y` transpose an operand's last two dimensions.

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = 126;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "BATCH_MATMUL",
    arity: Arity::fixed(2),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["2.3.0", "2.3.0", "2.4.0", "2.5.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::batch_matmul::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(
        r.fop.builtin_options_as_batch_mat_mul_options(),
        "BatchMatMulOptions",
    )?;
    Ok(Op::BatchMatmul {
        adj_x: o.is_some_and(|o| o.adj_x()),
        adj_y: o.is_some_and(|o| o.adj_y()),
        asymmetric_quantize_inputs: o.is_some_and(|o| o.asymmetric_quantize_inputs()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::BatchMatmul {
        adj_x,
        adj_y,
        asymmetric_quantize_inputs,
    } = op
    else {
        return misrouted(op);
    };
    let table = fb::BatchMatMulOptions::create(
        fbb,
        &fb::BatchMatMulOptionsArgs {
            adj_x: *adj_x,
            adj_y: *adj_y,
            asymmetric_quantize_inputs: *asymmetric_quantize_inputs,
        },
    );
    (
        fb::BuiltinOptions::BatchMatMulOptions,
        Some(table.as_union_value()),
    )
}

/// int16 → 3, int8 → 2, hybrid with asymmetric inputs → 4, else 1.
fn version(s: &OpSig) -> i32 {
    let asymmetric = matches!(
        s.op.op,
        Op::BatchMatmul {
            asymmetric_quantize_inputs: true,
            ..
        }
    );
    match s.in0 {
        Some(DType::I16) => 3,
        Some(DType::I8) => 2,
        _ if s.hybrid() && asymmetric => 4,
        _ => 1,
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::BatchMatmul {
            adj_x,
            adj_y,
            asymmetric_quantize_inputs,
        } => {
            let mut parts = vec![format!("adj_x {adj_x}"), format!("adj_y {adj_y}")];
            if *asymmetric_quantize_inputs {
                parts.push("asymmetric_inputs".into());
            }
            parts.join(" ")
        }
        _ => String::new(),
    }
}
