//! GELU: x * Φ(x), Φ the standard normal CDF; with `approximate`, Φ is replaced by the
//! tanh form 0.5 (1 + tanh(sqrt(2/π) (x + 0.044715 x³))).

use super::common::{misrouted, Fbb, OpSig, OptionsTable, ReadCtx};
use super::{Arity, OpDef, QuantRule};
use crate::ir::{DType, Op};
use crate::tflite::schema_generated::tflite as fb;
use crate::tflite::ReadError;

pub const CODE: i32 = fb::BuiltinOperator::GELU.0;

pub const DEF: OpDef = OpDef {
    code: CODE,
    name: "GELU",
    arity: Arity::fixed(1),
    quant: Some(QuantRule::Free),
    weights: None,
    runtime_versions: &["2.9.0", "2.9.0", "2.23.0"],
    read,
    write,
    version,
    summary,
    prepare: super::exec::unary::prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    let o = r.options(r.fop.builtin_options_as_gelu_options(), "GeluOptions")?;
    Ok(Op::Gelu {
        approximate: o.is_some_and(|o| o.approximate()),
    })
}

fn write(fbb: &mut Fbb, op: &Op) -> OptionsTable {
    let Op::Gelu { approximate } = op else {
        return misrouted(op);
    };
    let table = fb::GeluOptions::create(
        fbb,
        &fb::GeluOptionsArgs {
            approximate: *approximate,
        },
    );
    (
        fb::BuiltinOptions::GeluOptions,
        Some(table.as_union_value()),
    )
}

fn version(s: &OpSig) -> i32 {
    match s.in0 {
        Some(DType::F16) => 3,
        Some(DType::I8 | DType::U8) => 2,
        _ => 1,
    }
}

fn summary(op: &Op) -> String {
    match op {
        Op::Gelu { approximate: true } => "approximate".to_string(),
        _ => String::new(),
    }
}
