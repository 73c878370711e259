//! The front door: the few calls a program needs to use ferrolite as a library, each a
//! thin wrapper over the modules that do the work (and that the command line uses too).
//!
//! - read: [`load`] (a `.tflite` file or a model directory), [`load_bytes`];
//! - run: [`Runner`] plans a model for input shapes and runs it on [`Value`]s, on
//!   `f32` slices ([`Runner::run_f32`]) or on `ndarray` arrays ([`Runner::run_array`]);
//! - train: [`preset`], [`mnist`], [`train`], [`export`], [`save_model_dir`];
//! - compress: [`quantize_int8`] (or [`quantize`] for the other modes), [`prune`],
//!   [`sparsify`];
//! - write: [`to_tflite`], [`save_tflite`].
//!
//! Everything is re-exported at the crate root, and every failure is one [`Error`].
//!
//! ```
//! // Run a float MNIST model on the first 8 test images.
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
//! let model = ferrolite::load(format!("{dir}/tflite/mnist_cnn_float32.tflite"))?;
//! let test = ferrolite::mnist(Some(format!("{dir}/mnist").as_ref()), ferrolite::Split::Test)?;
//! let mut runner = ferrolite::Runner::new(model)?;
//! let scores = runner.run_f32(&test.images_f32_scaled(0..8), &[8, 28, 28])?;
//! let predicted = ferrolite::top1(&scores, 10);
//! let right = predicted.iter().zip(&test.labels).filter(|(p, l)| **p == usize::from(**l)).count();
//! assert!(right >= 7, "{predicted:?}");
//! # Ok::<(), ferrolite::Error>(())
//! ```

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::interp::{Interpreter, PlanError, RunError};
use crate::ir::{DType, Model, Tensor};
use crate::nn::{Adam, FitConfig, History, NoCallback, Sequential, SparseCategoricalCrossentropy};

pub use crate::data::{Mnist, Split};
pub use crate::interp::{TensorBuf, Value};
pub use crate::nn::prune::PruneReport;
pub use crate::quant::{Int8Options, IoType, Mode, Samples};
pub use crate::verify::accuracy::Accuracy;

/// Everything the front door can fail with; each variant keeps the error of the module
/// that failed, so its message is the one the command line prints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read (missing, too large, not a regular file).
    #[error(transparent)]
    Input(#[from] crate::fsutil::InputError),
    /// A file could not be written.
    #[error(transparent)]
    Output(#[from] crate::fsutil::OutputError),
    /// The bytes are not a `.tflite` model this reader takes.
    #[error(transparent)]
    Read(#[from] crate::tflite::ReadError),
    /// The model cannot be written as `.tflite`.
    #[error(transparent)]
    Write(#[from] crate::tflite::WriteError),
    /// A model directory could not be read or saved.
    #[error(transparent)]
    ModelDir(#[from] crate::nn::NnIoError),
    /// Building, training, pruning or exporting a trainable model failed.
    #[error(transparent)]
    Nn(#[from] crate::nn::NnError),
    /// The model cannot be planned for the given input shapes.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Running a planned model failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Quantization failed.
    #[error(transparent)]
    Quant(#[from] crate::quant::QuantError),
    /// Storing weights sparse failed.
    #[error(transparent)]
    Sparse(#[from] crate::sparse::SparseError),
    /// MNIST could not be read.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// Evaluation failed (the model does not take MNIST images, or did not run).
    #[error(transparent)]
    Verify(#[from] crate::verify::VerifyError),
    /// A call was given arguments that cannot work (named in the message).
    #[error("{0}")]
    Usage(String),
}

/// The front door's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A model from `path`: a `.tflite` file, or a model directory (`model.json` +
/// `model.safetensors`, as [`save_model_dir`] and `ferrolite train` write it), which is
/// exported to a float graph as `ferrolite convert DIR` does.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tflite/mnist_cnn_int8.tflite");
/// let model = ferrolite::load(path)?;
/// assert_eq!(model.graph.inputs.len(), 1);
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/models/tiny_convnet");
/// let exported = ferrolite::load(dir)?;
/// assert!(!exported.graph.operators.is_empty());
/// # Ok::<(), ferrolite::Error>(())
/// ```
pub fn load(path: impl AsRef<Path>) -> Result<Model> {
    let path = path.as_ref();
    if path.is_dir() {
        let trainable = crate::nn::io::load(path)?;
        return export(&trainable);
    }
    let bytes = crate::fsutil::read_input(path, &crate::fsutil::InputLimit::TFLITE)?;
    load_bytes(&bytes)
}

/// A model from the bytes of a `.tflite` file.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tflite/mnist_cnn_float32.tflite");
/// let bytes = std::fs::read(path).unwrap();
/// let model = ferrolite::load_bytes(&bytes)?;
/// assert!(ferrolite::load_bytes(&bytes[..100]).is_err());
/// # let _ = model;
/// # Ok::<(), ferrolite::Error>(())
/// ```
pub fn load_bytes(bytes: &[u8]) -> Result<Model> {
    Ok(crate::tflite::read(bytes)?)
}

/// A planned model, ready to run: the interpreter with its arena, re-planned when the
/// input shapes change (a new batch size).
pub struct Runner {
    interp: Interpreter,
}

impl Runner {
    /// Plans `model` for the input shapes it declares (every operator is validated here).
    pub fn new(model: Model) -> Result<Runner> {
        Ok(Runner {
            interp: Interpreter::new(model)?,
        })
    }

    /// Plans `model` for `shapes`, one per model input (e.g. another batch size).
    ///
    /// ```
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tflite/mnist_cnn_int8.tflite");
    /// let runner = ferrolite::Runner::for_shapes(ferrolite::load(path)?, &[vec![32, 28, 28]])?;
    /// assert!(runner.arena_bytes() > 0);
    /// # Ok::<(), ferrolite::Error>(())
    /// ```
    pub fn for_shapes(model: Model, shapes: &[Vec<usize>]) -> Result<Runner> {
        let mut runner = Runner::new(model)?;
        runner.plan_for(shapes)?;
        Ok(runner)
    }

    /// Re-plans for `shapes` unless they are the planned ones.
    pub fn plan_for(&mut self, shapes: &[Vec<usize>]) -> Result<()> {
        Ok(self.interp.resize(shapes)?)
    }

    /// Bytes of the activation arena of the current plan.
    pub fn arena_bytes(&self) -> usize {
        self.interp.plan().arena_bytes()
    }

    /// The model being run.
    pub fn model(&self) -> &Model {
        self.interp.model()
    }

    /// The underlying interpreter (per-op plan details, timed runs).
    pub fn interpreter(&mut self) -> &mut Interpreter {
        &mut self.interp
    }

    /// Runs one batch: one value per model input, in the model's types; the batch
    /// (first) dimension may differ from the declared one.
    pub fn run(&mut self, inputs: &[Value]) -> Result<Vec<Value>> {
        Ok(self.interp.run(inputs)?)
    }

    /// Splits each batch over up to `threads` threads, each with its own plan and arena
    /// for its slice of the batch; outputs are bit for bit those of one thread. A runner
    /// starts on one thread; a batch of one row, or a model that mixes rows (stateful, or
    /// moving data along the batch axis), stays on one.
    ///
    /// ```
    /// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/tflite/mnist_cnn_int8.tflite");
    /// let mut runner = ferrolite::Runner::for_shapes(ferrolite::load(path)?, &[vec![8, 28, 28]])?;
    /// runner.set_threads(2)?;
    /// let input = ferrolite::Value::new(vec![8, 28, 28], ferrolite::TensorBuf::I8(vec![0; 8 * 784]));
    /// let mut outputs = runner.new_outputs();
    /// runner.run_into(&[input], &mut outputs)?;
    /// assert_eq!(outputs[0].shape, vec![8, 10]);
    /// # Ok::<(), ferrolite::Error>(())
    /// ```
    pub fn set_threads(&mut self, threads: usize) -> Result<()> {
        Ok(self.interp.set_threads(threads)?)
    }

    /// Threads the planned batch runs on (1 when it is not split).
    pub fn threads_in_use(&self) -> usize {
        self.interp.threads_in_use()
    }

    /// Zeroed outputs of the planned shapes and types, for [`Runner::run_into`].
    pub fn new_outputs(&self) -> Vec<Value> {
        self.interp.new_outputs()
    }

    /// Runs one batch of the planned shapes (see [`Runner::plan_for`]) into `outputs`
    /// made by [`Runner::new_outputs`], without allocating: for callers that run many
    /// batches of one shape.
    pub fn run_into(&mut self, inputs: &[Value], outputs: &mut [Value]) -> Result<()> {
        Ok(self.interp.run_into(inputs, outputs)?)
    }

    /// Runs a single-input model on float data of `shape` and returns its first output
    /// as float: a quantized input gets the data quantized with its own scale and zero
    /// point, a quantized output is dequantized with its own, so float and int8 models
    /// are called the same way.
    pub fn run_f32(&mut self, data: &[f32], shape: &[usize]) -> Result<Vec<f32>> {
        let input = self.single_input()?;
        let needed: usize = shape.iter().product();
        if needed != data.len() {
            return Err(Error::Usage(format!(
                "shape {shape:?} holds {needed} values, {} were given",
                data.len()
            )));
        }
        let value = Value::new(shape.to_vec(), TensorBuf::F32(data.to_vec()));
        let value = if input.dtype == DType::F32 {
            value
        } else {
            crate::quant::report::sample_for(&input, &value)?
        };
        let outputs = self.run(&[value])?;
        let (Some(first), Some(&t)) = (outputs.first(), self.model().graph.outputs.first()) else {
            return Err(Error::Usage("the model has no output".into()));
        };
        let decl = self
            .model()
            .graph
            .tensors
            .get(t)
            .ok_or_else(|| Error::Usage(format!("output tensor {t} does not exist")))?;
        to_f32(first, decl)
    }

    /// [`Runner::run_f32`] on an `ndarray` array: the array's shape is the input shape,
    /// the result has the first output's shape.
    ///
    /// ```
    /// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
    /// let mut runner = ferrolite::Runner::new(ferrolite::load(format!("{dir}/tflite/mnist_cnn_int8.tflite"))?)?;
    /// let images = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 28, 28]));
    /// let scores = runner.run_array(images.view())?;
    /// assert_eq!(scores.shape(), &[2, 10]);
    /// # Ok::<(), ferrolite::Error>(())
    /// ```
    pub fn run_array(&mut self, input: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        // Row-major copy whatever the view's strides.
        let data: Vec<f32> = input.iter().copied().collect();
        let scores = self.run_f32(&data, input.shape())?;
        let shape = self.output_shape(scores.len())?;
        ArrayD::from_shape_vec(IxDyn(&shape), scores)
            .map_err(|e| Error::Usage(format!("output of shape {shape:?}: {e}")))
    }

    /// Top-1 accuracy on the first `limit` images of `mnist` (all when `None`), in
    /// batches of 100.
    pub fn accuracy(&mut self, mnist: &Mnist, limit: Option<usize>) -> Result<Accuracy> {
        Ok(crate::verify::accuracy::evaluate(
            &mut self.interp,
            mnist,
            limit,
            100,
            |_| {},
        )?)
    }

    fn single_input(&self) -> Result<Tensor> {
        let graph = &self.model().graph;
        match graph.inputs.as_slice() {
            [t] => graph
                .tensors
                .get(*t)
                .cloned()
                .ok_or_else(|| Error::Usage(format!("input tensor {t} does not exist"))),
            more => Err(Error::Usage(format!(
                "the model has {} inputs; run_f32 takes single-input models (use run)",
                more.len()
            ))),
        }
    }

    /// The planned shape of the first output, which holds `len` values.
    fn output_shape(&self, len: usize) -> Result<Vec<usize>> {
        let plan = self.interp.plan();
        self.model()
            .graph
            .outputs
            .first()
            .and_then(|&t| plan.tensor_info(t))
            .map(|info| info.shape.clone())
            .filter(|shape| shape.iter().product::<usize>() == len)
            .ok_or_else(|| Error::Usage("the first output has no planned shape".into()))
    }
}

/// `value` as float: float data widened, integer data dequantized with `decl`'s
/// per-tensor scale and zero point.
fn to_f32(value: &Value, decl: &Tensor) -> Result<Vec<f32>> {
    if let TensorBuf::F32(v) = &value.data {
        return Ok(v.clone());
    }
    let raw = value.data.to_f64();
    if value.dtype().is_float() {
        return Ok(raw.iter().map(|&v| v as f32).collect());
    }
    let (scale, zero_point) = decl.scale_zero_point().ok_or_else(|| {
        Error::Usage(format!(
            "output '{}' is {} without a per-tensor scale and zero point",
            decl.name, decl.dtype
        ))
    })?;
    Ok(raw
        .iter()
        .map(|&q| (f64::from(scale) * (q - zero_point as f64)) as f32)
        .collect())
}

/// The index of the largest score of each row of `classes` scores (the first on ties).
pub fn top1(scores: &[f32], classes: usize) -> Vec<usize> {
    if classes == 0 {
        return Vec::new();
    }
    crate::verify::accuracy::argmax_chunks(scores, classes)
}

/// One split of MNIST from `dir`, or from the default location (`FERROLITE_DATA`, next
/// to the binary, the working directory, the vendored copy) when `None`.
pub fn mnist(dir: Option<&Path>, split: Split) -> Result<Mnist> {
    let dir = dir.map_or_else(crate::data::default_dir, Path::to_path_buf);
    Ok(crate::data::load(&dir, split)?)
}

/// A freshly initialized model of a named architecture (`mnist-cnn`, `mnist-mlp`, …,
/// see [`crate::nn::presets::NAMES`]); the same seed gives the same weights.
pub fn preset(name: &str, seed: u64) -> Result<Sequential> {
    crate::nn::presets::by_name(name, seed)
        .ok_or_else(|| {
            Error::Usage(format!(
                "unknown preset {name}; the presets are {}",
                crate::nn::presets::NAMES.join(", ")
            ))
        })?
        .map_err(Error::from)
}

/// How [`train`] and [`prune`] fit a model: Adam, sparse categorical cross-entropy.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f32,
    /// Seeds the shuffles (and dropout).
    pub seed: u64,
    /// Train on the first `limit` samples only.
    pub limit: Option<usize>,
}

impl Default for TrainOptions {
    /// The defaults of `ferrolite train`: 5 epochs of batch 32 at learning rate 1e-3.
    fn default() -> Self {
        TrainOptions {
            epochs: 5,
            batch_size: 32,
            learning_rate: 1e-3,
            seed: 42,
            limit: None,
        }
    }
}

impl TrainOptions {
    fn fit(&self) -> FitConfig {
        FitConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            validation_split: 0.0,
            shuffle: true,
            seed: self.seed,
        }
    }
}

/// The first `limit` training images of `mnist` as pixel/255 floats, and their labels.
fn training_rows(mnist: &Mnist, limit: Option<usize>) -> Result<(Vec<f32>, &[u8])> {
    let n = limit.unwrap_or(mnist.count).min(mnist.count);
    if n == 0 {
        return Err(Error::Usage("no training images (limit 0)".into()));
    }
    Ok((mnist.images_f32_scaled(0..n), mnist.labels_range(0..n)))
}

/// Trains `model` on MNIST images (Adam, cross-entropy from logits).
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mnist");
/// let train = ferrolite::mnist(Some(dir.as_ref()), ferrolite::Split::Train)?;
/// let mut model = ferrolite::preset("mnist-mlp", 1)?;
/// let options = ferrolite::TrainOptions { epochs: 1, limit: Some(256), ..Default::default() };
/// let history = ferrolite::train(&mut model, &train, &options)?;
/// assert_eq!(history.epochs.len(), 1);
/// # Ok::<(), ferrolite::Error>(())
/// ```
pub fn train(model: &mut Sequential, mnist: &Mnist, options: &TrainOptions) -> Result<History> {
    if options.epochs == 0 || options.batch_size == 0 {
        return Err(Error::Usage(
            "training needs at least 1 epoch and a batch of at least 1".into(),
        ));
    }
    let (x, labels) = training_rows(mnist, options.limit)?;
    let shape = model.input_shape().to_vec();
    let data = crate::nn::Dataset::new(&x, &shape, labels)?;
    let mut optimizer = Adam::new(options.learning_rate);
    Ok(crate::nn::fit(
        model,
        &mut optimizer,
        &mut SparseCategoricalCrossentropy,
        &data,
        &options.fit(),
        &mut NoCallback,
    )?)
}

/// How [`prune`] prunes: TFMOT's `ConstantSparsity(sparsity, begin_step=0)`, the masks set
/// at the first step and recomputed every 100 steps, so even a short run ends at exactly
/// `sparsity`. (For TFMOT's gradual polynomial schedule, call
/// [`crate::nn::prune::prune`] with a [`crate::nn::prune::Schedule`].)
#[derive(Clone, Debug, PartialEq)]
pub struct PruneOptions {
    /// The fraction of each pruned kernel that ends as exact zeros, in [0, 1).
    pub sparsity: f32,
    /// `[rows, cols]` blocks for Dense kernels (`[1, 16]` is what LiteRT's int8 sparse
    /// FULLY_CONNECTED reads); with blocks only Dense layers are pruned.
    pub block: Option<[usize; 2]>,
    pub train: TrainOptions,
}

impl Default for PruneOptions {
    /// The defaults of `ferrolite prune` (80%, element masks, 2 epochs of batch 128).
    fn default() -> Self {
        PruneOptions {
            sparsity: 0.8,
            block: None,
            train: TrainOptions {
                epochs: 2,
                batch_size: 128,
                ..TrainOptions::default()
            },
        }
    }
}

/// Fine-tunes `model` on MNIST while pruning its Conv2D / Dense kernels by magnitude;
/// when it returns, the pruned weights are exact zeros.
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mnist");
/// let train = ferrolite::mnist(Some(dir.as_ref()), ferrolite::Split::Train)?;
/// let mut model = ferrolite::preset("mnist-mlp", 1)?;
/// let options = ferrolite::PruneOptions {
///     sparsity: 0.5,
///     train: ferrolite::TrainOptions { epochs: 1, batch_size: 32, limit: Some(128), ..Default::default() },
///     ..Default::default()
/// };
/// let report = ferrolite::prune(&mut model, &train, &options)?;
/// for layer in &report.layers {
///     assert!((layer.sparsity() - 0.5).abs() < 0.01, "{}: {}", layer.layer, layer.sparsity());
/// }
/// # Ok::<(), ferrolite::Error>(())
/// ```
pub fn prune(model: &mut Sequential, mnist: &Mnist, options: &PruneOptions) -> Result<PruneReport> {
    use crate::nn::prune::{self as pruning, PruneConfig, Schedule};
    let t = &options.train;
    if t.epochs == 0 || t.batch_size == 0 {
        return Err(Error::Usage(
            "pruning needs at least 1 epoch and a batch of at least 1".into(),
        ));
    }
    let (x, labels) = training_rows(mnist, t.limit)?;
    let shape = model.input_shape().to_vec();
    let data = crate::nn::Dataset::new(&x, &shape, labels)?;
    let fit = t.fit();
    let schedule = Schedule::constant_sparsity(options.sparsity, 0)?;
    let config = PruneConfig {
        schedule,
        block: options.block,
        layers: pruning::default_layers(model, options.block),
        learning_rate: t.learning_rate,
        fit,
    };
    Ok(pruning::prune(model, &data, &config, &mut NoCallback)?)
}

/// The float graph of a trainable model, ready to quantize or write.
pub fn export(model: &Sequential) -> Result<Model> {
    Ok(crate::nn::export(model)?)
}

/// Saves a trainable model as a model directory (`model.json` + `model.safetensors`).
pub fn save_model_dir(dir: impl AsRef<Path>, model: &Sequential) -> Result<()> {
    Ok(crate::nn::io::save(dir.as_ref(), model, None)?)
}

/// Full-integer int8 quantization of a float model (int8 inputs and outputs, weights per
/// channel), calibrated on `samples`, e.g. [`Samples::mnist_train`].
///
/// ```
/// let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");
/// let float = ferrolite::load(format!("{dir}/tflite/mnist_cnn_float32.tflite"))?;
/// let samples = ferrolite::Samples::mnist_train(&float, format!("{dir}/mnist").as_ref(), 10)?;
/// let int8 = ferrolite::quantize_int8(&float, &samples)?;
/// assert!(ferrolite::to_tflite(&int8)?.len() < ferrolite::to_tflite(&float)?.len() / 3);
/// # Ok::<(), ferrolite::Error>(())
/// ```
pub fn quantize_int8(model: &Model, samples: &Samples) -> Result<Model> {
    quantize(model, Mode::Int8, &Int8Options::default(), Some(samples))
}

/// Quantizes a float model in `mode`; int8 needs calibration `samples`, the other modes
/// ignore them.
pub fn quantize(
    model: &Model,
    mode: Mode,
    options: &Int8Options,
    samples: Option<&Samples>,
) -> Result<Model> {
    if mode != Mode::None {
        crate::quant::check_float_model(model)?;
    }
    Ok(crate::quant::convert(model, mode, options, samples)?.model)
}

/// Stores every weight with enough exact zeros in the smallest sparse encoding LiteRT
/// runs, when that makes the file smaller (what `ferrolite convert` does by default).
pub fn sparsify(model: &Model) -> Result<Model> {
    let (sparse, _) = crate::sparse::sparsify(model, &crate::sparse::SparsifyOptions::default())?;
    Ok(sparse)
}

/// The `.tflite` bytes of `model`.
pub fn to_tflite(model: &Model) -> Result<Vec<u8>> {
    Ok(crate::tflite::write(model)?)
}

/// Writes `model` as a `.tflite` file (atomically: a reader never sees half a file) and
/// returns its size in bytes.
pub fn save_tflite(model: &Model, path: impl AsRef<Path>) -> Result<usize> {
    let bytes = to_tflite(model)?;
    crate::fsutil::write_atomic(path.as_ref(), &bytes)?;
    Ok(bytes.len())
}
