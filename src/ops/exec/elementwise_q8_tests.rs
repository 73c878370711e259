//! Property tests of the quantized ADD / SUB / MUL rows (AVX2 lanes, constant tables,
//! run-time tables) against the reference per-element arithmetic under a naive
//! NumPy-broadcast indexing written here.

use proptest::prelude::*;

use super::test_support::q8::{per_tensor, run_q8_on, Q};
use crate::ir::{Activation, DType, Op};
use crate::kernels::cpu::CpuFeatures;
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_mul, quantize_multiplier, AddRescale,
};
use crate::kernels::reference::quant_binary::QuantArith;

/// Output index `k` of `out` mapped into an input of (right-aligned) shape `shape`.
fn source_index(k: usize, out: &[usize], shape: &[usize]) -> usize {
    let pad = out.len() - shape.len();
    let mut rem = k;
    let mut idx = vec![0; out.len()];
    for d in (0..out.len()).rev() {
        idx[d] = rem % out[d];
        rem /= out[d];
    }
    shape.iter().enumerate().fold(0, |acc, (d, &n)| {
        acc * n + if n == 1 { 0 } else { idx[d + pad] }
    })
}

#[derive(Debug, Clone)]
struct Case {
    op: u8,
    unsigned: bool,
    act: u8,
    a_shape: Vec<usize>,
    b_shape: Vec<usize>,
    scales: (f32, f32, f32),
    zps: (i32, i32, i32),
    constants: (bool, bool),
    seed: u64,
}

fn shape_of(out: &[usize], mask: u32, rank: usize) -> Vec<usize> {
    let skip = out.len() - rank;
    out[skip..]
        .iter()
        .enumerate()
        .map(|(d, &n)| if mask >> d & 1 == 1 { 1 } else { n })
        .collect()
}

fn case() -> impl Strategy<Value = Case> {
    (
        (0u8..3, any::<bool>(), 0u8..3),
        // Batch and spatial dims, then a channel dim long enough for tails.
        (
            1usize..=3,
            1usize..=5,
            1usize..=5,
            prop_oneof![1usize..=40, 60usize..=200],
        ),
        (any::<u32>(), any::<u32>(), 0usize..=4, 0usize..=4),
        (-10.0f32..0.0, -10.0f32..0.0, -10.0f32..0.0),
        (any::<u8>(), any::<u8>(), any::<u8>()),
        (any::<bool>(), any::<bool>(), any::<u64>()),
    )
        .prop_map(|(k, dims, masks, log_scales, zps, flags)| {
            let out = vec![dims.0, dims.1, dims.2, dims.3];
            let (op, unsigned, act) = k;
            let shift = |z: u8| {
                if unsigned {
                    i32::from(z)
                } else {
                    i32::from(z) - 128
                }
            };
            Case {
                op,
                unsigned,
                act,
                a_shape: shape_of(&out, masks.0, masks.2),
                b_shape: shape_of(&out, masks.1, masks.3),
                scales: (
                    log_scales.0.exp2(),
                    log_scales.1.exp2(),
                    log_scales.2.exp2(),
                ),
                zps: (shift(zps.0), shift(zps.1), shift(zps.2)),
                constants: (flags.0, flags.1),
                seed: flags.2,
            }
        })
}

fn check(c: &Case) -> Result<(), TestCaseError> {
    let dtype = if c.unsigned { DType::U8 } else { DType::I8 };
    let qmin = if c.unsigned { 0 } else { -128 };
    let act = [Activation::None, Activation::Relu, Activation::Relu6][usize::from(c.act)];
    let op = match c.op {
        0 => Op::Add { activation: act },
        1 => Op::Sub { activation: act },
        _ => Op::Mul { activation: act },
    };
    let (s1, s2, so) = c.scales;
    let (z1, z2, zo) = c.zps;
    // The spec's constants, as the kernel's prepare derives them from the scales.
    let arith = if c.op < 2 {
        let Ok(rescale) = AddRescale::new(s1, s2, so, 20) else {
            return Ok(());
        };
        QuantArith::AddSub {
            negate_second: c.op == 1,
            rescale,
            input1_zero_point: z1,
            input2_zero_point: z2,
            output_zero_point: zo,
        }
    } else {
        let Ok((multiplier, shift)) = quantize_multiplier(effective_scale_mul(s1, s2, so)) else {
            return Ok(());
        };
        QuantArith::Mul {
            multiplier,
            shift,
            input1_zero_point: z1,
            input2_zero_point: z2,
            output_zero_point: zo,
        }
    };
    let Ok((lo, hi)) = calculate_activation_range_quantized(act, so, zo, dtype) else {
        return Ok(());
    };
    let mut state = c.seed | 1;
    let mut values = |n: usize| -> Vec<i32> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                qmin + (state % 256) as i32
            })
            .collect()
    };
    let na: usize = c.a_shape.iter().product();
    let nb: usize = c.b_shape.iter().product();
    let mut qa = per_tensor(dtype, &c.a_shape, values(na), s1, i64::from(z1));
    let mut qb = per_tensor(dtype, &c.b_shape, values(nb), s2, i64::from(z2));
    qa.constant = c.constants.0;
    qb.constant = c.constants.1;
    // NumPy broadcasting of the two shapes.
    let rank = c.a_shape.len().max(c.b_shape.len());
    let padded = |s: &[usize]| {
        let mut p = vec![1; rank - s.len()];
        p.extend_from_slice(s);
        p
    };
    let (pa, pb) = (padded(&c.a_shape), padded(&c.b_shape));
    let out: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
    let n: usize = out.iter().product();
    let want: Vec<i32> = (0..n)
        .map(|k| {
            let x = qa.values[source_index(k, &out, &c.a_shape)];
            let y = qb.values[source_index(k, &out, &c.b_shape)];
            arith.apply(x, y).clamp(lo, hi)
        })
        .collect();
    let ins: [Option<Q>; 2] = [Some(qa), Some(qb)];
    for cpu in [CpuFeatures::detect(), CpuFeatures::portable()] {
        let (shape, got) = run_q8_on(cpu, op.clone(), &ins, dtype, so, i64::from(zo))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&shape, &out);
        prop_assert_eq!(&got, &want, "{:?} on {:?}", c, cpu);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn quantized_rows_match_the_reference_arithmetic(c in case()) {
        check(&c)?;
    }
}

/// Long rows against a single run-time value take the table path of the portable loop
/// and the splat lanes of the AVX2 one; a constant single value the prepare-time table.
#[test]
fn long_rows_against_one_value() {
    for (op, constant) in [(0, false), (2, false), (1, true), (2, true)] {
        for unsigned in [false, true] {
            let c = Case {
                op,
                unsigned,
                act: 0,
                a_shape: vec![1, 3, 40, 31],
                b_shape: vec![],
                scales: (0.02, 0.5, 0.03),
                zps: (
                    if unsigned { 130 } else { -3 },
                    5,
                    if unsigned { 120 } else { 7 },
                ),
                constants: (false, constant),
                seed: 77,
            };
            check(&c).unwrap();
            let swapped = Case {
                a_shape: vec![],
                b_shape: vec![1, 3, 40, 31],
                constants: (constant, false),
                ..c
            };
            check(&swapped).unwrap();
        }
    }
}
