//! `cargo bench`: the interpreter on the MNIST fixtures, against tract in the same run.
//! The same numbers come from `ferrolite bench MODEL`; this runs the headline set.

use std::path::Path;
use std::time::Duration;

use ferrolite::data::{self, Split};
use ferrolite::interp::Interpreter;
use ferrolite::verify::{sample_inputs, timing::median_micros};

const MODELS: &[&str] = &[
    "mnist_cnn_float32",
    "mnist_cnn_int8",
    "mnist_mlp_float32",
    "mnist_mlp_int8",
];

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tflite");
    let mnist = data::load(&data::default_dir(), Split::Test).ok();
    let budget = Duration::from_secs(2);
    println!(
        "{:<22} {:>6} {:>14} {:>14} {:>9}",
        "model", "batch", "ferrolite µs", "tract µs", "ratio"
    );
    for name in MODELS {
        for batch in [1usize, 32] {
            let path = dir.join(format!("{name}.tflite"));
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    println!("{name}: {e}");
                    continue;
                }
            };
            let result = (|| -> Result<(f64, Option<f64>), String> {
                let model = ferrolite::tflite::read(&bytes).map_err(|e| e.to_string())?;
                let inputs =
                    sample_inputs(&model, batch, mnist.as_ref()).map_err(|e| e.to_string())?;
                let shapes: Vec<Vec<usize>> = inputs.iter().map(|v| v.shape.clone()).collect();
                let mut interp = Interpreter::new(model.clone()).map_err(|e| e.to_string())?;
                let ours = median_micros(|| interp.run(&inputs).map(|_| ()), budget, 7)
                    .map_err(|e| e.to_string())?;
                let theirs = ferrolite::verify::tract_for(&bytes, &model, &shapes)
                    .ok()
                    .and_then(|(mut r, _)| {
                        median_micros(|| r.run(&inputs).map(|_| ()), budget, 7).ok()
                    });
                Ok((ours, theirs))
            })();
            match result {
                Ok((ours, Some(t))) => {
                    println!(
                        "{name:<22} {batch:>6} {ours:>14.2} {t:>14.2} {:>8.2}×",
                        t / ours
                    )
                }
                Ok((ours, None)) => println!(
                    "{name:<22} {batch:>6} {ours:>14.2} {:>14} {:>9}",
                    "n/a", "-"
                ),
                Err(e) => println!("{name:<22} {batch:>6} error: {e}"),
            }
        }
    }
}
