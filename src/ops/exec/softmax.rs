//! SOFTMAX over the last dimension with TFLite's beta:
//! y = exp((x - max)·beta) / Σ exp((x - max)·beta), per row. The loops are in
//! `kernels::reference::softmax`; this file validates and hands them slices.

use std::marker::PhantomData;

use super::q8::{q8_input, q8_output, q8_params, Q8};
use super::shape::{expect_output_dtype, f32_in_out, for_each_row};
use super::softmax_lut;
use super::{Kernel, PrepareCtx, Prepared};
use crate::ir::KernelError;
use crate::ir::{DType, Op};
use crate::ir::{View, ViewMut};
use crate::kbail;
use crate::kernels::fixed_point::SoftmaxParams;
use crate::kernels::reference::softmax::{needs_table, softmax_f32, TableOutput};
use crate::ops::exec::TensorInfo;

struct FloatSoftmax {
    beta: f32,
    depth: usize,
    len: usize,
}

impl Kernel for FloatSoftmax {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (x, y) = f32_in_out(inputs, outputs, self.len)?;
        softmax_f32(x, y, self.depth, self.beta);
        Ok(())
    }
}

/// 8-bit SOFTMAX with TFLite's reference integer algorithm (gemmlowp fixed-point exp and
/// reciprocal), see [`SoftmaxParams`].
struct SoftmaxQ8<T> {
    params: SoftmaxParams,
    depth: usize,
    len: usize,
    elem: PhantomData<fn() -> T>,
}

/// One row of the reference algorithm for an 8-bit type.
trait SoftmaxRow: Q8 {
    fn row(params: &SoftmaxParams, input: &[Self], output: &mut [Self]) -> Result<(), KernelError>;
}

impl SoftmaxRow for i8 {
    fn row(params: &SoftmaxParams, input: &[i8], output: &mut [i8]) -> Result<(), KernelError> {
        params.softmax_row_int8(input, output)
    }
}

impl SoftmaxRow for u8 {
    fn row(params: &SoftmaxParams, input: &[u8], output: &mut [u8]) -> Result<(), KernelError> {
        params.softmax_row_uint8(input, output)
    }
}

impl<T: SoftmaxRow> Kernel for SoftmaxQ8<T> {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let x = q8_input::<T>(inputs, 0)?;
        let y = q8_output::<T>(outputs)?;
        for_each_row(x, y, self.depth, self.len, |xr, yr| {
            T::row(&self.params, xr, yr)
        })
    }
}

/// TFLite requires the output to hold probabilities in steps of 1/256 starting at the
/// type's minimum: scale 1/256 and zero point -128 (int8) or 0 (uint8). Input scales too
/// small for the reference algorithm run the table algorithm of LiteRT's default kernel
/// (`softmax_lut`), as LiteRT itself does.
fn prepare_q8<T: SoftmaxRow + TableOutput>(
    ctx: &PrepareCtx<'_>,
    input: &TensorInfo,
    beta: f32,
    depth: usize,
    output_zero_point: i32,
) -> Result<Prepared, KernelError> {
    let (in_s, _) = q8_params(input.quantization.as_ref(), T::DTYPE, "input")?;
    let (out_s, out_zp) = q8_params(ctx.output(0)?.quantization.as_ref(), T::DTYPE, "output")?;
    if out_zp != output_zero_point || (out_s - 1.0 / 256.0).abs() > 0.001 / 256.0 {
        kbail!(
            "{} SOFTMAX output must have scale 1/256 and zero point {output_zero_point}, got scale {out_s} and zero point {out_zp}",
            T::DTYPE
        );
    }
    if needs_table(beta, in_s) {
        return Ok(Prepared::new(
            vec![input.shape.clone()],
            softmax_lut::SoftmaxTable::<T>::new(
                beta,
                in_s,
                (out_s, out_zp),
                depth,
                input.num_elements(),
            ),
        ));
    }
    Ok(Prepared::new(
        vec![input.shape.clone()],
        SoftmaxQ8::<T> {
            params: SoftmaxParams::new(beta, in_s)?,
            depth,
            len: input.num_elements(),
            elem: PhantomData,
        },
    ))
}

/// int8 in, int16 out (LiteRT's `SoftmaxQuantized<int8_t, int16_t>`): the output holds
/// probabilities in steps of 1/65536 from -32768.
struct SoftmaxI8ToI16 {
    params: SoftmaxParams,
    depth: usize,
    len: usize,
}

impl Kernel for SoftmaxI8ToI16 {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        for_each_row(x.i8()?, y.i16()?, self.depth, self.len, |xr, yr| {
            self.params.softmax_row_int8_to_int16(xr, yr)
        })
    }
}

fn prepare_i8_to_i16(
    ctx: &PrepareCtx<'_>,
    input: &TensorInfo,
    beta: f32,
    depth: usize,
) -> Result<Prepared, KernelError> {
    let (in_s, _) = q8_params(input.quantization.as_ref(), DType::I8, "input")?;
    match ctx.output(0)?.scale_zero_point() {
        Some((s, -32768)) if (s - 1.0 / 65536.0).abs() <= 0.001 / 65536.0 => {}
        other => kbail!(
            "int16 SOFTMAX output must have scale 1/65536 and zero point -32768, got {other:?}"
        ),
    }
    if needs_table(beta, in_s) {
        kbail!(
            "input scale {in_s} with beta {beta} is too small for the reference int8 -> int16 SOFTMAX"
        );
    }
    Ok(Prepared::new(
        vec![input.shape.clone()],
        SoftmaxI8ToI16 {
            params: SoftmaxParams::new(beta, in_s)?,
            depth,
            len: input.num_elements(),
        },
    ))
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let Op::Softmax { beta } = ctx.op.op else {
        kbail!("not a softmax");
    };
    let input = ctx.input(0)?;
    if input.dtype == DType::I8 && ctx.output(0)?.dtype == DType::I16 {
        let Some(&depth) = input.shape.last() else {
            kbail!("SOFTMAX needs an input of rank at least 1");
        };
        return prepare_i8_to_i16(ctx, input, beta, depth);
    }
    expect_output_dtype(ctx, 0, input.dtype)?;
    let Some(&depth) = input.shape.last() else {
        kbail!("SOFTMAX needs an input of rank at least 1");
    };
    match input.dtype {
        DType::F32 => Ok(Prepared::new(
            vec![input.shape.clone()],
            FloatSoftmax {
                beta,
                depth,
                len: input.num_elements(),
            },
        )),
        DType::I8 => prepare_q8::<i8>(ctx, input, beta, depth, -128),
        DType::U8 => prepare_q8::<u8>(ctx, input, beta, depth, 0),
        other => kbail!("SOFTMAX on {other} tensors is not supported"),
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn softmax(beta: f32, shape: Vec<usize>, x: Vec<f32>) -> Result<Vec<f32>, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, shape.clone()),
                Tensor::activation("y", DType::F32, shape.clone()),
            ],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator::new(Op::Softmax { beta }, vec![0], vec![1])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let out = interp
            .run(&[Value::new(shape, TensorBuf::F32(x))])
            .map_err(|e| e.to_string())?;
        match &out[0].data {
            TensorBuf::F32(v) => Ok(v.clone()),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn rows_sum_to_one_and_match_hand_values() {
        // Row [0, ln 2, ln 3]: exps 1, 2, 3 → 1/6, 2/6, 3/6. Row [1000, 1000, 1000]
        // would overflow without the max shift: 1/3 each.
        let (l2, l3) = (2f32.ln(), 3f32.ln());
        let y = softmax(1.0, vec![2, 3], vec![0.0, l2, l3, 1000.0, 1000.0, 1000.0]).unwrap();
        let want = [1.0 / 6.0, 2.0 / 6.0, 0.5, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{y:?}");
        }
        for row in y.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn beta_scales_logits_and_rank_one_and_three_work() {
        // beta 2 on [0, ln 2]: exps 1, 4 → 0.2, 0.8.
        let y = softmax(2.0, vec![2], vec![0.0, 2f32.ln()]).unwrap();
        assert!((y[0] - 0.2).abs() < 1e-6 && (y[1] - 0.8).abs() < 1e-6);
        // Rank 3: softmax runs over the last dim only.
        let y = softmax(1.0, vec![2, 1, 2], vec![0.0, 0.0, 5.0, 5.0]).unwrap();
        assert_eq!(y, vec![0.5; 4]);
        assert!(softmax(1.0, vec![], vec![1.0]).is_err());
    }
}

#[cfg(test)]
mod q8_tests {
    use crate::ir::{DType, Op};
    use crate::ops::exec::test_support::q8::{per_tensor, run_q8};

    fn softmax(dtype: DType, x: Vec<i32>, in_s: f32, out_zp: i64) -> Result<Vec<i32>, String> {
        let n = x.len();
        let x = per_tensor(dtype, &[1, n], x, in_s, 0);
        run_q8(
            Op::Softmax { beta: 1.0 },
            &[Some(x)],
            dtype,
            1.0 / 256.0,
            out_zp,
        )
        .map(|(_, y)| y)
        .map_err(|e| e.to_string())
    }

    #[test]
    fn probabilities_in_steps_of_1_256() {
        // A far larger logit takes everything: 256/256 saturates to 127, the rest are
        // below diff_min and give exactly the minimum.
        assert_eq!(
            softmax(DType::I8, vec![127, -128, -128], 1.0, -128).unwrap(),
            vec![127, -128, -128]
        );
        // Two equal logits: 1/2 each = 128/256, i.e. 0 for int8 and 128 for uint8.
        assert_eq!(
            softmax(DType::I8, vec![5, 5], 0.1, -128).unwrap(),
            vec![0, 0]
        );
        assert_eq!(
            softmax(DType::U8, vec![7, 7], 0.1, 0).unwrap(),
            vec![128, 128]
        );
        // Four equal logits: 64/256 each.
        assert_eq!(
            softmax(DType::I8, vec![-3; 4], 0.1, -128).unwrap(),
            vec![-64; 4]
        );
    }

    /// int8 in, int16 out: probabilities in steps of 1/65536 from -32768.
    #[test]
    fn int16_output_has_steps_of_1_65536() {
        let run = |x: Vec<i32>, in_s: f32, out_s: f32, out_zp: i64| {
            let n = x.len();
            let x = per_tensor(DType::I8, &[1, n], x, in_s, 0);
            run_q8(
                Op::Softmax { beta: 1.0 },
                &[Some(x)],
                DType::I16,
                out_s,
                out_zp,
            )
            .map(|(_, y)| y)
        };
        let step = 1.0 / 65536.0;
        // 1/2 each is 32768/65536: 0 from -32768; 1/4 each is -16384.
        assert_eq!(run(vec![5, 5], 0.1, step, -32768).unwrap(), vec![0, 0]);
        assert_eq!(
            run(vec![-3; 4], 0.1, step, -32768).unwrap(),
            vec![-16384; 4]
        );
        // Everything on one logit saturates at 32767; the rest are the minimum.
        assert_eq!(
            run(vec![127, -128, -128], 1.0, step, -32768).unwrap(),
            vec![32767, -32768, -32768]
        );
        assert!(run(vec![1, 2], 0.1, step, 0).is_err());
        assert!(run(vec![1, 2], 0.1, 1.0 / 256.0, -32768).is_err());
    }

    #[test]
    fn output_quantization_is_enforced() {
        assert!(softmax(DType::I8, vec![1, 2], 0.1, 0).is_err());
        assert!(softmax(DType::U8, vec![1, 2], 0.1, -128).is_err());
    }
}
