//! Property tests of the sparse FULLY_CONNECTED: random matrices of awkward shapes
//! (depths that are not multiples of the block, empty rows, all-zero and full
//! matrices, 1 to 9 batch rows), encoded as the converter writes them, run through the
//! vector path and the portable path, each held to a plain dense loop written here.

use proptest::prelude::*;

use super::{prepare, PrepareCtx};
use crate::ir::{self, Activation, DType, FullyConnectedOptions, Op, Operator, Quantization};
use crate::ir::{TensorBuf, View};
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_per_channel, effective_scale_per_tensor,
    multiply_by_quantized_multiplier, quantize_multiplier,
};
use crate::ops::exec::test_support::cpu_variant;
use crate::ops::exec::TensorInfo;

/// xorshift64*, so a failing case reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn int(&mut self, lo: i32, hi: i32) -> i32 {
        lo + (self.next() % (hi - lo + 1) as u64) as i32
    }
}

/// Which weights are kept: each block of `block` columns (in whole blocks from column
/// 0; a partial trailing block is never kept, as no encoding can hold it) is nonzero
/// with probability `density`.
fn mask(rng: &mut Rng, units: usize, depth: usize, block: usize, density: f64) -> Vec<bool> {
    let mut keep = vec![false; units * depth];
    for u in 0..units {
        for b in 0..depth / block {
            if rng.unit() < density {
                keep[u * depth + b * block..u * depth + (b + 1) * block].fill(true);
            }
        }
    }
    keep
}

/// Runs one FULLY_CONNECTED from `prepare`, on the portable path or (where the CPU has
/// it) the vector one.
fn run(
    infos: &[TensorInfo],
    output: &ir::Tensor,
    activation: Activation,
    x: &TensorBuf,
    portable: bool,
) -> TensorBuf {
    let op = Operator {
        op: Op::FullyConnected(FullyConnectedOptions {
            activation,
            ..Default::default()
        }),
        inputs: (0..infos.len()).map(Some).collect(),
        outputs: vec![infos.len()],
    };
    let ctx = PrepareCtx {
        op: &op,
        inputs: infos.iter().map(Some).collect(),
        outputs: vec![output],
        cpu: cpu_variant(portable),
    };
    let prepared = prepare(&ctx).unwrap();
    let len: usize = prepared.output_shapes[0].iter().product();
    let mut out = TensorBuf::zeros(output.dtype, len);
    let mut views: Vec<View<'_>> = vec![x.view()];
    for i in &infos[1..] {
        views.push(i.constant.as_ref().map_or(View::Absent, |c| c.view()));
    }
    prepared.kernel.run(&views, &mut [out.view_mut()]).unwrap();
    out
}

fn tensor_info(
    name: &str,
    dtype: DType,
    shape: &[usize],
    quantization: Option<Quantization>,
    sparse: Option<(ir::Sparsity, TensorBuf)>,
    constant: Option<TensorBuf>,
) -> TensorInfo {
    let (sparsity, constant) = match sparse {
        Some((s, values)) => (Some(s), Some(values)),
        None => (None, constant),
    };
    TensorInfo {
        name: name.into(),
        dtype,
        shape: shape.to_vec(),
        quantization,
        sparsity,
        constant: constant.map(std::sync::Arc::new),
    }
}

#[derive(Clone, Copy, Debug)]
enum FloatLayout {
    /// One index per nonzero.
    Random,
    /// 1×4 blocks pruned independently.
    Block4,
    /// 1×4 blocks of a matrix pruned in 1×16 blocks: runs of four consecutive blocks.
    Block4From16,
}

fn float_case(
    layout: FloatLayout,
    (units, depth, batches): (usize, usize, usize),
    density: f64,
    seed: u64,
    relu: bool,
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let (block, encoding) = match layout {
        FloatLayout::Random => (1, None),
        FloatLayout::Block4 => (4, Some([1usize, 4])),
        FloatLayout::Block4From16 => (16, Some([1usize, 4])),
    };
    let keep = mask(&mut rng, units, depth, block, density);
    let dense: Vec<f32> = keep
        .iter()
        // Exact zeros inside kept blocks are stored, as TensorFlow stores them.
        .map(|&k| {
            if k && rng.unit() < 0.95 {
                (rng.unit() * 2.0 - 1.0) as f32
            } else {
                0.0
            }
        })
        .collect();
    let x: Vec<f32> = (0..batches * depth)
        .map(|_| (rng.unit() * 4.0 - 2.0) as f32)
        .collect();
    let bias: Vec<f32> = (0..units).map(|_| (rng.unit() - 0.5) as f32).collect();
    let encoded = crate::sparse::encode(
        &TensorBuf::F32(dense.clone()),
        &[units, depth],
        encoding.as_ref().map(|b| b.as_slice()),
    )
    .unwrap();
    let infos = [
        tensor_info("x", DType::F32, &[batches, depth], None, None, None),
        tensor_info("w", DType::F32, &[units, depth], None, Some(encoded), None),
        tensor_info(
            "b",
            DType::F32,
            &[units],
            None,
            None,
            Some(TensorBuf::F32(bias.clone())),
        ),
    ];
    let output = ir::Tensor::activation("y", DType::F32, vec![batches, units]);
    let activation = if relu {
        Activation::Relu
    } else {
        Activation::None
    };
    let x = TensorBuf::F32(x);
    let TensorBuf::F32(xs) = &x else {
        unreachable!()
    };
    for portable in [false, true] {
        let TensorBuf::F32(got) = run(&infos, &output, activation, &x, portable) else {
            panic!("float output expected");
        };
        for b in 0..batches {
            for u in 0..units {
                let (mut exact, mut magnitude, mut terms) = (f64::from(bias[u]), 0.0f64, 0);
                magnitude += f64::from(bias[u].abs());
                for d in 0..depth {
                    let w = f64::from(dense[u * depth + d]);
                    if keep[u * depth + d] {
                        let p = w * f64::from(xs[b * depth + d]);
                        exact += p;
                        magnitude += p.abs();
                        terms += 1;
                    }
                }
                if relu {
                    exact = exact.max(0.0);
                }
                // Recursive float summation errs by at most about terms·2⁻²⁴ of the
                // sum of magnitudes, whatever the order; twice that as margin.
                let tolerance = (terms as f64 + 4.0) * 1.2e-7 * magnitude + 1e-30;
                let g = f64::from(got[b * units + u]);
                prop_assert!(
                    (g - exact).abs() <= tolerance,
                    "{layout:?} portable {portable}: batch {b} unit {u}: got {g}, exact {exact}"
                );
            }
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn int8_case(
    (units, depth, batches): (usize, usize, usize),
    density: f64,
    seed: u64,
    per_channel: bool,
    relu: bool,
    (in_zp, out_zp): (i32, i32),
) -> Result<(), TestCaseError> {
    let mut rng = Rng(seed | 1);
    let keep = mask(&mut rng, units, depth, 16, density);
    let dense: Vec<i8> = keep
        .iter()
        .map(|&k| if k { rng.int(-127, 127) as i8 } else { 0 })
        .collect();
    let x: Vec<i8> = (0..batches * depth)
        .map(|_| rng.int(-128, 127) as i8)
        .collect();
    let bias: Vec<i32> = (0..units).map(|_| rng.int(-20_000, 20_000)).collect();
    let (in_s, out_s) = (0.03f32, 0.9f32 + rng.unit() as f32);
    let w_scales: Vec<f32> = if per_channel {
        (0..units)
            .map(|_| 0.002 + 0.01 * rng.unit() as f32)
            .collect()
    } else {
        vec![0.007]
    };
    let multipliers: Vec<(i32, i32)> = (0..units)
        .map(|u| {
            quantize_multiplier(if per_channel {
                effective_scale_per_channel(in_s, w_scales[u], out_s)
            } else {
                effective_scale_per_tensor(in_s, w_scales[0], out_s)
            })
            .unwrap()
        })
        .collect();
    let activation = if relu {
        Activation::Relu
    } else {
        Activation::None
    };
    let range = calculate_activation_range_quantized(activation, out_s, out_zp, DType::I8).unwrap();
    let mut want = Vec::with_capacity(batches * units);
    for b in 0..batches {
        for u in 0..units {
            let mut acc = bias[u];
            for d in 0..depth {
                let term = i32::from(dense[u * depth + d]) * (i32::from(x[b * depth + d]) - in_zp);
                acc = acc.wrapping_add(term);
            }
            let (m, s) = multipliers[u];
            let v = multiply_by_quantized_multiplier(acc, m, s) + out_zp;
            want.push(v.clamp(range.0, range.1) as i8);
        }
    }

    let encoded =
        crate::sparse::encode(&TensorBuf::I8(dense), &[units, depth], Some(&[1, 16])).unwrap();
    let w_q = Quantization {
        scale: w_scales.clone(),
        zero_point: vec![0; w_scales.len()],
        ..Quantization::per_tensor(w_scales[0], 0)
    };
    let infos = [
        tensor_info(
            "x",
            DType::I8,
            &[batches, depth],
            Some(Quantization::per_tensor(in_s, in_zp.into())),
            None,
            None,
        ),
        tensor_info(
            "w",
            DType::I8,
            &[units, depth],
            Some(w_q),
            Some(encoded),
            None,
        ),
        tensor_info(
            "b",
            DType::I32,
            &[units],
            None,
            None,
            Some(TensorBuf::I32(bias)),
        ),
    ];
    let mut output = ir::Tensor::activation("y", DType::I8, vec![batches, units]);
    output.quantization = Some(Quantization::per_tensor(out_s, out_zp.into()));
    for portable in [false, true] {
        let got = run(
            &infos,
            &output,
            activation,
            &TensorBuf::I8(x.clone()),
            portable,
        );
        prop_assert_eq!(
            &got,
            &TensorBuf::I8(want.clone()),
            "portable {}, per_channel {}",
            portable,
            per_channel
        );
    }
    Ok(())
}

/// Half the cases at the densities the vector paths are built for, the rest at the
/// edges: nothing kept, everything kept, and whatever in between.
fn density() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.2), Just(0.0), Just(1.0), 0.0..1.0f64]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn float_random_sparse_fc_matches_the_dense_sum(
        units in 1usize..40, depth in 1usize..300, batches in 1usize..10,
        density in density(), seed: u64, relu: bool,
    ) {
        float_case(FloatLayout::Random, (units, depth, batches), density, seed, relu)?;
    }

    /// Shapes where the AVX2 planner keeps the CSR kernel (`random_sparse_pays`), so its
    /// batched vector path is held to the dense sum too.
    #[test]
    fn float_random_sparse_fc_wide_batched_matches_the_dense_sum(
        units in 64usize..140, depth in 1usize..200, batches in 4usize..13,
        density in density(), seed: u64, relu: bool,
    ) {
        float_case(FloatLayout::Random, (units, depth, batches), density, seed, relu)?;
    }

    #[test]
    fn float_block4_sparse_fc_matches_the_dense_sum(
        units in 1usize..40, depth in 4usize..300, batches in 1usize..10,
        density in density(), seed: u64, relu: bool,
    ) {
        float_case(FloatLayout::Block4, (units, depth, batches), density, seed, relu)?;
    }

    #[test]
    fn float_block4_runs_of_16_match_the_dense_sum(
        units in 1usize..40, depth in 16usize..300, batches in 1usize..10,
        density in density(), seed: u64, relu: bool,
    ) {
        float_case(FloatLayout::Block4From16, (units, depth, batches), density, seed, relu)?;
    }

    #[test]
    fn int8_block16_sparse_fc_matches_the_dense_loop_exactly(
        units in 1usize..40, depth in 16usize..300, batches in 1usize..10,
        density in density(), seed: u64, per_channel: bool, relu: bool,
        in_zp in -128i32..128, out_zp in -128i32..128,
    ) {
        int8_case((units, depth, batches), density, seed, per_channel, relu, (in_zp, out_zp))?;
    }
}

/// The study's shape (depth 2028 = 126·16 + 12) at the sizes the benchmark runs.
#[test]
fn study_shape_int8_and_float_match() {
    for batches in [1, 4, 9] {
        int8_case((10, 2028, batches), 0.2, 77, true, false, (-3, 5)).unwrap();
        for layout in [
            FloatLayout::Random,
            FloatLayout::Block4,
            FloatLayout::Block4From16,
        ] {
            float_case(layout, (10, 2028, batches), 0.2, 78, true).unwrap();
        }
    }
}

/// Where CSR does not pay (one batch row), the AVX2 planner runs the dense kernel over the
/// expanded weights: its bits are those of the dense FULLY_CONNECTED on the same matrix,
/// which the CSR kernel's different summation order would not reproduce.
#[test]
fn random_sparse_with_one_row_runs_the_dense_kernel() {
    if !crate::kernels::cpu::CpuFeatures::detect().fma() {
        return;
    }
    assert!(!super::sparse_fc::random_sparse_pays(1, 128));
    let (units, depth) = (128, 1024);
    let mut rng = Rng(0xC5A);
    let keep = mask(&mut rng, units, depth, 1, 0.2);
    let dense: Vec<f32> = keep
        .iter()
        .map(|&k| {
            if k {
                (rng.unit() * 2.0 - 1.0) as f32
            } else {
                0.0
            }
        })
        .collect();
    let x = TensorBuf::F32(
        (0..depth)
            .map(|_| (rng.unit() * 4.0 - 2.0) as f32)
            .collect(),
    );
    let encoded =
        crate::sparse::encode(&TensorBuf::F32(dense.clone()), &[units, depth], None).unwrap();
    let x_info = tensor_info("x", DType::F32, &[1, depth], None, None, None);
    let output = ir::Tensor::activation("y", DType::F32, vec![1, units]);
    let sparse_w = tensor_info("w", DType::F32, &[units, depth], None, Some(encoded), None);
    let dense_w = tensor_info(
        "w",
        DType::F32,
        &[units, depth],
        None,
        None,
        Some(TensorBuf::F32(dense)),
    );
    let sparse = run(
        &[x_info.clone(), sparse_w],
        &output,
        Activation::None,
        &x,
        false,
    );
    let dense = run(&[x_info, dense_w], &output, Activation::None, &x, false);
    let (TensorBuf::F32(s), TensorBuf::F32(d)) = (&sparse, &dense) else {
        panic!("float outputs expected");
    };
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(s), bits(d));
}
