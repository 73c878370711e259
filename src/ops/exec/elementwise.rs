//! Binary elementwise ops ADD, SUB, MUL, DIV with NumPy broadcasting and a fused
//! activation. Float32 and int32 throughout, int64 for ADD/SUB/MUL (TFLite's DIV has no
//! int64). The loops are in `kernels::reference::elementwise` and, for int8/uint8,
//! `kernels::reference::quant_binary`; this file checks types and shapes, fixes every
//! constant at prepare and hands slices to them.
//!
//! ADD, SUB and MUL on int8/uint8 follow TFLite's reference kernels (`add.cc`,
//! `sub.cc`, `mul.cc`, `reference/integer_ops/{add,mul}.h`, `reference/sub.h`), DIV
//! `div.cc` and `reference/div.h`; the per-element arithmetic is described in
//! `kernels::reference::quant_binary`.

use super::quantize::activation_params;
use super::shape::{check_len, expect_output_dtype, Elem};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::TensorBuf;
use crate::ir::{Activation, DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::common::{activation_range_int, broadcast_shapes};
use crate::kernels::fixed_point::{
    calculate_activation_range_quantized, effective_scale_mul, quantize_multiplier, AddRescale,
};
use crate::kernels::reference::elementwise::{binary, binary_f32, Arith, BinOp, Layout};
use crate::kernels::reference::quant_binary::{
    constant_table, QByte, QuantArith, QuantBinary, QuantPath,
};

/// Fused activation range, in the widest form; narrowed per type at prepare.
#[derive(Clone, Copy, Debug)]
enum Range {
    F32(f32, f32),
    I32(i32, i32),
    I64(i64, i64),
}

struct BinaryKernel {
    op: BinOp,
    layout: Layout,
    range: Range,
    len_a: usize,
    len_b: usize,
    len_out: usize,
    /// Build the float loops for AVX2 (the CPU has it).
    avx2: bool,
}

/// Both inputs and the output as typed slices.
type Slices<'a, 'o, T> = (&'a [T], &'a [T], &'o mut [T]);

impl BinaryKernel {
    /// The typed slices of both inputs and the output, checked against the layout.
    fn slices<'a, 'o, T: Elem>(
        &self,
        a: &View<'a>,
        b: &View<'a>,
        out: &'o mut ViewMut<'_>,
    ) -> Result<Slices<'a, 'o, T>, KernelError> {
        let a = T::slice(a)?;
        let b = T::slice(b)?;
        let out = T::slice_mut(out)?;
        check_len("input 0", a.len(), self.len_a)?;
        check_len("input 1", b.len(), self.len_b)?;
        check_len("output", out.len(), self.len_out)?;
        Ok((a, b, out))
    }

    fn run_typed<T: Arith + Elem>(
        &self,
        a: &View<'_>,
        b: &View<'_>,
        out: &mut ViewMut<'_>,
        lo: T,
        hi: T,
    ) -> Result<(), KernelError> {
        let (a, b, out) = self.slices::<T>(a, b, out)?;
        binary(self.op, &self.layout, a, b, out, lo, hi)
    }
}

impl Kernel for BinaryKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(out)) = (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        match self.range {
            Range::F32(lo, hi) => {
                let (a, b, out) = self.slices::<f32>(a, b, out)?;
                binary_f32(self.op, &self.layout, a, b, out, (lo, hi), self.avx2)
            }
            Range::I32(lo, hi) => self.run_typed::<i32>(a, b, out, lo, hi),
            Range::I64(lo, hi) => self.run_typed::<i64>(a, b, out, lo, hi),
        }
    }
}

// ---------------------------------------------------------------------------------
// int8 / uint8

struct QuantBinaryKernel {
    params: QuantBinary,
    len_a: usize,
    len_b: usize,
    len_out: usize,
}

impl QuantBinaryKernel {
    fn run_typed<T: Elem + QByte>(
        &self,
        a: &View<'_>,
        b: &View<'_>,
        out: &mut ViewMut<'_>,
    ) -> Result<(), KernelError> {
        let a = <T as Elem>::slice(a)?;
        let b = <T as Elem>::slice(b)?;
        let out = <T as Elem>::slice_mut(out)?;
        check_len("input 0", a.len(), self.len_a)?;
        check_len("input 1", b.len(), self.len_b)?;
        check_len("output", out.len(), self.len_out)?;
        self.params.run(a, b, out)
    }
}

impl Kernel for QuantBinaryKernel {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(a), Some(b), Some(out)) = (inputs.first(), inputs.get(1), outputs.first_mut())
        else {
            kbail!("missing input or output");
        };
        // A wrong type is reported by `run_typed`'s typed access.
        if matches!(out, ViewMut::I8(_)) {
            self.run_typed::<i8>(a, b, out)
        } else {
            self.run_typed::<u8>(a, b, out)
        }
    }
}

/// The AVX2 rows when the CPU has them and the constants fit the lanes.
fn quant_path(ctx: &PrepareCtx<'_>, arith: &QuantArith) -> QuantPath {
    #[cfg(target_arch = "x86_64")]
    if ctx.cpu.avx2() {
        if let Some(vec) = crate::kernels::x86::quant_binary::VecArith::new(arith) {
            return QuantPath::Avx2(vec);
        }
    }
    let _ = (ctx, arith);
    QuantPath::Reference
}

fn prepare_quantized(
    ctx: &PrepareCtx<'_>,
    op: BinOp,
    act: Activation,
    dtype: DType,
) -> Result<QuantBinaryKernel, KernelError> {
    let name = ctx.op.op.name();
    let (s1, z1) = activation_params(ctx.input(0)?.quantization.as_ref(), dtype, "input 0")?;
    let (s2, z2) = activation_params(ctx.input(1)?.quantization.as_ref(), dtype, "input 1")?;
    let (so, zo) = activation_params(ctx.output(0)?.quantization.as_ref(), dtype, "the output")?;
    let (lo, hi) = calculate_activation_range_quantized(act, so, zo, dtype)?;
    let arith = match op {
        BinOp::Add | BinOp::Sub => {
            // add.cc / sub.cc: a left shift of 20 for 8-bit types. SUB would switch to a
            // "greater than one" output multiplier when 2·max(s1, s2) > 2^20·s_out,
            // which the smaller-than-one rescale then cannot apply (undefined in the
            // C++); both refuse that here.
            let rescale = AddRescale::new(s1, s2, so, 20)?;
            QuantArith::AddSub {
                negate_second: op == BinOp::Sub,
                rescale,
                input1_zero_point: z1,
                input2_zero_point: z2,
                output_zero_point: zo,
            }
        }
        BinOp::Mul => {
            let (multiplier, shift) = quantize_multiplier(effective_scale_mul(s1, s2, so))?;
            QuantArith::Mul {
                multiplier,
                shift,
                input1_zero_point: z1,
                input2_zero_point: z2,
                output_zero_point: zo,
            }
        }
        BinOp::Div => {
            // `s1 / (s2 * s_out)` in float, as div.cc computes it.
            let real = f64::from(s1 / (s2 * so));
            let (multiplier, shift) = quantize_multiplier(real)?;
            // The headroom of an 8-bit numerator is at least 22; a larger shift would
            // give the reference's rescale a negative exponent (undefined there).
            if shift > 22 {
                kbail!("{name} output multiplier {real} is too large");
            }
            QuantArith::Div {
                multiplier,
                shift,
                input1_zero_point: z1,
                input2_zero_point: z2,
                output_zero_point: zo,
            }
        }
    };
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    let out_shape = broadcast_shapes(&a.shape, &b.shape)?;
    let layout = Layout::new(&a.shape, &b.shape, &out_shape);
    // A DIV keeps its run-time divisor check, so no table for it.
    let fixed = match layout {
        Layout::ScalarA => a.constant.as_deref().map(|c| (c, false)),
        Layout::ScalarB => b.constant.as_deref().map(|c| (c, true)),
        _ => None,
    };
    let table = match (fixed, &arith) {
        (_, QuantArith::Div { .. }) => None,
        (Some((TensorBuf::I8(v), vary_first)), _) => v
            .first()
            .map(|&c| constant_table(&arith, c, vary_first, lo, hi)),
        (Some((TensorBuf::U8(v), vary_first)), _) => v
            .first()
            .map(|&c| constant_table(&arith, c, vary_first, lo, hi)),
        _ => None,
    };
    Ok(QuantBinaryKernel {
        params: QuantBinary {
            arith,
            layout,
            lo,
            hi,
            path: quant_path(ctx, &arith),
            table,
            lut_avx2: ctx.cpu.avx2(),
        },
        len_a: a.num_elements(),
        len_b: b.num_elements(),
        len_out: super::shape::checked_elements(&out_shape)?,
    })
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let (op, act) = match ctx.op.op {
        Op::Add { activation } => (BinOp::Add, activation),
        Op::Sub { activation } => (BinOp::Sub, activation),
        Op::Mul { activation } => (BinOp::Mul, activation),
        Op::Div { activation } => (BinOp::Div, activation),
        ref other => kbail!("{} is not a binary elementwise op", other.name()),
    };
    let name = ctx.op.op.name();
    let a = ctx.input(0)?;
    let b = ctx.input(1)?;
    if a.dtype != b.dtype {
        kbail!("inputs have different types: {} and {}", a.dtype, b.dtype);
    }
    let dtype = a.dtype;
    expect_output_dtype(ctx, 0, dtype)?;
    if matches!(dtype, DType::I8 | DType::U8) {
        let kernel = prepare_quantized(ctx, op, act, dtype)?;
        let out_shape = broadcast_shapes(&a.shape, &b.shape)?;
        return Ok(Prepared::new(vec![out_shape], kernel));
    }
    let range = match (dtype, op) {
        (DType::F32, _) => {
            let (lo, hi) = crate::kernels::common::activation_range_f32(act)?;
            Range::F32(lo, hi)
        }
        (DType::I32, _) => {
            let (lo, hi) = activation_range_int(act, i32::MIN as i64, i32::MAX as i64)?;
            Range::I32(lo as i32, hi as i32)
        }
        (DType::I64, BinOp::Add | BinOp::Sub | BinOp::Mul) => {
            let (lo, hi) = activation_range_int(act, i64::MIN, i64::MAX)?;
            Range::I64(lo, hi)
        }
        (other, _) => kbail!("{name} of {other} tensors is not supported"),
    };
    let out_shape = broadcast_shapes(&a.shape, &b.shape)?;
    let len_out = super::shape::checked_elements(&out_shape)?;
    let layout = Layout::new(&a.shape, &b.shape, &out_shape);
    Ok(Prepared::new(
        vec![out_shape],
        BinaryKernel {
            op,
            layout,
            range,
            len_a: a.num_elements(),
            len_b: b.num_elements(),
            len_out,
            avx2: ctx.cpu.fma(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{Activation, DType, Graph, Model, Op, Operator, Tensor};

    /// Runs `a op b` with both as model inputs.
    fn binary(op: Op, a: Value, b: Value) -> Result<Value, String> {
        let dtype = a.dtype();
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("a", dtype, a.shape.clone()),
                Tensor::activation("b", b.dtype(), b.shape.clone()),
                Tensor::activation("y", dtype, vec![]),
            ],
            inputs: vec![0, 1],
            outputs: vec![2],
            operators: vec![Operator::new(op, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp.run(&[a, b]).map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    fn f(shape: Vec<usize>, v: Vec<f32>) -> Value {
        Value::new(shape, TensorBuf::F32(v))
    }

    fn i(shape: Vec<usize>, v: Vec<i32>) -> Value {
        Value::new(shape, TensorBuf::I32(v))
    }

    const NONE: Activation = Activation::None;

    #[test]
    fn broadcast_2x1x3_plus_4x1() {
        // a[i][0][k] = 10i + k (i<2, k<3); b[j][0] = 100j (j<4).
        // y[i][j][k] = 10i + k + 100j, shape [2,4,3].
        let a = f(vec![2, 1, 3], vec![0., 1., 2., 10., 11., 12.]);
        let b = f(vec![4, 1], vec![0., 100., 200., 300.]);
        let y = binary(Op::Add { activation: NONE }, a.clone(), b.clone()).unwrap();
        assert_eq!(y.shape, vec![2, 4, 3]);
        let mut want = Vec::new();
        for i in 0..2 {
            for j in 0..4 {
                for k in 0..3 {
                    want.push((10 * i + k + 100 * j) as f32);
                }
            }
        }
        assert_eq!(y.data, TensorBuf::F32(want.clone()));
        // Swapped operands of SUB: b - a = 100j - 10i - k.
        let y = binary(Op::Sub { activation: NONE }, b, a).unwrap();
        let neg: Vec<f32> = (0..2)
            .flat_map(|i| {
                (0..4).flat_map(move |j| (0..3).map(move |k| (100 * j - 10 * i - k) as f32))
            })
            .collect();
        assert_eq!(y.data, TensorBuf::F32(neg));
    }

    /// Every pairing of a few shapes against a naive per-element broadcast.
    #[test]
    fn broadcast_matches_naive_indexing() {
        let shapes: [&[usize]; 7] = [
            &[],
            &[1],
            &[3],
            &[2, 1],
            &[2, 3],
            &[1, 2, 1, 3],
            &[4, 1, 1, 3],
        ];
        for a_shape in shapes {
            for b_shape in shapes {
                let rank = a_shape.len().max(b_shape.len());
                let pad = |s: &[usize]| {
                    let mut p = vec![1; rank - s.len()];
                    p.extend_from_slice(s);
                    p
                };
                let (pa, pb) = (pad(a_shape), pad(b_shape));
                if pa
                    .iter()
                    .zip(&pb)
                    .any(|(&x, &y)| x != y && x != 1 && y != 1)
                {
                    continue;
                }
                let out: Vec<usize> = pa.iter().zip(&pb).map(|(&x, &y)| x.max(y)).collect();
                let na: usize = a_shape.iter().product();
                let nb: usize = b_shape.iter().product();
                let av: Vec<f32> = (0..na).map(|v| v as f32).collect();
                let bv: Vec<f32> = (0..nb).map(|v| 1000.0 * v as f32).collect();
                // Naive: decompose each output index and re-flatten into each input.
                let n: usize = out.iter().product();
                let flat = |idx: &[usize], shape: &[usize]| {
                    idx.iter()
                        .zip(shape)
                        .fold(0, |acc, (&i, &d)| acc * d + if d == 1 { 0 } else { i })
                };
                let mut want = Vec::with_capacity(n);
                for k in 0..n {
                    let mut idx = vec![0; rank];
                    let mut r = k;
                    for d in (0..rank).rev() {
                        idx[d] = r % out[d];
                        r /= out[d];
                    }
                    want.push(av[flat(&idx, &pa)] + bv[flat(&idx, &pb)]);
                }
                let y = binary(
                    Op::Add { activation: NONE },
                    f(a_shape.to_vec(), av),
                    f(b_shape.to_vec(), bv),
                )
                .unwrap();
                assert_eq!(y.shape, out, "{a_shape:?} + {b_shape:?}");
                assert_eq!(y.data, TensorBuf::F32(want), "{a_shape:?} + {b_shape:?}");
            }
        }
    }

    #[test]
    fn fast_paths_scalar_and_last_dim() {
        let a = f(vec![2, 3], vec![1., 2., 3., 4., 5., 6.]);
        // Scalar on the right, then on the left.
        let y = binary(Op::Mul { activation: NONE }, a.clone(), f(vec![], vec![2.])).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![2., 4., 6., 8., 10., 12.]));
        let y = binary(
            Op::Div { activation: NONE },
            f(vec![1], vec![12.]),
            a.clone(),
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 3]);
        assert_eq!(y.data, TensorBuf::F32(vec![12., 6., 4., 3., 2.4, 2.]));
        // Bias-like [3] along the last dim.
        let y = binary(
            Op::Add { activation: NONE },
            a.clone(),
            f(vec![3], vec![10., 20., 30.]),
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![11., 22., 33., 14., 25., 36.]));
        // Per-row [2,1].
        let y = binary(Op::Sub { activation: NONE }, a, f(vec![2, 1], vec![1., 4.])).unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![0., 1., 2., 0., 1., 2.]));
        assert!(binary(
            Op::Add { activation: NONE },
            f(vec![2, 3], vec![0.; 6]),
            f(vec![2], vec![0.; 2])
        )
        .is_err());
    }

    #[test]
    fn fused_activations_float() {
        let a = f(vec![4], vec![-3., -0.5, 0.5, 7.]);
        let z = f(vec![4], vec![0.; 4]);
        let run = |act| match binary(Op::Add { activation: act }, a.clone(), z.clone())
            .unwrap()
            .data
        {
            TensorBuf::F32(v) => v,
            _ => unreachable!(),
        };
        assert_eq!(run(Activation::Relu), vec![0., 0., 0.5, 7.]);
        assert_eq!(run(Activation::Relu6), vec![0., 0., 0.5, 6.]);
        assert_eq!(run(Activation::ReluN1To1), vec![-1., -0.5, 0.5, 1.]);
        assert!(binary(
            Op::Add {
                activation: Activation::Tanh
            },
            a.clone(),
            z.clone()
        )
        .is_err());
        // Without activation TFLite saturates infinities to the finite range.
        let y = binary(
            Op::Div { activation: NONE },
            f(vec![2], vec![1., -1.]),
            f(vec![2], vec![0., 0.]),
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::F32(vec![f32::MAX, f32::MIN]));
    }

    #[test]
    fn int32_arithmetic_clamps_and_division() {
        let a = i(vec![4], vec![-7, 7, 9, -9]);
        let b = i(vec![4], vec![2, 2, -4, -4]);
        // C++ integer division truncates toward zero.
        let y = binary(Op::Div { activation: NONE }, a.clone(), b.clone()).unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![-3, 3, -2, 2]));
        let y = binary(
            Op::Mul {
                activation: Activation::Relu6,
            },
            a.clone(),
            b.clone(),
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![0, 6, 0, 6]));
        let y = binary(
            Op::Sub {
                activation: Activation::Relu,
            },
            a.clone(),
            b,
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![0, 5, 13, 0]));
        let err = binary(
            Op::Div { activation: NONE },
            a,
            i(vec![4], vec![1, 0, 1, 1]),
        )
        .unwrap_err();
        assert!(err.contains("division by zero"), "{err}");
    }

    #[test]
    fn int64_add_and_no_int64_div() {
        let a = Value::new(vec![2], TensorBuf::I64(vec![1 << 40, -5]));
        let b = Value::new(vec![1], TensorBuf::I64(vec![3]));
        let y = binary(Op::Add { activation: NONE }, a.clone(), b.clone()).unwrap();
        assert_eq!(y.data, TensorBuf::I64(vec![(1 << 40) + 3, -2]));
        let err = binary(Op::Div { activation: NONE }, a, b).unwrap_err();
        assert!(err.contains("int64"), "{err}");
        // Mixed types are refused.
        assert!(binary(
            Op::Add { activation: NONE },
            f(vec![1], vec![1.]),
            i(vec![1], vec![1])
        )
        .is_err());
        let _ = DType::I64;
    }

    /// Runs quantized `a op b`; each tuple is (values, shape, scale, zero point).
    fn binary_q(
        op: Op,
        a: (TensorBuf, Vec<usize>, f32, i64),
        b: (TensorBuf, Vec<usize>, f32, i64),
        out: (f32, i64),
    ) -> Result<Value, String> {
        use crate::ir::Quantization;
        let dtype = a.0.dtype();
        let mut ta = Tensor::activation("a", dtype, a.1.clone());
        ta.quantization = Some(Quantization::per_tensor(a.2, a.3));
        let mut tb = Tensor::activation("b", dtype, b.1.clone());
        tb.quantization = Some(Quantization::per_tensor(b.2, b.3));
        let mut ty = Tensor::activation("y", dtype, vec![]);
        ty.quantization = Some(Quantization::per_tensor(out.0, out.1));
        let graph = Graph {
            name: None,
            tensors: vec![ta, tb, ty],
            inputs: vec![0, 1],
            outputs: vec![2],
            operators: vec![Operator::new(op, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut y = interp
            .run(&[Value::new(a.1, a.0), Value::new(b.1, b.0)])
            .map_err(|e| e.to_string())?;
        Ok(y.remove(0))
    }

    fn q8(v: &[i8]) -> TensorBuf {
        TensorBuf::I8(v.to_vec())
    }

    // ADD/SUB with in1 (0.5, 0), in2 (0.25, 10), out (1.0, -5):
    // twice_max = 1.0; m1 = 0.5 → (2^30, 0); m2 = 0.25 → (2^30, -1);
    // m_out = 1/2^20 → (2^30, -19). Every step is then exact except the last:
    // scaled1 = x·2^19, scaled2 = (y - 10)·2^18, and the output is
    // round_half_away((2x ± (y - 10)) / 4) - 5.
    const XS: [i8; 9] = [1, 1, 3, -3, -1, 1, -1, 127, -128];
    const YS: [i8; 9] = [11, 9, 8, 12, 8, 10, 10, 127, -128];

    #[test]
    fn add_int8_rescales_both_inputs() {
        // k = 2x + y - 10: 3, 1, 4, -4, -4, 2, -2, 371, -394;
        // k/4 rounded: 1, 0, 1, -1, -1, 1 (0.5), -1 (-0.5), 93, -99 (-98.5).
        let y = binary_q(
            Op::Add { activation: NONE },
            (q8(&XS), vec![9], 0.5, 0),
            (q8(&YS), vec![9], 0.25, 10),
            (1.0, -5),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[-4, -5, -4, -6, -6, -4, -6, 88, -104]));
        // Fused RELU: lower bound max(-128, -5 + round(0/1)) = -5.
        let y = binary_q(
            Op::Add {
                activation: Activation::Relu,
            },
            (q8(&XS), vec![9], 0.5, 0),
            (q8(&YS), vec![9], 0.25, 10),
            (1.0, -5),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[-4, -5, -4, -5, -5, -4, -5, 88, -5]));
    }

    #[test]
    fn sub_int8_negates_the_second_rescaled_input() {
        // k = 2x - (y - 10): 1, 3, 8, -8, 0, 2, -2, 137, -118;
        // k/4 rounded: 0, 1 (0.75), 2, -2, 0, 1, -1, 34 (34.25), -30 (-29.5).
        let y = binary_q(
            Op::Sub { activation: NONE },
            (q8(&XS), vec![9], 0.5, 0),
            (q8(&YS), vec![9], 0.25, 10),
            (1.0, -5),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[-5, -4, -3, -7, -5, -4, -6, 29, -35]));
    }

    #[test]
    fn mul_int8_one_float_multiplier() {
        // 0.5f·0.25f/0.375f = 1/3 in float = 0.33333334 = 0.6666667·2^-1 →
        // m = 1431655808, shift -1: MBQM(p) = RDBP(SRDHM(p, m), 1).
        //   p = 6 → SRDHM 4 (4.5000001 - nudge truncation) → 2
        //   p = 3 → 2 → 1;  p = 4 → 3 → 2;  p = -4 → -3 → -2;  p = 50 → 33 → 17
        // plus the output zero point 3.
        let y = binary_q(
            Op::Mul { activation: NONE },
            (q8(&[3, 3, 2, -2, -5]), vec![5], 0.5, 0),
            (q8(&[12, 11, 12, 12, 0]), vec![5], 0.25, 10),
            (0.375, 3),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[5, 4, 5, 1, 20]));
        // Output scale 0.125: multiplier exactly 1, so p + 3 saturating.
        let y = binary_q(
            Op::Mul { activation: NONE },
            (q8(&[100, -100]), vec![2], 0.5, 0),
            (q8(&[20, 20]), vec![2], 0.25, 10),
            (0.125, 3),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[127, -128]));
    }

    #[test]
    fn quantized_broadcasting_uint8() {
        // uint8 ADD, a [2,3] + b [3], all scales 1 and zero points 128: twice_max = 2,
        // m1 = m2 = 0.5 → (2^30, 0), m_out = 2/2^20 → (2^30, -18): exact, so the result
        // is (a - 128) + (b - 128) + 128 clamped.
        let a = TensorBuf::U8(vec![128, 130, 140, 100, 200, 250]);
        let b = TensorBuf::U8(vec![129, 128, 120]);
        let y = binary_q(
            Op::Add { activation: NONE },
            (a.clone(), vec![2, 3], 1.0, 128),
            (b.clone(), vec![3], 1.0, 128),
            (1.0, 128),
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 3]);
        assert_eq!(y.data, TensorBuf::U8(vec![129, 130, 132, 101, 200, 242]));
        // Operands swapped for SUB: b - a broadcast along rows.
        let y = binary_q(
            Op::Sub { activation: NONE },
            (b, vec![3], 1.0, 128),
            (a, vec![2, 3], 1.0, 128),
            (1.0, 128),
        )
        .unwrap();
        assert_eq!(y.data, TensorBuf::U8(vec![129, 126, 108, 157, 56, 0]));
        // int8 MUL by a scalar, [2,1] * [] with multiplier 1.
        let y = binary_q(
            Op::Mul { activation: NONE },
            (q8(&[3, -4]), vec![2, 1], 0.5, 0),
            (q8(&[2]), vec![], 0.25, 0),
            (0.125, 0),
        )
        .unwrap();
        assert_eq!(y.shape, vec![2, 1]);
        assert_eq!(y.data, q8(&[6, -8]));
    }

    #[test]
    fn quantized_refusals() {
        // A divisor equal to its zero point (real 0).
        let e = binary_q(
            Op::Div { activation: NONE },
            (q8(&[1, 2]), vec![2], 1.0, 0),
            (q8(&[3, -2]), vec![2], 1.0, -2),
            (1.0, 0),
        )
        .unwrap_err();
        assert!(e.contains("division by zero"), "{e}");
        // An output scale so small that the ADD output multiplier reaches 1.
        let e = binary_q(
            Op::Add { activation: NONE },
            (q8(&[1]), vec![1], 1.0, 0),
            (q8(&[1]), vec![1], 1.0, 0),
            (1e-9, 0),
        )
        .unwrap_err();
        assert!(e.contains("[0, 1)"), "{e}");
    }

    #[test]
    fn div_int8_through_the_reciprocal() {
        // in1 (1, 3), in2 (1, -2), out (1, 1): multiplier 1/(1·1) = 1. Quotients chosen
        // away from ties, so one unit of error in the fixed-point reciprocal cannot
        // change them: 6/3 = 2, -9/4 = -2.25 → -2, 100/7 = 14.29 → 14, 0/5 = 0,
        // 9/-4 (signs flipped to -9/4) → -2; plus the output zero point 1.
        let y = binary_q(
            Op::Div { activation: NONE },
            (q8(&[9, -6, 103, 3, 12]), vec![5], 1.0, 3),
            (q8(&[1, 2, 5, 3, -6]), vec![5], 1.0, -2),
            (1.0, 1),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[3, -1, 15, 1, -1]));
        // A broadcast divisor, multiplier 0.5 / (0.25 · 1) = 2: 2·v1/v2 for
        // v1 = 30, -30, 6 and v2 = 4 → 15, -15, 3.
        let y = binary_q(
            Op::Div { activation: NONE },
            (q8(&[30, -30, 6]), vec![3], 0.5, 0),
            (q8(&[4]), vec![1], 0.25, 0),
            (1.0, 0),
        )
        .unwrap();
        assert_eq!(y.data, q8(&[15, -15, 3]));
    }
}
