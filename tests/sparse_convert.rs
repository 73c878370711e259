//! Genuinely sparse `.tflite` output: the sparsify pass on pruned weights, runtime
//! equivalence with the dense model, and LiteRT cases (target/litert-cases/sparse_*,
//! checked by scripts/litert-check.sh).

mod common;

use std::path::PathBuf;

use ferrolite::data::npy;
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::ir::{
    decode, Activation, Conv2dOptions, DType, Graph, Model, Op, Operator, Padding, Tensor,
};
use ferrolite::quant::{self, Int8Options, Mode, Samples};
use ferrolite::sparse::{sparsify, SparseEncoding, SparseTensorReport, SparsifyOptions};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(name: &str) -> Model {
    ferrolite::tflite::read_file(&root().join("fixtures/tflite").join(name)).unwrap()
}

fn fixture_input() -> Value {
    npy::read(&root().join("fixtures/tflite/mnist_cnn_float32.input.npy")).unwrap()
}

/// Index of operand 1 (the weights) of the first operator of kind `kind`.
fn weight_of(model: &Model, kind: fn(&Op) -> bool) -> usize {
    let op = model.graph.operators.iter().find(|o| kind(&o.op)).unwrap();
    op.input(1).unwrap()
}

fn is_fc(op: &Op) -> bool {
    matches!(op, Op::FullyConnected(_))
}

fn is_conv(op: &Op) -> bool {
    matches!(op, Op::Conv2d(_))
}

fn f32_data(t: &Tensor) -> Vec<f32> {
    decode::f32s(t.data.as_ref().unwrap())
}

fn set_f32(t: &mut Tensor, v: &[f32]) {
    t.data = Some(v.iter().flat_map(|x| x.to_le_bytes()).collect());
}

/// Zeroes the `fraction` of elements with the smallest magnitude (ties by position).
fn prune_unstructured(values: &mut [f32], fraction: f64) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].abs().total_cmp(&values[b].abs()).then(a.cmp(&b)));
    let cut = (values.len() as f64 * fraction).round() as usize;
    for &i in &order[..cut] {
        values[i] = 0.0;
    }
}

/// Zeroes whole 1×`block` blocks of a [rows, depth] matrix, those with the smallest L1
/// norm first, until `fraction` of the full blocks are zero; a partial trailing block
/// (depth not a multiple of `block`) is always zeroed.
fn prune_blocks(values: &mut [f32], depth: usize, block: usize, fraction: f64) {
    let rows = values.len() / depth;
    let full = depth / block;
    let mut blocks: Vec<(f32, usize, usize)> = Vec::new();
    for r in 0..rows {
        for b in 0..full {
            let s = r * depth + b * block;
            let norm = values[s..s + block].iter().map(|x| x.abs()).sum();
            blocks.push((norm, r, b));
        }
        values[r * depth + full * block..(r + 1) * depth].fill(0.0);
    }
    blocks.sort_by(|a, b| a.0.total_cmp(&b.0));
    let cut = (blocks.len() as f64 * fraction).round() as usize;
    for &(_, r, b) in &blocks[..cut] {
        let s = r * depth + b * block;
        values[s..s + block].fill(0.0);
    }
}

/// The model with every sparse constant stored dense and every DENSIFY removed (its
/// consumers read the now dense input directly); the rest of the graph is unchanged.
fn lowered(model: &Model) -> Model {
    let mut m = model.clone();
    let g = &mut m.graph;
    for t in &mut g.tensors {
        if let Some(s) = t.sparsity.take() {
            let stored = TensorBuf::from_le_bytes(t.dtype, t.data.as_ref().unwrap());
            let dense = ferrolite::sparse::densify(&s, &t.shape, &stored).unwrap();
            t.data = Some(dense.to_le_bytes());
        }
    }
    let ops = std::mem::take(&mut g.operators);
    let mut renamed = Vec::new();
    for op in ops {
        if op.op == Op::Densify {
            renamed.push((op.outputs[0], op.input(0).unwrap()));
        } else {
            g.operators.push(op);
        }
    }
    for op in &mut g.operators {
        for input in op.inputs.iter_mut().flatten() {
            if let Some(&(_, to)) = renamed.iter().find(|(from, _)| from == input) {
                *input = to;
            }
        }
    }
    m
}

fn run(model: &Model, input: &Value) -> TensorBuf {
    let mut interp = Interpreter::new(model.clone()).unwrap();
    interp
        .run(std::slice::from_ref(input))
        .unwrap()
        .remove(0)
        .data
}

fn assert_close_f32(dense: &TensorBuf, sparse: &TensorBuf) {
    let (TensorBuf::F32(a), TensorBuf::F32(b)) = (dense, sparse) else {
        panic!("float outputs expected");
    };
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x - y).abs() <= 1e-5 * x.abs().max(1.0),
            "dense {x} vs sparse {y}"
        );
    }
}

/// LiteRT's dense reference int8 FC requantizes in double, its sparse 1×16 kernel with
/// MultiplyByQuantizedMultiplier (docs §5.3), and the interpreter follows both, so a
/// dense and a sparse int8 FC may round one output differently by one step; each
/// matches LiteRT bit for bit (scripts/litert-check.sh).
fn assert_int8_within_one(dense: &TensorBuf, sparse: &TensorBuf) {
    let (TensorBuf::I8(a), TensorBuf::I8(b)) = (dense, sparse) else {
        panic!("int8 outputs expected");
    };
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!(
            (i16::from(*x) - i16::from(*y)).abs() <= 1,
            "dense {x} vs sparse {y}"
        );
    }
}

/// Writes the LiteRT case, plus the dense model as dense.tflite for `ferrolite bench
/// model.tflite --against dense.tflite` (litert_check.py only reads model.tflite).
fn save_case(name: &str, model: &Model, dense: &Model, input: &Value) {
    let case = root().join("target/litert-cases").join(name);
    std::fs::create_dir_all(&case).unwrap();
    let bytes = ferrolite::tflite::write(model).unwrap();
    std::fs::write(case.join("model.tflite"), bytes).unwrap();
    let bytes = ferrolite::tflite::write(dense).unwrap();
    std::fs::write(case.join("dense.tflite"), bytes).unwrap();
    std::fs::write(case.join("input.npy"), npy::to_bytes(input).unwrap()).unwrap();
}

fn only_report(reports: &[SparseTensorReport]) -> &SparseTensorReport {
    assert_eq!(reports.len(), 1, "{reports:?}");
    &reports[0]
}

fn written_len(model: &Model) -> usize {
    ferrolite::tflite::write(model).unwrap().len()
}

/// The float MNIST CNN with its FC weights pruned by `prune`.
fn float_cnn_with_pruned_fc(prune: impl Fn(&mut [f32], usize)) -> Model {
    let mut model = load("mnist_cnn_float32.tflite");
    let w = weight_of(&model, is_fc);
    let t = &mut model.graph.tensors[w];
    let depth = t.shape[1];
    let mut v = f32_data(t);
    prune(&mut v, depth);
    set_f32(t, &v);
    model
}

#[test]
fn float_fc_random_pruning_becomes_direct_csr() {
    let dense = float_cnn_with_pruned_fc(|v, _| prune_unstructured(v, 0.8));
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    let r = only_report(&reports);
    assert_eq!(r.encoding, SparseEncoding::RandomCsr);
    assert_eq!((r.elements, r.zeros), (20280, 16224));
    assert!(written_len(&sparse) < written_len(&dense));
    // Read directly by FC: no DENSIFY, and FC is version 8.
    assert!(!sparse.graph.operators.iter().any(|o| o.op == Op::Densify));
    let fc = sparse
        .graph
        .operators
        .iter()
        .find(|o| is_fc(&o.op))
        .unwrap();
    assert_eq!(
        ferrolite::tflite::versions::op_version(&sparse.graph, fc),
        8
    );
    let input = fixture_input();
    assert_close_f32(&run(&dense, &input), &run(&sparse, &input));
    save_case("sparse_float_fc_csr", &sparse, &dense, &input);
}

#[test]
fn float_fc_block_pruning_becomes_1x4() {
    let dense = float_cnn_with_pruned_fc(|v, depth| prune_blocks(v, depth, 4, 0.8));
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    assert_eq!(only_report(&reports).encoding, SparseEncoding::Block1x4);
    let input = fixture_input();
    assert_close_f32(&run(&dense, &input), &run(&sparse, &input));
    save_case("sparse_float_fc_1x4", &sparse, &dense, &input);
}

#[test]
fn int8_fc_block_pruning_becomes_1x16_with_a_zero_partial_block() {
    // Depth 2028 = 126·16 + 12: the trailing 12 columns are a partial block, zeroed.
    let float = float_cnn_with_pruned_fc(|v, depth| prune_blocks(v, depth, 16, 0.8));
    let input = fixture_input();
    let samples = Samples::from_batch(&float, &input, None).unwrap();
    let dense = quant::convert(&float, Mode::Int8, &Int8Options::default(), Some(&samples))
        .unwrap()
        .model;
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    let r = reports
        .iter()
        .find(|r| r.encoding == SparseEncoding::Block1x16)
        .unwrap_or_else(|| panic!("no 1x16 weight in {reports:?}"));
    assert_eq!(sparse.graph.tensors[r.tensor].shape, vec![10, 2028]);
    let q = dense.graph.inputs[0];
    let (scale, zp) = dense.graph.tensors[q].scale_zero_point().unwrap();
    let TensorBuf::F32(x) = &input.data else {
        panic!()
    };
    let qx: Vec<i8> = x
        .iter()
        .map(|v| ((v / scale).round() as i64 + zp).clamp(-128, 127) as i8)
        .collect();
    let qinput = Value::new(input.shape.clone(), TensorBuf::I8(qx));
    assert_int8_within_one(&run(&dense, &qinput), &run(&sparse, &qinput));
    save_case("sparse_int8_fc_1x16", &sparse, &dense, &qinput);
}

#[test]
fn nonzero_in_the_partial_block_rules_out_1x16() {
    let float = float_cnn_with_pruned_fc(|v, depth| {
        prune_blocks(v, depth, 16, 0.8);
        // One surviving weight in the partial trailing block of row 3.
        v[3 * depth + 2027] = 0.5;
    });
    let input = fixture_input();
    let samples = Samples::from_batch(&float, &input, None).unwrap();
    let dense = quant::convert(&float, Mode::Int8, &Int8Options::default(), Some(&samples))
        .unwrap()
        .model;
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    assert!(
        reports
            .iter()
            .all(|r| r.encoding != SparseEncoding::Block1x16),
        "{reports:?}"
    );
    // Whatever encoding was chosen, the weight survives: densified, it is the dense one.
    let lowered = lowered(&sparse);
    assert_eq!(
        lowered.graph.tensors[weight_of(&lowered, is_fc)].data,
        dense.graph.tensors[weight_of(&dense, is_fc)].data
    );
}

/// input [1, 6, 6, 8] → CONV_2D 16×3×3×8 (VALID, relu) → [1, 4, 4, 16], weights pruned
/// to 80% zeros: large enough that CSR behind DENSIFY beats dense.
fn pruned_conv_model() -> (Model, Value) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let mut w: Vec<f32> = (0..16 * 3 * 3 * 8).map(|_| next()).collect();
    prune_unstructured(&mut w, 0.8);
    let bias: Vec<f32> = (0..16).map(|_| next()).collect();
    let x: Vec<f32> = (0..2 * 6 * 6 * 8).map(|_| next()).collect();
    let graph = Graph {
        name: None,
        tensors: vec![
            Tensor::activation("x", DType::F32, vec![1, 6, 6, 8]),
            Tensor::constant_f32("conv/w", vec![16, 3, 3, 8], &w),
            Tensor::constant_f32("conv/b", vec![16], &bias),
            Tensor::activation("y", DType::F32, vec![1, 4, 4, 16]),
        ],
        inputs: vec![0],
        outputs: vec![3],
        operators: vec![Operator::new(
            Op::Conv2d(Conv2dOptions {
                padding: Padding::Valid,
                stride_w: 1,
                stride_h: 1,
                dilation_w: 1,
                dilation_h: 1,
                activation: Activation::Relu,
            }),
            vec![0, 1, 2],
            vec![3],
        )],
    };
    let model = Model::with_default_signature(graph);
    (model, Value::new(vec![2, 6, 6, 8], TensorBuf::F32(x)))
}

#[test]
fn conv_weight_goes_behind_densify() {
    let (dense, input) = pruned_conv_model();
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    let r = only_report(&reports);
    assert_eq!(r.encoding, SparseEncoding::CsrDensify);
    assert!(r.sparse_bytes < r.dense_bytes / 2, "{r:?}");
    let densify = sparse
        .graph
        .operators
        .iter()
        .position(|o| o.op == Op::Densify)
        .unwrap();
    let conv = sparse
        .graph
        .operators
        .iter()
        .position(|o| is_conv(&o.op))
        .unwrap();
    assert!(densify < conv);
    assert_eq!(sparse.graph.operators[densify].inputs, vec![Some(r.tensor)]);
    assert_close_f32(&run(&dense, &input), &run(&sparse, &input));
    save_case("sparse_float_conv_densify", &sparse, &dense, &input);
}

#[test]
fn dense_enough_weights_are_left_alone() {
    // The fixture's own weights have (almost) no exact zeros.
    let model = load("mnist_cnn_float32.tflite");
    let (out, reports) = sparsify(&model, &SparsifyOptions::default()).unwrap();
    assert!(reports.is_empty());
    assert_eq!(out, model);
    // Below the 30% threshold nothing changes either.
    let pruned = float_cnn_with_pruned_fc(|v, _| prune_unstructured(v, 0.25));
    assert!(sparsify(&pruned, &SparsifyOptions::default())
        .unwrap()
        .1
        .is_empty());
}

#[test]
fn negative_zeros_count_as_zeros() {
    let dense = float_cnn_with_pruned_fc(|v, _| {
        prune_unstructured(v, 0.8);
        for x in v.iter_mut().step_by(2) {
            if *x == 0.0 {
                *x = -0.0;
            }
        }
    });
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    assert_eq!(only_report(&reports).zeros, 16224);
    let input = fixture_input();
    assert_close_f32(&run(&dense, &input), &run(&sparse, &input));
}

#[cfg(feature = "cli")]
#[test]
fn tensorflow_16x1_fixture_with_a_partial_block_densifies_and_verifies() {
    let path = root().join("fixtures/tflite/mnist_cnn_dense_block16x1_pruned80_sparse_int8.tflite");
    let out = common::bin().arg("verify").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = ferrolite::tflite::read_file(&path).unwrap();
    let lowered = lowered(&model);
    let w = weight_of(&lowered, is_fc);
    assert_eq!(lowered.graph.tensors[w].shape, vec![10, 2028]);
    let v = decode::i8s(lowered.graph.tensors[w].data.as_ref().unwrap());
    // The 12 columns past the last whole block are implicit zeros.
    for row in v.chunks(2028) {
        assert!(row[2016..].iter().all(|&x| x == 0));
        assert!(row[..2016].iter().any(|&x| x != 0));
    }
}

// ---------------------------------------------------------------------------------
// Property tests: awkward shapes and zero patterns, through sparsify and the interpreter.

use ferrolite::ir::{FullyConnectedOptions, Quantization};
use proptest::prelude::*;

/// Zero pattern of a [rows, depth] weight matrix: every weight zero with probability
/// `zero_p`, plus whole zero rows, plus optionally a fully zero or fully nonzero matrix.
fn weights(rows: usize, depth: usize, pattern: u8, zero_p: f64, seed: &[(f64, i8)]) -> Vec<i8> {
    (0..rows * depth)
        .map(|i| {
            let (u, x) = seed[i % seed.len()];
            let (r, c) = (i / depth, i % depth);
            let x = if x == 0 { 1 + (i % 97) as i8 } else { x };
            match pattern {
                0 => 0,                    // all zero
                1 => x,                    // no zero
                2 if r % 2 == 1 => 0,      // empty rows
                3 if c / 16 % 3 != 0 => 0, // whole 1×16 blocks
                _ if u < zero_p => 0,
                _ => x,
            }
        })
        .collect()
}

fn fc_model(dtype: DType, units: usize, depth: usize, w: &[i8], batch: usize) -> Model {
    let fc = Op::FullyConnected(FullyConnectedOptions {
        activation: Activation::None,
        ..Default::default()
    });
    let mut tensors = vec![
        Tensor::activation("x", dtype, vec![batch, depth]),
        Tensor::constant_i8("w", vec![units, depth], w),
        Tensor::activation("y", dtype, vec![batch, units]),
    ];
    if dtype == DType::F32 {
        let wf: Vec<f32> = w.iter().map(|&q| f32::from(q) / 64.0).collect();
        tensors[1] = Tensor::constant_f32("w", vec![units, depth], &wf);
        tensors.push(Tensor::constant_f32(
            "b",
            vec![units],
            &(0..units).map(|u| u as f32 * 0.25).collect::<Vec<_>>(),
        ));
    } else {
        tensors[0].quantization = Some(Quantization::per_tensor(0.05, -3));
        tensors[1].quantization = Some(Quantization {
            scale: (0..units).map(|u| 0.01 + 0.001 * u as f32).collect(),
            zero_point: vec![0; units],
            quantized_dimension: 0,
            ..Default::default()
        });
        tensors[2].quantization = Some(Quantization::per_tensor(0.4, 5));
        tensors.push(Tensor::constant_i32(
            "b",
            vec![units],
            &(0..units as i32).map(|u| u * 37 - 100).collect::<Vec<_>>(),
        ));
    }
    let graph = Graph {
        name: None,
        tensors,
        inputs: vec![0],
        outputs: vec![2],
        operators: vec![Operator::new(fc, vec![0, 1, 3], vec![2])],
    };
    Model::with_default_signature(graph)
}

fn input_for(dtype: DType, batch: usize, depth: usize, seed: &[(f64, i8)]) -> Value {
    let data = match dtype {
        DType::F32 => TensorBuf::F32(
            (0..batch * depth)
                .map(|i| f32::from(seed[(i * 7) % seed.len()].1) / 50.0)
                .collect(),
        ),
        _ => TensorBuf::I8(
            (0..batch * depth)
                .map(|i| seed[(i * 7) % seed.len()].1)
                .collect(),
        ),
    };
    Value::new(vec![batch, depth], data)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn sparsified_fc_computes_what_the_dense_fc_computes(
        int8 in any::<bool>(),
        units in 1usize..9,
        depth in prop::sample::select(vec![1usize, 3, 4, 15, 16, 17, 33, 64, 100, 255, 300, 1030]),
        batch in 1usize..8,
        pattern in 0u8..6,
        zero_p in 0.3f64..1.0,
        seed in prop::collection::vec((0.0f64..1.0, any::<i8>()), 1..200),
    ) {
        let dtype = if int8 { DType::I8 } else { DType::F32 };
        let w = weights(units, depth, pattern, zero_p, &seed);
        let dense = fc_model(dtype, units, depth, &w, batch);
        let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
        prop_assert!(reports.len() <= 1);
        if let Some(r) = reports.first() {
            prop_assert!(written_len(&sparse) < written_len(&dense));
            prop_assert!(r.zeros * 10 >= r.elements * 3);
        }
        let input = input_for(dtype, batch, depth, &seed);
        let (a, b) = (run(&dense, &input), run(&sparse, &input));
        if int8 {
            assert_int8_within_one(&a, &b);
        } else {
            // The dense and the sparse kernel add the products in different orders, and
            // reassociation moves a float sum by up to about n·2⁻²⁴ of Σ|w·x|, which
            // here can be hundreds of times the result (depth 1030, much cancellation).
            let (TensorBuf::F32(da), TensorBuf::F32(sb), TensorBuf::F32(x)) =
                (&a, &b, &input.data)
            else {
                panic!("float outputs expected");
            };
            for (i, (p, q)) in da.iter().zip(sb).enumerate() {
                let (row, unit) = (i / units, i % units);
                let magnitude: f32 = (0..depth)
                    .map(|d| (f32::from(w[unit * depth + d]) / 64.0 * x[row * depth + d]).abs())
                    .sum();
                prop_assert!(
                    (p - q).abs() <= 1e-5 * p.abs().max(1.0) + 1e-6 * magnitude,
                    "dense {} vs sparse {} (Σ|w·x| = {})",
                    p,
                    q,
                    magnitude
                );
            }
        }
        // And densifying the stored weights gives back the dense weights exactly.
        let back = lowered(&sparse);
        prop_assert_eq!(
            &back.graph.tensors[weight_of(&back, is_fc)].data,
            &dense.graph.tensors[1].data
        );
    }
}

/// TensorFlow's own 80%-pruned CNN (made sparse by its converter), expanded back to dense
/// and run through the pass: the float file must not be larger than TensorFlow's, the
/// int8 one stays dense, and both compute what the dense model computes.
#[test]
fn tensorflow_pruned_cnn_round_trip_is_no_larger_than_tensorflows() {
    for (name, int8) in [
        ("mnist_cnn_pruned80_sparse_float32.tflite", false),
        ("mnist_cnn_pruned80_sparse_int8.tflite", true),
    ] {
        let tf_bytes = std::fs::read(root().join("fixtures/tflite").join(name))
            .unwrap()
            .len();
        let tf = load(name);
        let dense = lowered(&tf);
        assert!(dense.graph.tensors.iter().all(|t| t.sparsity.is_none()));
        let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
        let ours = written_len(&sparse);
        if int8 {
            // Randomly pruned int8 weights fit no 1×16 layout, and CSR behind DENSIFY
            // (what TensorFlow wrote) does not run under LiteRT's XNNPACK delegate.
            assert!(reports.is_empty(), "{reports:?}");
        } else {
            assert!(!reports.is_empty(), "{name}: nothing made sparse");
            assert!(
                ours <= tf_bytes,
                "{name}: {ours} B vs TensorFlow's {tf_bytes} B"
            );
        }
        let input = npy::read(
            &root()
                .join("fixtures/tflite")
                .join(name.replace(".tflite", ".input.npy")),
        )
        .unwrap();
        let (a, b) = (run(&dense, &input), run(&sparse, &input));
        if int8 {
            assert_int8_within_one(&a, &b);
        } else {
            assert_close_f32(&a, &b);
        }
        let case = if int8 {
            "sparse_tf_pruned80_int8"
        } else {
            "sparse_tf_pruned80_float32"
        };
        save_case(case, &sparse, &dense, &input);
    }
}

#[cfg(feature = "cli")]
fn json_of(out: &std::process::Output) -> serde_json::Value {
    common::assert_success(out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[cfg(feature = "cli")]
#[test]
fn cli_convert_sparse_and_strip_names() {
    let dir = common::scratch("sparse-cli");
    let input = dir.join("pruned.tflite");
    let dense = float_cnn_with_pruned_fc(|v, _| prune_unstructured(v, 0.8));
    std::fs::write(&input, ferrolite::tflite::write(&dense).unwrap()).unwrap();
    let convert = |out: &str, extra: &[&str]| {
        json_of(
            &common::bin()
                .arg("convert")
                .arg(&input)
                .arg("-o")
                .arg(dir.join(out))
                .args(extra)
                .arg("--json")
                .output()
                .unwrap(),
        )
    };
    let auto = convert("auto.tflite", &[]);
    let off = convert("off.tflite", &["--sparse", "off"]);
    let stripped = convert("stripped.tflite", &["--strip-names"]);
    let size = |name: &str| std::fs::metadata(dir.join(name)).unwrap().len();
    assert_eq!(auto["bytes"], size("auto.tflite"));
    assert_eq!(off["bytes"], size("off.tflite"));
    assert_eq!(stripped["bytes"], size("stripped.tflite"));
    assert!(size("auto.tflite") < size("off.tflite") / 2);
    assert!(size("stripped.tflite") < size("auto.tflite"));
    assert_eq!(off["sparse"], serde_json::json!([]));
    let s = &auto["sparse"][0];
    assert_eq!(s["encoding"], "csr");
    assert_eq!(s["name"], "mnist_base_cnn/dense/MatMul");
    assert_eq!(
        (s["elements"].clone(), s["zeros"].clone()),
        (20280.into(), 16224.into())
    );
    assert_eq!(s["dense_bytes"], 81120);
    // A zip holds the file plus at least 98 bytes of headers and two copies of the name.
    let zip = auto["zip_bytes"].as_u64().unwrap();
    assert!(zip > 98 + 2 * "auto.tflite".len() as u64 && zip < size("auto.tflite"));

    // Stripped: tensor names are indices, the signature still names input and output.
    let model = ferrolite::tflite::read_file(&dir.join("stripped.tflite")).unwrap();
    assert!(model
        .graph
        .tensors
        .iter()
        .enumerate()
        .all(|(i, t)| t.name == i.to_string()));
    let original = ferrolite::tflite::read_file(&input).unwrap();
    let names = |m: &Model| {
        let s = m.signature.clone().unwrap();
        (
            s.key,
            s.inputs.into_iter().map(|p| p.0).collect::<Vec<_>>(),
            s.outputs.into_iter().map(|p| p.0).collect::<Vec<_>>(),
        )
    };
    assert_eq!(names(&model), names(&original));

    // inspect reports the same sizes and the sparse tensor's dense and stored bytes.
    let inspect = json_of(
        &common::bin()
            .arg("inspect")
            .arg(dir.join("auto.tflite"))
            .arg("--json")
            .output()
            .unwrap(),
    );
    assert_eq!(inspect["file_bytes"], auto["bytes"]);
    assert_eq!(inspect["zip_bytes"], auto["zip_bytes"]);
    assert_eq!(inspect["sparse"][0]["dense_bytes"], 81120);
    assert_eq!(inspect["sparse"][0]["stored_bytes"], s["sparse_bytes"]);

    let bad = common::bin()
        .arg("convert")
        .arg(&input)
        .arg("-o")
        .arg(dir.join("x.tflite"))
        .args(["--sparse", "sometimes"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("panicked"));
}

/// The float MLP (784 → 64 → 10, all FULLY_CONNECTED) with every weight pruned by `prune`.
fn pruned_mlp(prune: impl Fn(&mut [f32], usize)) -> Model {
    let mut model = load("mnist_mlp_float32.tflite");
    let weights: Vec<usize> = model
        .graph
        .operators
        .iter()
        .filter(|o| is_fc(&o.op))
        .filter_map(|o| o.input(1))
        .collect();
    for w in weights {
        let t = &mut model.graph.tensors[w];
        let depth = t.shape[1];
        let mut v = f32_data(t);
        prune(&mut v, depth);
        set_f32(t, &v);
    }
    model
}

/// An all-FULLY_CONNECTED model, where the sparse kernels carry the whole inference
/// (the pair bench uses: model.tflite against dense.tflite).
#[test]
fn pruned_mlp_float_and_int8() {
    let input = npy::read(&root().join("fixtures/tflite/mnist_mlp_float32.input.npy")).unwrap();
    let dense = pruned_mlp(|v, _| prune_unstructured(v, 0.8));
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports
        .iter()
        .all(|r| r.encoding == SparseEncoding::RandomCsr));
    assert_close_f32(&run(&dense, &input), &run(&sparse, &input));
    save_case("sparse_mlp_float_csr", &sparse, &dense, &input);

    let float = pruned_mlp(|v, depth| prune_blocks(v, depth, 16, 0.8));
    let samples = Samples::from_batch(&float, &input, None).unwrap();
    let dense = quant::convert(&float, Mode::Int8, &Int8Options::default(), Some(&samples))
        .unwrap()
        .model;
    let (sparse, reports) = sparsify(&dense, &SparsifyOptions::default()).unwrap();
    assert!(!reports.is_empty());
    assert!(reports
        .iter()
        .all(|r| r.encoding == SparseEncoding::Block1x16));
    let q = dense.graph.inputs[0];
    let (scale, zp) = dense.graph.tensors[q].scale_zero_point().unwrap();
    let TensorBuf::F32(x) = &input.data else {
        panic!()
    };
    let qx: Vec<i8> = x
        .iter()
        .map(|v| ((v / scale).round() as i64 + zp).clamp(-128, 127) as i8)
        .collect();
    let qinput = Value::new(input.shape.clone(), TensorBuf::I8(qx));
    assert_int8_within_one(&run(&dense, &qinput), &run(&sparse, &qinput));
    save_case("sparse_mlp_int8_1x16", &sparse, &dense, &qinput);
}
