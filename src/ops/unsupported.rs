//! An operator ferrolite lacks, read only so that `inspect` can list a whole model (and
//! every missing op in it) instead of stopping at the first. The normal reader refuses it;
//! the planner and the writer refuse it too, so it never runs or reaches a file.

use super::common::{version_1, Fbb, OptionsTable, ReadCtx, NO_OPTIONS};
use super::exec::{PrepareCtx, Prepared};
use super::{Arity, OpDef};
use crate::ir::{KernelError, Op};
use crate::tflite::ReadError;

pub const DEF: OpDef = OpDef {
    // No builtin code is negative, so `by_code` never finds this entry; `Op::builtin_code`
    // and `Op::name` answer from the variant's own code instead.
    code: -1,
    name: "UNSUPPORTED",
    // Not checked: nothing is known about the op's operands (`Graph::validate` skips the
    // count for this op; every index is still checked to be in range).
    arity: Arity::range(0, usize::MAX),
    quant: None,
    weights: None,
    runtime_versions: &[],
    read,
    write,
    version: version_1,
    summary,
    prepare,
};

fn read(r: &ReadCtx) -> Result<Op, ReadError> {
    Err(ReadError::UnsupportedOp {
        op: r.index,
        name: r.name.to_string(),
        code: DEF.code,
    })
}

fn write(_: &mut Fbb, _: &Op) -> OptionsTable {
    // `tflite::write` refuses the op before any options are written.
    NO_OPTIONS
}

fn summary(op: &Op) -> String {
    match op {
        Op::Unsupported {
            custom_code: Some(c),
            ..
        } => format!("custom op '{c}', not supported by ferrolite"),
        _ => "not supported by ferrolite".into(),
    }
}

fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    Err(KernelError::new(format!(
        "{}: ferrolite does not support this operator",
        ctx.op.op.name()
    )))
}
