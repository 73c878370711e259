//! Layers: Keras-style configurations ([`LayerSpec`]), weights ([`Param`]), the
//! [`Layer`] trait every layer kind implements (one file each, with the cache its
//! backward pass needs) and [`BuiltLayer`], a layer placed in a model.

mod activation;
mod batch_norm;
mod conv2d;
mod dense;
mod depthwise;
mod dropout;
mod permute;
mod pooling;
mod reshape;
mod spec;

use std::fmt;

pub use activation::Activation;
pub use batch_norm::fold_batch_norm;
pub use permute::permute_axes;
pub use spec::{Conv2DConfig, DenseConfig, DepthwiseConv2DConfig, LayerSpec, Padding, PoolConfig};

use super::gemm::{par_gemm, Mat};
use super::rng::Rng;
use super::{checked_numel, layer_err, NnError, Tensor};

/// One weight tensor of a layer, with its gradient from the last `backward`.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Keras' weight name: `kernel`, `bias`, `depthwise_kernel`, `gamma`, `beta`,
    /// `moving_mean`, `moving_variance`.
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Vec<f32>,
    /// Same length as `value` for trainable weights, empty otherwise.
    pub grad: Vec<f32>,
    pub trainable: bool,
}

impl Param {
    fn new(name: &str, shape: Vec<usize>, value: Vec<f32>, trainable: bool) -> Self {
        let grad = if trainable {
            vec![0.0; value.len()]
        } else {
            Vec::new()
        };
        Param {
            name: name.to_string(),
            shape,
            value,
            grad,
            trainable,
        }
    }

    /// Replaces the values (e.g. loaded from a file); the length must match.
    pub fn set(&mut self, values: &[f32]) -> Result<(), NnError> {
        if values.len() != self.value.len() {
            return Err(NnError::Shape(format!(
                "weight {} {:?} needs {} values, got {}",
                self.name,
                self.shape,
                self.value.len(),
                values.len()
            )));
        }
        self.value.copy_from_slice(values);
        Ok(())
    }
}

/// Forward-pass mode: training (batch statistics, dropout, caches for backward) or
/// inference. `seed` drives dropout; pass a different one per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub training: bool,
    pub seed: u64,
}

impl Mode {
    pub fn train(seed: u64) -> Self {
        Mode {
            training: true,
            seed,
        }
    }

    pub fn inference() -> Self {
        Mode {
            training: false,
            seed: 0,
        }
    }
}

/// The computation of one layer kind on flat row-major batches. Shapes are checked
/// by [`BuiltLayer`] before a call reaches an implementation: `x` holds `batch`
/// samples of the layer's input shape, `dy` `batch` samples of its output shape.
pub trait Layer: fmt::Debug + Send + Sync {
    /// Computes the output. A training-mode call keeps what [`Layer::backward`] needs
    /// in the layer's own cache; an inference-mode call drops it.
    fn forward(&mut self, x: Vec<f32>, batch: usize, mode: Mode) -> Result<Vec<f32>, NnError>;

    /// Back-propagates `dy` through the last training-mode forward (of `batch`
    /// samples): overwrites every trainable [`Param::grad`] and returns the input
    /// gradient when `need_dx` (it may return it anyway; the caller drops it).
    fn backward(
        &mut self,
        dy: Vec<f32>,
        batch: usize,
        need_dx: bool,
    ) -> Result<Option<Vec<f32>>, NnError>;

    /// Weights in Keras order.
    fn params(&self) -> &[Param] {
        &[]
    }

    fn params_mut(&mut self) -> &mut [Param] {
        &mut []
    }

    /// A copy behind a new box, so that models holding `Box<dyn Layer>` can be cloned.
    fn clone_box(&self) -> Box<dyn Layer>;
}

impl Clone for Box<dyn Layer> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// The error of a backward pass whose layer kept no cache.
fn no_cache(kind: &str) -> NnError {
    NnError::State(format!(
        "{kind}: backward needs a training-mode forward first"
    ))
}

/// A layer placed in a model: its name, configuration, per-sample shapes and the
/// [`Layer`] that computes it.
#[derive(Clone, Debug)]
pub struct BuiltLayer {
    name: String,
    spec: LayerSpec,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    layer: Box<dyn Layer>,
    /// The batch size of the last forward if it was a training-mode one: backward
    /// is only defined after such a forward.
    trained_batch: Option<usize>,
}

impl BuiltLayer {
    /// Builds `spec` for per-sample `input_shape`, initializing weights from `rng`
    /// (Glorot-uniform kernels, zero biases, BatchNorm gamma 1 / beta 0 / mean 0 /
    /// variance 1). `index` is the layer's position, which seeds its dropout stream.
    pub fn new(
        spec: LayerSpec,
        name: String,
        index: usize,
        input_shape: &[usize],
        rng: &mut Rng,
    ) -> Result<Self, NnError> {
        let n = name.as_str();
        // Bounds every size before glorot_uniform or a window loop sees it.
        super::arch::check_layer(&spec, n, input_shape, &super::arch::ArchLimits::from_env()?)?;
        let (layer, output_shape): (Box<dyn Layer>, Vec<usize>) = match &spec {
            LayerSpec::Reshape { target_shape } => {
                same_numel(n, input_shape, target_shape)?;
                (Box::new(reshape::Reshape), target_shape.clone())
            }
            LayerSpec::Flatten {} => (
                Box::new(reshape::Reshape),
                vec![checked_numel(input_shape)?],
            ),
            LayerSpec::Permute { dims } => {
                let (layer, out) = permute::Permute::new(n, dims, input_shape)?;
                (Box::new(layer), out)
            }
            LayerSpec::Conv2D(c) => {
                let (layer, out) = conv2d::Conv2D::new(n, c, input_shape, rng)?;
                (Box::new(layer), out)
            }
            LayerSpec::DepthwiseConv2D(c) => {
                let (layer, out) = depthwise::DepthwiseConv2D::new(n, c, input_shape, rng)?;
                (Box::new(layer), out)
            }
            LayerSpec::Dense(c) => {
                let (layer, out) = dense::Dense::new(n, c, input_shape, rng)?;
                (Box::new(layer), out)
            }
            LayerSpec::MaxPooling2D(p) => {
                let (layer, out) = pooling::MaxPooling2D::new(n, p, input_shape)?;
                (Box::new(layer), out)
            }
            LayerSpec::AveragePooling2D(p) => {
                let (layer, out) = pooling::AveragePooling2D::new(n, p, input_shape)?;
                (Box::new(layer), out)
            }
            LayerSpec::GlobalAveragePooling2D {} => {
                let (layer, out) = pooling::GlobalAveragePooling2D::new(n, input_shape)?;
                (Box::new(layer), out)
            }
            LayerSpec::Dropout { rate } => (
                Box::new(dropout::Dropout::new(n, *rate, index)?),
                input_shape.to_vec(),
            ),
            LayerSpec::BatchNormalization { momentum, epsilon } => (
                Box::new(batch_norm::BatchNormalization::new(
                    n,
                    *momentum,
                    *epsilon,
                    input_shape,
                )?),
                input_shape.to_vec(),
            ),
            LayerSpec::ReLU { max_value } => (
                Box::new(activation::Relu::new(n, *max_value)?),
                input_shape.to_vec(),
            ),
            LayerSpec::LeakyReLU { alpha } => (
                Box::new(activation::LeakyRelu::new(*alpha)),
                input_shape.to_vec(),
            ),
            LayerSpec::Activation { activation } => (
                Box::new(activation::ActivationLayer::new(*activation, input_shape)),
                input_shape.to_vec(),
            ),
        };
        if output_shape.contains(&0)
            || output_shape.is_empty() && !matches!(spec, LayerSpec::Reshape { .. })
        {
            return Err(layer_err(
                n,
                format!("output shape {output_shape:?} is empty"),
            ));
        }
        Ok(BuiltLayer {
            name,
            spec,
            input_shape: input_shape.to_vec(),
            output_shape,
            layer,
            trained_batch: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> &LayerSpec {
        &self.spec
    }

    /// Per-sample input shape.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Per-sample output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Weights in Keras order.
    pub fn params(&self) -> &[Param] {
        self.layer.params()
    }

    pub fn params_mut(&mut self) -> &mut [Param] {
        self.layer.params_mut()
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params().iter().find(|p| p.name == name)
    }

    /// Number of weights (trainable, non-trainable).
    pub fn param_count(&self) -> (usize, usize) {
        self.params().iter().fold((0, 0), |(t, n), p| {
            if p.trainable {
                (t + p.value.len(), n)
            } else {
                (t, n + p.value.len())
            }
        })
    }

    fn input_numel(&self) -> usize {
        self.input_shape.iter().product()
    }

    fn output_numel(&self) -> usize {
        self.output_shape.iter().product()
    }

    /// Runs the layer on a batch `[batch, input_shape...]`. In training mode it keeps
    /// what [`BuiltLayer::backward`] needs.
    pub fn forward(&mut self, x: Tensor, mode: Mode) -> Result<Tensor, NnError> {
        let batch = x.batch();
        if x.shape.len() != self.input_shape.len() + 1
            || x.shape.get(1..) != Some(&self.input_shape[..])
            || x.data.len() != batch * self.input_numel()
        {
            return Err(NnError::Shape(format!(
                "layer {} expects [batch, {:?}], got {:?}",
                self.name, self.input_shape, x.shape
            )));
        }
        self.trained_batch = None;
        let y = self.layer.forward(x.data, batch, mode)?;
        self.trained_batch = mode.training.then_some(batch);
        Tensor::new(with_batch(&self.output_shape, batch), y)
    }

    /// Back-propagates `dy` (`[batch, output_shape...]`) through the last training-mode
    /// forward: overwrites every trainable [`Param::grad`] with the gradient of the
    /// loss, and returns the input gradient if `need_dx` (the first layer of a model
    /// does not need one, which saves the most expensive product).
    pub fn backward(&mut self, dy: Tensor, need_dx: bool) -> Result<Option<Tensor>, NnError> {
        let Some(batch) = self.trained_batch else {
            return Err(NnError::State(format!(
                "layer {}: backward needs a training-mode forward first",
                self.name
            )));
        };
        if dy.shape != with_batch(&self.output_shape, batch)
            || dy.data.len() != batch * self.output_numel()
        {
            return Err(NnError::Shape(format!(
                "layer {}: output gradient {:?} does not match output [{batch}, {:?}]",
                self.name, dy.shape, self.output_shape
            )));
        }
        match self.layer.backward(dy.data, batch, need_dx)? {
            Some(dx) if need_dx => Ok(Some(Tensor::new(with_batch(&self.input_shape, batch), dx)?)),
            _ => Ok(None),
        }
    }
}

fn with_batch(shape: &[usize], batch: usize) -> Vec<usize> {
    let mut s = Vec::with_capacity(shape.len() + 1);
    s.push(batch);
    s.extend_from_slice(shape);
    s
}

fn same_numel(layer: &str, a: &[usize], b: &[usize]) -> Result<(), NnError> {
    let (na, nb) = (checked_numel(a)?, checked_numel(b)?);
    if na != nb {
        return Err(layer_err(
            layer,
            format!("cannot reshape {a:?} ({na} values) to {b:?} ({nb} values)"),
        ));
    }
    Ok(())
}

fn positive_pair(layer: &str, what: &str, v: [usize; 2]) -> Result<(), NnError> {
    if v[0] == 0 || v[1] == 0 {
        return Err(layer_err(
            layer,
            format!("{what} must be positive, got {v:?}"),
        ));
    }
    Ok(())
}

/// Glorot-uniform values for a kernel of `shape` with Keras' fan computation: the
/// last axis is the output, the one before it the input, the rest the receptive field.
fn glorot_uniform(shape: &[usize], rng: &mut Rng) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let (fan_in, fan_out) = match shape {
        [] => (1, 1),
        [d] => (*d, *d),
        [rest @ .., i, o] => {
            let field: usize = rest.iter().product();
            (i * field, o * field)
        }
    };
    let limit = (6.0 / (fan_in + fan_out).max(1) as f64).sqrt() as f32;
    (0..n).map(|_| rng.uniform(-limit, limit)).collect()
}

/// A Glorot-initialized kernel named `kernel_name`, then a zero bias of `bias_len`
/// values when `use_bias`: the weights of Conv2D, DepthwiseConv2D and Dense.
fn kernel_and_bias(
    kernel_name: &str,
    kernel_shape: Vec<usize>,
    bias_len: usize,
    use_bias: bool,
    rng: &mut Rng,
) -> Vec<Param> {
    let kernel = glorot_uniform(&kernel_shape, rng);
    let mut params = vec![Param::new(kernel_name, kernel_shape, kernel, true)];
    if use_bias {
        params.push(Param::new(
            "bias",
            vec![bias_len],
            vec![0.0; bias_len],
            true,
        ));
    }
    params
}

/// The values of weight `i` of `params`, empty when there is none (a missing bias).
fn weight(params: &[Param], i: usize) -> &[f32] {
    params
        .get(i)
        .map(|p| p.value.as_slice())
        .unwrap_or_default()
}

fn add_bias(y: &mut [f32], bias: &[f32]) {
    if bias.is_empty() {
        return;
    }
    for row in y.chunks_mut(bias.len()) {
        row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

/// Column sums of a row-major matrix, as the GEMM `ones(1×rows)·data` (a zero-stride
/// operand): vectorized, and split in blocks fixed by the shape, so deterministic.
fn column_sums(data: &[f32], cols: usize, out: &mut [f32]) {
    let cols = cols.max(1);
    let rows = data.len() / cols;
    if data.len() < 1 << 16 {
        out.fill(0.0);
        for row in data.chunks_exact(cols) {
            out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
        }
        return;
    }
    let ones = Mat {
        data: &[1.0],
        rs: 0,
        cs: 0,
    };
    par_gemm(1, rows, cols, ones, Mat::rows(data, cols), out);
}
