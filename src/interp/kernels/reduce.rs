//! (not implemented yet)

use super::{PrepareCtx, Prepared};
use crate::interp::KernelError;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    crate::kbail!("{} is not implemented yet", ctx.op.op.name())
}
