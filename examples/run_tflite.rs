//! Runs a `.tflite` model on a batch of MNIST test images and prints each image's top-1
//! class and the batch accuracy.
//!
//!     cargo run --release --example run_tflite [MODEL.tflite] [BATCH]
//!
//! Defaults: the int8 MNIST fixture and 32 images. Any model that takes 28×28 images and
//! gives 10 scores works, float or quantized: `run_f32` quantizes the pixels and
//! dequantizes the scores with the model's own parameters.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut args = std::env::args().skip(1);
    let model_path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("fixtures/tflite/mnist_cnn_int8.tflite"));
    let batch: usize = match args.next() {
        Some(n) => n.parse()?,
        None => 32,
    };

    let model = ferrolite::load(&model_path)?;
    let test = ferrolite::mnist(Some(&root.join("fixtures/mnist")), ferrolite::Split::Test)?;
    let batch = batch.clamp(1, test.count);
    // The model's own input shape ([1, 28, 28, 1], [1, 784], ...) with our batch size.
    let mut shape = match model.graph.inputs.as_slice() {
        [t] => model
            .graph
            .tensors
            .get(*t)
            .map(|d| d.shape.clone())
            .unwrap_or_default(),
        _ => return Err("the model must have exactly one input".into()),
    };
    if shape.is_empty() {
        return Err("the model's input has no batch dimension".into());
    }
    shape[0] = batch;
    // Plan once for the batch shape; the arena is sized for it.
    let mut runner = ferrolite::Runner::for_shapes(model, std::slice::from_ref(&shape))?;
    println!(
        "{}: planned for {batch} images, {} arena bytes",
        model_path.display(),
        runner.arena_bytes()
    );

    let images = test.images_f32_scaled(0..batch);
    let scores = runner.run_f32(&images, &shape)?;
    let predicted = ferrolite::top1(&scores, scores.len() / batch);
    let labels = test.labels_range(0..batch);
    let mut correct = 0;
    for (i, (&p, &label)) in predicted.iter().zip(labels).enumerate() {
        let mark = if p == usize::from(label) {
            correct += 1;
            ""
        } else {
            "  ✗"
        };
        println!("image {i:3}: top-1 {p} (label {label}){mark}");
    }
    println!(
        "accuracy {:.2}% ({correct}/{batch})",
        100.0 * correct as f64 / batch as f64
    );
    Ok(())
}
