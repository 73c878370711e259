//! Trains a small model briefly, quantizes it to int8 and writes it as a `.tflite`,
//! printing the sizes and the accuracy before and after.
//!
//!     cargo run --release --example train_int8 [OUT.tflite]
//!
//! One epoch on 4,000 images: a few seconds, not a good model; `ferrolite train` and
//! `ferrolite experiment` do the real runs.
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ferrolite_example_int8.tflite"));
    let data = root.join("fixtures/mnist");
    let train = ferrolite::mnist(Some(&data), ferrolite::Split::Train)?;
    let test = ferrolite::mnist(Some(&data), ferrolite::Split::Test)?;

    let mut model = ferrolite::preset("mnist-cnn", 42)?;
    let options = ferrolite::TrainOptions {
        epochs: 1,
        limit: Some(4000),
        ..Default::default()
    };
    let history = ferrolite::train(&mut model, &train, &options)?;
    if let Some(last) = history.epochs.last() {
        println!(
            "trained {} on 4,000 images: loss {:.4}, train accuracy {:.4}",
            model.name(),
            last.loss,
            last.accuracy
        );
    }

    let float = ferrolite::export(&model)?;
    // Calibration on 100 training images, as `ferrolite convert --quantize int8` does.
    let samples = ferrolite::Samples::mnist_train(&float, &data, 100)?;
    let int8 = ferrolite::quantize_int8(&float, &samples)?;

    let float_bytes = ferrolite::to_tflite(&float)?.len();
    let int8_bytes = ferrolite::save_tflite(&int8, &out)?;
    let limit = Some(1000);
    let float_acc = ferrolite::Runner::new(float)?.accuracy(&test, limit)?;
    let int8_acc = ferrolite::Runner::new(ferrolite::load(&out)?)?.accuracy(&test, limit)?;
    println!(
        "float32: {float_bytes} bytes, accuracy {:.2}% on {} test images",
        100.0 * float_acc.accuracy,
        float_acc.samples
    );
    println!(
        "int8:    {int8_bytes} bytes, accuracy {:.2}% on {} test images → {}",
        100.0 * int8_acc.accuracy,
        int8_acc.samples,
        out.display()
    );
    Ok(())
}
