//! Model files: a directory holding `model.json` (the architecture and what is known
//! about how the model was made, meant to be read by people too) and
//! `model.safetensors` (the weights).
//!
//! Weights are stored as F32 tensors named `layer_name/param_name` (`conv2d/kernel`,
//! `batch_normalization/moving_mean`) in Keras layouts and shapes, so other tools can
//! read them without knowing ferrolite. Loading trusts neither file: every weight the
//! architecture needs must be present with the right dtype and shape, and nothing else
//! may be there, so a mismatched pair of files is an error naming the tensor instead
//! of a silently wrong model.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};

use super::weights_file;
use super::{EpochSummary, ModelConfig, Sequential};
use crate::data::files::{write_atomic, OutputError};
use crate::fsutil::{read_input, InputError, InputLimit};

/// The architecture file inside a model directory.
pub const MODEL_JSON: &str = "model.json";
/// The weights file inside a model directory.
pub const MODEL_WEIGHTS: &str = "model.safetensors";
/// Every file a model directory holds; anything else in a directory makes
/// [`save`] refuse to replace it.
pub const MODEL_FILES: [&str; 2] = [MODEL_JSON, MODEL_WEIGHTS];
/// The value of `format` in `model.json`.
pub const FORMAT: &str = "ferrolite-model";
/// The newest `format_version` this build reads and the one it writes.
pub const FORMAT_VERSION: u32 = 1;

/// Why a model directory could not be written or read. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum NnIoError {
    #[error(
        "no model in {}: {MODEL_JSON} not found (a model directory is made by `ferrolite train --out DIR`)",
        dir.display()
    )]
    NotAModel { dir: PathBuf },
    #[error("cannot read {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    /// `model.json` is not valid JSON, not a ferrolite model, or describes an
    /// architecture that cannot be built.
    #[error("{}: {message}", path.display())]
    Architecture { path: PathBuf, message: String },
    /// `model.safetensors` is unreadable or does not fit the architecture.
    #[error("{}: {message}", path.display())]
    Weights { path: PathBuf, message: String },
    #[error(transparent)]
    Write(#[from] OutputError),
    #[error(transparent)]
    Input(#[from] InputError),
}

/// One epoch of a training run, as stored in `model.json`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// 1-based, as Keras prints it.
    pub epoch: usize,
    pub loss: f32,
    pub accuracy: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_accuracy: Option<f32>,
    pub seconds: f64,
}

impl From<&EpochSummary> for EpochRecord {
    fn from(s: &EpochSummary) -> Self {
        EpochRecord {
            epoch: s.epoch + 1,
            loss: s.loss,
            accuracy: s.accuracy,
            val_loss: s.val_loss,
            val_accuracy: s.val_accuracy,
            seconds: s.seconds,
        }
    }
}

/// How a model was trained, for the record in `model.json`. Not needed to load it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
pub struct TrainingRecord {
    pub optimizer: String,
    pub learning_rate: f32,
    pub batch_size: usize,
    pub validation_split: f32,
    /// Seed of the per-epoch shuffles.
    pub shuffle_seed: u64,
    /// Images trained on (after the validation split).
    pub train_samples: usize,
    pub history: Vec<EpochRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f32>,
    /// Set when this run pruned the model (`ferrolite prune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruning: Option<super::prune::PruningRecord>,
    /// Set when the model was trained against a teacher (`ferrolite distill`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distillation: Option<super::DistillationRecord>,
}

/// Everything in `model.json` besides the architecture.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Metadata {
    /// The seed that initialized the model (also drives its dropout streams).
    pub seed: u64,
    pub training: Option<TrainingRecord>,
}

/// The on-disk layout of `model.json`.
#[derive(Serialize, Deserialize)]
struct ModelFile {
    format: String,
    format_version: u32,
    #[serde(default)]
    written_by: String,
    #[serde(default)]
    weights: String,
    #[serde(default)]
    seed: u64,
    architecture: ModelConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    training: Option<TrainingRecord>,
}

/// Writes `model` to the directory `dir`, which must be missing, empty or a model
/// directory (see [`crate::fsutil::replace_dir`]): both files are written into a
/// directory beside it, which is then swapped in whole, so a reader or a killed run
/// never leaves new weights beside an old `model.json`.
pub fn save(
    dir: &Path,
    model: &Sequential,
    training: Option<&TrainingRecord>,
) -> Result<(), NnIoError> {
    let weights = weights_bytes(model).map_err(|message| NnIoError::Weights {
        path: dir.join(MODEL_WEIGHTS),
        message,
    })?;
    let file = ModelFile {
        format: FORMAT.to_string(),
        format_version: FORMAT_VERSION,
        written_by: format!("ferrolite {}", env!("CARGO_PKG_VERSION")),
        weights: MODEL_WEIGHTS.to_string(),
        seed: model.seed(),
        architecture: model.config(),
        training: training.cloned(),
    };
    let mut json = serde_json::to_string_pretty(&file).map_err(|e| NnIoError::Architecture {
        path: dir.join(MODEL_JSON),
        message: e.to_string(),
    })?;
    json.push('\n');
    crate::fsutil::replace_dir(dir, &MODEL_FILES, |staged| {
        // Weights first: a directory filled in place is a model only once model.json
        // is there.
        write_atomic(&staged.join(MODEL_WEIGHTS), &weights)?;
        crate::fsutil::kill_point("model-weights-written");
        write_atomic(&staged.join(MODEL_JSON), json.as_bytes())?;
        Ok(())
    })
}

/// The safetensors bytes of `model`'s weights.
pub fn weights_bytes(model: &Sequential) -> Result<Vec<u8>, String> {
    let mut bytes: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for layer in model.layers() {
        for p in layer.params() {
            let name = format!("{}/{}", layer.name(), p.name);
            let data = p.value.iter().flat_map(|v| v.to_le_bytes()).collect();
            if bytes
                .insert(name.clone(), (p.shape.clone(), data))
                .is_some()
            {
                return Err(format!("two weights are named {name}"));
            }
        }
    }
    let views = bytes
        .iter()
        .map(|(name, (shape, data))| {
            TensorView::new(Dtype::F32, shape.clone(), data)
                .map(|v| (name.as_str(), v))
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let info = HashMap::from([("format".to_string(), FORMAT.to_string())]);
    safetensors::serialize(views, Some(info)).map_err(|e| e.to_string())
}

/// Reads the model in `dir`.
pub fn load(dir: &Path) -> Result<Sequential, NnIoError> {
    load_with_metadata(dir).map(|(model, _)| model)
}

/// Reads the model in `dir` and what `model.json` says about it.
pub fn load_with_metadata(dir: &Path) -> Result<(Sequential, Metadata), NnIoError> {
    let json_path = dir.join(MODEL_JSON);
    // Only a missing model.json means "no model here"; a directory, FIFO or unreadable
    // file by that name gets its own message from the read.
    if std::fs::symlink_metadata(&json_path)
        .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    {
        return Err(NnIoError::NotAModel {
            dir: dir.to_path_buf(),
        });
    }
    let bytes = read_input(&json_path, &InputLimit::JSON)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| NnIoError::Architecture {
        path: json_path.clone(),
        message: format!("not valid JSON: not UTF-8 text (byte {})", e.valid_up_to()),
    })?;
    let file = parse_model_json(text).map_err(|message| NnIoError::Architecture {
        path: json_path.clone(),
        message,
    })?;
    let weights_name = if file.weights.is_empty() {
        MODEL_WEIGHTS
    } else {
        file.weights.as_str()
    };
    // The weights file must sit in the directory: a path in a hostile model.json must
    // not lead the reader elsewhere.
    if Path::new(weights_name).components().count() != 1
        || Path::new(weights_name).file_name().is_none()
    {
        return Err(NnIoError::Architecture {
            path: json_path,
            message: format!(
                "\"weights\" must be a file name in the model directory, got {weights_name:?}"
            ),
        });
    }
    // Building the model allocates its weights; a hostile model.json could ask for
    // terabytes. The architecture check bounds every size before the weights file is
    // even opened, and since every weight must be in that file, its size bounds them
    // further.
    let arch_err = |e: super::NnError| NnIoError::Architecture {
        path: json_path.clone(),
        message: e.to_string(),
    };
    let limits = super::arch::ArchLimits::from_env().map_err(arch_err)?;
    let needs = super::arch::check(&file.architecture, &limits).map_err(arch_err)?;
    let weights_path = dir.join(weights_name);
    let bytes = read_input(&weights_path, &weights_limit(&limits))?;
    // At most max_weights (bounded, so no overflow) F32 values.
    let needed = needs.total_weights * 4;
    // Below the limit, build anyway so a mismatch gets the per-tensor message.
    const ALWAYS_BUILDABLE: usize = 256 << 20;
    if needed > bytes.len().max(ALWAYS_BUILDABLE) {
        return Err(NnIoError::Weights {
            path: weights_path,
            message: format!(
                "holds {} bytes, but the architecture in {MODEL_JSON} needs {needed} bytes of F32 weights; the two files do not belong together",
                bytes.len()
            ),
        });
    }
    let mut model = Sequential::from_config_with_limits(&file.architecture, file.seed, &limits)
        .map_err(arch_err)?;
    set_weights(&mut model, &bytes).map_err(|message| NnIoError::Weights {
        path: weights_path,
        message,
    })?;
    Ok((
        model,
        Metadata {
            seed: file.seed,
            training: file.training,
        },
    ))
}

/// The largest weights file worth reading: 4 bytes for each weight the architecture
/// limit allows, plus room for the header.
fn weights_limit(limits: &super::arch::ArchLimits) -> InputLimit {
    InputLimit {
        kind: "safetensors weights file",
        max_bytes: (limits.max_weights as u64)
            .saturating_mul(4)
            .saturating_add(64 << 20),
        why: "4 bytes per weight up to FERROLITE_MAX_WEIGHTS, plus 64 MiB of header; raise that variable to read larger models",
    }
}

/// Parses `model.json`, checking the format marker first so a foreign JSON file gets
/// a message saying so rather than a complaint about a missing field.
fn parse_model_json(text: &str) -> Result<ModelFile, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let format = value.get("format").and_then(|f| f.as_str());
    if format != Some(FORMAT) {
        return Err(format!(
            "not a ferrolite model file (expected \"format\": \"{FORMAT}\")"
        ));
    }
    let version = value.get("format_version").and_then(|v| v.as_u64());
    match version {
        Some(v) if v >= 1 && v <= u64::from(FORMAT_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "format_version {v} is not supported by this ferrolite (it reads 1..={FORMAT_VERSION}); upgrade ferrolite"
            ))
        }
        None => return Err("\"format_version\" is missing or not a number".into()),
    }
    serde_json::from_value(value).map_err(|e| format!("invalid model description: {e}"))
}

fn shape_text(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", dims.join(","))
}

/// Copies the weights in safetensors `bytes` into `model`, which must need exactly
/// those tensors. Names are checked before offsets, so a tensor missing from the
/// header is reported as missing rather than as the gap it leaves in the data.
pub fn set_weights(model: &mut Sequential, bytes: &[u8]) -> Result<(), String> {
    let file =
        weights_file::parse(bytes).map_err(|e| format!("not a valid safetensors file: {e}"))?;
    let mut expected: Vec<String> = Vec::new();
    for layer in model.layers() {
        for p in layer.params() {
            let name = format!("{}/{}", layer.name(), p.name);
            let entry = file.get(&name).ok_or_else(|| {
                format!(
                    "{name} is missing (the architecture needs F32 {})",
                    shape_text(&p.shape)
                )
            })?;
            if entry.dtype != "F32" {
                return Err(format!(
                    "{name} has dtype {}, the architecture needs F32",
                    entry.dtype
                ));
            }
            if entry.shape != p.shape {
                return Err(format!(
                    "{name} has shape {}, the architecture needs {}",
                    shape_text(&entry.shape),
                    shape_text(&p.shape)
                ));
            }
            expected.push(name);
        }
    }
    let mut extra: Vec<&str> = file
        .entries
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !expected.iter().any(|e| e == n))
        .collect();
    if !extra.is_empty() {
        extra.sort_unstable();
        return Err(format!(
            "{} {} not part of the architecture",
            extra.join(", "),
            if extra.len() == 1 { "is" } else { "are" }
        ));
    }
    file.check_layout()
        .map_err(|e| format!("not a valid safetensors file: {e}"))?;
    for layer in model.layers_mut() {
        let layer_name = layer.name().to_string();
        for p in layer.params_mut() {
            let name = format!("{layer_name}/{}", p.name);
            let data = file.get(&name).map(|e| file.data(e)).unwrap_or_default();
            let values: Vec<f32> = data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            p.set(&values).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    Ok(())
}
