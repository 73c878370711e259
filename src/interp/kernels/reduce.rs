//! MEAN over constant axes, float32.
//!
//! As TFLite's reference `Mean`, each output element is an f32 running sum of its
//! inputs taken in row-major input order, divided once by the number of reduced
//! elements. Same order, same type: results match TFLite's reference kernel bit for
//! bit; against an exact mean the error is the usual f32 summation bound,
//! about count·2⁻²⁴ relative to Σ|x|/count.

use super::shape::{check_len, const_ints, expect_output_dtype};
use super::{Kernel, PrepareCtx, Prepared};
use crate::interp::value::{View, ViewMut};
use crate::interp::KernelError;
use crate::ir::{DType, Op};
use crate::kbail;

struct FloatMean {
    /// Input dims (simplified) and, per dim, the output stride (0 when reduced).
    shape: Vec<usize>,
    out_strides: Vec<usize>,
    /// Elements summed into each output.
    count: usize,
    len_in: usize,
    len_out: usize,
    /// No axes: the output is the input.
    identity: bool,
}

fn sum_rec(shape: &[usize], os: &[usize], x: &[f32], out: &mut [f32], o: usize) {
    match (shape, os) {
        ([], _) => out[o] += x[0],
        ([_], [0]) => {
            let mut acc = out[o];
            for &v in x {
                acc += v;
            }
            out[o] = acc;
        }
        ([n], [1]) => {
            for (y, &v) in out[o..o + n].iter_mut().zip(x) {
                *y += v;
            }
        }
        ([_], [s]) => {
            for (i, &v) in x.iter().enumerate() {
                out[o + i * s] += v;
            }
        }
        ([_, inner @ ..], [s, os_in @ ..]) => {
            let block: usize = inner.iter().product();
            if block == 0 {
                return;
            }
            for (i, chunk) in x.chunks_exact(block).enumerate() {
                sum_rec(inner, os_in, chunk, out, o + i * s);
            }
        }
        _ => {}
    }
}

impl Kernel for FloatMean {
    fn run(&self, inputs: &[View<'_>], outputs: &mut [ViewMut<'_>]) -> Result<(), KernelError> {
        let (Some(x), Some(y)) = (inputs.first(), outputs.first_mut()) else {
            kbail!("missing input or output");
        };
        let x = x.f32()?;
        let y = y.f32()?;
        check_len("input", x.len(), self.len_in)?;
        check_len("output", y.len(), self.len_out)?;
        if self.identity {
            y.copy_from_slice(x);
            return Ok(());
        }
        y.fill(0.0);
        if self.len_in > 0 {
            sum_rec(&self.shape, &self.out_strides, x, y, 0);
        }
        // An empty reduction gives 0/0 = NaN, as in TFLite.
        let count = self.count as f32;
        for v in y.iter_mut() {
            *v /= count;
        }
        Ok(())
    }
}

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let Op::Mean { keep_dims } = ctx.op.op else {
        kbail!("not a MEAN");
    };
    let input = ctx.input(0)?;
    let axes_info = ctx.input(1)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    if !matches!(axes_info.dtype, DType::I32 | DType::I64) {
        kbail!("axes must be int32 or int64, got {}", axes_info.dtype);
    }
    if axes_info.shape.len() > 1 {
        kbail!(
            "axes must be a scalar or 1-D, has shape {:?}",
            axes_info.shape
        );
    }
    let rank = input.shape.len();
    let mut reduced = vec![false; rank];
    for a in const_ints(axes_info, "the axes")? {
        let d = super::common::axis(a, rank, "axis")?;
        match reduced.get_mut(d) {
            Some(r) => *r = true,
            None => kbail!("axis {a} is out of range for rank {rank}"),
        }
    }
    let out_shape: Vec<usize> = input
        .shape
        .iter()
        .zip(&reduced)
        .filter_map(|(&n, &r)| match (r, keep_dims) {
            (false, _) => Some(n),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    let len_out: usize = out_shape.iter().product();
    let count: usize = input
        .shape
        .iter()
        .zip(&reduced)
        .filter(|(_, &r)| r)
        .map(|(&n, _)| n)
        .product();

    // Output stride of each input dim (0 on reduced dims), then merge runs of dims
    // that step through the output uniformly.
    let mut stride = 1usize;
    let mut full_os = vec![0usize; rank];
    for d in (0..rank).rev() {
        if !reduced[d] {
            full_os[d] = stride;
            stride *= input.shape[d];
        }
    }
    let mut dims: Vec<(usize, usize)> = Vec::new();
    for (&n, &os) in input.shape.iter().zip(&full_os) {
        if n == 1 {
            continue;
        }
        if let Some(last) = dims.last_mut() {
            if last.1 == os * n {
                *last = (last.0 * n, os);
                continue;
            }
        }
        dims.push((n, os));
    }
    let kernel = FloatMean {
        shape: dims.iter().map(|d| d.0).collect(),
        out_strides: dims.iter().map(|d| d.1).collect(),
        count,
        len_in: input.num_elements(),
        len_out,
        identity: !reduced.contains(&true),
    };
    match input.dtype {
        DType::F32 => Ok(Prepared::new(vec![out_shape], kernel)),
        other => kbail!("MEAN of {other} tensors is not supported"),
    }
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn mean(
        shape: Vec<usize>,
        x: Vec<f32>,
        axes: Tensor,
        keep_dims: bool,
    ) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", DType::F32, shape.clone()),
                axes,
                Tensor::activation("y", DType::F32, vec![]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Mean { keep_dims }, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, TensorBuf::F32(x))])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    fn axes(v: &[i32]) -> Tensor {
        Tensor::constant_i32("axes", vec![v.len()], v)
    }

    /// x[i][j][k] = 12i + 4j + k over [2,3,4] (iota).
    fn iota() -> Vec<f32> {
        (0..24).map(|v| v as f32).collect()
    }

    #[test]
    fn spatial_mean_with_and_without_keep_dims() {
        // Mean over j,k of 12i + 4j + k = 12i + 4 + 1.5.
        let y = mean(vec![2, 3, 4], iota(), axes(&[1, 2]), false).unwrap();
        assert_eq!(y.shape, vec![2]);
        assert_eq!(y.data, TensorBuf::F32(vec![5.5, 17.5]));
        // Same axes written negative and duplicated, keep_dims.
        let y = mean(vec![2, 3, 4], iota(), axes(&[-1, 1, 2]), true).unwrap();
        assert_eq!(y.shape, vec![2, 1, 1]);
        assert_eq!(y.data, TensorBuf::F32(vec![5.5, 17.5]));
    }

    #[test]
    fn middle_and_outer_axes() {
        // Over j: 12i + 4 + k.
        let y = mean(vec![2, 3, 4], iota(), axes(&[1]), false).unwrap();
        assert_eq!(y.shape, vec![2, 4]);
        assert_eq!(
            y.data,
            TensorBuf::F32(vec![4., 5., 6., 7., 16., 17., 18., 19.])
        );
        // Over i and k (scalar-per-axis constant given as int64): 6 + 4j + 1.5.
        let ax = Tensor::constant(
            "axes",
            DType::I64,
            vec![2],
            [0i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect(),
        );
        let y = mean(vec![2, 3, 4], iota(), ax, true).unwrap();
        assert_eq!(y.shape, vec![1, 3, 1]);
        assert_eq!(y.data, TensorBuf::F32(vec![7.5, 11.5, 15.5]));
        // A scalar axes tensor.
        let y = mean(
            vec![2, 3, 4],
            iota(),
            Tensor::constant_i32("axes", vec![], &[0]),
            false,
        )
        .unwrap();
        assert_eq!(y.shape, vec![3, 4]);
        let want: Vec<f32> = (0..12).map(|v| v as f32 + 6.0).collect();
        assert_eq!(y.data, TensorBuf::F32(want));
    }

    #[test]
    fn empty_axes_is_identity_and_bad_axes_fail() {
        let y = mean(vec![2, 3, 4], iota(), axes(&[]), false).unwrap();
        assert_eq!(y.shape, vec![2, 3, 4]);
        assert_eq!(y.data, TensorBuf::F32(iota()));
        let y = mean(vec![2, 3, 4], iota(), axes(&[0, 1, 2]), false).unwrap();
        assert_eq!(y.shape, Vec::<usize>::new());
        assert_eq!(y.data, TensorBuf::F32(vec![11.5]));
        assert!(mean(vec![2, 3, 4], iota(), axes(&[3]), false).is_err());
        assert!(mean(vec![2, 3, 4], iota(), axes(&[-4]), false).is_err());
    }
}
