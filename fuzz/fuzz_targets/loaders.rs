//! The file loaders: `.npy`, `.npz`, safetensors weights, model directories
//! (`model.json` + weights) and MNIST IDX files. The first byte selects the loader;
//! loaders of two files take them split at [`SPLIT`]. Files go through the library's
//! own entry points (a private scratch directory), so the size caps and the checks
//! on regular files are exercised as users meet them.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use ferrolite::data::{self as mnist, Split};
use libfuzzer_sys::fuzz_target;

/// Separates the two files of one input (`model.json` | weights, images | labels).
const SPLIT: &[u8] = b"--ferrolite-split--";

/// The fixture model's `model.json`: the safetensors loader reads weights against it,
/// so the fuzzer reaches the per-tensor checks rather than an architecture error.
const FIXTURE_MODEL_JSON: &[u8] = include_bytes!("../../fixtures/models/tiny_convnet/model.json");

/// Architecture caps for this process: the defaults (10^8 weights, 4 GiB of
/// activations per batch) suit real models and would exhaust the fuzzer's memory
/// limit on inputs that are merely large, not wrong.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::set_var(ferrolite::nn::arch::MAX_WEIGHTS_ENV, "2000000");
        std::env::set_var(ferrolite::nn::arch::MAX_ACTIVATION_BYTES_ENV, "67108864");
        let dir =
            std::env::temp_dir().join(format!("ferrolite-fuzz-loaders-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(SPLIT.len()).position(|w| w == SPLIT) {
        Some(at) => (&data[..at], &data[at + SPLIT.len()..]),
        None => (data, &[]),
    }
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("scratch write");
    path
}

/// Loads a model directory and, when that succeeds, predicts on two zero images as
/// `evaluate` would.
fn model_dir(json: &[u8], weights: &[u8]) {
    write("model.json", json);
    write("model.safetensors", weights);
    let Ok(mut model) = ferrolite::nn::io::load(scratch()) else {
        return;
    };
    let per: usize = model.input_shape().iter().product();
    let x = vec![0.0f32; per * 2];
    if let Ok(out) = model.predict(&x, 2) {
        let len: usize = out.shape.iter().product();
        assert_eq!(len, out.data.len(), "prediction shape {:?}", out.shape);
    }
}

fn idx(images: &[u8], labels: &[u8]) {
    write("t10k-images-idx3-ubyte", images);
    write("t10k-labels-idx1-ubyte", labels);
    if let Ok(set) = mnist::load(scratch(), Split::Test) {
        for i in 0..set.count.min(2) {
            assert!(
                set.image(i).is_some() && set.label(i).is_some(),
                "image {i}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    scratch();
    match selector % 5 {
        0 => {
            let _ = ferrolite::data::npy::read(&write("a.npy", rest));
        }
        1 => {
            let _ = ferrolite::data::npz::parse(rest);
        }
        2 => model_dir(FIXTURE_MODEL_JSON, rest),
        3 => {
            let (json, weights) = split(rest);
            model_dir(json, weights);
        }
        _ => {
            let (images, labels) = split(rest);
            idx(images, labels);
        }
    }
});
