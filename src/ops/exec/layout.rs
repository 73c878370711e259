//! Layout ops that only move elements: DEPTH_TO_SPACE, SPACE_TO_DEPTH, SPLIT, SPLIT_V,
//! SLICE, EXPAND_DIMS, TILE and BROADCAST_TO. Each is one `StridedCopy` per output,
//! worked out at prepare from the shapes and the constant operands, so every element
//! type (and int8 with its parameters, which these ops never change) runs the same copy.

use super::shape::{
    by_dtype, checked_elements, const_ints, expect_output_dtype, nhwc, strided_kernel,
    strides_isize, Elem, StridedCopy,
};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::axis as normalize_axis;
use crate::ops::exec::TensorInfo;

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
    bounded(&out_shape)?;
    bounded(copy_shape)?;
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

/// Refuses shapes whose dims multiply past what could be allocated even when a zero
/// dim makes them empty, so that stride arithmetic on them cannot overflow.
pub(crate) fn bounded(shape: &[usize]) -> Result<(), KernelError> {
    let nonzero: Vec<usize> = shape.iter().map(|&d| d.max(1)).collect();
    checked_elements(&nonzero).map(|_| ())
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

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Graph, Model, Op, Operator, Tensor};

    /// Runs `op` on `x` (input 0 unless `data_slot` says otherwise) with constant int32
    /// operands, returning every output.
    fn run(
        op: Op,
        x: Value,
        data_slot: usize,
        consts: &[(Vec<usize>, Vec<i32>)],
        outputs: usize,
    ) -> Result<Vec<Value>, String> {
        let mut tensors = vec![Tensor::activation("x", x.dtype(), x.shape.clone())];
        let mut operands = Vec::new();
        for (k, (shape, v)) in consts.iter().enumerate() {
            tensors.push(Tensor::constant_i32(format!("c{k}"), shape.clone(), v));
            operands.push(k + 1);
        }
        operands.insert(data_slot, 0);
        let first_out = tensors.len();
        for k in 0..outputs {
            tensors.push(Tensor::activation(format!("y{k}"), x.dtype(), vec![]));
        }
        let outs: Vec<usize> = (first_out..first_out + outputs).collect();
        let graph = Graph {
            name: None,
            tensors,
            inputs: vec![0],
            outputs: outs.clone(),
            operators: vec![Operator::new(op, operands, outs)],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        interp.run(&[x]).map_err(|e| e.to_string())
    }

    fn iota(shape: Vec<usize>) -> Value {
        let n: usize = shape.iter().product();
        Value::new(shape, TensorBuf::I32((0..n as i32).collect()))
    }

    fn one(op: Op, x: Value, consts: &[(Vec<usize>, Vec<i32>)]) -> Result<Value, String> {
        run(op, x, 0, consts, 1).map(|mut v| v.remove(0))
    }

    #[test]
    fn depth_to_space_and_back() {
        // One pixel with 4 channels [0, 1, 2, 3], block 2: a 2x2 image [[0, 1], [2, 3]].
        let y = one(
            Op::DepthToSpace { block_size: 2 },
            iota(vec![1, 1, 1, 4]),
            &[],
        )
        .unwrap();
        assert_eq!(y.shape, vec![1, 2, 2, 1]);
        assert_eq!(y.data, TensorBuf::I32(vec![0, 1, 2, 3]));
        // Two pixels of 8 channels (block 2, 2 output channels): pixel 0 holds
        // [0..8) = tiles (0,0):[0,1] (0,1):[2,3] (1,0):[4,5] (1,1):[6,7], pixel 1 [8..16).
        let y = one(
            Op::DepthToSpace { block_size: 2 },
            iota(vec![1, 1, 2, 8]),
            &[],
        )
        .unwrap();
        assert_eq!(y.shape, vec![1, 2, 4, 2]);
        assert_eq!(
            y.data,
            TensorBuf::I32(vec![0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15])
        );
        // SPACE_TO_DEPTH undoes it.
        let x = Value::new(vec![1, 2, 4, 2], y.data);
        let z = one(Op::SpaceToDepth { block_size: 2 }, x, &[]).unwrap();
        assert_eq!(z.shape, vec![1, 1, 2, 8]);
        assert_eq!(z.data, TensorBuf::I32((0..16).collect()));
        assert!(one(
            Op::DepthToSpace { block_size: 3 },
            iota(vec![1, 1, 1, 4]),
            &[]
        )
        .is_err());
        assert!(one(
            Op::SpaceToDepth { block_size: 2 },
            iota(vec![1, 3, 2, 1]),
            &[]
        )
        .is_err());
        assert!(one(
            Op::SpaceToDepth { block_size: 0 },
            iota(vec![1, 2, 2, 1]),
            &[]
        )
        .is_err());
    }

    #[test]
    fn split_equal_and_by_sizes() {
        // [2, 4] split in two along axis 1 (given as -1): columns 0-1 and 2-3.
        let out = run(
            Op::Split { num_splits: 2 },
            iota(vec![2, 4]),
            1,
            &[(vec![], vec![-1])],
            2,
        )
        .unwrap();
        assert_eq!(out[0].shape, vec![2, 2]);
        assert_eq!(out[0].data, TensorBuf::I32(vec![0, 1, 4, 5]));
        assert_eq!(out[1].data, TensorBuf::I32(vec![2, 3, 6, 7]));
        // SPLIT_V of 5 rows into [1, -1, 2]: rows {0}, {1, 2}, {3, 4}.
        let out = run(
            Op::SplitV { num_splits: 3 },
            iota(vec![5, 1]),
            0,
            &[(vec![3], vec![1, -1, 2]), (vec![], vec![0])],
            3,
        )
        .unwrap();
        let rows: Vec<_> = out.iter().map(|v| v.data.clone()).collect();
        assert_eq!(
            rows,
            vec![
                TensorBuf::I32(vec![0]),
                TensorBuf::I32(vec![1, 2]),
                TensorBuf::I32(vec![3, 4])
            ]
        );
        // Unequal split, sizes that overrun, two -1s, a count that disagrees.
        let bad = |op: Op, slot: usize, c: &[(Vec<usize>, Vec<i32>)], n: usize| {
            run(op, iota(vec![5, 1]), slot, c, n).is_err()
        };
        assert!(bad(Op::Split { num_splits: 2 }, 1, &[(vec![], vec![0])], 2));
        let v = Op::SplitV { num_splits: 2 };
        assert!(bad(
            v.clone(),
            0,
            &[(vec![2], vec![3, 3]), (vec![], vec![0])],
            2
        ));
        assert!(bad(
            v.clone(),
            0,
            &[(vec![2], vec![-1, -1]), (vec![], vec![0])],
            2
        ));
        assert!(bad(v, 0, &[(vec![2], vec![2, 3]), (vec![], vec![0])], 3));
    }

    #[test]
    fn slice_with_rest_of_dim() {
        // x [3, 4] = 0..12; begin [1, 1], size [-1, 2]: rows 1-2, columns 1-2.
        let y = one(
            Op::Slice,
            iota(vec![3, 4]),
            &[(vec![2], vec![1, 1]), (vec![2], vec![-1, 2])],
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 2]);
        assert_eq!(y.data, TensorBuf::I32(vec![5, 6, 9, 10]));
        for (b, s) in [([0, 3], [1, 2]), ([-1, 0], [1, 1]), ([0, 0], [4, 1])] {
            let c = [(vec![2], b.to_vec()), (vec![2], s.to_vec())];
            assert!(one(Op::Slice, iota(vec![3, 4]), &c).is_err(), "{b:?} {s:?}");
        }
    }

    #[test]
    fn expand_dims_at_each_end() {
        let y = one(Op::ExpandDims, iota(vec![2, 3]), &[(vec![], vec![-1])]).unwrap();
        assert_eq!(y.shape, vec![2, 3, 1]);
        assert_eq!(y.data, TensorBuf::I32((0..6).collect()));
        let y = one(Op::ExpandDims, iota(vec![2, 3]), &[(vec![1], vec![0])]).unwrap();
        assert_eq!(y.shape, vec![1, 2, 3]);
        // Rank 2 takes axes -3..=2.
        assert!(one(Op::ExpandDims, iota(vec![2, 3]), &[(vec![], vec![2])]).is_ok());
        assert!(one(Op::ExpandDims, iota(vec![2, 3]), &[(vec![], vec![3])]).is_err());
        assert!(one(Op::ExpandDims, iota(vec![2, 3]), &[(vec![], vec![-4])]).is_err());
    }

    #[test]
    fn tile_and_broadcast_to() {
        // [[0, 1], [2, 3]] tiled [2, 3] times.
        let y = one(Op::Tile, iota(vec![2, 2]), &[(vec![2], vec![2, 3])]).unwrap();
        assert_eq!(y.shape, vec![4, 6]);
        let r0 = [0, 1, 0, 1, 0, 1];
        let r1 = [2, 3, 2, 3, 2, 3];
        assert_eq!(y.data, TensorBuf::I32([r0, r1, r0, r1].concat()));
        assert!(one(Op::Tile, iota(vec![2, 2]), &[(vec![2], vec![1, -1])]).is_err());
        assert!(one(Op::Tile, iota(vec![2, 2]), &[(vec![1], vec![2])]).is_err());
        // Empty, but with dims whose product overflows: refused, not wrapped.
        let huge = i32::MAX;
        let empty = Value::new(vec![0, 1, 1, 1], TensorBuf::I32(vec![]));
        let c = [(vec![4], vec![1, huge, huge, huge])];
        assert!(one(Op::Tile, empty.clone(), &c).is_err());
        let c = [(vec![4], vec![0, huge, huge, huge])];
        assert!(one(Op::BroadcastTo, empty, &c).is_err());
        // A column [0, 1] broadcast to [2, 2, 3]: each row repeats its value.
        let y = one(
            Op::BroadcastTo,
            iota(vec![2, 1]),
            &[(vec![3], vec![2, 2, 3])],
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 2, 3]);
        let half = [0, 0, 0, 1, 1, 1];
        assert_eq!(y.data, TensorBuf::I32([half, half].concat()));
        assert!(one(Op::BroadcastTo, iota(vec![2, 2]), &[(vec![2], vec![2, 3])]).is_err());
        assert!(one(Op::BroadcastTo, iota(vec![2, 2]), &[(vec![1], vec![2])]).is_err());
    }
}
