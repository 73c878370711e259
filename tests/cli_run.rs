//! `ferrolite run` on multi-input and multi-output models, float input for an int8
//! model, `.npz` in and out, `--top-k`.

use std::path::{Path, PathBuf};

use ferrolite::data::{npy, npz};
use ferrolite::interp::{TensorBuf, Value};
use ferrolite::ir::{Activation, DType, Graph, Model, Op, Operator, Tensor};

mod common;
use common::{assert_one_line_error, bin};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tflite")
        .join(name)
}

fn ok(out: std::process::Output) -> std::process::Output {
    common::assert_success(&out);
    out
}

/// x + y and x · y of two float [2, 3] inputs named "x" and "y"; outputs "sum", "product".
fn add_and_mul(dir: &Path) -> PathBuf {
    let t = |name: &str| Tensor::activation(name, DType::F32, vec![2, 3]);
    let graph = Graph {
        name: None,
        tensors: vec![t("x"), t("y"), t("sum"), t("product")],
        inputs: vec![0, 1],
        outputs: vec![2, 3],
        operators: vec![
            Operator::new(
                Op::Add {
                    activation: Activation::None,
                },
                vec![0, 1],
                vec![2],
            ),
            Operator::new(
                Op::Mul {
                    activation: Activation::None,
                },
                vec![0, 1],
                vec![3],
            ),
        ],
    };
    let path = dir.join("add_mul.tflite");
    let bytes = ferrolite::tflite::write(&Model::with_default_signature(graph)).unwrap();
    std::fs::write(&path, bytes).unwrap();
    path
}

const X: [f32; 6] = [1.0, 2.0, 3.0, -4.0, 0.5, 0.0];
const Y: [f32; 6] = [10.0, -2.0, 0.25, 4.0, 0.5, 7.0];

fn array(v: &[f32]) -> Value {
    Value::new(vec![2, 3], TensorBuf::F32(v.to_vec()))
}

#[test]
fn two_inputs_and_two_outputs() {
    let d = common::scratch("run-multi");
    let model = add_and_mul(&d);
    let (a, b) = (d.join("a.npy"), d.join("b.npy"));
    std::fs::write(&a, npy::to_bytes(&array(&X)).unwrap()).unwrap();
    std::fs::write(&b, npy::to_bytes(&array(&Y)).unwrap()).unwrap();
    let sum: Vec<f32> = X.iter().zip(&Y).map(|(x, y)| x + y).collect();
    let product: Vec<f32> = X.iter().zip(&Y).map(|(x, y)| x * y).collect();

    // One .npy per output, in order.
    let (s, p) = (d.join("s.npy"), d.join("p.npy"));
    ok(bin()
        .arg("run")
        .arg(&model)
        .arg("--input")
        .arg(&a)
        .arg("--input")
        .arg(&b)
        .arg("-o")
        .arg(&s)
        .arg("-o")
        .arg(&p)
        .output()
        .unwrap());
    assert_eq!(npy::read(&s).unwrap().data, TensorBuf::F32(sum.clone()));
    assert_eq!(npy::read(&p).unwrap().data, TensorBuf::F32(product.clone()));

    // One .npz in (entries named after the inputs, in another order), one .npz out.
    let inputs = d.join("in.npz");
    let named = vec![("y".to_string(), array(&Y)), ("x".to_string(), array(&X))];
    std::fs::write(&inputs, npz::to_bytes(&named).unwrap()).unwrap();
    let outputs = d.join("out.npz");
    ok(bin()
        .arg("run")
        .arg(&model)
        .arg("--input")
        .arg(&inputs)
        .arg("-o")
        .arg(&outputs)
        .output()
        .unwrap());
    let got = npz::read(&outputs).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "sum");
    assert_eq!(got[0].1.data, TensorBuf::F32(sum));
    assert_eq!(got[1].0, "product");
    assert_eq!(got[1].1.data, TensorBuf::F32(product));

    // One .npy for two outputs says how to get both.
    let out = bin()
        .arg("run")
        .arg(&model)
        .arg("--input")
        .arg(&a)
        .arg("--input")
        .arg(&b)
        .arg("-o")
        .arg(d.join("one.npy"))
        .output()
        .unwrap();
    assert_one_line_error(&out, ".npz");
    // A missing input is named.
    let out = bin()
        .arg("run")
        .arg(&model)
        .arg("--input")
        .arg(&a)
        .arg("-o")
        .arg(d.join("fresh.npz"))
        .output()
        .unwrap();
    assert_one_line_error(&out, "2 input(s)");
    // An existing output is replaced only with --force.
    let again = || {
        let mut c = bin();
        c.arg("run")
            .arg(&model)
            .arg("--input")
            .arg(&inputs)
            .arg("-o")
            .arg(&outputs);
        c
    };
    assert_one_line_error(&again().output().unwrap(), "--force");
    ok(again().arg("--force").output().unwrap());
}

/// Float images given to the int8 model are quantized with its input's scale and
/// zero point — how the fixture's int8 input was made — so the output is LiteRT's.
#[test]
fn float_input_for_an_int8_model_is_quantized() {
    let d = common::scratch("run-quantize");
    let out_path = d.join("out.npz");
    let out = ok(bin()
        .arg("run")
        .arg(fixture("mnist_cnn_int8.tflite"))
        .arg("--input")
        .arg(fixture("mnist_cnn_float32.input.npy"))
        .arg("--output")
        .arg(&out_path)
        .args(["--top-k", "2"])
        .output()
        .unwrap());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("quantized the float32 array"), "{stderr}");
    let got = npz::read(&out_path).unwrap();
    let want = npy::read(&fixture("mnist_cnn_int8.output.ref.npy")).unwrap();
    assert_eq!(got[0].1.data, want.data);
    // --top-k: one line per row, the best class first (LiteRT's argmax).
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 32);
    let TensorBuf::I8(scores) = &want.data else {
        panic!("int8 reference expected");
    };
    let best = (0..10).fold(0, |b, c| if scores[c] > scores[b] { c } else { b });
    assert!(
        lines[0].starts_with(&format!("row 0: {best} (")),
        "{}",
        lines[0]
    );
    assert_eq!(lines[0].matches('(').count(), 2, "{}", lines[0]);
}
