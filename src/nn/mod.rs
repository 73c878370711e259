//! The training engine: Keras-style layers (forward and backward), losses, optimizers,
//! training loops. Knows nothing about flatbuffers; an exporter maps layers to IR ops.
//!
//! # Shape conventions
//! Tensors are dense f32, row-major, batch first, NHWC for images (as Keras). Layer
//! shapes (`BuiltLayer::input_shape`, `Sequential::output_shape`) are per sample, without
//! the batch dimension.
//!
//! # Building a model
//! ```no_run
//! use ferrolite::nn::{presets, Sequential, LayerSpec, Conv2DConfig, Activation, Padding};
//! // A preset ...
//! let model = presets::mnist_cnn(42).unwrap();
//! // ... or by hand: layers get Keras names (conv2d, conv2d_1, dense, ...).
//! let model = Sequential::new(
//!     &[28, 28],
//!     vec![
//!         LayerSpec::Reshape { target_shape: vec![28, 28, 1] },
//!         LayerSpec::Conv2D(Conv2DConfig {
//!             activation: Activation::Relu,
//!             ..Conv2DConfig::new(12, [3, 3])
//!         }),
//!         LayerSpec::Flatten {},
//!         LayerSpec::dense(10),
//!     ],
//!     42,
//! )
//! .unwrap();
//! println!("{}", model.summary());
//! ```
//!
//! # Weights and architecture (for model files and export)
//! * [`Sequential::config`] gives a serde-serializable [`ModelConfig`]: the input shape and
//!   one `{"class_name": "Conv2D", "config": {...}, "name": "conv2d"}` entry per layer;
//!   [`Sequential::from_config`] rebuilds the model (weights freshly initialized).
//! * [`BuiltLayer::params`] / [`BuiltLayer::params_mut`] give the weights in Keras order and Keras
//!   layouts: Conv2D `kernel` `[kh,kw,in,out]` + `bias` `[out]`; DepthwiseConv2D
//!   `depthwise_kernel` `[kh,kw,in,mult]` + `bias` `[in*mult]`; Dense `kernel` `[in,out]` +
//!   `bias`; BatchNormalization `gamma`, `beta`, `moving_mean`, `moving_variance` (the
//!   last two not trainable). [`fold_batch_norm`] folds a BatchNormalization into the
//!   preceding Conv2D/Depthwise/Dense weights for export.
//!
//! # Model files and export
//! [`io::save`] / [`io::load`] keep a model in a directory (`model.json` with the
//! architecture, seed and training record; `model.safetensors` with the weights as
//! `layer/param` F32 tensors in Keras layouts). [`export::export`] turns a model into a
//! float [`crate::ir::Model`] laid out as TensorFlow's converter would (fused ReLU,
//! folded BatchNormalization, resizable batch), ready for [`crate::tflite::write`].
//!
//! # Training
//! [`fit`] is Keras' `model.fit`: per-epoch shuffling, `validation_split` (taken from the
//! end of the data, as Keras does), a [`Callback`] for per-batch progress, epoch
//! summaries and pre- and post-step hooks (pruning updates and applies its masks
//! there, see [`prune`]). For custom loops
//! (distillation), the pieces are public:
//! ```text
//! let logits = model.forward(batch.x, Mode::train(step_seed))?;   // caches activations
//! let (loss, dlogits) = my_loss.compute(&logits, &batch)?;          // or any gradient
//! model.backward(dlogits)?;                                          // fills Param::grad
//! optimizer.step(&mut model.trainable_params_mut())?;
//! ```
//! [`train_step`] does exactly this with any [`Loss`] (e.g. a distillation loss holding
//! teacher logits looked up by `Batch::indices`).
//!
//! [`distill()`] trains a student through [`fit`] against a frozen teacher whose logits are
//! computed once ([`teacher_logits`]; [`distill_from_logits`] reuses them across runs), so
//! a student trained alone with the same [`FitConfig`] sees the same batches.
//!
//! # Determinism
//! Everything random comes from a seed ([`rng::Rng`]): initialization (model seed),
//! shuffling (fit seed and epoch), dropout masks (model seed and step). Work is split
//! across rayon threads in chunks chosen from the shapes only, and partial weight
//! gradients are summed in chunk order, so results are bit-identical for any thread
//! count on the same machine.

pub mod arch;
pub mod block_layout;
mod conv;
pub mod distill;
pub mod export;
mod gemm;
pub mod io;
mod layers;
mod loss;
mod model;
mod optim;
mod pool;
pub mod presets;
pub mod prune;
pub mod rng;
mod train;
mod weights_file;

pub use distill::{
    distill, distill_from_logits, distillation_loss, teacher_logits, DistillCallback,
    DistillConfig, DistillEpoch, DistillLoss, DistillProgress, DistillReport, DistillTerms,
    DistillationRecord,
};
pub use export::export;
pub use io::NnIoError;
pub use layers::{
    fold_batch_norm, Activation, BuiltLayer, Conv2DConfig, DenseConfig, DepthwiseConv2DConfig,
    Layer, LayerSpec, Mode, Padding, Param, PoolConfig,
};
pub use loss::{accuracy, sparse_softmax_cross_entropy, Loss, SparseCategoricalCrossentropy};
pub use model::{LayerEntry, ModelConfig, Sequential};
pub use optim::{Adam, Optimizer, Sgd};
pub use train::{
    evaluate, fit, gather_batch, train_step, training_samples, Batch, BatchProgress, Callback,
    Dataset, EpochSummary, FitConfig, History, NoCallback, StepStats,
};

/// Why a model could not be built, trained or run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NnError {
    /// A layer cannot accept its input shape or has a bad configuration.
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },
    /// Data or tensors with the wrong shape or size.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// `backward` without a preceding training-mode `forward`, optimizer state that
    /// does not match the parameters, and similar misuse.
    #[error("{0}")]
    State(String),
}

pub(crate) fn layer_err(layer: &str, message: impl Into<String>) -> NnError {
    NnError::Layer {
        layer: layer.to_string(),
        message: message.into(),
    }
}

/// A dense f32 tensor, row-major. The first dimension is the batch wherever a batch is
/// involved.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// Fails if `data.len()` is not the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, NnError> {
        let n = checked_numel(&shape)?;
        if n != data.len() {
            return Err(NnError::Shape(format!(
                "shape {shape:?} needs {n} values, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    pub fn zeros(shape: Vec<usize>) -> Result<Self, NnError> {
        let n = checked_numel(&shape)?;
        Ok(Tensor {
            shape,
            data: vec![0.0; n],
        })
    }

    /// The batch size (first dimension; 0 for a scalar).
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }
}

pub(crate) fn checked_numel(shape: &[usize]) -> Result<usize, NnError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| NnError::Shape(format!("shape {shape:?} overflows")))
}
