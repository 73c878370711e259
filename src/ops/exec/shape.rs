//! Shape-manipulating ops: RESHAPE, SQUEEZE, SHAPE, STRIDED_SLICE and PACK. They move
//! elements without looking at them, so every element type goes through the same
//! copies. This file also holds the dtype-generic copy machinery that the other
//! data-movement kernels (concat, pad, transpose) share.

use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op, StridedSliceOptions};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::ops::exec::TensorInfo;

// ---------------------------------------------------------------------------------
// Shared helpers (used by concat, pad, transpose, reduce, elementwise, ...)
// ---------------------------------------------------------------------------------

/// An element type a kernel can be generic over: gives typed access to views.
pub(crate) trait Elem: Copy + Send + Sync + 'static {
    fn slice<'a>(v: &View<'a>) -> Result<&'a [Self], KernelError>;
    fn slice_mut<'b>(v: &'b mut ViewMut<'_>) -> Result<&'b mut [Self], KernelError>;
}

macro_rules! impl_elem {
    ($($t:ty, $get:ident);* $(;)?) => {
        $(
            impl Elem for $t {
                fn slice<'a>(v: &View<'a>) -> Result<&'a [Self], KernelError> {
                    v.$get()
                }
                fn slice_mut<'b>(v: &'b mut ViewMut<'_>) -> Result<&'b mut [Self], KernelError> {
                    v.$get()
                }
            }
        )*
    };
}

impl_elem! {
    f32, f32;
    half::f16, f16;
    i8, i8;
    u8, u8;
    i16, i16;
    i32, i32;
    i64, i64;
    bool, bool;
}

/// Expands `$body` once per element type, with `$t` naming the Rust type of `$dtype`.
macro_rules! by_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::ir::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::ir::DType::F16 => {
                type $t = half::f16;
                $body
            }
            $crate::ir::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::ir::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::ir::DType::I16 => {
                type $t = i16;
                $body
            }
            $crate::ir::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::ir::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::ir::DType::Bool => {
                type $t = bool;
                $body
            }
        }
    };
}
pub(crate) use by_dtype;

/// Fails unless the model declares output `i` with `dtype`.
pub(crate) fn expect_output_dtype(
    ctx: &PrepareCtx<'_>,
    i: usize,
    dtype: DType,
) -> Result<(), KernelError> {
    let declared = ctx.output(i)?.dtype;
    if declared != dtype {
        kbail!("output {i} is declared {declared}, but this op produces {dtype} here");
    }
    Ok(())
}

/// The contents of an int32/int64 input that must be known at plan time.
pub(crate) fn const_ints(info: &TensorInfo, what: &str) -> Result<Vec<i64>, KernelError> {
    let buf = info.constant_or_err(what)?;
    let values = buf
        .view()
        .to_i64s()
        .map_err(|e| KernelError::new(format!("{what}: {e}")))?;
    if values.len() != info.num_elements() {
        kbail!(
            "{what} has {} values but its shape {:?} needs {}",
            values.len(),
            info.shape,
            info.num_elements()
        );
    }
    Ok(values)
}

/// Element count of a shape computed by a kernel. Refuses counts the planner could
/// never allocate, so index arithmetic on such shapes cannot overflow.
pub(crate) fn checked_elements(shape: &[usize]) -> Result<usize, KernelError> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= crate::ir::limits::MAX_TENSOR_BYTES)
        .ok_or_else(|| KernelError::new(format!("shape {shape:?} has too many elements")))
}

/// The float32 input 0 and output 0 of a one-in, one-out kernel, both checked to hold the
/// `len` elements prepare planned for.
pub(crate) fn f32_in_out<'a>(
    inputs: &[View<'a>],
    outputs: &'a mut [ViewMut<'_>],
    len: usize,
) -> Result<(&'a [f32], &'a mut [f32]), KernelError> {
    let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
        kbail!("missing input or output");
    };
    let x = x.f32()?;
    let y = y.f32()?;
    check_len("input", x.len(), len)?;
    check_len("output", y.len(), len)?;
    Ok((x, y))
}

/// Checks that `x` and `y` hold the `len` elements prepare planned for, then calls `row`
/// on each `depth`-long row of `x` with the same row of `y` (the row kernels: SOFTMAX,
/// LOG_SOFTMAX).
pub(crate) fn for_each_row<A, B>(
    x: &[A],
    y: &mut [B],
    depth: usize,
    len: usize,
    mut row: impl FnMut(&[A], &mut [B]) -> Result<(), KernelError>,
) -> Result<(), KernelError> {
    check_len("input", x.len(), len)?;
    check_len("output", y.len(), len)?;
    if depth == 0 {
        return Ok(());
    }
    for (xr, yr) in x.chunks_exact(depth).zip(y.chunks_exact_mut(depth)) {
        row(xr, yr)?;
    }
    Ok(())
}

pub(crate) use crate::kernels::common::check_len;
use crate::kernels::reference::concat::copy_blocks;
pub(crate) use crate::kernels::reference::strided_copy::{strides_isize, StridedCopy};

// ---------------------------------------------------------------------------------
// The ops
// ---------------------------------------------------------------------------------

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    match &ctx.op.op {
        Op::Reshape { new_shape } => prepare_reshape(ctx, new_shape.as_deref()),
        Op::Squeeze { dims } => prepare_squeeze(ctx, dims),
        Op::Shape { out_type } => prepare_shape(ctx, *out_type),
        Op::StridedSlice(opts) => prepare_strided_slice(ctx, opts),
        Op::Pack { values_count, axis } => prepare_pack(ctx, *values_count, *axis),
        other => kbail!("{} is not a shape op", other.name()),
    }
}

/// Output = input elements, unchanged (RESHAPE, SQUEEZE).
struct CopyKernel;

impl Kernel for CopyKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(src), Some(dst)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        dst.copy_from(src)
    }
}

/// The element type an op passes through unchanged, checked against the declared output.
fn passthrough_dtype(ctx: &PrepareCtx<'_>) -> Result<DType, KernelError> {
    let dtype = ctx.input(0)?.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    Ok(dtype)
}

fn prepare_reshape(
    ctx: &PrepareCtx<'_>,
    option_shape: Option<&[i32]>,
) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 2, 1)?;
    let input = ctx.input(0)?;
    passthrough_dtype(ctx)?;
    // TFLite takes the target from input 1 only when it is a 1-D tensor; otherwise
    // (absent, scalar, ...) it falls back to the options, where the legacy [0] means a
    // scalar and absent options mean a scalar too.
    let requested: Vec<i64> = match ctx.opt_input(1) {
        Some(shape) if shape.shape.len() == 1 => {
            if !matches!(shape.dtype, DType::I32 | DType::I64) {
                kbail!(
                    "the shape input must be int32 or int64, got {}",
                    shape.dtype
                );
            }
            const_ints(shape, "the target shape")?
        }
        _ => match option_shape {
            Some([0]) | None => Vec::new(),
            Some(dims) => dims.iter().map(|&d| d as i64).collect(),
        },
    };
    let in_elements = input.num_elements();
    let mut stretch = None;
    let mut known = 1usize;
    let mut out: Vec<usize> = Vec::with_capacity(requested.len());
    for (i, &d) in requested.iter().enumerate() {
        if d == -1 {
            if stretch.replace(i).is_some() {
                kbail!("target shape {requested:?} has more than one -1");
            }
            out.push(0);
            continue;
        }
        let Ok(d) = usize::try_from(d) else {
            kbail!("target shape {requested:?} has a negative dimension");
        };
        known = known
            .checked_mul(d)
            .ok_or_else(|| KernelError::new(format!("target shape {requested:?} is too large")))?;
        out.push(d);
    }
    if let Some(i) = stretch {
        // As TFLite: with zero input elements and a non-zero rest the -1 is 0;
        // otherwise it is the input count over the rest, ignoring zero dims.
        let nonzero_in: usize = input.shape.iter().filter(|&&d| d != 0).product();
        let nonzero_out: usize = out
            .iter()
            .enumerate()
            .filter(|&(j, &d)| j != i && d != 0)
            .map(|(_, &d)| d)
            .product();
        out[i] = if in_elements == 0 && known != 0 {
            0
        } else {
            nonzero_in / nonzero_out.max(1)
        };
    }
    let out_elements = checked_elements(&out)?;
    if out_elements != in_elements {
        kbail!(
            "cannot reshape {:?} ({in_elements} elements) to {requested:?} ({out_elements} elements)",
            input.shape
        );
    }
    Ok(Prepared::new(vec![out], CopyKernel))
}

fn prepare_squeeze(ctx: &PrepareCtx<'_>, dims: &[i32]) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    passthrough_dtype(ctx)?;
    let rank = input.shape.len();
    let mut squeeze = vec![false; rank];
    if dims.is_empty() {
        for (s, &d) in squeeze.iter_mut().zip(&input.shape) {
            *s = d == 1;
        }
    } else {
        for &d in dims {
            let axis = crate::kernels::common::axis(d as i64, rank, "squeeze dim")?;
            if input.shape.get(axis) != Some(&1) {
                kbail!(
                    "cannot squeeze dim {d} of shape {:?}: its size is not 1",
                    input.shape
                );
            }
            if let Some(s) = squeeze.get_mut(axis) {
                *s = true;
            }
        }
    }
    let out: Vec<usize> = input
        .shape
        .iter()
        .zip(&squeeze)
        .filter(|(_, &s)| !s)
        .map(|(&d, _)| d)
        .collect();
    Ok(Prepared::new(vec![out], CopyKernel))
}

/// Writes the input's shape, known at prepare; the input's values are never read.
struct ShapeKernel {
    dims: Vec<i64>,
}

impl Kernel for ShapeKernel {
    fn run(&self, _inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let Some(out) = outputs.first_mut() else {
            kbail!("missing output");
        };
        check_len("output", out.len(), self.dims.len())?;
        match out {
            ViewMut::I32(o) => {
                for (o, &d) in o.iter_mut().zip(&self.dims) {
                    *o = d as i32;
                }
            }
            ViewMut::I64(o) => o.copy_from_slice(&self.dims),
            other => kbail!("SHAPE cannot write {} output", other.type_name()),
        }
        Ok(())
    }

    fn shape_only(&self) -> bool {
        true
    }
}

fn prepare_shape(ctx: &PrepareCtx<'_>, out_type: DType) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let input = ctx.input(0)?;
    if !matches!(out_type, DType::I32 | DType::I64) {
        kbail!("SHAPE output type must be int32 or int64, got {out_type}");
    }
    expect_output_dtype(ctx, 0, out_type)?;
    let mut dims = Vec::with_capacity(input.shape.len());
    for &d in &input.shape {
        if out_type == DType::I32 && d > i32::MAX as usize {
            kbail!("dimension {d} does not fit the int32 output");
        }
        dims.push(d as i64);
    }
    Ok(Prepared::new(vec![vec![dims.len()]], ShapeKernel { dims }))
}

/// A copy kernel for any element type, described by one [`StridedCopy`].
struct StridedKernel {
    dtype: DType,
    copy: StridedCopy,
}

impl Kernel for StridedKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(src), Some(dst)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        by_dtype!(self.dtype, T => self.copy.run(T::slice(src)?, T::slice_mut(dst)?))
    }
}

pub(crate) fn strided_kernel(dtype: DType, copy: StridedCopy) -> impl Kernel {
    StridedKernel { dtype, copy }
}

/// Bit `i` of a TFLite mask (bits past 31 are clear).
fn bit(mask: i32, i: usize) -> bool {
    i < 32 && (mask >> i) & 1 == 1
}

/// One dimension of the "effective" (ellipsis-expanded, new-axes-inserted) slice spec.
#[derive(Clone, Copy, Debug)]
struct SliceDim {
    /// Input dimension this reads, or `None` for an inserted axis of size 1.
    input_dim: Option<usize>,
    begin: i64,
    end: i64,
    stride: i64,
    begin_mask: bool,
    end_mask: bool,
    shrink: bool,
}

/// Expands the user's slice spec against the input rank the way TFLite's
/// `BuildStridedSliceParams` does: the ellipsis covers as many full dims as the spec
/// leaves unnamed, new axes become size-1 dims, unnamed trailing dims are taken whole.
fn effective_spec(
    rank: usize,
    o: &StridedSliceOptions,
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
) -> Result<Vec<SliceDim>, KernelError> {
    let count = begin.len();
    if o.ellipsis_mask.count_ones() > 1 {
        kbail!(
            "only one ellipsis is allowed (ellipsis_mask {:#b})",
            o.ellipsis_mask
        );
    }
    let num_add_axis = (0..count)
        .filter(|&i| !bit(o.ellipsis_mask, i) && bit(o.new_axis_mask, i))
        .count();
    let eff_rank = rank + num_add_axis;

    // Which effective dims the ellipsis covers, and which are new axes.
    let mut is_ellipsis = vec![false; eff_rank];
    let mut is_new_axis = vec![false; eff_rank];
    let mut ellipsis_start = eff_rank;
    let mut expanded = 0usize;
    let mut i = 0;
    while i < eff_rank {
        if bit(o.ellipsis_mask, i) {
            ellipsis_start = i;
            // Covers the dims the spec does not name (at least the one it stands on).
            let unnamed = (i + 1 + num_add_axis + rank) as i64 - count as i64;
            let stop = (i + 1).max(unnamed.clamp(0, eff_rank as i64) as usize);
            expanded = stop - i - 1;
            for e in &mut is_ellipsis[i..stop] {
                *e = true;
            }
            i = stop;
            continue;
        }
        if bit(o.new_axis_mask, i - expanded) {
            is_new_axis[i] = true;
        }
        i += 1;
    }

    let mut dims = Vec::with_capacity(eff_rank);
    let mut added_axes = 0usize;
    let mut added_ellipsis = 0usize;
    let full = |input_dim| SliceDim {
        input_dim: Some(input_dim),
        begin: 0,
        end: 0,
        stride: 1,
        begin_mask: true,
        end_mask: true,
        shrink: false,
    };
    for i in 0..eff_rank {
        let input_dim = i.checked_sub(added_axes).filter(|&d| d < rank);
        if is_ellipsis[i] {
            added_ellipsis = i - ellipsis_start;
            let Some(d) = input_dim else {
                kbail!("slice spec does not fit an input of rank {rank}");
            };
            dims.push(full(d));
        } else if is_new_axis[i] {
            dims.push(SliceDim {
                input_dim: None,
                begin: 0,
                end: 1,
                stride: 1,
                begin_mask: false,
                end_mask: false,
                shrink: false,
            });
            added_axes += 1;
        } else {
            let Some(d) = input_dim else {
                kbail!("slice spec does not fit an input of rank {rank}");
            };
            if i >= count + expanded {
                dims.push(full(d));
            } else {
                let k = i - added_ellipsis;
                let (Some(&b), Some(&e), Some(&s)) = (begin.get(k), end.get(k), strides.get(k))
                else {
                    kbail!("slice spec does not fit an input of rank {rank}");
                };
                dims.push(SliceDim {
                    input_dim: Some(d),
                    begin: b,
                    end: e,
                    stride: s,
                    begin_mask: bit(o.begin_mask, k),
                    end_mask: bit(o.end_mask, k),
                    shrink: bit(o.shrink_axis_mask, k),
                });
            }
        }
    }
    Ok(dims)
}

/// First index and count of one effective dim, with TFLite's clamping.
fn slice_range(dim: &SliceDim, size: usize, offset: bool) -> Result<(i64, usize), KernelError> {
    let size = size as i64;
    let stride = dim.stride;
    if stride == 0 {
        kbail!("strides must be non-zero");
    }
    let clamp_index = |v: i64| {
        let v = if v < 0 { v.saturating_add(size) } else { v };
        if stride > 0 {
            v.clamp(0, size)
        } else {
            v.clamp(-1, size - 1)
        }
    };
    let start = if dim.begin_mask {
        if stride > 0 {
            0
        } else {
            size - 1
        }
    } else {
        clamp_index(dim.begin)
    };
    if dim.shrink {
        // TensorFlow rejects a shrunk index outside the dim; TFLite would silently
        // produce nothing, which leaves the output undefined.
        if start < 0 || start >= size {
            kbail!(
                "shrink index {} is out of range for a dim of size {size}",
                dim.begin
            );
        }
        return Ok((start, 1));
    }
    let stop = if dim.end_mask {
        if stride > 0 {
            size
        } else {
            -1
        }
    } else {
        let e = if offset {
            dim.end.saturating_add(start)
        } else {
            dim.end
        };
        clamp_index(e)
    };
    // ceil(span / |stride|) without overflow for any stride.
    let span = if stride > 0 {
        stop - start
    } else {
        start - stop
    };
    let count = if span > 0 {
        (span as u64 - 1) / stride.unsigned_abs() + 1
    } else {
        0
    };
    Ok((start, count as usize))
}

fn prepare_strided_slice(
    ctx: &PrepareCtx<'_>,
    o: &StridedSliceOptions,
) -> Result<Prepared, KernelError> {
    ctx.expect_arity(4, 4, 1)?;
    let input = ctx.input(0)?;
    let dtype = passthrough_dtype(ctx)?;
    let mut spec = Vec::new();
    for (i, what) in [(1, "begin"), (2, "end"), (3, "strides")] {
        let t = ctx.input(i)?;
        if t.shape.len() != 1 {
            kbail!("{what} must be 1-D, has shape {:?}", t.shape);
        }
        spec.push(const_ints(t, what)?);
    }
    let (begin, end, strides) = (&spec[0], &spec[1], &spec[2]);
    if end.len() != begin.len() || strides.len() != begin.len() {
        kbail!(
            "begin, end and strides have different lengths ({}, {}, {})",
            begin.len(),
            end.len(),
            strides.len()
        );
    }
    let dims = effective_spec(input.shape.len(), o, begin, end, strides)?;
    let in_strides = strides_isize(&input.shape);
    let mut copy_shape = Vec::with_capacity(dims.len());
    let mut src_strides = Vec::with_capacity(dims.len());
    let mut src_start = 0i64;
    let mut out_shape = Vec::new();
    for dim in &dims {
        let (size, in_stride) = match dim.input_dim {
            Some(d) => (input.shape[d], in_strides[d]),
            None => (1, 0),
        };
        let (start, count) = slice_range(dim, size, o.offset)?;
        if count > 0 {
            src_start += start * in_stride as i64;
        }
        copy_shape.push(count);
        // A step only matters when it is taken; then |stride| < size and this fits.
        let step = if count <= 1 {
            0
        } else {
            (in_stride as i64)
                .checked_mul(dim.stride)
                .and_then(|v| isize::try_from(v).ok())
                .ok_or_else(|| KernelError::new("slice stride is too large"))?
        };
        src_strides.push(step);
        if !dim.shrink {
            out_shape.push(count);
        }
    }
    let out_elements = checked_elements(&out_shape)?;
    let dst_strides = strides_isize(&copy_shape);
    let copy = StridedCopy::new(
        &copy_shape,
        (
            &src_strides,
            src_start.max(0) as usize,
            input.num_elements(),
        ),
        (&dst_strides, 0, out_elements),
    )?;
    Ok(Prepared::new(vec![out_shape], strided_kernel(dtype, copy)))
}

/// Stacks equal-shaped inputs along a new axis: per outer index, one block of `inner`
/// elements from each input in turn.
struct PackKernel {
    dtype: DType,
    outer: usize,
    inner: usize,
}

impl PackKernel {
    fn run_typed<T: Elem>(
        &self,
        inputs: &[View<'_>],
        out: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let out = T::slice_mut(out)?;
        check_len("output", out.len(), self.outer * self.inner * inputs.len())?;
        let srcs = inputs.iter().map(T::slice);
        for (k, src) in srcs.enumerate() {
            let src = src?;
            check_len("input", src.len(), self.outer * self.inner)?;
            // Input k fills column block k of every output row of `inputs.len()` blocks.
            let row = inputs.len() * self.inner;
            copy_blocks(src, out, self.outer, self.inner, row, k * self.inner);
        }
        Ok(())
    }
}

impl Kernel for PackKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let Some(out) = outputs.first_mut() else {
            kbail!("missing output");
        };
        by_dtype!(self.dtype, T => self.run_typed::<T>(inputs, out))
    }
}

fn prepare_pack(
    ctx: &PrepareCtx<'_>,
    values_count: i32,
    axis: i32,
) -> Result<Prepared, KernelError> {
    let n = crate::kernels::common::positive(values_count, "values_count")?;
    ctx.expect_arity(n, n, 1)?;
    let first = ctx.input(0)?;
    let dtype = passthrough_dtype(ctx)?;
    for i in 1..n {
        let t = ctx.input(i)?;
        if t.dtype != dtype || t.shape != first.shape {
            kbail!(
                "input {i} is {} {:?}, input 0 is {dtype} {:?}; PACK needs equal shapes and types",
                t.dtype,
                t.shape,
                first.shape
            );
        }
        if matches!(dtype, DType::I8 | DType::U8)
            && t.scale_zero_point() != first.scale_zero_point()
        {
            kbail!("quantized inputs of PACK must share scale and zero point");
        }
    }
    let rank = first.shape.len();
    let axis = crate::kernels::common::axis(axis as i64, rank + 1, "axis")?;
    let mut out_shape = first.shape.clone();
    out_shape.insert(axis, n);
    checked_elements(&out_shape)?;
    let outer = first.shape[..axis].iter().product();
    let inner = first.shape[axis..].iter().product();
    Ok(Prepared::new(
        vec![out_shape],
        PackKernel {
            dtype,
            outer,
            inner,
        },
    ))
}

/// Checks an input is a rank-4 NHWC tensor and returns its dims.
pub(crate) fn nhwc(info: &TensorInfo, what: &str) -> Result<[usize; 4], KernelError> {
    match info.shape.as_slice() {
        &[n, h, w, c] => Ok([n, h, w, c]),
        s => kbail!("{what} must be 4-D (NHWC), got shape {s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Graph, Model, Operator, Tensor};

    fn i32_tensor(name: &str, shape: Vec<usize>, values: &[i32]) -> Tensor {
        Tensor::constant_i32(name, shape, values)
    }

    /// Plans and runs a one-op model with a float input `x` of `shape` and the given
    /// constant extra inputs; returns (output shape, output value).
    fn run_one(
        op: Op,
        x_shape: Vec<usize>,
        x: TensorBuf,
        consts: Vec<Tensor>,
        out_dtype: DType,
    ) -> Result<Value, String> {
        let mut tensors = vec![Tensor::activation("x", x.dtype(), x_shape.clone())];
        let mut inputs = vec![0];
        for c in consts {
            inputs.push(tensors.len());
            tensors.push(c);
        }
        let out = tensors.len();
        tensors.push(Tensor::activation("y", out_dtype, vec![]));
        let graph = Graph {
            name: None,
            tensors,
            inputs: vec![0],
            outputs: vec![out],
            operators: vec![Operator::new(op, inputs, vec![out])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut outs = interp
            .run(&[Value::new(x_shape, x)])
            .map_err(|e| e.to_string())?;
        Ok(outs.remove(0))
    }

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    fn slice_op(o: StridedSliceOptions) -> Op {
        Op::StridedSlice(o)
    }

    fn ss(
        x_shape: Vec<usize>,
        b: &[i32],
        e: &[i32],
        s: &[i32],
        o: StridedSliceOptions,
    ) -> Result<Value, String> {
        let n = x_shape.iter().product();
        let k = b.len();
        run_one(
            slice_op(o),
            x_shape,
            TensorBuf::F32(iota(n)),
            vec![
                i32_tensor("b", vec![k], b),
                i32_tensor("e", vec![k], e),
                i32_tensor("s", vec![k], s),
            ],
            DType::F32,
        )
    }

    #[test]
    fn dynamic_batch_shape_chain_folds_at_plan_time() {
        // TensorFlow's Reshape(28,28,1) on a [-1,28,28] input: SHAPE -> STRIDED_SLICE
        // (element 0, shrunk to a scalar) -> PACK [N,28,28,1] -> RESHAPE.
        let tensors = vec![
            Tensor::activation("x", DType::F32, vec![1, 28, 28]),
            Tensor::activation("shape", DType::I32, vec![3]),
            i32_tensor("begin", vec![1], &[0]),
            i32_tensor("end", vec![1], &[1]),
            i32_tensor("strides", vec![1], &[1]),
            Tensor::activation("n", DType::I32, vec![]),
            i32_tensor("c28", vec![], &[28]),
            i32_tensor("c1", vec![], &[1]),
            Tensor::activation("packed", DType::I32, vec![4]),
            Tensor::activation("y", DType::F32, vec![1, 28, 28, 1]),
        ];
        let operators = vec![
            Operator::new(
                Op::Shape {
                    out_type: DType::I32,
                },
                vec![0],
                vec![1],
            ),
            Operator::new(
                Op::StridedSlice(StridedSliceOptions {
                    shrink_axis_mask: 1,
                    ..Default::default()
                }),
                vec![1, 2, 3, 4],
                vec![5],
            ),
            Operator::new(
                Op::Pack {
                    values_count: 4,
                    axis: 0,
                },
                vec![5, 6, 6, 7],
                vec![8],
            ),
            Operator::new(Op::Reshape { new_shape: None }, vec![0, 8], vec![9]),
        ];
        let graph = Graph {
            name: None,
            tensors,
            inputs: vec![0],
            outputs: vec![9],
            operators,
        };
        let mut interp = Interpreter::new(Model::with_default_signature(graph)).unwrap();
        // Only the RESHAPE copy is left to run.
        assert_eq!(interp.plan().num_steps(), 1);
        let n_info = interp.plan().tensor_info(5).unwrap();
        assert!(n_info.shape.is_empty());
        assert_eq!(n_info.constant.as_deref(), Some(&TensorBuf::I32(vec![1])));
        assert_eq!(
            interp.plan().tensor_info(8).unwrap().constant.as_deref(),
            Some(&TensorBuf::I32(vec![1, 28, 28, 1]))
        );
        // Batch 3 re-plans with N = 3.
        let x: Vec<f32> = iota(3 * 784);
        let out = interp
            .run(&[Value::new(vec![3, 28, 28], TensorBuf::F32(x.clone()))])
            .unwrap();
        assert_eq!(out[0].shape, vec![3, 28, 28, 1]);
        assert_eq!(out[0].data, TensorBuf::F32(x));
        assert_eq!(interp.plan().num_steps(), 1);
        assert_eq!(
            interp.plan().tensor_info(8).unwrap().constant.as_deref(),
            Some(&TensorBuf::I32(vec![3, 28, 28, 1]))
        );
    }

    #[test]
    fn shape_writes_int64_too() {
        let v = run_one(
            Op::Shape {
                out_type: DType::I64,
            },
            vec![2, 5, 1],
            TensorBuf::F32(vec![0.0; 10]),
            vec![],
            DType::I64,
        )
        .unwrap();
        assert_eq!(v.shape, vec![3]);
        assert_eq!(v.data, TensorBuf::I64(vec![2, 5, 1]));
        // The declared output type must match out_type.
        assert!(run_one(
            Op::Shape {
                out_type: DType::I64
            },
            vec![2],
            TensorBuf::F32(vec![0.0; 2]),
            vec![],
            DType::I32
        )
        .is_err());
    }

    #[test]
    fn reshape_from_input_with_stretch_and_from_options() {
        let x = TensorBuf::F32(iota(12));
        let v = run_one(
            Op::Reshape { new_shape: None },
            vec![3, 4],
            x.clone(),
            vec![i32_tensor("s", vec![3], &[2, -1, 3])],
            DType::F32,
        )
        .unwrap();
        assert_eq!(v.shape, vec![2, 2, 3]);
        assert_eq!(v.data, x);
        // int64 shape input.
        let s64 = Tensor::constant(
            "s",
            DType::I64,
            vec![2],
            [6i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let v = run_one(
            Op::Reshape { new_shape: None },
            vec![3, 4],
            x.clone(),
            vec![s64],
            DType::F32,
        )
        .unwrap();
        assert_eq!(v.shape, vec![6, 2]);
        // No shape input: the options.
        let v = run_one(
            Op::Reshape {
                new_shape: Some(vec![-1, 6]),
            },
            vec![3, 4],
            x.clone(),
            vec![],
            DType::F32,
        )
        .unwrap();
        assert_eq!(v.shape, vec![2, 6]);
        // A scalar shape input is not a vector: TFLite falls back to the options.
        let v = run_one(
            Op::Reshape {
                new_shape: Some(vec![12]),
            },
            vec![3, 4],
            x.clone(),
            vec![i32_tensor("s", vec![], &[5])],
            DType::F32,
        )
        .unwrap();
        assert_eq!(v.shape, vec![12]);
        // Legacy [0] option means a scalar.
        let v = run_one(
            Op::Reshape {
                new_shape: Some(vec![0]),
            },
            vec![1, 1],
            TensorBuf::F32(vec![7.0]),
            vec![],
            DType::F32,
        )
        .unwrap();
        assert_eq!(v.shape, Vec::<usize>::new());
        // Mismatched counts, two -1s and negative dims fail.
        for bad in [&[5, 3][..], &[-1, -1], &[-2, -6]] {
            let r = run_one(
                Op::Reshape { new_shape: None },
                vec![3, 4],
                x.clone(),
                vec![i32_tensor("s", vec![2], bad)],
                DType::F32,
            );
            assert!(r.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn squeeze_all_or_named_dims() {
        let x = TensorBuf::F32(iota(6));
        let all = run_one(
            Op::Squeeze { dims: vec![] },
            vec![1, 2, 1, 3, 1],
            x.clone(),
            vec![],
            DType::F32,
        )
        .unwrap();
        assert_eq!(all.shape, vec![2, 3]);
        let some = run_one(
            Op::Squeeze { dims: vec![-1, 0] },
            vec![1, 2, 1, 3, 1],
            x.clone(),
            vec![],
            DType::F32,
        )
        .unwrap();
        assert_eq!(some.shape, vec![2, 1, 3]);
        assert_eq!(some.data, x);
        assert!(run_one(
            Op::Squeeze { dims: vec![1] },
            vec![1, 2, 1, 3, 1],
            x.clone(),
            vec![],
            DType::F32
        )
        .is_err());
        assert!(run_one(
            Op::Squeeze { dims: vec![5] },
            vec![1, 2, 1, 3, 1],
            x,
            vec![],
            DType::F32
        )
        .is_err());
    }

    #[test]
    fn strided_slice_basic_negative_and_masks() {
        // x = [[0,1,2,3],[4,5,6,7],[8,9,10,11]]
        let o = StridedSliceOptions::default();
        let v = ss(vec![3, 4], &[1, 1], &[3, 4], &[1, 2], o.clone()).unwrap();
        assert_eq!(v.shape, vec![2, 2]);
        assert_eq!(v.data, TensorBuf::F32(vec![5.0, 7.0, 9.0, 11.0]));
        // Negative stride, negative indices: rows reversed from the last, cols 3..0 by -2.
        let v = ss(vec![3, 4], &[-1, 3], &[-4, 0], &[-1, -2], o.clone()).unwrap();
        assert_eq!(v.shape, vec![3, 2]);
        assert_eq!(v.data, TensorBuf::F32(vec![11.0, 9.0, 7.0, 5.0, 3.0, 1.0]));
        // begin_mask / end_mask with a negative stride: x[::-1, 2:] with col end masked.
        let v = ss(
            vec![3, 4],
            &[7, 2],
            &[0, 0],
            &[-1, 1],
            StridedSliceOptions {
                begin_mask: 1,
                end_mask: 0b11,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(v.shape, vec![3, 2]);
        assert_eq!(v.data, TensorBuf::F32(vec![10.0, 11.0, 6.0, 7.0, 2.0, 3.0]));
        // Out-of-range indices clamp: x[-10:10, 1:2].
        let v = ss(vec![3, 4], &[-10, 1], &[10, 2], &[1, 1], o.clone()).unwrap();
        assert_eq!(v.shape, vec![3, 1]);
        assert_eq!(v.data, TensorBuf::F32(vec![1.0, 5.0, 9.0]));
        // Empty result when begin is past end with a positive stride.
        let v = ss(vec![3, 4], &[2, 0], &[1, 4], &[1, 1], o.clone()).unwrap();
        assert_eq!(v.shape, vec![0, 4]);
        // Spec shorter than the rank: trailing dims are taken whole.
        let v = ss(vec![3, 4], &[1], &[2], &[1], o.clone()).unwrap();
        assert_eq!(v.shape, vec![1, 4]);
        assert_eq!(v.data, TensorBuf::F32(vec![4.0, 5.0, 6.0, 7.0]));
        assert!(ss(vec![3, 4], &[0, 0], &[1, 1], &[1, 0], o.clone()).is_err());
        // Extreme strides and indices clamp instead of overflowing: row 0 only, and an
        // empty backward range.
        let v = ss(
            vec![3, 4],
            &[i32::MIN, 0],
            &[i32::MAX, 4],
            &[i32::MAX, i32::MIN],
            o,
        )
        .unwrap();
        assert_eq!(v.shape, vec![1, 0]);
    }

    #[test]
    fn strided_slice_shrink_new_axis_ellipsis_offset() {
        // x: [2,3,4] = iota(24). x[1, :, -1] (shrink dims 0 and 2).
        let v = ss(
            vec![2, 3, 4],
            &[1, 0, -1],
            &[2, 0, 0],
            &[1, 1, 1],
            StridedSliceOptions {
                end_mask: 0b010,
                shrink_axis_mask: 0b101,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(v.shape, vec![3]);
        assert_eq!(v.data, TensorBuf::F32(vec![15.0, 19.0, 23.0]));
        // x[..., 1:3]: the ellipsis covers the first two dims.
        let v = ss(
            vec![2, 3, 4],
            &[0, 1],
            &[0, 3],
            &[1, 1],
            StridedSliceOptions {
                ellipsis_mask: 0b01,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(v.shape, vec![2, 3, 2]);
        let want: Vec<f32> = (0..6)
            .flat_map(|r| [r as f32 * 4.0 + 1.0, r as f32 * 4.0 + 2.0])
            .collect();
        assert_eq!(v.data, TensorBuf::F32(want));
        // x[newaxis, 0, ..., 2]: new axis first, dim 0 shrunk, ellipsis, last dim shrunk.
        let v = ss(
            vec![2, 3, 4],
            &[0, 0, 0, 2],
            &[0, 1, 0, 3],
            &[1, 1, 1, 1],
            StridedSliceOptions {
                new_axis_mask: 0b0001,
                ellipsis_mask: 0b0100,
                shrink_axis_mask: 0b1010,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(v.shape, vec![1, 3]);
        assert_eq!(v.data, TensorBuf::F32(vec![2.0, 6.0, 10.0]));
        // offset: end is a size from begin. x[1:1+1, 1:1+2, 0:0+4:2].
        let v = ss(
            vec![2, 3, 4],
            &[1, 1, 0],
            &[1, 2, 4],
            &[1, 1, 2],
            StridedSliceOptions {
                offset: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(v.shape, vec![1, 2, 2]);
        assert_eq!(v.data, TensorBuf::F32(vec![16.0, 18.0, 20.0, 22.0]));
        // A shrunk index outside the dim is an error.
        assert!(ss(
            vec![2, 3, 4],
            &[5],
            &[6],
            &[1],
            StridedSliceOptions {
                shrink_axis_mask: 1,
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn strided_slice_on_int32_data() {
        let v = run_one(
            slice_op(StridedSliceOptions::default()),
            vec![5],
            TensorBuf::I32(vec![10, 11, 12, 13, 14]),
            vec![
                i32_tensor("b", vec![1], &[4]),
                i32_tensor("e", vec![1], &[0]),
                i32_tensor("s", vec![1], &[-2]),
            ],
            DType::I32,
        )
        .unwrap();
        assert_eq!(v.data, TensorBuf::I32(vec![14, 12]));
    }

    #[test]
    fn pack_along_each_axis() {
        // Two [2,2] inputs a = [[0,1],[2,3]] and the constant b = [[10,11],[12,13]].
        let b = Tensor::constant_f32("b", vec![2, 2], &[10.0, 11.0, 12.0, 13.0]);
        let pack = |axis| {
            run_one(
                Op::Pack {
                    values_count: 2,
                    axis,
                },
                vec![2, 2],
                TensorBuf::F32(iota(4)),
                vec![b.clone()],
                DType::F32,
            )
        };
        let v = pack(0).unwrap();
        assert_eq!(v.shape, vec![2, 2, 2]);
        assert_eq!(
            v.data,
            TensorBuf::F32(vec![0.0, 1.0, 2.0, 3.0, 10.0, 11.0, 12.0, 13.0])
        );
        let v = pack(1).unwrap();
        assert_eq!(v.shape, vec![2, 2, 2]);
        assert_eq!(
            v.data,
            TensorBuf::F32(vec![0.0, 1.0, 10.0, 11.0, 2.0, 3.0, 12.0, 13.0])
        );
        let v = pack(-1).unwrap();
        assert_eq!(v.shape, vec![2, 2, 2]);
        assert_eq!(
            v.data,
            TensorBuf::F32(vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0, 3.0, 13.0])
        );
        assert!(pack(3).is_err());
        assert!(pack(-4).is_err());
    }
}
