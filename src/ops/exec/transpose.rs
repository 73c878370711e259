//! TRANSPOSE: permutes dimensions. Pure data movement, so any element type; the
//! permutation is turned into source strides once at prepare.

use super::shape::{const_ints, expect_output_dtype, strided_kernel, strides_isize, StridedCopy};
use super::{PrepareCtx, Prepared};
use crate::ir::DType;
use crate::ir::KernelError;
use crate::kbail;

pub fn prepare(ctx: &PrepareCtx<'_>) -> Result<Prepared, KernelError> {
    ctx.expect_arity(2, 2, 1)?;
    let input = ctx.input(0)?;
    let perm_info = ctx.input(1)?;
    expect_output_dtype(ctx, 0, input.dtype)?;
    if !matches!(perm_info.dtype, DType::I32 | DType::I64) {
        kbail!(
            "the permutation must be int32 or int64, got {}",
            perm_info.dtype
        );
    }
    if perm_info.shape.len() != 1 {
        kbail!(
            "the permutation must be 1-D, has shape {:?}",
            perm_info.shape
        );
    }
    let rank = input.shape.len();
    let perm_raw = const_ints(perm_info, "the permutation")?;
    if perm_raw.len() != rank {
        kbail!(
            "permutation {perm_raw:?} has {} entries for an input of rank {rank}",
            perm_raw.len()
        );
    }
    // Recent TFLite accepts entries in [-rank, rank), counting negatives from the end.
    let mut perm = Vec::with_capacity(rank);
    let mut seen = vec![false; rank];
    for &p in &perm_raw {
        let r = rank as i64;
        if p < -r || p >= r {
            kbail!("permutation {perm_raw:?} is out of bounds for rank {rank}");
        }
        let p = if p < 0 { p + r } else { p } as usize;
        if std::mem::replace(&mut seen[p], true) {
            kbail!("permutation {perm_raw:?} repeats dimension {p}");
        }
        perm.push(p);
    }
    let in_strides = strides_isize(&input.shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| input.shape[p]).collect();
    let src_strides: Vec<isize> = perm.iter().map(|&p| in_strides[p]).collect();
    let n = input.num_elements();
    let copy = StridedCopy::new(
        &out_shape,
        (&src_strides, 0, n),
        (&strides_isize(&out_shape), 0, n),
    )?;
    Ok(Prepared::new(
        vec![out_shape],
        strided_kernel(input.dtype, copy),
    ))
}

#[cfg(test)]
mod tests {
    use crate::interp::{Interpreter, TensorBuf, Value};
    use crate::ir::{DType, Graph, Model, Op, Operator, Tensor};

    fn transpose(shape: Vec<usize>, x: TensorBuf, perm: &[i32]) -> Result<Value, String> {
        let graph = Graph {
            name: None,
            tensors: vec![
                Tensor::activation("x", x.dtype(), shape.clone()),
                Tensor::constant_i32("perm", vec![perm.len()], perm),
                Tensor::activation("y", x.dtype(), vec![]),
            ],
            inputs: vec![0],
            outputs: vec![2],
            operators: vec![Operator::new(Op::Transpose, vec![0, 1], vec![2])],
        };
        let mut interp =
            Interpreter::new(Model::with_default_signature(graph)).map_err(|e| e.to_string())?;
        let mut out = interp
            .run(&[Value::new(shape, x)])
            .map_err(|e| e.to_string())?;
        Ok(out.remove(0))
    }

    #[test]
    fn three_d_permutation_worked_by_hand() {
        // x[a][b][c] = 100a + 10b + c with shape [2,3,2]; perm [2,0,1] gives
        // y[c][a][b] = x[a][b][c], shape [2,2,3].
        let mut x = Vec::new();
        for a in 0..2 {
            for b in 0..3 {
                for c in 0..2 {
                    x.push(100 * a + 10 * b + c);
                }
            }
        }
        let y = transpose(vec![2, 3, 2], TensorBuf::I32(x), &[2, 0, 1]).unwrap();
        assert_eq!(y.shape, vec![2, 2, 3]);
        assert_eq!(
            y.data,
            TensorBuf::I32(vec![0, 10, 20, 100, 110, 120, 1, 11, 21, 101, 111, 121])
        );
        // The same permutation written with negative entries.
        let x2 = TensorBuf::F32((0..12).map(|v| v as f32).collect());
        let a = transpose(vec![2, 3, 2], x2.clone(), &[2, 0, 1]).unwrap();
        let b = transpose(vec![2, 3, 2], x2, &[-1, -3, -2]).unwrap();
        assert_eq!(a, b);
    }

    /// y[j] = x[src(j)] computed from the definition: output index i has input index
    /// i[inverse perm], one element at a time.
    fn transpose_by_definition(shape: &[usize], x: &[i32], perm: &[usize]) -> Vec<i32> {
        let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let n: usize = shape.iter().product();
        let mut y = Vec::with_capacity(n);
        for flat in 0..n {
            let mut rest = flat;
            let mut out_index = vec![0; out_shape.len()];
            for a in (0..out_shape.len()).rev() {
                out_index[a] = rest % out_shape[a];
                rest /= out_shape[a];
            }
            let mut in_index = vec![0; shape.len()];
            for (a, &p) in perm.iter().enumerate() {
                in_index[p] = out_index[a];
            }
            let offset = in_index
                .iter()
                .zip(shape)
                .fold(0, |acc, (&i, &d)| acc * d + i);
            y.push(x[offset]);
        }
        y
    }

    proptest::proptest! {
        #[test]
        fn any_permutation_matches_the_definition(
            shape in proptest::collection::vec(1usize..6, 1..6),
            seed in 0u64..1000,
        ) {
            // A permutation of the axes chosen by the seed (Fisher–Yates with an LCG).
            let mut perm: Vec<usize> = (0..shape.len()).collect();
            let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            for i in (1..perm.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                perm.swap(i, (state >> 33) as usize % (i + 1));
            }
            let n: usize = shape.iter().product();
            let x: Vec<i32> = (0..n as i32).collect();
            let perm_i32: Vec<i32> = perm.iter().map(|&p| p as i32).collect();
            let y = transpose(shape.clone(), TensorBuf::I32(x.clone()), &perm_i32).unwrap();
            proptest::prop_assert_eq!(y.data, TensorBuf::I32(transpose_by_definition(&shape, &x, &perm)));
        }
    }

    #[test]
    fn matrix_transpose_and_bad_perms() {
        let y = transpose(
            vec![2, 3],
            TensorBuf::F32(vec![1., 2., 3., 4., 5., 6.]),
            &[1, 0],
        )
        .unwrap();
        assert_eq!(y.shape, vec![3, 2]);
        assert_eq!(y.data, TensorBuf::F32(vec![1., 4., 2., 5., 3., 6.]));
        let x = TensorBuf::F32(vec![0.0; 6]);
        assert!(transpose(vec![2, 3], x.clone(), &[0, 0]).is_err());
        assert!(transpose(vec![2, 3], x.clone(), &[0, 2]).is_err());
        assert!(transpose(vec![2, 3], x.clone(), &[0]).is_err());
        assert!(transpose(vec![2, 3], x, &[1, -3]).is_err());
        let _ = DType::F32;
    }
}
