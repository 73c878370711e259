//! Model directories: round trips and the errors for files that do not fit together.

use std::collections::HashMap;
use std::path::PathBuf;

use ferrolite::nn::io::{self, EpochRecord, TrainingRecord, MODEL_JSON, MODEL_WEIGHTS};
use ferrolite::nn::rng::Rng;
use ferrolite::nn::{
    presets, Activation, Conv2DConfig, DepthwiseConv2DConfig, LayerSpec, NnIoError, Sequential,
};
use safetensors::tensor::{Dtype, TensorView};

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrolite-nn-io-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn model_with_everything(seed: u64) -> Sequential {
    let mut m = Sequential::new(
        &[28, 28],
        vec![
            LayerSpec::Reshape {
                target_shape: vec![28, 28, 1],
            },
            LayerSpec::Conv2D(Conv2DConfig {
                activation: Activation::Relu,
                ..Conv2DConfig::new(12, [3, 3])
            }),
            LayerSpec::batch_norm(),
            LayerSpec::DepthwiseConv2D(DepthwiseConv2DConfig {
                depth_multiplier: 2,
                use_bias: false,
                ..DepthwiseConv2DConfig::new([3, 3])
            }),
            LayerSpec::GlobalAveragePooling2D {},
            LayerSpec::Dropout { rate: 0.2 },
            LayerSpec::dense(10),
        ],
        seed,
    )
    .unwrap();
    // Non-default values everywhere, BatchNorm statistics included.
    let mut rng = Rng::new(seed ^ 99);
    for layer in m.layers_mut() {
        for p in layer.params_mut() {
            p.value.iter_mut().for_each(|v| *v = rng.uniform(0.1, 2.0));
        }
    }
    m.set_name("everything");
    m
}

fn all_weights(m: &Sequential) -> Vec<(String, Vec<usize>, Vec<u32>)> {
    m.layers()
        .iter()
        .flat_map(|l| {
            l.params().iter().map(move |p| {
                (
                    format!("{}/{}", l.name(), p.name),
                    p.shape.clone(),
                    p.value.iter().map(|v| v.to_bits()).collect(),
                )
            })
        })
        .collect()
}

#[test]
fn save_then_load_is_bit_identical() {
    let dir = temp_dir("roundtrip");
    let model = model_with_everything(5);
    let record = TrainingRecord {
        optimizer: "adam".into(),
        learning_rate: 1e-3,
        batch_size: 32,
        validation_split: 0.1,
        shuffle_seed: 42,
        train_samples: 54_000,
        history: vec![EpochRecord {
            epoch: 1,
            loss: 0.25,
            accuracy: 0.93,
            val_loss: Some(0.2),
            val_accuracy: Some(0.94),
            seconds: 3.5,
        }],
        test_accuracy: Some(0.95),
        ..Default::default()
    };
    io::save(&dir, &model, Some(&record)).unwrap();
    let (loaded, meta) = io::load_with_metadata(&dir).unwrap();
    assert_eq!(all_weights(&loaded), all_weights(&model));
    assert_eq!(loaded.config(), model.config());
    assert_eq!(loaded.seed(), 5);
    assert_eq!(meta.seed, 5);
    assert_eq!(meta.training, Some(record));

    // Saving the loaded model again gives the same weight bytes.
    let again = temp_dir("roundtrip-again");
    io::save(&again, &loaded, None).unwrap();
    assert_eq!(
        std::fs::read(dir.join(MODEL_WEIGHTS)).unwrap(),
        std::fs::read(again.join(MODEL_WEIGHTS)).unwrap()
    );
    // model.json is for people too: pretty-printed, with the marker and the layers.
    let json = std::fs::read_to_string(dir.join(MODEL_JSON)).unwrap();
    assert!(json.contains("\"format\": \"ferrolite-model\""), "{json}");
    assert!(
        json.contains("\"class_name\": \"DepthwiseConv2D\""),
        "{json}"
    );
    assert!(json.lines().count() > 20);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&again).unwrap();
}

#[test]
fn weights_are_keras_named_and_shaped_f32() {
    let model = presets::mnist_cnn(1).unwrap();
    let bytes = io::weights_bytes(&model).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort_unstable();
    assert_eq!(
        names,
        ["conv2d/bias", "conv2d/kernel", "dense/bias", "dense/kernel"]
    );
    let k = st.tensor("conv2d/kernel").unwrap();
    assert_eq!((k.dtype(), k.shape()), (Dtype::F32, &[3, 3, 1, 12][..]));
    let d = st.tensor("dense/kernel").unwrap();
    assert_eq!(d.shape(), [13 * 13 * 12, 10]);
    let first = f32::from_le_bytes(k.data()[..4].try_into().unwrap());
    assert_eq!(first, model.layers()[1].params()[0].value[0]);
}

/// Writes a model directory whose weights file holds `tensors` instead of the model's.
fn dir_with_weights(tag: &str, tensors: &[(&str, Dtype, Vec<usize>)]) -> PathBuf {
    let dir = temp_dir(tag);
    io::save(&dir, &presets::mnist_cnn(1).unwrap(), None).unwrap();
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dt, shape)| vec![0u8; shape.iter().product::<usize>() * dt.bitsize() / 8])
        .collect();
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((n, dt, shape), d)| (*n, TensorView::new(*dt, shape.clone(), d).unwrap()))
        .collect();
    let bytes = safetensors::serialize(views, None::<HashMap<String, String>>).unwrap();
    std::fs::write(dir.join(MODEL_WEIGHTS), bytes).unwrap();
    dir
}

fn load_error(dir: &PathBuf) -> String {
    let err = io::load(dir).unwrap_err();
    let text = err.to_string();
    std::fs::remove_dir_all(dir).unwrap();
    text
}

const F32: Dtype = Dtype::F32;

#[test]
fn a_wrong_shape_names_the_tensor_and_both_shapes() {
    let dir = dir_with_weights(
        "shape",
        &[
            ("conv2d/kernel", F32, vec![3, 3, 1, 8]),
            ("conv2d/bias", F32, vec![12]),
            ("dense/kernel", F32, vec![2028, 10]),
            ("dense/bias", F32, vec![10]),
        ],
    );
    let e = load_error(&dir);
    assert!(
        e.contains("model.safetensors: conv2d/kernel has shape [3,3,1,8], the architecture needs [3,3,1,12]"),
        "{e}"
    );
}

#[test]
fn a_wrong_dtype_names_the_tensor() {
    let dir = dir_with_weights(
        "dtype",
        &[
            ("conv2d/kernel", F32, vec![3, 3, 1, 12]),
            ("conv2d/bias", Dtype::F16, vec![12]),
            ("dense/kernel", F32, vec![2028, 10]),
            ("dense/bias", F32, vec![10]),
        ],
    );
    let e = load_error(&dir);
    assert!(
        e.contains("conv2d/bias has dtype F16, the architecture needs F32"),
        "{e}"
    );
}

#[test]
fn a_missing_weight_names_the_tensor() {
    let dir = dir_with_weights(
        "missing",
        &[
            ("conv2d/kernel", F32, vec![3, 3, 1, 12]),
            ("conv2d/bias", F32, vec![12]),
            ("dense/kernel", F32, vec![2028, 10]),
        ],
    );
    let e = load_error(&dir);
    assert!(e.contains("dense/bias is missing"), "{e}");
}

#[test]
fn an_extra_weight_names_the_tensor() {
    let dir = dir_with_weights(
        "extra",
        &[
            ("conv2d/kernel", F32, vec![3, 3, 1, 12]),
            ("conv2d/bias", F32, vec![12]),
            ("dense/kernel", F32, vec![2028, 10]),
            ("dense/bias", F32, vec![10]),
            ("dense_1/kernel", F32, vec![10, 10]),
        ],
    );
    let e = load_error(&dir);
    assert!(
        e.contains("dense_1/kernel is not part of the architecture"),
        "{e}"
    );
}

fn with_json(tag: &str, json: &str) -> String {
    let dir = temp_dir(tag);
    io::save(&dir, &presets::mnist_mlp(1).unwrap(), None).unwrap();
    std::fs::write(dir.join(MODEL_JSON), json).unwrap();
    load_error(&dir)
}

#[test]
fn bad_json_errors_name_the_file_and_the_problem() {
    let e = with_json("notjson", "{ this is not json");
    assert!(e.contains("model.json: not valid JSON"), "{e}");

    let e = with_json("foreign", r#"{"class_name": "Sequential"}"#);
    assert!(e.contains("model.json: not a ferrolite model file"), "{e}");

    let e = with_json(
        "future",
        r#"{"format": "ferrolite-model", "format_version": 99, "architecture": {}}"#,
    );
    assert!(e.contains("format_version 99 is not supported"), "{e}");

    let unknown = r#"{"format": "ferrolite-model", "format_version": 1, "seed": 1,
        "architecture": {"name": "m", "input_shape": [28, 28], "layers": [
        {"name": "x", "class_name": "Conv3D", "config": {}}]}}"#;
    let e = with_json("unknown-layer", unknown);
    assert!(e.contains("model.json") && e.contains("Conv3D"), "{e}");

    let unbuildable = r#"{"format": "ferrolite-model", "format_version": 1, "seed": 1,
        "architecture": {"name": "m", "input_shape": [28, 28], "layers": [
        {"name": "conv2d", "class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 3]}}]}}"#;
    let e = with_json("unbuildable", unbuildable);
    assert!(e.contains("model.json: layer conv2d"), "{e}");

    let escape = r#"{"format": "ferrolite-model", "format_version": 1, "seed": 1,
        "weights": "../../etc/passwd",
        "architecture": {"name": "m", "input_shape": [4], "layers": []}}"#;
    let e = with_json("escape", escape);
    assert!(
        e.contains("must be a file name in the model directory"),
        "{e}"
    );
}

#[test]
fn a_directory_without_a_model_says_so() {
    let dir = temp_dir("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let e = load_error(&dir);
    assert!(
        e.contains("no model in") && e.contains("model.json not found"),
        "{e}"
    );
}

#[test]
fn hostile_files_give_errors_not_panics() {
    let dir = temp_dir("hostile");
    io::save(&dir, &presets::mnist_mlp(1).unwrap(), None).unwrap();
    let good_json = std::fs::read(dir.join(MODEL_JSON)).unwrap();
    let good_weights = std::fs::read(dir.join(MODEL_WEIGHTS)).unwrap();
    let mut rng = Rng::new(17);
    let mut cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (good_json.clone(), Vec::new()),
        (
            good_json.clone(),
            good_weights[..good_weights.len() / 2].to_vec(),
        ),
        (good_json.clone(), u64::MAX.to_le_bytes().to_vec()),
        (
            good_json.clone(),
            b"\x10\0\0\0\0\0\0\0{\"a\":{\"dtype\":1}}".to_vec(),
        ),
        (Vec::new(), good_weights.clone()),
        (vec![0xff, 0xfe, 0x00], good_weights.clone()),
        (b"[]".to_vec(), good_weights.clone()),
        (b"null".to_vec(), good_weights.clone()),
    ];
    // Random byte flips in either file.
    for i in 0..200 {
        let (mut j, mut w) = (good_json.clone(), good_weights.clone());
        let target = if i % 2 == 0 { &mut j } else { &mut w };
        for _ in 0..1 + i % 4 {
            let at = (rng.next_u64() as usize) % target.len().min(400);
            target[at] = rng.next_u64() as u8;
        }
        cases.push((j, w));
    }
    // Huge and negative shapes in the architecture.
    for shape in ["[4294967296, 4294967296]", "[-1, 28]", "[]", "[0]"] {
        let j = String::from_utf8(good_json.clone()).unwrap().replacen(
            "\"input_shape\": [\n      28,\n      28\n    ]",
            &format!("\"input_shape\": {shape}"),
            1,
        );
        assert_ne!(j.as_bytes(), good_json.as_slice(), "replacement failed");
        cases.push((j.into_bytes(), good_weights.clone()));
    }
    // An architecture asking for 4 TB of weights next to a small weights file.
    let huge = r#"{"format": "ferrolite-model", "format_version": 1, "seed": 1,
        "architecture": {"name": "m", "input_shape": [784], "layers": [
        {"name": "dense", "class_name": "Dense", "config": {"units": 1000000000}}]}}"#;
    std::fs::write(dir.join(MODEL_JSON), huge).unwrap();
    let e = io::load(&dir).unwrap_err().to_string();
    assert!(
        e.contains("layer dense: units 1000000000") && e.contains("FERROLITE_MAX_WEIGHTS"),
        "{e}"
    );
    // Within the weight limit (70.6 M weights) but far more than the small weights
    // file holds: refused before the weights are allocated.
    std::fs::write(dir.join(MODEL_JSON), huge.replace("1000000000", "90000")).unwrap();
    let e = io::load(&dir).unwrap_err().to_string();
    assert!(e.contains("do not belong together"), "{e}");
    for (j, w) in cases {
        std::fs::write(dir.join(MODEL_JSON), &j).unwrap();
        std::fs::write(dir.join(MODEL_WEIGHTS), &w).unwrap();
        // Either loads (a flip in a float) or fails with a message; never panics.
        if let Err(e) = io::load(&dir) {
            assert!(!e.to_string().is_empty());
            assert!(matches!(
                e,
                NnIoError::Architecture { .. } | NnIoError::Weights { .. } | NnIoError::Io { .. }
            ));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
