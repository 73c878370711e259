//! Standalone activations: RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH.
//! Float32 follows TFLite's reference kernels element by element. Quantized variants
//! will dispatch on the input type beside the float path.

use super::shape::{check_len, expect_output_dtype};
use super::{Kernel, PrepareCtx, Prepared};
use crate::interp::value::{View, ViewMut};
use crate::interp::KernelError;
use crate::ir::{DType, Op};
use crate::kbail;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Relu,
    Relu6,
    LeakyRelu(f32),
    Logistic,
    Tanh,
    HardSwish,
}

impl Kind {
    #[inline]
    fn apply(self, x: f32) -> f32 {
        match self {
            // Comparisons rather than f32::max so that NaN passes through as in TFLite.
            Kind::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            // f32::clamp also lets NaN through.
            Kind::Relu6 => x.clamp(0.0, 6.0),
            Kind::LeakyRelu(alpha) => {
                if x > 0.0 {
                    x
                } else {
                    x * alpha
                }
            }
            Kind::Logistic => logistic(x),
            Kind::Tanh => x.tanh(),
            Kind::HardSwish => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
        }
    }
}

/// 1/(1+e^-x) with TFLite's cut-offs: above ~16.6 the result rounds to 1 in f32, and
/// below -9 e^x alone is within float precision of the true value, which also keeps
/// e^-x from overflowing for very negative x.
#[inline]
fn logistic(x: f32) -> f32 {
    const UPPER: f32 = 16.619_047;
    const LOWER: f32 = -9.0;
    if x > UPPER {
        1.0
    } else if x < LOWER {
        x.exp()
    } else {
        1.0 / (1.0 + (-x).exp())
    }
}

struct FloatActivation {
    kind: Kind,
    len: usize,
}

impl Kernel for FloatActivation {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        let x = x.f32()?;
        let y = y.f32()?;
        check_len("input", x.len(), self.len)?;
        check_len("output", y.len(), self.len)?;
        let kind = self.kind;
        for (y, &x) in y.iter_mut().zip(x) {
            *y = kind.apply(x);
        }
        Ok(())
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(1, 1, 1)?;
    let kind = match &ctx.op.op {
        Op::Relu => Kind::Relu,
        Op::Relu6 => Kind::Relu6,
        Op::LeakyRelu { alpha } => Kind::LeakyRelu(*alpha),
        Op::Logistic => Kind::Logistic,
        Op::Tanh => Kind::Tanh,
        Op::HardSwish => Kind::HardSwish,
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
            },
        )),
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
}
