//! One-input element-wise math of issue 12: ABS, NEG, SQUARE, SQRT, RSQRT, EXP, LOG,
//! FLOOR, ELU and GELU. The functions and loops are in `kernels::reference::unary`;
//! this file checks types and shapes and fixes every constant at prepare.
//!
//! Float32 applies the function per element (integer ABS and NEG too). The 8-bit types
//! follow LiteRT's kernels, and since each output byte depends only on the input byte,
//! `prepare` evaluates them for all 256 inputs and `run` looks bytes up:
//! * ABS (int8): `|q - in_zp|`, rescaled by `in_s / out_s` when the scales differ.
//! * SQRT (int8): in float, truncated; RSQRT (int8): fixed-point inverse square root.
//!   Inputs below zero are an error at run time, as in LiteRT, so those two tables
//!   also mark which bytes are refused.
//! * EXP, LOG, ELU (int8) and GELU (int8, uint8): LiteRT's float-built table
//!   (`LUTPopulate`); LOG maps inputs <= 0 to the lowest representable output.
//!
//! NEG, SQUARE and FLOOR have no 8-bit kernel in LiteRT (its quantizer wraps them in
//! DEQUANTIZE / QUANTIZE), so neither do they here.

use super::quantize::activation_params;
use super::shape::{check_len, expect_output_dtype, f32_in_out};
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::{quantize_multiplier, quantized_range};
use crate::kernels::reference::unary::{
    self as math, byte_table, lut, AbsQuant, UnaryFunc as Func, UnaryTable,
};

/// The function of a one-input math op.
fn func_of(op: &Op) -> Option<Func> {
    Some(match op {
        Op::Abs => Func::Abs,
        Op::Neg => Func::Neg,
        Op::Square => Func::Square,
        Op::Sqrt => Func::Sqrt,
        Op::Rsqrt => Func::Rsqrt,
        Op::Exp => Func::Exp,
        Op::Log => Func::Log,
        Op::Floor => Func::Floor,
        Op::Elu => Func::Elu,
        Op::Gelu { approximate } => Func::Gelu {
            approximate: *approximate,
        },
        _ => return None,
    })
}

struct FloatUnary {
    f: fn(f32) -> f32,
    len: usize,
}

impl Kernel for FloatUnary {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (x, y) = f32_in_out(inputs, outputs, self.len)?;
        math::map_f32(self.f, x, y);
        Ok(())
    }
}

/// ABS and NEG of plain integers; the C++ overflow at the type's minimum wraps.
struct IntUnary {
    neg: bool,
    len: usize,
}

impl Kernel for IntUnary {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        match (x, y) {
            (View::I32(x), ViewMut::I32(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                math::abs_neg_i32(self.neg, x, y);
            }
            (View::I64(x), ViewMut::I64(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                math::abs_neg_i64(self.neg, x, y);
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

/// An 8-bit op as a byte table, with the bytes LiteRT refuses at run time.
struct ByteTable {
    table: UnaryTable,
    len: usize,
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
                self.table.run_i8(x, y)?;
            }
            (View::U8(x), ViewMut::U8(y)) => {
                check_len("input", x.len(), self.len)?;
                check_len("output", y.len(), self.len)?;
                self.table.run_u8(x, y)?;
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

fn prepare_quantized(ctx: &PrepareCtx<'_>, func: Func) -> Result<Prepared, KernelError> {
    let input = ctx.input(0)?;
    let output = ctx.output(0)?;
    let dtype = input.dtype;
    let name = ctx.op.op.name();
    let supported = match func {
        Func::Gelu { .. } => matches!(dtype, DType::I8 | DType::U8),
        Func::Abs | Func::Sqrt | Func::Rsqrt | Func::Exp | Func::Log | Func::Elu => {
            dtype == DType::I8
        }
        Func::Neg | Func::Square | Func::Floor => false,
    };
    if !supported {
        kbail!("{name} on {dtype} tensors is not supported");
    }
    let (in_s, in_zp) = activation_params(input.quantization.as_ref(), dtype, "the input")?;
    let (out_s, out_zp) = activation_params(output.quantization.as_ref(), dtype, "the output")?;
    let range = quantized_range(dtype)?;
    let (qmin, qmax) = range;
    let full = |table: [u8; 256]| (table, None);
    let (table, refused) = match func {
        Func::Abs => {
            // `in_s / out_s` in float, then widened, as SetAbsOutputMultiplier does.
            let rescale = if in_s == out_s {
                None
            } else {
                Some(quantize_multiplier(f64::from(in_s / out_s))?)
            };
            let abs = AbsQuant {
                input_zero_point: in_zp,
                output_zero_point: out_zp,
                rescale,
            };
            full(byte_table(dtype, |q| Some(abs.apply(q, qmin, qmax))).0)
        }
        Func::Sqrt => {
            let (table, refused) = byte_table(dtype, |q| {
                math::sqrt_quant(q, in_s, in_zp, out_s, out_zp, range)
            });
            (
                table,
                Some((refused, "SQRT is only defined for non-negative values")),
            )
        }
        Func::Rsqrt => {
            // `1. / (sqrtf(in_s) * out_s)`: the product in float, the quotient in double.
            let real = 1.0 / f64::from(in_s.sqrt() * out_s);
            let multiplier = quantize_multiplier(real)?;
            let (table, refused) = byte_table(dtype, |q| {
                math::rsqrt_quant(q, in_zp, multiplier, out_zp, range)
            });
            (
                table,
                Some((refused, "RSQRT is only defined for positive values")),
            )
        }
        Func::Exp => full(lut(dtype, (in_s, in_zp), (out_s, out_zp), f32::exp)),
        Func::Log => {
            // Non-positive inputs go to the lowest output: (qmin - out_zp) · out_s.
            let lowest = (qmin - out_zp) as f32 * out_s;
            let log = move |v: f32| if v <= 0.0 { lowest } else { v.ln() };
            full(lut(dtype, (in_s, in_zp), (out_s, out_zp), log))
        }
        Func::Elu => full(lut(dtype, (in_s, in_zp), (out_s, out_zp), math::elu)),
        Func::Gelu { .. } => full(lut(dtype, (in_s, in_zp), (out_s, out_zp), func.float())),
        Func::Neg | Func::Square | Func::Floor => {
            kbail!("{name} on {dtype} tensors is not supported")
        }
    };
    Ok(Prepared::new(
        vec![input.shape.clone()],
        ByteTable {
            table: UnaryTable { table, refused },
            len: input.num_elements(),
        },
    ))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let Some(func) = func_of(&ctx.op.op) else {
        kbail!("{} is not a one-input math op", ctx.op.op.name());
    };
    let input = ctx.input(0)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    let len = input.num_elements();
    let shape = vec![input.shape.clone()];
    match (input.dtype, func) {
        (DType::F32, _) => Ok(Prepared::new(
            shape,
            FloatUnary {
                f: func.float(),
                len,
            },
        )),
        (DType::I32, Func::Abs | Func::Neg) | (DType::I64, Func::Neg) => Ok(Prepared::new(
            shape,
            IntUnary {
                neg: func == Func::Neg,
                len,
            },
        )),
        (DType::I8 | DType::U8, _) => prepare_quantized(ctx, func),
        (other, _) => kbail!("{} on {other} tensors is not supported", ctx.op.op.name()),
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Quantization, Tensor};

    /// Runs a one-op graph; `q` gives (input, output) quantization for 8-bit types.
    fn run(op: Op, x: Value, q: Option<((f32, i64), (f32, i64))>) -> Result<Value, String> {
        let dtype = x.data.dtype();
        let mut tx = Tensor::activation("x", dtype, x.shape.clone());
        let mut ty = Tensor::activation("y", dtype, vec![]);
        if let Some((i, o)) = q {
            tx.quantization = Some(Quantization::per_tensor(i.0, i.1));
            ty.quantization = Some(Quantization::per_tensor(o.0, o.1));
        }
        let graph = Graph {
            name: None,
            tensors: vec![tx, ty],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(op, vec![0], vec![1])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut y = interp.run(&[x]).map_err(|e| e.to_string())?;
        Ok(y.remove(0))
    }

    fn f(v: &[f32]) -> Value {
        Value::new(vec![v.len()], TensorBuf::F32(v.to_vec()))
    }

    fn floats(v: Value) -> Vec<f32> {
        match v.data {
            TensorBuf::F32(v) => v,
            other => panic!("{other:?}"),
        }
    }

    fn i8s(v: Value) -> Vec<i8> {
        match v.data {
            TensorBuf::I8(v) => v,
            other => panic!("{other:?}"),
        }
    }

    fn q8(v: &[i8]) -> Value {
        Value::new(vec![v.len()], TensorBuf::I8(v.to_vec()))
    }

    #[test]
    fn float_functions_by_hand() {
        let x = [-2.5, -0.5, 0.0, 0.25, 4.0];
        assert_eq!(
            floats(run(Op::Abs, f(&x), None).unwrap()),
            [2.5, 0.5, 0.0, 0.25, 4.0]
        );
        assert_eq!(
            floats(run(Op::Neg, f(&x), None).unwrap()),
            [2.5, 0.5, -0.0, -0.25, -4.0]
        );
        assert_eq!(
            floats(run(Op::Square, f(&x), None).unwrap()),
            [6.25, 0.25, 0.0, 0.0625, 16.0]
        );
        assert_eq!(
            floats(run(Op::Floor, f(&x), None).unwrap()),
            [-3.0, -1.0, 0.0, 0.0, 4.0]
        );
        let y = floats(run(Op::Sqrt, f(&[0.25, 4.0, 2.0, -1.0]), None).unwrap());
        assert_eq!(&y[..2], &[0.5, 2.0]);
        assert!((y[2] - std::f32::consts::SQRT_2).abs() < 1e-7);
        assert!(y[3].is_nan());
        assert_eq!(
            floats(run(Op::Rsqrt, f(&[0.25, 4.0, 0.0]), None).unwrap()),
            [2.0, 0.5, f32::INFINITY]
        );
        let y = floats(run(Op::Exp, f(&[0.0, 1.0, -1.0]), None).unwrap());
        assert_eq!(y[0], 1.0);
        assert!((y[1] - std::f32::consts::E).abs() < 1e-6);
        assert!((y[2] - 0.367_879_44).abs() < 1e-7);
        let y = floats(run(Op::Log, f(&[1.0, std::f32::consts::E, 0.0]), None).unwrap());
        assert_eq!(y[0], 0.0);
        assert!((y[1] - 1.0).abs() < 1e-7);
        assert_eq!(y[2], f32::NEG_INFINITY);
        let y = floats(run(Op::Elu, f(&[3.0, 0.0, -1.0]), None).unwrap());
        assert_eq!(&y[..2], &[3.0, 0.0]);
        assert!((y[2] + 0.632_120_56).abs() < 1e-7);
        // GELU(1) = Φ(1) = 0.8413447; tanh form 0.8411920.
        let y = floats(run(Op::Gelu { approximate: false }, f(&[1.0, 0.0]), None).unwrap());
        assert!((y[0] - 0.841_344_7).abs() < 1e-6 && y[1] == 0.0);
        let y = floats(run(Op::Gelu { approximate: true }, f(&[1.0]), None).unwrap());
        assert!((y[0] - 0.841_192).abs() < 1e-6);
    }

    #[test]
    fn integer_abs_and_neg() {
        let x = Value::new(vec![3], TensorBuf::I32(vec![-7, 5, i32::MIN]));
        let y = run(Op::Abs, x.clone(), None).unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![7, 5, i32::MIN]));
        let y = run(Op::Neg, x, None).unwrap();
        assert_eq!(y.data, TensorBuf::I32(vec![7, -5, i32::MIN]));
        let x = Value::new(vec![2], TensorBuf::I64(vec![-7, 1 << 40]));
        assert_eq!(
            run(Op::Neg, x, None).unwrap().data,
            TensorBuf::I64(vec![7, -(1 << 40)])
        );
        // No 8-bit NEG in LiteRT.
        let e = run(Op::Neg, q8(&[1]), Some(((1.0, 0), (1.0, 0)))).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn int8_abs_rescales() {
        // in (0.5, 2), out (1.0, -128): multiplier 0.5, |q - 2| / 2 rounded half up.
        let y = run(Op::Abs, q8(&[-5, 2, 3, 127]), Some(((0.5, 2), (1.0, -128)))).unwrap();
        // |−7| → 3.5 → 4; 0; 1 → 0.5 → 1; 125 → 62.5 → 63.
        assert_eq!(i8s(y), [-124, -128, -127, -65]);
    }

    #[test]
    fn int8_sqrt_and_its_domain() {
        // in (0.25, -100), out (0.125, -128): sqrt((q + 100) / 4) · 8, truncated.
        // q = -96 → sqrt(1) = 1 → 8; q = -64 → sqrt(9) = 3 → 24; q = -98 → 0.7071 → 5.
        let y = run(
            Op::Sqrt,
            q8(&[-96, -64, -98, -100]),
            Some(((0.25, -100), (0.125, -128))),
        )
        .unwrap();
        assert_eq!(i8s(y), [-120, -104, -123, -128]);
        let e = run(Op::Sqrt, q8(&[-101]), Some(((0.25, -100), (0.125, -128)))).unwrap_err();
        assert!(e.contains("non-negative"), "{e}");
    }

    #[test]
    fn int8_rsqrt_and_its_domain() {
        // in (1, -128), out (1/64, -128): 64 / sqrt(q + 128) - 128.
        let y = run(
            Op::Rsqrt,
            q8(&[-124, -112, -64, -128]),
            Some(((1.0, -128), (1.0 / 64.0, -128))),
        )
        .unwrap();
        // v = 4 → 32; 16 → 16; 64 → 8; the zero point → 127.
        assert_eq!(i8s(y), [-96, -112, -120, 127]);
    }

    #[test]
    fn int8_tables_exp_log_elu_gelu() {
        // EXP, in (1/16, 0), out (1/8, -128): round(8 e^(q/16)) - 128.
        // q = 0 → 8; q = 16 → 21.75 → 22; q = -16 → 2.94 → 3; q = 32 → 59.1 → 59.
        let y = run(
            Op::Exp,
            q8(&[0, 16, -16, 32]),
            Some(((1.0 / 16.0, 0), (0.125, -128))),
        );
        assert_eq!(i8s(y.unwrap()), [-120, -106, -125, -69]);
        // LOG, in (1/16, -128), out (1/16, 0): round(16 ln((q + 128)/16)); q = -128 is
        // real 0, which maps to (−128 − 0) · (1/16) = −8 → −128.
        // q = -112 → ln 1 = 0; q = -96 → 16 ln 2 = 11.09 → 11; q = 0 → 16 ln 8 = 33.27 → 33.
        let y = run(
            Op::Log,
            q8(&[-112, -96, 0, -128]),
            Some(((1.0 / 16.0, -128), (1.0 / 16.0, 0))),
        );
        assert_eq!(i8s(y.unwrap()), [0, 11, 33, -128]);
        // ELU, in (1/16, 0), out (1/32, 0): q ≥ 0 doubles; q = -16 → 32 (e^-1 - 1)
        // = -20.23 → -20; q = -128 → 32 (e^-8 - 1) = -31.99 → -32.
        let y = run(
            Op::Elu,
            q8(&[3, 60, -16, -128]),
            Some(((1.0 / 16.0, 0), (1.0 / 32.0, 0))),
        );
        assert_eq!(i8s(y.unwrap()), [6, 120, -20, -32]);
        // GELU, in (1/16, 0), out (1/32, 0): q = 16 → 32 · 0.841345 = 26.92 → 27;
        // q = -16 → 32 · -0.158655 = -5.08 → -5; tanh form: 26.92 → 27, -5.08 → -5.
        for approximate in [false, true] {
            let y = run(
                Op::Gelu { approximate },
                q8(&[16, -16, 0]),
                Some(((1.0 / 16.0, 0), (1.0 / 32.0, 0))),
            );
            assert_eq!(i8s(y.unwrap()), [27, -5, 0]);
        }
    }

    #[test]
    fn types_without_a_kernel_are_refused() {
        let x = Value::new(vec![1], TensorBuf::I16(vec![1]));
        assert!(run(Op::Exp, x, None).is_err());
        let x = Value::new(vec![1], TensorBuf::U8(vec![1]));
        let e = run(Op::Log, x, Some(((1.0, 0), (1.0, 0)))).unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let _ = DType::U8;
    }
}
