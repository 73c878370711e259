//! The study's first headline end to end, without TensorFlow: train the mnist-cnn preset,
//! export it, quantize it to full integer int8, and compare accuracy and size with the
//! float export (issue 5: int8 accuracy ≥ float − 0.1 pp, int8 file ≤ 30% of the float
//! file). The int8 file is also saved for the LiteRT cross-check.

use std::path::Path;

use ferrolite::data::{self, npy, Split};
use ferrolite::interp::{Interpreter, TensorBuf, Value};
use ferrolite::nn::{
    fit, presets, Adam, Dataset, FitConfig, NoCallback, SparseCategoricalCrossentropy,
};
use ferrolite::quant::{self, Int8Options, Mode, Samples};
use ferrolite::verify::accuracy::evaluate;

fn accuracy(model: &ferrolite::ir::Model, test: &data::Mnist) -> f64 {
    let mut interp = Interpreter::new(model.clone()).unwrap();
    evaluate(&mut interp, test, None, 256, |_| {})
        .unwrap()
        .accuracy
}

#[test]
fn trained_cnn_keeps_its_accuracy_in_int8_at_under_30_percent_of_the_bytes() {
    let dir = data::default_dir();
    let train = data::load(&dir, Split::Train).unwrap();
    let test = data::load(&dir, Split::Test).unwrap();
    let x = train.images_f32_scaled(0..train.count);
    let y = train.labels_range(0..train.count).to_vec();
    let mut model = presets::mnist_cnn(42).unwrap();
    fit(
        &mut model,
        &mut Adam::default(),
        &mut SparseCategoricalCrossentropy,
        &Dataset::new(&x, &[28, 28], &y).unwrap(),
        &FitConfig {
            epochs: 1,
            seed: 42,
            ..FitConfig::default()
        },
        &mut NoCallback,
    )
    .unwrap();

    let float = ferrolite::nn::export(&model).unwrap();
    let samples = Samples::mnist_train(&float, &dir, 100).unwrap();
    let int8 = quant::convert(&float, Mode::Int8, &Int8Options::default(), Some(&samples))
        .unwrap()
        .model;
    let float_bytes = ferrolite::tflite::write(&float).unwrap();
    let int8_bytes = ferrolite::tflite::write(&int8).unwrap();
    // Judge the files as written, read back, as a user's runtime would see them.
    let float_acc = accuracy(&ferrolite::tflite::read(&float_bytes).unwrap(), &test);
    let int8_acc = accuracy(&ferrolite::tflite::read(&int8_bytes).unwrap(), &test);
    eprintln!(
        "float {float_acc:.4} ({} bytes), int8 {int8_acc:.4} ({} bytes)",
        float_bytes.len(),
        int8_bytes.len()
    );
    assert!(
        float_acc > 0.95,
        "the float model did not train: {float_acc}"
    );
    assert!(
        int8_acc >= float_acc - 0.001,
        "int8 {int8_acc} vs float {float_acc}"
    );
    assert!(
        int8_bytes.len() * 10 <= float_bytes.len() * 3,
        "int8 file {} bytes vs float {}",
        int8_bytes.len(),
        float_bytes.len()
    );

    // The first 16 test images in the model's int8 input type, for LiteRT to run the
    // same file.
    let pixels = Value::new(
        vec![16, 28, 28],
        TensorBuf::F32(test.images_f32_scaled(0..16)),
    );
    let value =
        quant::report::sample_for(&int8.graph.tensors[int8.graph.inputs[0]], &pixels).unwrap();
    let case =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/litert-cases/study_trained_cnn_int8");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(case.join("model.tflite"), &int8_bytes).unwrap();
    std::fs::write(case.join("input.npy"), npy::to_bytes(&value).unwrap()).unwrap();
}
