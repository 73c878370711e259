//! Layout ops that only move elements: DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPLIT, SPLIT_V,
//! SLICE, EXPAND_DIMS, TILE and BROADCAST_TO. Each is one [`StridedCopy`] per output,
//! worked out at prepare from the shapes and the constant operands, so every element
//! type (and int8 with its parameters, which these ops never change) runs the same copy.

use super::shape::{
    by_dtype, checked_elements, const_ints, expect_output_dtype, nhwc, strided_kernel,
    strides_isize, Elem, StridedCopy,
};
use super::{Kernel, PrepareCtx, Prepared};
use crate::interp::value::{View, ViewMut};
use crate::interp::{KernelError, TensorInfo};
use crate::ir::{DType, Op};
use crate::kbail;
use crate::kernels::common::axis as normalize_axis;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    match &ctx.op.op {
        Op::DepthToSpace { block_size } => prepare_depth_to_space(ctx, *block_size),
        Op::SpaceToDepth { block_size } => prepare_space_to_depth(ctx, *block_size),
        Op::Split { num_splits } => prepare_split(ctx, *num_splits),
        Op::SplitV { num_splits } => prepare_split_v(ctx, *num_splits),
        Op::Slice => prepare_slice(ctx),
        Op::ExpandDims => prepare_expand_dims(ctx),
        Op::Tile => prepare_tile(ctx),
        Op::BroadcastTo => prepare_broadcast_to(ctx),
        other => kbail!("{} is not a layout op", other.name()),
    }
}

/// The one input and output of a single-copy op: the same dtype on both sides.
fn one_copy(
    ctx: &PrepareCtx<'_>,
    out_shape: Vec<usize>,
    copy_shape: &[usize],
    src_strides: &[isize],
    src_start: usize,
) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    let out_len = checked_elements(&out_shape)?;
    if checked_elements(copy_shape)? != out_len {
        kbail!("internal: copy box {copy_shape:?} does not fill the output {out_shape:?}");
    }
    let copy = StridedCopy::new(
        copy_shape,
        (src_strides, src_start, input.num_elements()),
        (&strides_isize(copy_shape), 0, out_len),
    )?;
    Ok(Prepared::new(
        vec![out_shape],
        strided_kernel(input.dtype, copy),
    ))
}

fn block(block_size: i32) -> Result<usize, KernelError> {
    if block_size < 1 {
        kbail!("block_size must be at least 1, got {block_size}");
    }
    Ok(block_size as usize)
}

fn prepare_depth_to_space(ctx: &PrepareCtx<'_>, block_size: i32) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let b = block(block_size)?;
    let [n, h, w, c] = nhwc(ctx.input(0)?, "the input")?;
    let bb = b.checked_mul(b).filter(|&bb| bb <= c.max(1) && c % bb == 0);
    let Some(bb) = bb else {
        kbail!("depth {c} is not a multiple of block_size^2 (block_size {b})");
    };
    let oc = c / bb;
    // Output [n, h*b, w*b, oc] read as [n, h, b, w, b, oc]: output pixel (h*b + i,
    // w*b + j) channel k is input pixel (h, w) channel (i*b + j)*oc + k.
    let box_shape = [n, h, b, w, b, oc];
    let (b_i, oc_i) = (b as isize, oc as isize);
    let (w_i, c_i) = (w as isize, c as isize);
    let strides = [h as isize * w_i * c_i, w_i * c_i, b_i * oc_i, c_i, oc_i, 1];
    let out = vec![
        n,
        checked_elements(&[h, b])?,
        checked_elements(&[w, b])?,
        oc,
    ];
    one_copy(ctx, out, &box_shape, &strides, 0)
}

fn prepare_space_to_depth(ctx: &PrepareCtx<'_>, block_size: i32) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let b = block(block_size)?;
    let [n, h, w, c] = nhwc(ctx.input(0)?, "the input")?;
    if h % b != 0 || w % b != 0 {
        kbail!("height {h} and width {w} must be multiples of block_size {b}");
    }
    let (oh, ow) = (h / b, w / b);
    // Output [n, oh, ow, b*b*c] read as [n, oh, ow, b, b, c]: channel (i*b + j)*c + k
    // of output pixel (y, x) is input pixel (y*b + i, x*b + j) channel k.
    let box_shape = [n, oh, ow, b, b, c];
    let (b_i, c_i, w_i) = (b as isize, c as isize, w as isize);
    let strides = [
        h as isize * w_i * c_i,
        b_i * w_i * c_i,
        b_i * c_i,
        w_i * c_i,
        c_i,
        1,
    ];
    let out = vec![n, oh, ow, checked_elements(&[b, b, c])?];
    one_copy(ctx, out, &box_shape, &strides, 0)
}

/// One scalar (or one-element) constant integer operand.
fn const_scalar(info: &TensorInfo, what: &str) -> Result<i64, KernelError> {
    if !matches!(info.dtype, DType::I32 | DType::I64) {
        kbail!("{what} must be int32 or int64, got {}", info.dtype);
    }
    match const_ints(info, what)?.as_slice() {
        [v] => Ok(*v),
        other => kbail!("{what} must hold one value, has {}", other.len()),
    }
}

/// A constant 1-D integer operand.
fn const_vector(info: &TensorInfo, what: &str) -> Result<Vec<i64>, KernelError> {
    if !matches!(info.dtype, DType::I32 | DType::I64) {
        kbail!("{what} must be int32 or int64, got {}", info.dtype);
    }
    if info.shape.len() != 1 {
        kbail!("{what} must be 1-D, has shape {:?}", info.shape);
    }
    const_ints(info, what)
}

/// Copies consecutive pieces of `input` along `axis`, piece `k` of `sizes[k]` rows, to
/// output `k`.
struct SplitKernel {
    dtype: DType,
    /// Which input holds the data (SPLIT: 1, after the axis; SPLIT_V: 0).
    data: usize,
    copies: Vec<StridedCopy>,
}

impl SplitKernel {
    fn run_typed<T: Elem>(
        &self,
        src: &View<'_>,
        outputs: &mut [ViewMut<'_>],
    ) -> Result<(), KernelError> {
        let src = T::slice(src)?;
        if outputs.len() != self.copies.len() {
            kbail!(
                "expects {} outputs, has {}",
                self.copies.len(),
                outputs.len()
            );
        }
        for (copy, out) in self.copies.iter().zip(outputs.iter_mut()) {
            copy.run(src, T::slice_mut(out)?)?;
        }
        Ok(())
    }
}

impl Kernel for SplitKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let Some(src) = inputs.get(self.data) else {
            kbail!("missing input");
        };
        by_dtype!(self.dtype, T => self.run_typed::<T>(src, outputs))
    }
}

fn split_along(
    ctx: &PrepareCtx<'_>,
    data: usize,
    input: &TensorInfo,
    axis: usize,
    sizes: &[usize],
) -> Result<Prepared, KernelError> {
    let strides = strides_isize(&input.shape);
    let axis_stride = strides.get(axis).copied().unwrap_or(1) as usize;
    let mut shapes = Vec::with_capacity(sizes.len());
    let mut copies = Vec::with_capacity(sizes.len());
    let mut offset = 0usize;
    for (k, &size) in sizes.iter().enumerate() {
        expect_output_dtype(ctx, k, input.dtype)?;
        let mut shape = input.shape.clone();
        shape[axis] = size;
        let len = checked_elements(&shape)?;
        copies.push(StridedCopy::new(
            &shape,
            (&strides, offset * axis_stride, input.num_elements()),
            (&strides_isize(&shape), 0, len),
        )?);
        shapes.push(shape);
        offset += size;
    }
    Ok(Prepared::new(
        shapes,
        SplitKernel {
            dtype: input.dtype,
            data,
            copies,
        },
    ))
}

fn num_outputs(ctx: &PrepareCtx<'_>, num_splits: i32) -> Result<usize, KernelError> {
    let n = ctx.outputs.len();
    if num_splits < 1 || num_splits as usize != n {
        kbail!("num_splits is {num_splits} but the op has {n} outputs");
    }
    Ok(n)
}

fn prepare_split(ctx: &PrepareCtx<'_>, num_splits: i32) -> Result<Prepared, KernelError> {
    let n = num_outputs(ctx, num_splits)?;
    ctx.expect_arity(2, 2, n)?;
    let input = ctx.input(1)?;
    let axis = normalize_axis(
        const_scalar(ctx.input(0)?, "the axis")?,
        input.shape.len(),
        "axis",
    )?;
    let Some(&dim) = input.shape.get(axis) else {
        kbail!("cannot split a scalar");
    };
    if dim % n != 0 {
        kbail!("dimension {axis} of size {dim} does not split into {n} equal parts");
    }
    split_along(ctx, 1, input, axis, &vec![dim / n; n])
}

fn prepare_split_v(ctx: &PrepareCtx<'_>, num_splits: i32) -> Result<Prepared, KernelError> {
    let n = num_outputs(ctx, num_splits)?;
    ctx.expect_arity(3, 3, n)?;
    let input = ctx.input(0)?;
    let axis = normalize_axis(
        const_scalar(ctx.input(2)?, "the axis")?,
        input.shape.len(),
        "axis",
    )?;
    let Some(&dim) = input.shape.get(axis) else {
        kbail!("cannot split a scalar");
    };
    let raw = const_vector(ctx.input(1)?, "size_splits")?;
    if raw.len() != n {
        kbail!("size_splits has {} entries for {n} outputs", raw.len());
    }
    // At most one -1, which takes what the others leave.
    let mut rest = None;
    let mut known = 0usize;
    for (k, &s) in raw.iter().enumerate() {
        match s {
            -1 if rest.is_none() => rest = Some(k),
            s if s >= 0 && (s as u64) <= dim as u64 => known += s as usize,
            _ => kbail!("size_splits {raw:?} is invalid for a dimension of size {dim}"),
        }
    }
    let mut sizes: Vec<usize> = raw.iter().map(|&s| s.max(0) as usize).collect();
    match rest {
        Some(k) if known <= dim => sizes[k] = dim - known,
        None if known == dim => {}
        _ => kbail!("size_splits {raw:?} does not add up to the dimension's {dim}"),
    }
    split_along(ctx, 0, input, axis, &sizes)
}

fn prepare_slice(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(3, 3, 1)?;
    let input = ctx.input(0)?;
    let begin = const_vector(ctx.input(1)?, "begin")?;
    let size = const_vector(ctx.input(2)?, "size")?;
    let rank = input.shape.len();
    if begin.len() != rank || size.len() != rank {
        kbail!("begin {begin:?} and size {size:?} must have one entry per input dim ({rank})");
    }
    let mut out = Vec::with_capacity(rank);
    let mut start = 0usize;
    let strides = strides_isize(&input.shape);
    for d in 0..rank {
        let dim = input.shape[d] as i64;
        let (b, s) = (begin[d], size[d]);
        let s = if s == -1 { dim.saturating_sub(b) } else { s };
        if b < 0 || s < 0 || b > dim || s > dim - b {
            kbail!(
                "slice begin {} size {} does not fit dimension {d} of size {dim}",
                begin[d],
                size[d]
            );
        }
        out.push(s as usize);
        start += b as usize * strides[d] as usize;
    }
    let box_shape = out.clone();
    one_copy(ctx, out, &box_shape, &strides, start)
}

fn prepare_expand_dims(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let rank = input.shape.len();
    // The new axis may also go after the last dim: range [-rank - 1, rank].
    let axis = normalize_axis(const_scalar(ctx.input(1)?, "the axis")?, rank + 1, "axis")?;
    let mut out = input.shape.clone();
    out.insert(axis, 1);
    let box_shape = input.shape.clone();
    one_copy(ctx, out, &box_shape, &strides_isize(&box_shape), 0)
}

fn prepare_tile(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let multiples = const_vector(ctx.input(1)?, "multiples")?;
    let rank = input.shape.len();
    if multiples.len() != rank {
        kbail!("multiples {multiples:?} must have one entry per input dim ({rank})");
    }
    let in_strides = strides_isize(&input.shape);
    // Output dim d is multiples[d] copies of input dim d: the box [m0, d0, m1, d1, ...]
    // in output order, reading the input with stride 0 along each m.
    let mut box_shape = Vec::with_capacity(2 * rank);
    let mut strides = Vec::with_capacity(2 * rank);
    let mut out = Vec::with_capacity(rank);
    for d in 0..rank {
        let m = multiples[d];
        if m < 0 || m as u64 > u32::MAX as u64 {
            kbail!("multiples {multiples:?} must be non-negative");
        }
        box_shape.extend([m as usize, input.shape[d]]);
        strides.extend([0, in_strides[d]]);
        out.push(checked_elements(&[m as usize, input.shape[d]])?);
    }
    one_copy(ctx, out, &box_shape, &strides, 0)
}

fn prepare_broadcast_to(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let wanted = const_vector(ctx.input(1)?, "the shape")?;
    if wanted.len() < input.shape.len() {
        kbail!(
            "cannot broadcast {:?} to the lower rank shape {wanted:?}",
            input.shape
        );
    }
    let pad = wanted.len() - input.shape.len();
    let in_strides = strides_isize(&input.shape);
    let mut out = Vec::with_capacity(wanted.len());
    let mut strides = Vec::with_capacity(wanted.len());
    for (d, &w) in wanted.iter().enumerate() {
        if w < 0 || w as u64 > u32::MAX as u64 {
            kbail!("the shape {wanted:?} has a negative dimension");
        }
        let w = w as usize;
        let (own, stride) = match d.checked_sub(pad) {
            Some(i) => (input.shape[i], in_strides[i]),
            None => (1, 0),
        };
        if own != w && own != 1 {
            kbail!("cannot broadcast {:?} to {wanted:?}", input.shape);
        }
        out.push(w);
        strides.push(if own == 1 { 0 } else { stride });
    }
    checked_elements(&out)?;
    let box_shape = out.clone();
    one_copy(ctx, out, &box_shape, &strides, 0)
}
