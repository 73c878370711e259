//! FULLY_CONNECTED with sparse constant weights, computed from the stored blocks
//! without expanding them (docs §5.3). This file reads and checks the encoding and
//! prepares the op; the float kernels are in `kernels::reference::sparse_fc_f32`, the
//! int8 ones in `kernels::reference::sparse_fc_i8` (AVX2 paths in `kernels::x86`), each with a portable path (the reference the tests hold the vector
//! paths to) and an AVX2 path chosen at prepare when the CPU has it.
//!
//! Formats TensorFlow produces, all [DENSE units, SPARSE_CSR depth(, DENSE block)]:
//! * float32 random sparse (2 levels): one value per stored index;
//! * float32 1×4 blocks (3 levels, last DENSE 4);
//! * int8 1×16 blocks (3 levels, last DENSE 16), full-integer with symmetric weights.
//!
//! What LiteRT's BUILTIN_REF resolver runs, and so what the results must match:
//! * float32: `reference_ops::FullyConnectedSparseWeight` expands the weights and runs
//!   the dense reference FC (one sequential float sum per output). Zero weights add
//!   nothing to such a sum, so summing only the stored values gives the same dot product
//!   up to float reassociation (the kernels keep several partial sums for speed). Any
//!   other valid float encoding is expanded once here and its nonzeros kept, as REF
//!   would compute it.
//! * int8: even REF calls `optimized_ops::FullyConnectedSparseWeight1x16`, which on x86
//!   is `PortableSparseMatrixBatchVectorMultiplyAccumulate1x16`: acc = Σ w·(x − in_zp)
//!   over stored blocks, + bias, then `MultiplyByQuantizedMultiplier` (per channel when
//!   the weights have several scales), + out_zp, clamp. Note that this is the MBQM
//!   requantization even though LiteRT's dense reference int8 FC now requantizes in
//!   double. The kernel reads 16 inputs per block without checking the depth; the
//!   converter drops a trailing partial block (depth 2028 = 126·16 + 12 keeps 126 block
//!   columns), so block columns are ⌊depth/16⌋ here and must lie inside the row. The
//!   integer sum is exact in wrapping int32, so any summation order gives its bits.
//!
//! Stored blocks whose values are all zero are dropped at prepare; the kernels then only
//! visit nonzero blocks.

use super::hybrid::{fc_geometry, FcGeometry};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::TensorBuf;
use crate::ir::{Activation, DType, DimensionMetadata, IndexVector, Op, Sparsity};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::activation_range_f32;
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_per_channel, effective_scale_per_tensor,
    quantize_multiplier,
};
pub use crate::kernels::reference::sparse_fc::{BlockRows, Int8Requant};
use crate::kernels::reference::sparse_fc_f32::{F32Weights, SparseFcF32};
use crate::kernels::reference::sparse_fc_i8::SparseFcI8;
use crate::ops::exec::TensorInfo;

/// True when the weights (input 1) carry a sparse encoding.
pub fn applies(ctx: &PrepareCtx<'_>) -> bool {
    ctx.inputs
        .get(1)
        .copied()
        .flatten()
        .is_some_and(|w| w.sparsity.is_some())
}

fn index_values(v: &IndexVector, what: &str) -> Result<Vec<usize>, KernelError> {
    (0..v.len())
        .map(|i| {
            v.get(i)
                .ok_or_else(|| KernelError::new(format!("{what}[{i}] is negative")))
        })
        .collect()
}

/// Reads TensorFlow's [DENSE units, SPARSE_CSR columns(, DENSE B)] encoding of a
/// [units, depth] matrix with `column_blocks` block columns of width `B`, checking every
/// segment and index, and keeps the nonzero blocks. `None` when the encoding has another
/// form.
fn read_tf_blocks<T: Copy + Default + PartialEq, const B: usize>(
    sparsity: &Sparsity,
    units: usize,
    depth: usize,
    values: &[T],
) -> Result<Option<BlockRows<T, B>>, KernelError> {
    let levels = sparsity.dim_metadata.len();
    let blocked = levels == 3;
    let shape_ok = match levels {
        2 => B == 1 && sparsity.block_map.is_empty() && sparsity.traversal_order == [0, 1],
        3 => {
            sparsity.block_map == [1]
                && sparsity.traversal_order == [0, 1, 2]
                && matches!(sparsity.dim_metadata[2], DimensionMetadata::Dense { size } if size == B)
        }
        _ => false,
    };
    if !shape_ok {
        return Ok(None);
    }
    let (DimensionMetadata::Dense { size }, DimensionMetadata::SparseCsr { segments, indices }) =
        (&sparsity.dim_metadata[0], &sparsity.dim_metadata[1])
    else {
        return Ok(None);
    };
    if *size != units {
        kbail!("sparse weights: first level has {size} rows, the shape has {units}");
    }
    if depth > u32::MAX as usize {
        kbail!("sparse weights: depth {depth} is too large");
    }
    let column_blocks = if blocked { depth / B } else { depth };
    let segments = index_values(segments, "array_segments")?;
    let indices = index_values(indices, "array_indices")?;
    if segments.len() != units + 1 || segments.first() != Some(&0) {
        kbail!(
            "sparse weights: array_segments must have {} entries starting at 0, has {}",
            units + 1,
            segments.len()
        );
    }
    if segments.last() != Some(&indices.len()) {
        kbail!(
            "sparse weights: array_segments ends at {:?}, array_indices has {} entries",
            segments.last(),
            indices.len()
        );
    }
    if values.len() != indices.len() * B {
        kbail!(
            "sparse weights store {} values, the encoding describes {}",
            values.len(),
            indices.len() * B
        );
    }
    let mut rows = BlockRows::empty(depth);
    for r in 0..units {
        let (start, end) = (segments[r], segments[r + 1]);
        if start > end {
            kbail!("sparse weights: array_segments decreases at row {r}");
        }
        let mut previous = None;
        for (e, &index) in indices.iter().enumerate().take(end).skip(start) {
            if index >= column_blocks {
                kbail!(
                    "sparse weights: row {r} has column index {index}, there are {column_blocks}"
                );
            }
            // Sorted, distinct indices keep each dot product in column order, as the
            // dense reference sums it.
            if previous.is_some_and(|p| p >= index) {
                kbail!("sparse weights: row {r} has unsorted or repeated column indices");
            }
            previous = Some(index);
            rows.push_block(index * B, &values[e * B..(e + 1) * B]);
        }
        rows.end_row();
    }
    Ok(Some(rows))
}

/// Prepares a FULLY_CONNECTED whose weights are sparse.
pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    let Op::FullyConnected(options) = &ctx.op.op else {
        kbail!("not a FULLY_CONNECTED: {}", ctx.op.op.name());
    };
    if options.shuffled_weights {
        kbail!("weights in the shuffled SHUFFLED4x16INT8 format are not supported");
    }
    ctx.expect_arity(2, 3, 1)?;
    let input = ctx.input(0)?;
    let weights = ctx.input(1)?;
    let Some(sparsity) = weights.sparsity.as_ref() else {
        kbail!("weights are not sparse");
    };
    let geometry = fc_geometry(options, input, weights)?;
    let values = weights.constant_or_err("sparse weights")?;
    match (input.dtype, values) {
        (DType::F32, TensorBuf::F32(v)) if weights.dtype == DType::F32 => {
            prepare_f32(ctx, options.activation, geometry, weights, sparsity, v)
        }
        (DType::I8, TensorBuf::I8(v)) if weights.dtype == DType::I8 => prepare_i8(
            ctx,
            options.activation,
            geometry,
            input,
            weights,
            sparsity,
            v,
        ),
        (DType::F32, _) if weights.dtype == DType::I8 => {
            kbail!("sparse int8 weights with float input (sparse hybrid FULLY_CONNECTED) are not supported")
        }
        (i, _) => kbail!(
            "FULLY_CONNECTED with {i} input and sparse {} weights is not supported",
            weights.dtype
        ),
    }
}

// ---------------------------------------------------------------------------------------
// float32

fn prepare_f32(
    ctx: &PrepareCtx<'_>,
    activation: Activation,
    g: FcGeometry,
    weights: &TensorInfo,
    sparsity: &Sparsity,
    values: &[f32],
) -> Result<Prepared, KernelError> {
    let out = ctx.output(0)?.dtype;
    if out != DType::F32 {
        kbail!("float32 FULLY_CONNECTED must produce float32, the model declares {out}");
    }
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::F32 || bias.num_elements() != g.units {
            kbail!(
                "bias must be {} float32 values, got {} {}",
                g.units,
                bias.num_elements(),
                bias.dtype
            );
        }
    }
    let range = activation_range_f32(activation)?;
    // The float reference expands the weights with TFLite's format converter, so the
    // encoding must be one that expands cleanly.
    crate::sparse::SparseLayout::new(sparsity, &weights.shape)
        .map_err(|e| KernelError::new(format!("weights ('{}'): {e}", weights.name)))?;
    let parsed = if sparsity.dim_metadata.len() == 3 {
        read_tf_blocks::<f32, 4>(sparsity, g.units, g.depth, values)?.map(F32Weights::Block4)
    } else {
        read_tf_blocks::<f32, 1>(sparsity, g.units, g.depth, values)?.map(F32Weights::Random)
    };
    let weights = match parsed {
        Some(w) => w,
        None => {
            let dense =
                crate::sparse::densify(sparsity, &weights.shape, &TensorBuf::F32(values.to_vec()))
                    .map_err(|e| KernelError::new(format!("weights ('{}'): {e}", weights.name)))?;
            let TensorBuf::F32(dense) = dense else {
                kbail!("densified weights are not float32");
            };
            F32Weights::Random(BlockRows::from_dense(&dense, g.units, g.depth)?)
        }
    };
    let fused = ctx.cpu.fma();
    if fused && matches!(weights, F32Weights::Random(_)) && !random_sparse_pays(g.batches, g.units)
    {
        return super::fully_connected::prepare_dense_f32(ctx);
    }
    Ok(Prepared::new(
        vec![g.output],
        SparseFcF32::new(g.batches, weights, range, fused),
    ))
}

/// Whether the AVX2 random-sparse (CSR) float kernel beats the AVX2 dense kernel over the
/// expanded weights. A dense row streams contiguous weights at 16 multiply-adds per
/// cycle; a CSR row pays an index and an input load per stored weight, so even at 80%
/// sparsity it only wins once several batch rows share each stored weight (its batched
/// path) and enough units amortise the transposed input. `cargo bench --bench sparse_fc`
/// on an AMD EPYC, dense time / CSR time at 80%: batch 1 0.52–0.69×, batch 2 0.26–1.07×;
/// batch ≥ 4 with 128 or 1,000 units 1.2–4.7×, but with 10 units 0.41–0.85× at every
/// batch up to 64. Elsewhere the planner runs the dense kernel over the expanded weights:
/// the same products LiteRT's reference computes, so results stay within the float
/// tolerance (and NaN and inf propagate as there).
pub(super) fn random_sparse_pays(batches: usize, units: usize) -> bool {
    batches >= 4 && units >= 64
}

impl Kernel for SparseFcF32 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = match inputs.first() {
            Some(v) => v.f32()?,
            None => kbail!("input 0 is missing"),
        };
        let bias = match inputs.get(2) {
            None | Some(View::Absent) => None,
            Some(v) => Some(v.f32()?),
        };
        let out = match outputs.first_mut() {
            Some(v) => v.f32()?,
            None => kbail!("output 0 is missing"),
        };
        if input.len() != self.batches() * self.depth()
            || out.len() != self.batches() * self.units()
            || bias.is_some_and(|b| b.len() != self.units())
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        SparseFcF32::run(self, input, bias, out);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// int8, 1×16 blocks

fn per_tensor(info: &TensorInfo, what: &str) -> Result<(f32, i32), KernelError> {
    match info.scale_zero_point() {
        Some((s, z)) if s.is_finite() && s > 0.0 && (-128..=127).contains(&z) => Ok((s, z as i32)),
        _ => kbail!(
            "{what} ('{}') needs one positive scale and an int8 zero point",
            info.name
        ),
    }
}

fn prepare_i8(
    ctx: &PrepareCtx<'_>,
    activation: Activation,
    g: FcGeometry,
    input: &TensorInfo,
    weights: &TensorInfo,
    sparsity: &Sparsity,
    values: &[i8],
) -> Result<Prepared, KernelError> {
    let output = ctx.output(0)?;
    if output.dtype != DType::I8 {
        kbail!(
            "int8 sparse FULLY_CONNECTED must produce int8, the model declares {}",
            output.dtype
        );
    }
    if !matches!(
        activation,
        Activation::None | Activation::Relu | Activation::ReluN1To1 | Activation::Relu6
    ) {
        kbail!(
            "fused activation {} is not supported by quantized FULLY_CONNECTED",
            activation.name()
        );
    }
    let (in_scale, in_zp) = per_tensor(input, "input")?;
    let (out_scale, out_zp) = match output.quantization.as_ref() {
        Some(q) => match (q.scale.as_slice(), q.zero_point.as_slice()) {
            ([s], [z]) if s.is_finite() && *s > 0.0 && (-128..=127).contains(z) => (*s, *z as i32),
            _ => kbail!("output needs one positive scale and an int8 zero point"),
        },
        None => kbail!("output has no quantization parameters"),
    };
    let Some(wq) = weights.quantization.as_ref() else {
        kbail!("int8 weights have no quantization parameters");
    };
    if wq.zero_point.iter().any(|&z| z != 0) {
        kbail!("quantized sparse FULLY_CONNECTED supports symmetric weights (zero point 0) only");
    }
    let multipliers = match wq.scale.as_slice() {
        [] => kbail!("int8 weights have no scale"),
        [w] => {
            vec![quantize_multiplier(effective_scale_per_tensor(in_scale, *w, out_scale))?; g.units]
        }
        many if many.len() == g.units && wq.quantized_dimension == 0 => many
            .iter()
            .map(|&w| quantize_multiplier(effective_scale_per_channel(in_scale, w, out_scale)))
            .collect::<Result<Vec<_>, _>>()?,
        many => kbail!(
            "weights have {} scales along dim {}, expected {} along dim 0",
            many.len(),
            wq.quantized_dimension,
            g.units
        ),
    };
    if let Some(bias) = ctx.opt_input(2) {
        if bias.dtype != DType::I32 || bias.num_elements() != g.units {
            kbail!(
                "bias must be {} int32 values, got {} {}",
                g.units,
                bias.num_elements(),
                bias.dtype
            );
        }
    }
    let range = calculate_activation_range_quantized(activation, out_scale, out_zp, DType::I8)?;
    let rows = match read_tf_blocks::<i8, 16>(sparsity, g.units, g.depth, values)? {
        Some(rows) if sparsity.dim_metadata.len() == 3 => rows,
        _ => kbail!("int8 sparse weights must use 1x16 blocks ([DENSE, SPARSE_CSR, DENSE 16])"),
    };
    Ok(Prepared::new(
        vec![g.output],
        SparseFcI8::new(
            g.batches,
            rows,
            Int8Requant {
                input_offset: -in_zp,
                output_offset: out_zp,
                multipliers,
                range,
            },
            ctx.cpu.avx2(),
        ),
    ))
}

impl Kernel for SparseFcI8 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let input = match inputs.first() {
            Some(v) => v.i8()?,
            None => kbail!("input 0 is missing"),
        };
        let bias = match inputs.get(2) {
            None | Some(View::Absent) => None,
            Some(v) => Some(v.i32()?),
        };
        let out = match outputs.first_mut() {
            Some(v) => v.i8()?,
            None => kbail!("output 0 is missing"),
        };
        if input.len() != self.batches() * self.depth()
            || out.len() != self.batches() * self.units()
            || bias.is_some_and(|b| b.len() != self.units())
        {
            kbail!("FULLY_CONNECTED buffers do not match the planned shapes");
        }
        SparseFcI8::run(self, input, bias, out);
        Ok(())
    }
}
