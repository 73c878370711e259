use super::*;
use proptest::prelude::*;

fn dense(size: usize) -> DimensionMetadata {
    DimensionMetadata::Dense { size }
}

fn csr(segments: &[usize], indices: &[usize]) -> DimensionMetadata {
    DimensionMetadata::SparseCsr {
        segments: IndexVector::narrowest(segments),
        indices: IndexVector::narrowest(indices),
    }
}

fn sp(
    traversal_order: &[usize],
    block_map: &[usize],
    dim_metadata: Vec<DimensionMetadata>,
) -> Sparsity {
    Sparsity {
        traversal_order: traversal_order.to_vec(),
        block_map: block_map.to_vec(),
        dim_metadata,
    }
}

fn f32s(buf: &TensorBuf) -> Vec<f32> {
    match buf {
        TensorBuf::F32(v) => v.clone(),
        other => panic!("expected f32, got {:?}", other.dtype()),
    }
}

/// TensorFlow's `tflite/testdata/sparse_tensor.json`: 4×4 with 2×2 blocks. Block (0,0)
/// is [[1,0],[0,4]], block (0,1) is [[2,3],[0,0]], block (1,0) is all zero and dropped,
/// block (1,1) is [[5,0],[0,6]]; so block row 0 keeps block cols {0,1}, block row 1 keeps
/// {1}: segments [0,2,3], indices [0,1,1].
fn tf_sparse_tensor_json() -> (Sparsity, Vec<f32>, Vec<f32>) {
    let s = sp(
        &[0, 1, 2, 3],
        &[0, 1],
        vec![dense(2), csr(&[0, 2, 3], &[0, 1, 1]), dense(2), dense(2)],
    );
    let values = vec![1., 0., 0., 4., 2., 3., 0., 0., 5., 0., 0., 6.];
    #[rustfmt::skip]
    let expected = vec![
        1., 0., 2., 3.,
        0., 4., 0., 0.,
        0., 0., 5., 0.,
        0., 0., 0., 6.,
    ];
    (s, values, expected)
}

#[test]
fn densify_tf_sparse_tensor_json() {
    let (s, values, expected) = tf_sparse_tensor_json();
    let out = densify(&s, &[4, 4], &TensorBuf::F32(values.clone())).unwrap();
    assert_eq!(f32s(&out), expected);
    // And TensorFlow's encoder layout is what `encode` produces for it.
    let (s2, kept) = encode(&TensorBuf::F32(expected), &[4, 4], Some(&[2, 2])).unwrap();
    assert_eq!(s2, s);
    assert_eq!(f32s(&kept), values);
}

#[test]
fn densify_doc_csr_example() {
    let s = sp(&[0, 1], &[], vec![dense(3), csr(&[0, 1, 1, 3], &[1, 0, 3])]);
    let out = densify(&s, &[3, 4], &TensorBuf::F32(vec![1.5, 2.0, -3.0])).unwrap();
    assert_eq!(
        f32s(&out),
        vec![0., 1.5, 0., 0., 0., 0., 0., 0., 2., 0., 0., -3.]
    );
    let w = TensorBuf::F32(vec![0., 1.5, 0., 0., 0., 0., 0., 0., 2., 0., 0., -3.]);
    let (s2, kept) = encode(&w, &[3, 4], None).unwrap();
    assert_eq!(s2, s);
    assert_eq!(f32s(&kept), vec![1.5, 2.0, -3.0]);
}

#[test]
fn densify_doc_1x4_block_example() {
    let s = sp(
        &[0, 1, 2],
        &[1],
        vec![dense(2), csr(&[0, 1, 2], &[1, 0]), dense(4)],
    );
    let out = densify(
        &s,
        &[2, 8],
        &TensorBuf::F32(vec![1., 2., 0., 3., 4., 0., 0., 0.]),
    )
    .unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0., 0., 0., 0., 1., 2., 0., 3.,
        4., 0., 0., 0., 0., 0., 0., 0.,
    ];
    assert_eq!(f32s(&out), expected);
    let (s2, _) = encode(&TensorBuf::F32(expected), &[2, 8], Some(&[1, 4])).unwrap();
    assert_eq!(s2, s);
}

#[test]
fn encode_all_zero_row_repeats_segment() {
    // Rows 0 and 1 are empty, row 2 keeps block col 0: segments [0,0,0,1].
    let mut w = vec![0i8; 3 * 8];
    w[16] = 5;
    let (s, kept) = encode(&TensorBuf::I8(w.clone()), &[3, 8], Some(&[1, 4])).unwrap();
    assert_eq!(s.dim_metadata[1], csr(&[0, 0, 0, 1], &[0]));
    assert_eq!(kept, TensorBuf::I8(vec![5, 0, 0, 0]));
    assert_eq!(densify(&s, &[3, 8], &kept).unwrap(), TensorBuf::I8(w));
}

#[test]
fn csr_on_the_first_level_and_column_major_order() {
    // [[0,7],[0,0],[0,9]] stored column-major (traversal [1,0]) with the column level
    // SPARSE_CSR: column 0 is empty and dropped, column 1 is kept whole (rows DENSE).
    let s = sp(&[1, 0], &[], vec![csr(&[0, 1], &[1]), dense(3)]);
    let out = densify(&s, &[3, 2], &TensorBuf::F32(vec![7., 0., 9.])).unwrap();
    assert_eq!(f32s(&out), vec![0., 7., 0., 0., 0., 9.]);
}

#[test]
fn wide_index_vectors() {
    // 1×300 row with nonzeros at columns 3 and 299: indices need u16, segments u8.
    let s = Sparsity {
        traversal_order: vec![0, 1],
        block_map: vec![],
        dim_metadata: vec![
            dense(1),
            DimensionMetadata::SparseCsr {
                segments: IndexVector::I32(vec![0, 2]),
                indices: IndexVector::U16(vec![3, 299]),
            },
        ],
    };
    let out = f32s(&densify(&s, &[1, 300], &TensorBuf::F32(vec![1., 2.])).unwrap());
    assert_eq!(
        (out[3], out[299], out.iter().filter(|&&x| x != 0.).count()),
        (1., 2., 2)
    );
    let (s2, _) = encode(&TensorBuf::F32(out), &[1, 300], None).unwrap();
    assert!(matches!(
        &s2.dim_metadata[1],
        DimensionMetadata::SparseCsr {
            segments: IndexVector::U8(_),
            indices: IndexVector::U16(_)
        }
    ));
}

#[test]
fn permuted_block_dims() {
    // 2×4 with a 2×2 block (block_map [0,1]), inner block order column-major
    // (traversal [0,1,3,2]). Blocks: (0,0)=[[1,2],[3,4]], (0,1)=[[5,6],[7,8]].
    // Column-major within a block: 1,3,2,4 then 5,7,6,8.
    let s = sp(
        &[0, 1, 3, 2],
        &[0, 1],
        vec![dense(1), dense(2), dense(2), dense(2)],
    );
    let out = densify(
        &s,
        &[2, 4],
        &TensorBuf::F32(vec![1., 3., 2., 4., 5., 7., 6., 8.]),
    )
    .unwrap();
    assert_eq!(f32s(&out), vec![1., 2., 5., 6., 3., 4., 7., 8.]);
}

#[test]
fn hostile_encodings_are_errors() {
    let (good, values, _) = tf_sparse_tensor_json();
    let vals = TensorBuf::F32(values.clone());
    let check = |s: &Sparsity, shape: &[usize], v: &TensorBuf, what: &str| {
        let r = densify(s, shape, v);
        assert!(r.is_err(), "{what}: accepted");
    };
    assert!(densify(&good, &[4, 4], &vals).is_ok());

    let mut s = good.clone();
    s.traversal_order = vec![0, 0, 2, 3];
    check(&s, &[4, 4], &vals, "repeated traversal entry");
    s.traversal_order = vec![2, 1, 0, 3];
    check(&s, &[4, 4], &vals, "block dim among the original dims");
    s.traversal_order = vec![0, 1, 2, 9];
    check(&s, &[4, 4], &vals, "traversal entry out of range");
    s.traversal_order = vec![0, 1, 2];
    check(&s, &[4, 4], &vals, "short traversal");

    let mut s = good.clone();
    s.dim_metadata.pop();
    check(&s, &[4, 4], &vals, "dim_metadata count");

    let mut s = good.clone();
    s.block_map = vec![0, 7];
    check(&s, &[4, 4], &vals, "block_map out of range");
    s.block_map = vec![1, 1];
    check(&s, &[4, 4], &vals, "block_map repeats a dim");

    check(
        &good,
        &[4, 3],
        &vals,
        "index past the floored blocked extent",
    );
    check(&good, &[4, 1], &vals, "block larger than the dim");
    check(
        &good,
        &[6, 4],
        &vals,
        "dense size disagrees with the blocked extent",
    );

    let with_csr = |segments: IndexVector, indices: IndexVector| {
        let mut s = good.clone();
        s.dim_metadata[1] = DimensionMetadata::SparseCsr { segments, indices };
        s
    };
    use IndexVector::{I32, U8};
    check(
        &with_csr(U8(vec![1, 2, 3]), U8(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "segments not from 0",
    );
    check(
        &with_csr(U8(vec![0, 2, 1]), U8(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "decreasing segments",
    );
    check(
        &with_csr(U8(vec![0, 3]), U8(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "too few segments",
    );
    check(
        &with_csr(U8(vec![0, 2, 3, 3]), U8(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "too many segments",
    );
    check(
        &with_csr(U8(vec![0, 2, 4]), U8(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "segment past indices",
    );
    check(
        &with_csr(U8(vec![0, 2, 2]), U8(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "indices beyond last segment",
    );
    check(
        &with_csr(U8(vec![0, 2, 3]), U8(vec![0, 2, 1])),
        &[4, 4],
        &vals,
        "index >= level size",
    );
    check(
        &with_csr(U8(vec![0, 2, 3]), U8(vec![1, 1, 1])),
        &[4, 4],
        &vals,
        "duplicate index",
    );
    check(
        &with_csr(I32(vec![0, -2, 3]), I32(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "negative segment",
    );
    check(
        &with_csr(I32(vec![0, 2, 3]), I32(vec![0, -1, 1])),
        &[4, 4],
        &vals,
        "negative index",
    );
    check(
        &with_csr(I32(vec![0, i32::MAX, 3]), I32(vec![0, 1, 1])),
        &[4, 4],
        &vals,
        "huge segment",
    );

    let mut short = values.clone();
    short.pop();
    check(&good, &[4, 4], &TensorBuf::F32(short), "fewer values");
    let mut long = values;
    long.push(1.);
    check(&good, &[4, 4], &TensorBuf::F32(long), "more values");

    let huge = sp(&[0, 1], &[], vec![dense(1 << 40), dense(1 << 40)]);
    check(
        &huge,
        &[1 << 40, 1 << 40],
        &TensorBuf::F32(vec![]),
        "dense size overflow",
    );
    let big = sp(&[0, 1], &[], vec![dense(1 << 20), dense(1 << 20)]);
    check(
        &big,
        &[1 << 20, 1 << 20],
        &TensorBuf::F32(vec![]),
        "dense size over the tensor limit",
    );

    let both_csr = sp(
        &[0, 1, 2],
        &[1],
        vec![dense(1), csr(&[0, 1], &[0]), csr(&[0, 1], &[0])],
    );
    check(
        &both_csr,
        &[1, 4],
        &TensorBuf::F32(vec![1.]),
        "block size unknowable",
    );
}

#[test]
fn csr_block_level_takes_its_size_from_the_outer_level() {
    // 1×8 in 1×4 blocks, block col 1 kept, inside it only element 2 stored (CSR block level).
    let s = sp(
        &[0, 1, 2],
        &[1],
        vec![dense(1), dense(2), csr(&[0, 0, 1], &[2])],
    );
    let out = densify(&s, &[1, 8], &TensorBuf::F32(vec![9.])).unwrap();
    assert_eq!(f32s(&out), vec![0., 0., 0., 0., 0., 0., 9., 0.]);
}

/// 2×10 in 1×4 blocks: TFLite's converter keeps ⌊10/4⌋ = 2 block columns and treats
/// columns 8 and 9 as implicit zeros.
#[test]
fn densify_partial_trailing_block_is_zero() {
    let s = sp(
        &[0, 1, 2],
        &[1],
        vec![dense(2), csr(&[0, 1, 3], &[1, 0, 1]), dense(4)],
    );
    let stored: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let out = densify(&s, &[2, 10], &TensorBuf::F32(stored)).unwrap();
    #[rustfmt::skip]
    let expected = vec![
        0., 0., 0., 0., 1., 2., 3., 4., 0., 0.,
        5., 6., 7., 8., 9., 10., 11., 12., 0., 0.,
    ];
    assert_eq!(f32s(&out), expected);
    // A block index at the floored extent (the partial block itself) is refused.
    let past = sp(
        &[0, 1, 2],
        &[1],
        vec![dense(2), csr(&[0, 1, 1], &[2]), dense(4)],
    );
    assert!(densify(&past, &[2, 10], &TensorBuf::F32(vec![1.; 4])).is_err());
}

#[test]
fn encode_partial_trailing_block_only_when_it_is_zero() {
    #[rustfmt::skip]
    let zero_tail = vec![
        0i8, 0, 0, 0, 1, 0, 0, 0, 0, 0,
        2, 0, 0, 0, 0, 0, 0, 3, 0, 0,
    ];
    let (s, kept) = encode(&TensorBuf::I8(zero_tail.clone()), &[2, 10], Some(&[1, 4])).unwrap();
    assert_eq!(s.dim_metadata[1], csr(&[0, 1, 3], &[1, 0, 1]));
    assert_eq!(
        kept,
        TensorBuf::I8(vec![1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 3])
    );
    assert_eq!(
        densify(&s, &[2, 10], &kept).unwrap(),
        TensorBuf::I8(zero_tail)
    );

    let mut tail = vec![0i8; 20];
    tail[19] = 7;
    assert_eq!(
        encode(&TensorBuf::I8(tail), &[2, 10], Some(&[1, 4])),
        Err(SparseError::WouldDropNonZero { dim: 1, offset: 19 })
    );
}

#[test]
fn encode_rejects_bad_arguments() {
    let v = TensorBuf::F32(vec![0.; 8]);
    assert!(encode(&v, &[2, 4], Some(&[1, 5])).is_err());
    assert!(encode(&v, &[2, 4], Some(&[1])).is_err());
    assert!(encode(&v, &[2, 4], Some(&[0, 1])).is_err());
    assert!(encode(&v, &[3, 4], None).is_err());
    assert!(encode(&v, &[], None).is_err());
}

// ---------------------------------------------------------------------------------
// Property tests.

/// A dense tensor with its shape, per-dim block sizes, and a fraction of zeros.
fn dense_case(
    max_rank: usize,
    max_blocked: usize,
    max_block: usize,
) -> impl Strategy<Value = (Vec<usize>, Vec<usize>, Vec<f32>)> {
    (1..=max_rank)
        .prop_flat_map(move |rank| {
            (
                prop::collection::vec(1usize..=max_blocked, rank),
                prop::collection::vec(prop_oneof![Just(1usize), Just(1), 2..=max_block], rank),
                0.0f64..1.0,
            )
        })
        .prop_flat_map(|(blocked, block, zero_frac)| {
            let shape: Vec<usize> = blocked.iter().zip(&block).map(|(a, b)| a * b).collect();
            let len: usize = shape.iter().product();
            let values = prop::collection::vec(
                (0.0f64..1.0, -50i32..50).prop_map(move |(u, x)| {
                    if u < zero_frac || x == 0 {
                        0.0
                    } else {
                        x as f32
                    }
                }),
                len,
            );
            (Just(shape), Just(block), values)
        })
}

proptest! {
    #[test]
    fn encode_then_densify_round_trips((shape, block, values) in dense_case(4, 4, 4)) {
        let buf = TensorBuf::F32(values.clone());
        let (s, kept) = encode(&buf, &shape, Some(&block)).unwrap();
        prop_assert_eq!(f32s(&densify(&s, &shape, &kept).unwrap()), values);
    }

    #[test]
    fn fc_blocks_round_trip(rows in 1usize..6, cols in 1usize..4, wide in any::<bool>(), zero_frac in 0.0f64..1.0,
                            seed in prop::collection::vec((0.0f64..1.0, 1i8..=127), 6 * 4 * 16)) {
        let bw = if wide { 16 } else { 4 };
        let shape = [rows, cols * bw];
        let len = rows * cols * bw;
        let values: Vec<i8> = seed[..len].iter().map(|&(u, x)| if u < zero_frac { 0 } else { x }).collect();
        let (s, kept) = encode(&TensorBuf::I8(values.clone()), &shape, Some(&[1, bw])).unwrap();
        // TensorFlow's FC kernels rely on exactly this shape of encoding.
        prop_assert_eq!(s.dim_metadata.len(), 3);
        prop_assert_eq!(&s.dim_metadata[2], &DimensionMetadata::Dense { size: bw });
        prop_assert_eq!(densify(&s, &shape, &kept).unwrap(), TensorBuf::I8(values));
    }

    #[test]
    fn densify_matches_independent_encoder(
        (shape, block, values) in dense_case(3, 3, 3),
        dim_perm_seed in any::<u64>(),
        block_perm_seed in any::<u64>(),
        formats in prop::collection::vec(any::<bool>(), 6),
    ) {
        let n = shape.len();
        let block_map: Vec<usize> = (0..n).filter(|&d| block[d] != 1 || (dim_perm_seed >> d) & 1 == 1).collect();
        let k = block_map.len();
        let mut order: Vec<usize> = shuffle((0..n).collect(), dim_perm_seed);
        order.extend(shuffle((n..n + k).collect(), block_perm_seed));
        let mut sparse: Vec<bool> = formats[..n + k].to_vec();
        // A CSR block level needs the level of the dim it splits to be DENSE (the only
        // place its block size can be read from).
        for (pos, &dim) in order.iter().enumerate() {
            if dim >= n && sparse[pos] {
                let split = block_map[dim - n];
                let outer = order.iter().position(|&x| x == split).unwrap();
                sparse[outer] = false;
            }
        }
        let (s, stored) = reference_encode(&values, &shape, &block, &block_map, &order, &sparse);
        prop_assert_eq!(f32s(&densify(&s, &shape, &TensorBuf::F32(stored)).unwrap()), values);
    }
}

fn shuffle(mut v: Vec<usize>, mut seed: u64) -> Vec<usize> {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
    v
}

/// A deliberately naive TACO encoder: walks the expanded coordinate tree in traversal
/// order; a SPARSE_CSR level keeps a child iff some dense element below it is nonzero.
fn reference_encode(
    values: &[f32],
    shape: &[usize],
    block: &[usize],
    block_map: &[usize],
    order: &[usize],
    sparse: &[bool],
) -> (Sparsity, Vec<f32>) {
    let n = shape.len();
    let bsize = |b: usize| block[block_map[b]];
    let extent = |dim: usize| {
        if dim < n {
            shape[dim]
                / block
                    .get(dim)
                    .copied()
                    .filter(|_| block_map.contains(&dim))
                    .unwrap_or(1)
        } else {
            bsize(dim - n)
        }
    };
    // Expanded coordinates (indexed by expanded dim) of every dense element.
    let expanded: Vec<Vec<usize>> = (0..values.len())
        .map(|flat| {
            let mut idx = vec![0usize; n];
            let mut r = flat;
            for d in (0..n).rev() {
                idx[d] = r % shape[d];
                r /= shape[d];
            }
            let mut e = vec![0usize; n + block_map.len()];
            e[..n].copy_from_slice(&idx);
            for (b, &d) in block_map.iter().enumerate() {
                e[d] = idx[d] / block[d];
                e[n + b] = idx[d] % block[d];
            }
            e
        })
        .collect();
    let levels = order.len();
    let mut segments: Vec<Vec<usize>> = vec![vec![0]; levels];
    let mut indices: Vec<Vec<usize>> = vec![vec![]; levels];
    let mut stored = Vec::new();
    let mut prefix = Vec::new();

    fn nonzero_below(
        prefix: &[usize],
        order: &[usize],
        expanded: &[Vec<usize>],
        values: &[f32],
    ) -> bool {
        expanded
            .iter()
            .zip(values)
            .any(|(e, &v)| v != 0.0 && prefix.iter().zip(order).all(|(&c, &dim)| e[dim] == c))
    }
    fn element(prefix: &[usize], order: &[usize], expanded: &[Vec<usize>], values: &[f32]) -> f32 {
        let i = expanded
            .iter()
            .position(|e| prefix.iter().zip(order).all(|(&c, &dim)| e[dim] == c))
            .unwrap();
        values[i]
    }
    #[allow(clippy::too_many_arguments)]
    fn walk(
        level: usize,
        prefix: &mut Vec<usize>,
        order: &[usize],
        sparse: &[bool],
        extent: &dyn Fn(usize) -> usize,
        expanded: &[Vec<usize>],
        values: &[f32],
        segments: &mut [Vec<usize>],
        indices: &mut [Vec<usize>],
        stored: &mut Vec<f32>,
    ) {
        if level == order.len() {
            stored.push(element(prefix, order, expanded, values));
            return;
        }
        for c in 0..extent(order[level]) {
            prefix.push(c);
            let keep = !sparse[level] || nonzero_below(prefix, order, expanded, values);
            if keep {
                if sparse[level] {
                    indices[level].push(c);
                }
                walk(
                    level + 1,
                    prefix,
                    order,
                    sparse,
                    extent,
                    expanded,
                    values,
                    segments,
                    indices,
                    stored,
                );
            }
            prefix.pop();
        }
        if sparse[level] {
            let len = indices[level].len();
            segments[level].push(len);
        }
    }
    walk(
        0,
        &mut prefix,
        order,
        sparse,
        &extent,
        &expanded,
        values,
        &mut segments,
        &mut indices,
        &mut stored,
    );
    let dim_metadata = (0..levels)
        .map(|l| {
            if sparse[l] {
                // Exercise every index width the format allows.
                let wide = |v: &[usize]| match l % 3 {
                    0 => IndexVector::I32(v.iter().map(|&x| x as i32).collect()),
                    1 => IndexVector::U16(v.iter().map(|&x| x as u16).collect()),
                    _ => IndexVector::narrowest(v),
                };
                DimensionMetadata::SparseCsr {
                    segments: wide(&segments[l]),
                    indices: wide(&indices[l]),
                }
            } else {
                DimensionMetadata::Dense {
                    size: extent(order[l]),
                }
            }
        })
        .collect();
    (
        Sparsity {
            traversal_order: order.to_vec(),
            block_map: block_map.to_vec(),
            dim_metadata,
        },
        stored,
    )
}
