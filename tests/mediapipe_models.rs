//! Google's published MediaPipe models (fixtures/mediapipe). The selfie segmentation model
//! upsamples with MediaPipe's custom `Convolution2DTransposeBias`, which stock LiteRT does
//! not register, so ferrolite's kernel is checked against an equivalent graph of builtin
//! ops: the same model with that op rewritten into TRANSPOSE_CONV (bias as input 3). Both
//! run here and must agree within float tolerance; the rewritten file also goes to the
//! LiteRT cross-check (scripts/litert-check.sh), which holds ferrolite to LiteRT on it.

mod common;

use common::root;
use ferrolite::interp::{Plan, Value};
use ferrolite::ir::{Model, Op, TensorBuf};

const SELFIE: &str = "fixtures/mediapipe/selfie_segmentation.tflite";

/// A deterministic image in [0, 1) (the model's input range), from a small LCG.
fn image(shape: &[usize]) -> Value {
    let n: usize = shape.iter().product();
    let mut state: u32 = 0x1234_5678;
    let data = (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect();
    Value::new(shape.to_vec(), TensorBuf::F32(data))
}

/// Every graph output, flattened.
fn run_all(model: &Model, x: &Value) -> Vec<Vec<f32>> {
    let shape = x.shape.clone();
    let mut plan = Plan::new(model, &[shape]).unwrap();
    let out = plan.run(std::slice::from_ref(x)).unwrap();
    out.iter()
        .map(|v| match &v.data {
            TensorBuf::F32(y) => y.clone(),
            other => panic!("float output expected, got {other:?}"),
        })
        .collect()
}

fn run(model: &Model, x: &Value) -> Vec<f32> {
    run_all(model, x).remove(0)
}

fn assert_close(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= 1e-6 + 1e-5 * b.abs(),
            "{what} element {i}: custom op {a}, builtin twin {b}"
        );
    }
}

#[test]
fn selfie_segmentation_matches_its_builtin_twin() {
    let mut model = common::model(SELFIE);
    let custom: Vec<usize> = model
        .graph
        .operators
        .iter()
        .filter(|o| matches!(o.op, Op::TransposeConvBias { .. }))
        .map(|o| o.outputs[0])
        .collect();
    assert_eq!(
        custom.len(),
        1,
        "the model has one Convolution2DTransposeBias"
    );
    // The op's own output is compared too: the final sigmoid saturates on a random
    // image and would hide differences.
    model.graph.outputs.push(custom[0]);

    let x = image(&[1, 256, 256, 3]);
    let plan = Plan::new(&model, std::slice::from_ref(&x.shape)).unwrap();
    let (twin, report) = ferrolite::verify::lower::lower(&model, &plan).unwrap();
    assert!(
        report
            .rewritten
            .iter()
            .any(|r| r.starts_with("Convolution2DTransposeBias #")),
        "{report:?}"
    );
    let bytes = ferrolite::tflite::write(&twin).unwrap();
    let twin = ferrolite::tflite::read(&bytes).unwrap();
    assert!(twin
        .graph
        .operators
        .iter()
        .all(|o| !matches!(o.op, Op::TransposeConvBias { .. })));

    let got = run_all(&model, &x);
    let want = run_all(&twin, &x);
    assert_eq!(got[0].len(), 256 * 256);
    // The mask is a sigmoid output.
    assert!(got[0].iter().all(|v| (0.0..=1.0).contains(v)));
    let upsampled = &got[1];
    let (lo, hi) = upsampled
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi - lo > 1e-2, "the upsampled logits are flat: {lo}..{hi}");
    // Only where the bias enters the float sum differs (first here, last in the builtin).
    assert_close("mask", &got[0], &want[0]);
    assert_close("Convolution2DTransposeBias output", &got[1], &want[1]);

    let case = root().join("target/litert-cases/mediapipe_selfie_builtin_twin");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(case.join("model.tflite"), &bytes).unwrap();
    std::fs::write(
        case.join("input.npy"),
        ferrolite::data::npy::to_bytes(&x).unwrap(),
    )
    .unwrap();
}

/// ferrolite writes the custom op back as MediaPipe's runtime reads it: opcode CUSTOM with
/// the custom code, and the 12-byte parameter struct.
#[test]
fn custom_op_survives_a_write_and_read() {
    let model = common::model(SELFIE);
    let bytes = ferrolite::tflite::write(&model).unwrap();
    let again = ferrolite::tflite::read(&bytes).unwrap();
    let ops = |m: &Model| -> Vec<Op> {
        m.graph
            .operators
            .iter()
            .filter(|o| matches!(o.op, Op::TransposeConvBias { .. }))
            .map(|o| o.op.clone())
            .collect()
    };
    assert_eq!(ops(&again), ops(&model));
    assert_eq!(
        ops(&model),
        vec![Op::TransposeConvBias {
            padding: ferrolite::ir::Padding::Same,
            stride_w: 2,
            stride_h: 2,
        }]
    );
    let x = image(&[1, 256, 256, 3]);
    assert_eq!(run(&again, &x), run(&model, &x));
}

/// MediaPipe's argmax pooling pair (hair segmentation's encoder and decoder), in a small
/// graph written and read back through the custom-op path: the pooled values equal the
/// builtin MAX_POOL_2D with the same options (an equivalent graph of builtin ops, which
/// LiteRT also runs: the file goes to the LiteRT cross-check), and unpooling puts every
/// value back on a pixel of the image that holds it.
#[test]
fn argmax_pooling_pair_matches_builtin_max_pool() {
    use ferrolite::ir::{Activation, DType, Graph, Operator, Padding, Pool2dOptions, Tensor};
    let pool = Pool2dOptions {
        padding: Padding::Same,
        stride_w: 2,
        stride_h: 2,
        filter_w: 3,
        filter_h: 2,
        activation: Activation::Relu6,
    };
    let t = |name: &str, shape: Vec<usize>| Tensor::activation(name, DType::F32, shape);
    let custom = Graph {
        name: None,
        tensors: vec![
            t("image", vec![1, 7, 6, 3]),
            t("pooled", vec![1, 4, 3, 3]),
            t("indices", vec![1, 4, 3, 3]),
            t("unpooled", vec![1, 8, 9, 3]),
        ],
        inputs: vec![0],
        outputs: vec![1, 3],
        operators: vec![
            Operator::new(
                Op::MaxPoolingWithArgmax2d(pool.clone()),
                vec![0],
                vec![1, 2],
            ),
            Operator::new(Op::MaxUnpooling2d(pool.clone()), vec![1, 2], vec![3]),
        ],
    };
    let builtin = Graph {
        name: None,
        tensors: vec![t("image", vec![1, 7, 6, 3]), t("pooled", vec![1, 4, 3, 3])],
        inputs: vec![0],
        outputs: vec![1],
        operators: vec![Operator::new(Op::MaxPool2d(pool), vec![0], vec![1])],
    };
    let custom_bytes = ferrolite::tflite::write(&Model::with_default_signature(custom)).unwrap();
    let custom = ferrolite::tflite::read(&custom_bytes).unwrap();
    let builtin_bytes = ferrolite::tflite::write(&Model::with_default_signature(builtin)).unwrap();
    let builtin = ferrolite::tflite::read(&builtin_bytes).unwrap();

    let x = image(&[1, 7, 6, 3]);
    // Spread the image over [-4, 8) so RELU6 clamps at both ends.
    let x = match x.data {
        TensorBuf::F32(v) => Value::new(
            x.shape.clone(),
            TensorBuf::F32(v.iter().map(|a| a * 12.0 - 4.0).collect()),
        ),
        _ => unreachable!(),
    };
    let got = run_all(&custom, &x);
    let want = run(&builtin, &x);
    assert_eq!(got[0], want, "pooled values differ from MAX_POOL_2D");
    let TensorBuf::F32(pixels) = &x.data else {
        unreachable!()
    };
    // The unpooled output is 8x9 (filter times the pooled size); the image rows and
    // columns it shares with it must match wherever something was written.
    let unpooled = &got[1];
    let mut placed = 0;
    for y in 0..7 {
        for xx in 0..6 {
            for c in 0..3 {
                let u = unpooled[(y * 9 + xx) * 3 + c];
                let v = pixels[(y * 6 + xx) * 3 + c];
                if u != 0.0 {
                    assert_eq!(u, v.clamp(0.0, 6.0), "at ({y}, {xx}, {c})");
                    placed += 1;
                }
            }
        }
    }
    assert!(placed > 0, "nothing was unpooled");

    let case = root().join("target/litert-cases/mediapipe_builtin_max_pool");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(case.join("model.tflite"), &builtin_bytes).unwrap();
    std::fs::write(
        case.join("input.npy"),
        ferrolite::data::npy::to_bytes(&x).unwrap(),
    )
    .unwrap();
}
