//! Standalone activations: RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, LOGISTIC, TANH,
//! HARD_SWISH. The functions and the 8-bit tables are in
//! `kernels::reference::activation`; this file checks types and shapes, fixes every
//! constant at prepare (int8/uint8: the byte table of all 256 inputs) and hands slices
//! to the loops.

use super::quantize::activation_params;
use super::shape::{check_len, expect_output_dtype, f32_in_out};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::{quantize_multiplier, quantized_range};
use crate::kernels::reference::activation::{
    activation_f32, byte_table, float_lut_table, leaky_relu_table, lookup, relu_bound, relu_table,
    ActivationKind, HardSwish8,
};

struct FloatActivation {
    kind: ActivationKind,
    len: usize,
    /// Build the loop for AVX2 (the CPU has it).
    avx2: bool,
}

impl Kernel for FloatActivation {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (x, y) = f32_in_out(inputs, outputs, self.len)?;
        activation_f32(self.kind, x, y, self.avx2);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------
// int8 / uint8

/// A quantized activation as a table from input byte to output byte (int8 values
/// stored as their two's-complement bytes).
struct ByteTable {
    table: [u8; 256],
    len: usize,
    /// Look up 32 bytes per step with AVX2 (detected at prepare).
    avx2: bool,
}

impl Kernel for ByteTable {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        match (x, y) {
            (View::I8(x), ViewMut::I8(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                lookup(&self.table, x, y, self.avx2);
            }
            (View::U8(x), ViewMut::U8(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                lookup(&self.table, x, y, self.avx2);
            }
            (x, y) => kbail!(
                "unexpected {} input / {} output",
                x.type_name(),
                y.type_name()
            ),
        }
        Ok(())
    }
}

fn prepare_quantized(ctx: &PrepareCtx<'_>, kind: ActivationKind) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let dtype = input.dtype;
    let (in_scale, in_zp) = activation_params(input.quantization.as_ref(), dtype, "the input")?;
    let (out_scale, out_zp) = activation_params(output.quantization.as_ref(), dtype, "the output")?;
    let (qmin, qmax) = quantized_range(dtype)?;
    let table = match kind {
        ActivationKind::Relu
        | ActivationKind::Relu6
        | ActivationKind::ReluN1To1
        | ActivationKind::Relu0To1 => {
            // ReluPrepare: `double real_multiplier = in_s / out_s` with a float quotient.
            let (m, shift) = quantize_multiplier(f64::from(in_scale / out_scale))?;
            let (bottom, top) = match kind {
                ActivationKind::Relu6 => (0.0, Some(6.0)),
                ActivationKind::ReluN1To1 => (-1.0, Some(1.0)),
                ActivationKind::Relu0To1 => (0.0, Some(1.0)),
                _ => (0.0, None),
            };
            let lo = relu_bound(bottom, out_scale, out_zp).max(i64::from(qmin));
            let hi = match top {
                Some(top) => relu_bound(top, out_scale, out_zp).min(i64::from(qmax)),
                None => i64::from(qmax),
            };
            if lo > hi {
                kbail!("empty activation range [{lo}, {hi}]");
            }
            // Both within [qmin, qmax] now.
            let (lo, hi) = (lo as i32, hi as i32);
            relu_table(dtype, in_zp, (m, shift), out_zp, (lo, hi))
        }
        ActivationKind::LeakyRelu(alpha) => {
            // Both products and quotients in float, then widened.
            let (alpha_m, alpha_shift) =
                quantize_multiplier(f64::from(in_scale * alpha / out_scale))?;
            let (id_m, id_shift) = quantize_multiplier(f64::from(in_scale / out_scale))?;
            leaky_relu_table(
                dtype,
                in_zp,
                out_zp,
                (id_m, id_shift),
                (alpha_m, alpha_shift),
                (qmin, qmax),
            )
        }
        ActivationKind::Logistic | ActivationKind::Tanh => {
            let transform: fn(f32) -> f32 = if kind == ActivationKind::Logistic {
                // SigmoidPrepare compares the float scale, widened, with 1./256.
                if f64::from(out_scale) != 1.0 / 256.0 {
                    kbail!("quantized LOGISTIC needs an output scale of 1/256, not {out_scale}");
                }
                crate::kernels::fixed_point::logistic_f32
            } else {
                crate::kernels::fixed_point::tanh_f32
            };
            float_lut_table(dtype, (in_scale, in_zp), (out_scale, out_zp), transform)
        }
        ActivationKind::HardSwish => {
            let params = HardSwish8::new(in_scale, in_zp, out_scale, out_zp)?;
            byte_table(dtype, |q| params.apply(q, qmin, qmax))
        }
    };
    Ok(Prepared::new(
        vec![input.shape.clone()],
        ByteTable {
            table,
            len: input.num_elements(),
            avx2: ctx.cpu.avx2(),
        },
    ))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let kind = match &ctx.op.op {
        Op::Relu => ActivationKind::Relu,
        Op::Relu6 => ActivationKind::Relu6,
        Op::ReluN1To1 => ActivationKind::ReluN1To1,
        Op::Relu0To1 => ActivationKind::Relu0To1,
        Op::LeakyRelu { alpha } => ActivationKind::LeakyRelu(*alpha),
        Op::Logistic => ActivationKind::Logistic,
        Op::Tanh => ActivationKind::Tanh,
        Op::HardSwish => ActivationKind::HardSwish,
        other => kbail!("{} is not an activation", other.name()),
    };
    let input = ctx.input(0)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    match input.dtype {
        DType::F32 => Ok(Prepared::new(
            vec![input.shape.clone()],
            FloatActivation {
                kind,
                len: input.num_elements(),
                avx2: ctx.cpu.fma(),
            },
        )),
        DType::I8 | DType::U8 => prepare_quantized(ctx, kind),
        other => kbail!("{} on {other} tensors is not supported", ctx.op.op.name()),
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn act(op: Op, x: &[f32]) -> Vec<f32> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, vec![x.len()]),
                Tensor::activation("y", DType::F32, vec![x.len()]),
            ],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(op, vec![0], vec![1])],
        };
        let mut interp = Interpreter::new(Model::with_default_signature(graph)).unwrap();
        let out = interp
            .run(&[Value::new(vec![x.len()], TensorBuf::F32(x.to_vec()))])
            .unwrap();
        match &out[0].data {
            TensorBuf::F32(v) => v.clone(),
            other => panic!("{other:?}"),
        }
    }

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn relu_family() {
        let x = [-7.0, -0.5, 0.0, 0.5, 6.5];
        assert_eq!(act(Op::Relu, &x), vec![0.0, 0.0, 0.0, 0.5, 6.5]);
        assert_eq!(act(Op::Relu6, &x), vec![0.0, 0.0, 0.0, 0.5, 6.0]);
        assert_eq!(
            act(Op::LeakyRelu { alpha: 0.2 }, &x),
            vec![-1.4, -0.1, 0.0, 0.5, 6.5]
        );
        assert_eq!(act(Op::ReluN1To1, &x), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert!(act(Op::ReluN1To1, &[f32::NAN])[0].is_nan());
        assert_eq!(act(Op::Relu0To1, &x), vec![0.0, 0.0, 0.0, 0.5, 1.0]);
        assert!(act(Op::Relu0To1, &[f32::NAN])[0].is_nan());
    }

    #[test]
    fn relu_n1_to_1_int8_clamps_at_plus_minus_one() {
        // in (0.25, 0) → out (0.125, -8): ratio 2 → MBQM(x) = 2x, out = 2q - 8 clamped to
        // [-8 + roundf(-1/0.125), -8 + roundf(1/0.125)] = [-16, 0].
        let y = act_q(
            Op::ReluN1To1,
            i8s(&[-128, -5, -4, 1, 4, 5, 127]),
            (0.25, 0),
            (0.125, -8),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-16, -16, -16, -6, 0, 0, 0]));
    }

    #[test]
    fn logistic_is_safe_for_large_inputs() {
        // σ(0) = 0.5, σ(ln 3) = 0.75, σ(-ln 3) = 0.25; far tails saturate without NaN.
        let ln3 = 3f32.ln();
        let y = act(Op::Logistic, &[0.0, ln3, -ln3, 100.0, -100.0, -1e30]);
        close(&y[..3], &[0.5, 0.75, 0.25], 1e-6);
        assert_eq!(y[3], 1.0);
        assert!(y[4] >= 0.0 && y[4] < 1e-40);
        assert_eq!(y[5], 0.0);
    }

    #[test]
    fn tanh_and_hard_swish() {
        // tanh(ln 2) = (4-1)/(4+1) = 0.6.
        let y = act(Op::Tanh, &[0.0, 2f32.ln(), -2f32.ln(), 50.0]);
        close(&y, &[0.0, 0.6, -0.6, 1.0], 1e-6);
        // x·relu6(x+3)/6: -4 → 0, -1 → -1·2/6, 1 → 4/6, 4 → 4.
        let y = act(Op::HardSwish, &[-4.0, -1.0, 1.0, 4.0]);
        close(&y, &[0.0, -1.0 / 3.0, 2.0 / 3.0, 4.0], 1e-6);
    }

    /// Runs `op` on an 8-bit tensor quantized `(in_s, in_zp)` into `(out_s, out_zp)`.
    fn act_q(op: Op, x: TensorBuf, inq: (f32, i64), outq: (f32, i64)) -> Result<TensorBuf, String> {
        use crate::ir::Quantization;
        let n = x.len();
        let dtype = x.dtype();
        let mut tx = Tensor::activation("x", dtype, vec![n]);
        tx.quantization = Some(Quantization::per_tensor(inq.0, inq.1));
        let mut ty = Tensor::activation("y", dtype, vec![n]);
        ty.quantization = Some(Quantization::per_tensor(outq.0, outq.1));
        let graph = Graph {
            name: None,
            tensors: vec![tx, ty],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(op, vec![0], vec![1])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(vec![n], x)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0).data)
    }

    fn i8s(v: &[i8]) -> TensorBuf {
        TensorBuf::I8(v.to_vec())
    }

    #[test]
    fn relu_int8_requantizes_then_clamps_at_the_output_zero_point() {
        // in (0.5, -10) → out (0.25, -128): ratio 2 = 0.5·2^2 → (2^30, 2), MBQM(x) = 2x.
        // out = clamp(-128 + 2(q + 10), max(-128, -128 + 0), 127).
        let y = act_q(
            Op::Relu,
            i8s(&[-10, -20, 0, 50, 127]),
            (0.5, -10),
            (0.25, -128),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-128, -128, -108, -8, 127]));
        // RELU6 into (0.05, -128): 0.5f/0.05f rounds to 10.0f = 0.625·2^4 →
        // (1342177280, 4), MBQM(x) = SRDHM(16x, 0.625·2^31) = 10x. Upper bound
        // -128 + roundf(6/0.05f) = -128 + 120 = -8.
        let y = act_q(
            Op::Relu6,
            i8s(&[-10, -5, 0, 1, 2, 3, 127]),
            (0.5, -10),
            (0.05, -128),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-128, -78, -28, -18, -8, -8, -8]));
    }

    #[test]
    fn relu_uint8_identity_params() {
        // Ratio 1: identity; lower bound is the zero point 100.
        let y = act_q(
            Op::Relu,
            TensorBuf::U8(vec![0, 50, 100, 150, 255]),
            (1.0, 100),
            (1.0, 100),
        )
        .unwrap();
        assert_eq!(y, TensorBuf::U8(vec![100, 100, 100, 150, 255]));
    }

    #[test]
    fn leaky_relu_int8_two_multipliers() {
        // Identity branch ratio 1; alpha branch 0.25 = 0.5·2^-1 → (2^30, -1):
        // MBQM(x) = RDBP(SRDHM(x, 2^30), 1), i.e. x/2 rounded half up, then halved
        // rounding half away from zero:
        //   -5 → SRDHM -2 (-2.5 up) → RDBP(-2,1) = -1
        //   -6 → -3 → -2 (-1.5 away from zero)
        //   -2 → -1 → -1;  -1 → 0 (-0.5 up) → 0;  -128 → -64 → -32
        let y = act_q(
            Op::LeakyRelu { alpha: 0.25 },
            i8s(&[-5, -6, -2, -1, -128, 0, 7, 127]),
            (1.0, 0),
            (1.0, 0),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-1, -2, -1, 0, -32, 0, 7, 127]));
        // Zero points: input zp 10 so q = 6 is -4 → -1; output zp -3.
        let y = act_q(
            Op::LeakyRelu { alpha: 0.25 },
            i8s(&[6, 10, 20]),
            (1.0, 10),
            (1.0, -3),
        )
        .unwrap();
        assert_eq!(y, i8s(&[-4, -3, 7]));
    }

    #[test]
    fn leaky_relu_negative_alpha_negates_the_scaled_magnitude() {
        // alpha -0.5: frexp(-0.5) = -0.5·2^0 → m = -2^30. The reference multiplies by
        // |m| and negates: -5 → -SRDHM(-5, 2^30) = -(-2) = 2 (SRDHM(-5, -2^30) would
        // give 3); -3 → -(-1) = 1; -128 → 64.
        let y = act_q(
            Op::LeakyRelu { alpha: -0.5 },
            i8s(&[-5, -3, -128, 4]),
            (1.0, 0),
            (1.0, 0),
        )
        .unwrap();
        assert_eq!(y, i8s(&[2, 1, 64, 4]));
    }

    #[test]
    fn logistic_and_tanh_use_the_float_table() {
        // in 1/16, out (1/256, -128): round(σ(q/16)·256) - 128.
        // σ(0) = .5 → 0; σ(1) = .7310586 → 187.15 → 59; σ(-1) = .2689414 → 68.85 → -59;
        // σ(7.9375)·256 = 255.91 → 256 → clamp 127; σ(-8)·256 = 0.086 → -128.
        let y = act_q(
            Op::Logistic,
            i8s(&[0, 16, -16, 127, -128]),
            (0.0625, 0),
            (1.0 / 256.0, -128),
        )
        .unwrap();
        assert_eq!(y, i8s(&[0, 59, -59, 127, -128]));
        assert!(act_q(Op::Logistic, i8s(&[0]), (0.0625, 0), (1.0 / 255.0, -128)).is_err());
        // uint8 TANH: in (1/32, 128), out (1/128, 128): tanh(1)·128 = 97.48 → 225,
        // tanh(-1) → 31, tanh(3.97)·128 = 127.9 → 256 → 255, tanh(-4)·128 = -127.9 → 0.
        let y = act_q(
            Op::Tanh,
            TensorBuf::U8(vec![128, 160, 96, 255, 0]),
            (1.0 / 32.0, 128),
            (1.0 / 128.0, 128),
        )
        .unwrap();
        assert_eq!(y, TensorBuf::U8(vec![128, 225, 31, 255, 0]));
    }

    #[test]
    fn hard_swish_int8_fixed_point() {
        // in 1/16, out 1/32 (zero points 0). hires scale 2^-11.
        // Output multiplier 2^-11/2^-5 = 2^-6 = 0.5·2^-5 → Q15 16384, exponent -5.
        // Reluish multiplier 2^-11/(3/32768) = 16/3 → 5.3333335f = 0.6667·2^3 →
        // m32 1431655808 → Q15 (m32 + 2^15) >> 16 = 21845, exponent 3.
        // q = 16 (x = 1): hires 2048; preshift out = SRDHM16(2048, 16384) = 1024;
        //   reluish: 2048 << 2 = 8192, SRDHM16(8192, 21845) = 5461 (5461.75 → trunc
        //   after nudge), << 1 = 10922, (10922 + 32768) >> 1 = 21845;
        //   SDHM16(21845, 1024) = 682; RDBP(682, 5) = 21 (x·4/6·32 = 21.33).
        // q = -16: preshift -1024; reluish -8192 → -5461 → -10922 → 10923;
        //   SDHM16(10923, -1024) = -341; RDBP(-341, 5) = -11 (real -10.67).
        // q <= -48 (x <= -3): reluish saturates to -32768 → 0 → output 0.
        // q = 127: x·1 = 7.94 → 254 → clamp 127.
        let y = act_q(
            Op::HardSwish,
            i8s(&[16, -16, -48, -128, 0, 127]),
            (0.0625, 0),
            (1.0 / 32.0, 0),
        )
        .unwrap();
        assert_eq!(y, i8s(&[21, -11, 0, 0, 0, 127]));
    }
}
