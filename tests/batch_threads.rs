//! A batch split over threads gives bit for bit the outputs of one thread running the
//! whole batch, including when the batch does not divide by the thread count; a model
//! whose rows meet is not split.

use ferrolite::interp::Interpreter;
use ferrolite::ir::{DType, Graph, Model, Op, Operator, Tensor};
use ferrolite::{TensorBuf, Value};

fn fixture(path: &str) -> Model {
    ferrolite::load(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_string() + path)
        .expect("fixture loads")
}

/// Seeded values spread over the input's whole type range.
fn input_for(model: &Model, batch: usize, seed: u64) -> Value {
    let t = &model.graph.tensors[model.graph.inputs[0]];
    let mut shape = t.shape.clone();
    shape[0] = batch;
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let data = match t.dtype {
        DType::F32 => TensorBuf::F32(
            (0..n)
                .map(|_| (next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0)
                .collect(),
        ),
        DType::I8 => TensorBuf::I8((0..n).map(|_| (next() >> 56) as u8 as i8).collect()),
        other => panic!("no test input for {other:?}"),
    };
    Value::new(shape, data)
}

fn one_thread(model: &Model, input: &Value) -> Vec<Value> {
    let mut interp = Interpreter::new(model.clone()).unwrap();
    interp.run(std::slice::from_ref(input)).unwrap()
}

fn check_split(path: &str, batch: usize, threads: usize) {
    let model = fixture(path);
    let input = input_for(&model, batch, batch as u64 * 31 + threads as u64);
    let expected = one_thread(&model, &input);
    let mut interp = Interpreter::new(model).unwrap();
    interp.set_threads(threads).unwrap();
    let got = interp.run(std::slice::from_ref(&input)).unwrap();
    assert_eq!(
        interp.threads_in_use(),
        threads.min(batch),
        "{path}: batch {batch} should run on {} threads",
        threads.min(batch)
    );
    assert_eq!(got, expected, "{path}: batch {batch} on {threads} threads");
    // The same through run_into, twice (the second reuses every buffer).
    let mut outs = interp.new_outputs();
    for _ in 0..2 {
        interp
            .run_into(std::slice::from_ref(&input), &mut outs)
            .unwrap();
        assert_eq!(outs, expected, "{path}: run_into, batch {batch}");
    }
}

#[test]
fn int8_cnn_split_matches_one_thread() {
    check_split("fixtures/tflite/mnist_cnn_int8.tflite", 8, 2);
    check_split("fixtures/tflite/mnist_cnn_int8.tflite", 7, 2);
    check_split("fixtures/tflite/mnist_cnn_int8.tflite", 5, 3);
}

#[test]
fn float_cnn_split_matches_one_thread() {
    check_split("fixtures/tflite/mnist_cnn_float32.tflite", 9, 2);
    check_split("fixtures/tflite/mnist_cnn_float32.tflite", 4, 3);
}

#[test]
fn mobilenet_split_matches_one_thread() {
    check_split("fixtures/arch/mobilenet_v3_small_float32.tflite", 3, 2);
    check_split("fixtures/arch/mobilenet_v3_small_int8.tflite", 3, 2);
}

#[test]
fn more_threads_than_rows_and_one_row() {
    check_split("fixtures/tflite/mnist_cnn_int8.tflite", 2, 4);
    check_split("fixtures/tflite/mnist_cnn_int8.tflite", 1, 2);
}

/// x[N,3] gathered on axis 0 with the rows reversed: every output row is another input
/// row, so cutting the batch would change the answer; it must run on one thread.
#[test]
fn a_model_that_mixes_rows_is_not_split() {
    let n = 4;
    let idx: Vec<u8> = [3i32, 2, 1, 0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mut indices = Tensor::activation("idx", DType::I32, vec![n]);
    indices.data = Some(idx);
    let graph = Graph {
        name: None,
        tensors: vec![
            Tensor::activation("x", DType::F32, vec![n, 3]),
            indices,
            Tensor::activation("y", DType::F32, vec![n, 3]),
        ],
        inputs: vec![0],
        outputs: vec![2],
        operators: vec![Operator::new(
            Op::Gather {
                axis: 0,
                batch_dims: 0,
            },
            vec![0, 1],
            vec![2],
        )],
    };
    let model = Model::with_default_signature(graph);
    let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
    let input = Value::new(vec![n, 3], TensorBuf::F32(x));
    let mut interp = Interpreter::new(model).unwrap();
    interp.set_threads(2).unwrap();
    assert_eq!(interp.threads_in_use(), 1);
    let got = interp.run(&[input]).unwrap();
    let want: Vec<f32> = [9., 10., 11., 6., 7., 8., 3., 4., 5., 0., 1., 2.].to_vec();
    assert_eq!(got[0].data, TensorBuf::F32(want));
}

#[test]
fn run_into_refuses_outputs_of_another_shape() {
    let model = fixture("fixtures/tflite/mnist_cnn_int8.tflite");
    let input = input_for(&model, 1, 3);
    let mut interp = Interpreter::new(model).unwrap();
    let mut outs = interp.new_outputs();
    outs[0].shape.push(1);
    assert!(interp
        .run_into(std::slice::from_ref(&input), &mut outs)
        .is_err());
}

/// This file's SLICE takes rows 0..2 of a batch of 2: a one-row slice cannot be planned,
/// so the batch runs on one plan, as before threads (a regression caught by the
/// fixture digest: `run` failed to plan).
#[test]
fn a_model_fixed_to_its_batch_runs_on_one_plan() {
    let model = fixture("fixtures/ops/slice_float32.tflite");
    let batch = model.graph.tensors[model.graph.inputs[0]].shape[0];
    let input = input_for(&model, batch, 5);
    let expected = one_thread(&model, &input);
    let mut interp = Interpreter::new(model).unwrap();
    interp.set_threads(2).unwrap();
    assert_eq!(interp.threads_in_use(), 1);
    assert_eq!(interp.run(std::slice::from_ref(&input)).unwrap(), expected);
}
