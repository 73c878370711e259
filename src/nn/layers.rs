//! Layers: Keras-style configurations ([`LayerSpec`]), weights ([`Param`]) and the
//! forward / backward passes ([`Layer`]).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::conv::{self, direct_conv, Geom};
use super::gemm::{par_gemm, Mat};
use super::pool;
use super::rng::{derive, Rng};
use super::{checked_numel, layer_err, NnError, Tensor};

/// Keras' `padding` argument.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    #[default]
    Valid,
    Same,
}

impl Padding {
    pub fn to_ir(self) -> crate::ir::Padding {
        match self {
            Padding::Valid => crate::ir::Padding::Valid,
            Padding::Same => crate::ir::Padding::Same,
        }
    }
}

/// An activation, fused into Conv2D / DepthwiseConv2D / Dense (Keras `activation=`)
/// or as a layer of its own ([`LayerSpec::Activation`]). Softmax acts on the last axis.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    Softmax,
}

impl Activation {
    /// Applies in place to rows of `channels` values.
    pub(crate) fn apply(self, data: &mut [f32], channels: usize) {
        match self {
            Activation::Linear => {}
            Activation::Relu => data.iter_mut().for_each(|v| *v = v.max(0.0)),
            Activation::Relu6 => data.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
            Activation::Sigmoid => data.iter_mut().for_each(|v| *v = sigmoid(*v)),
            Activation::Tanh => data.iter_mut().for_each(|v| *v = v.tanh()),
            Activation::Softmax => {
                for row in data.chunks_mut(channels.max(1)) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let mut sum = 0.0f32;
                    for v in row.iter_mut() {
                        *v = (*v - max).exp();
                        sum += *v;
                    }
                    row.iter_mut().for_each(|v| *v /= sum);
                }
            }
        }
    }

    /// Turns the output gradient `dy` into the pre-activation gradient, in place, from
    /// the activation's output `y` (every derivative here is a function of it).
    pub(crate) fn backward(self, y: &[f32], dy: &mut [f32], channels: usize) {
        match self {
            Activation::Linear => {}
            // Selects rather than branches, so the loops vectorize.
            Activation::Relu => dy
                .iter_mut()
                .zip(y)
                .for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 }),
            Activation::Relu6 => dy
                .iter_mut()
                .zip(y)
                .for_each(|(d, &y)| *d = if y > 0.0 && y < 6.0 { *d } else { 0.0 }),
            Activation::Sigmoid => dy.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (1.0 - y)),
            Activation::Tanh => dy.iter_mut().zip(y).for_each(|(d, &y)| *d *= 1.0 - y * y),
            Activation::Softmax => {
                let c = channels.max(1);
                for (d, y) in dy.chunks_mut(c).zip(y.chunks(c)) {
                    let dot: f32 = d.iter().zip(y).map(|(a, b)| a * b).sum();
                    d.iter_mut().zip(y).for_each(|(d, &y)| *d = y * (*d - dot));
                }
            }
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn default_one_one() -> [usize; 2] {
    [1, 1]
}
fn default_true() -> bool {
    true
}

/// Keras `Conv2D` arguments.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Conv2DConfig {
    pub filters: usize,
    pub kernel_size: [usize; 2],
    #[serde(default = "default_one_one")]
    pub strides: [usize; 2],
    #[serde(default)]
    pub padding: Padding,
    #[serde(default = "default_one_one")]
    pub dilation_rate: [usize; 2],
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
}

impl Conv2DConfig {
    /// Keras defaults: stride 1, `valid`, no dilation, linear, with bias.
    pub fn new(filters: usize, kernel_size: [usize; 2]) -> Self {
        Conv2DConfig {
            filters,
            kernel_size,
            strides: [1, 1],
            padding: Padding::Valid,
            dilation_rate: [1, 1],
            activation: Activation::Linear,
            use_bias: true,
        }
    }
}

fn default_multiplier() -> usize {
    1
}

/// Keras `DepthwiseConv2D` arguments.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DepthwiseConv2DConfig {
    pub kernel_size: [usize; 2],
    #[serde(default = "default_one_one")]
    pub strides: [usize; 2],
    #[serde(default)]
    pub padding: Padding,
    #[serde(default = "default_multiplier")]
    pub depth_multiplier: usize,
    #[serde(default = "default_one_one")]
    pub dilation_rate: [usize; 2],
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
}

impl DepthwiseConv2DConfig {
    pub fn new(kernel_size: [usize; 2]) -> Self {
        DepthwiseConv2DConfig {
            kernel_size,
            strides: [1, 1],
            padding: Padding::Valid,
            depth_multiplier: 1,
            dilation_rate: [1, 1],
            activation: Activation::Linear,
            use_bias: true,
        }
    }
}

/// Keras `Dense` arguments. Acts on the last axis (leading axes are batch-like).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DenseConfig {
    pub units: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "default_true")]
    pub use_bias: bool,
}

/// Keras `MaxPooling2D` / `AveragePooling2D` arguments; `strides: None` means the
/// pool size, as in Keras.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PoolConfig {
    pub pool_size: [usize; 2],
    #[serde(default)]
    pub strides: Option<[usize; 2]>,
    #[serde(default)]
    pub padding: Padding,
}

impl PoolConfig {
    pub fn new(pool_size: [usize; 2]) -> Self {
        PoolConfig {
            pool_size,
            strides: None,
            padding: Padding::Valid,
        }
    }

    fn strides(&self) -> [usize; 2] {
        self.strides.unwrap_or(self.pool_size)
    }
}

fn default_momentum() -> f32 {
    0.99
}
fn default_bn_epsilon() -> f32 {
    1e-3
}
fn default_leaky_alpha() -> f32 {
    0.3
}

/// A layer's class and configuration, serialized the Keras way:
/// `{"class_name": "Conv2D", "config": {"filters": 12, ...}}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "class_name", content = "config")]
pub enum LayerSpec {
    /// Reshapes each sample (element count must match).
    Reshape {
        target_shape: Vec<usize>,
    },
    Conv2D(Conv2DConfig),
    DepthwiseConv2D(DepthwiseConv2DConfig),
    Dense(DenseConfig),
    MaxPooling2D(PoolConfig),
    AveragePooling2D(PoolConfig),
    GlobalAveragePooling2D {},
    /// Keras `Permute`: reorders the per-sample axes; `dims` is 1-based and excludes
    /// the batch (`[3, 1, 2]` turns [h, w, c] into [c, h, w]).
    Permute {
        dims: Vec<usize>,
    },
    Flatten {},
    /// Inverted dropout: in training, zeroes each value with probability `rate` and
    /// scales the rest by 1/(1-rate); identity at inference.
    Dropout {
        rate: f32,
    },
    /// Normalizes the last axis. Training uses the batch statistics (biased variance)
    /// and updates `moving = moving·momentum + batch·(1-momentum)`; inference uses the
    /// moving statistics.
    BatchNormalization {
        #[serde(default = "default_momentum")]
        momentum: f32,
        #[serde(default = "default_bn_epsilon")]
        epsilon: f32,
    },
    /// `max(x, 0)`, capped at `max_value` when given (ReLU6 = `max_value: 6`).
    ReLU {
        #[serde(default)]
        max_value: Option<f32>,
    },
    /// `x` for x > 0, `alpha·x` otherwise (Keras 3 calls it `negative_slope`).
    LeakyReLU {
        #[serde(default = "default_leaky_alpha", alias = "negative_slope")]
        alpha: f32,
    },
    Activation {
        activation: Activation,
    },
}

impl LayerSpec {
    pub fn dense(units: usize) -> Self {
        LayerSpec::Dense(DenseConfig {
            units,
            activation: Activation::Linear,
            use_bias: true,
        })
    }

    pub fn dense_with(units: usize, activation: Activation) -> Self {
        LayerSpec::Dense(DenseConfig {
            units,
            activation,
            use_bias: true,
        })
    }

    /// BatchNormalization with Keras defaults (momentum 0.99, epsilon 1e-3).
    pub fn batch_norm() -> Self {
        LayerSpec::BatchNormalization {
            momentum: default_momentum(),
            epsilon: default_bn_epsilon(),
        }
    }

    pub fn relu6() -> Self {
        LayerSpec::ReLU {
            max_value: Some(6.0),
        }
    }

    /// Keras' class name.
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerSpec::Reshape { .. } => "Reshape",
            LayerSpec::Conv2D(_) => "Conv2D",
            LayerSpec::DepthwiseConv2D(_) => "DepthwiseConv2D",
            LayerSpec::Dense(_) => "Dense",
            LayerSpec::MaxPooling2D(_) => "MaxPooling2D",
            LayerSpec::AveragePooling2D(_) => "AveragePooling2D",
            LayerSpec::GlobalAveragePooling2D {} => "GlobalAveragePooling2D",
            LayerSpec::Permute { .. } => "Permute",
            LayerSpec::Flatten {} => "Flatten",
            LayerSpec::Dropout { .. } => "Dropout",
            LayerSpec::BatchNormalization { .. } => "BatchNormalization",
            LayerSpec::ReLU { .. } => "ReLU",
            LayerSpec::LeakyReLU { .. } => "LeakyReLU",
            LayerSpec::Activation { .. } => "Activation",
        }
    }

    /// The prefix of Keras' automatic layer names (`conv2d`, `dense`, ...).
    pub fn default_name(&self) -> &'static str {
        match self {
            LayerSpec::Reshape { .. } => "reshape",
            LayerSpec::Conv2D(_) => "conv2d",
            LayerSpec::DepthwiseConv2D(_) => "depthwise_conv2d",
            LayerSpec::Dense(_) => "dense",
            LayerSpec::MaxPooling2D(_) => "max_pooling2d",
            LayerSpec::AveragePooling2D(_) => "average_pooling2d",
            LayerSpec::GlobalAveragePooling2D {} => "global_average_pooling2d",
            LayerSpec::Permute { .. } => "permute",
            LayerSpec::Flatten {} => "flatten",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::BatchNormalization { .. } => "batch_normalization",
            LayerSpec::ReLU { .. } => "re_lu",
            LayerSpec::LeakyReLU { .. } => "leaky_re_lu",
            LayerSpec::Activation { .. } => "activation",
        }
    }
}

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

/// What a training-mode forward keeps for backward.
#[derive(Clone, Debug, Default)]
struct Cache {
    valid: bool,
    batch: usize,
    /// The input (Dense, Depthwise, ReLU, LeakyReLU) or im2col matrix (Conv2D).
    x: Vec<f32>,
    /// The output after activation, for activation derivatives.
    y: Vec<f32>,
    /// Dropout mask, BatchNorm normalized input.
    aux: Vec<f32>,
    /// BatchNorm 1/sqrt(var+eps).
    stat: Vec<f32>,
    /// MaxPool winners.
    idx: Vec<u32>,
}

/// A built layer: configuration, shapes, weights and backward caches.
#[derive(Clone, Debug)]
pub struct Layer {
    name: String,
    spec: LayerSpec,
    index: usize,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    geom: Option<Geom>,
    params: Vec<Param>,
    cache: Cache,
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

/// Keras' 1-based `dims` of a Permute layer as 0-based per-sample axes: output axis `i`
/// is input axis `axes[i]`.
pub fn permute_axes(dims: &[usize], rank: usize) -> Result<Vec<usize>, String> {
    let mut seen = vec![false; rank];
    let mut axes = Vec::with_capacity(rank);
    for &d in dims {
        if d == 0 || d > rank || std::mem::replace(&mut seen[d - 1], true) {
            return Err(format!(
                "dims {dims:?} must be a permutation of 1..={rank} (1-based, batch excluded)"
            ));
        }
        axes.push(d - 1);
    }
    if axes.len() != rank {
        return Err(format!(
            "dims {dims:?} must name each of the {rank} axes once"
        ));
    }
    Ok(axes)
}

/// Permutes every sample of `data` (per-sample shape `shape`) by Keras `dims`; with
/// `inverse` the data is in the permuted layout and goes back (the gradient path).
fn permute_samples(
    data: &[f32],
    shape: &[usize],
    dims: &[usize],
    batch: usize,
    inverse: bool,
) -> Result<Vec<f32>, NnError> {
    let axes = permute_axes(dims, shape.len()).map_err(NnError::Shape)?;
    let numel = checked_numel(shape)?;
    // Element strides of the input layout, read in output-axis order.
    let mut in_strides = vec![1usize; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        in_strides[a] = in_strides[a + 1] * shape[a + 1];
    }
    let out_shape: Vec<usize> = axes.iter().map(|&a| shape[a]).collect();
    let strides: Vec<usize> = axes.iter().map(|&a| in_strides[a]).collect();
    // source[k] = input offset of output element k (row-major over out_shape).
    let mut source = Vec::with_capacity(numel);
    let mut index = vec![0usize; out_shape.len()];
    for _ in 0..numel {
        source.push(
            index
                .iter()
                .zip(&strides)
                .map(|(i, s)| i * s)
                .sum::<usize>(),
        );
        for a in (0..index.len()).rev() {
            index[a] += 1;
            if index[a] < out_shape[a] {
                break;
            }
            index[a] = 0;
        }
    }
    let mut out = vec![0.0f32; data.len()];
    for (src, dst) in data
        .chunks_exact(numel.max(1))
        .zip(out.chunks_exact_mut(numel.max(1)))
        .take(batch)
    {
        for (k, &from) in source.iter().enumerate() {
            if inverse {
                dst[from] = src[k];
            } else {
                dst[k] = src[from];
            }
        }
    }
    Ok(out)
}

impl Layer {
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
        let last = input_shape.last().copied().unwrap_or(0);
        let mut geom = None;
        let mut params = Vec::new();
        let output_shape = match &spec {
            LayerSpec::Reshape { target_shape } => {
                same_numel(n, input_shape, target_shape)?;
                target_shape.clone()
            }
            LayerSpec::Conv2D(c) => {
                positive_pair(n, "kernel_size", c.kernel_size)?;
                if c.filters == 0 {
                    return Err(layer_err(n, "filters must be positive"));
                }
                let g = Geom::new(
                    n,
                    input_shape,
                    c.kernel_size,
                    c.strides,
                    c.dilation_rate,
                    c.padding,
                )?;
                let shape = vec![c.kernel_size[0], c.kernel_size[1], g.c, c.filters];
                let kernel = glorot_uniform(&shape, rng);
                params.push(Param::new("kernel", shape, kernel, true));
                if c.use_bias {
                    params.push(Param::new(
                        "bias",
                        vec![c.filters],
                        vec![0.0; c.filters],
                        true,
                    ));
                }
                geom = Some(g);
                vec![g.oh, g.ow, c.filters]
            }
            LayerSpec::DepthwiseConv2D(c) => {
                positive_pair(n, "kernel_size", c.kernel_size)?;
                if c.depth_multiplier == 0 {
                    return Err(layer_err(n, "depth_multiplier must be positive"));
                }
                let g = Geom::new(
                    n,
                    input_shape,
                    c.kernel_size,
                    c.strides,
                    c.dilation_rate,
                    c.padding,
                )?;
                let shape = vec![c.kernel_size[0], c.kernel_size[1], g.c, c.depth_multiplier];
                let kernel = glorot_uniform(&shape, rng);
                params.push(Param::new("depthwise_kernel", shape, kernel, true));
                let oc = g.c * c.depth_multiplier;
                if c.use_bias {
                    params.push(Param::new("bias", vec![oc], vec![0.0; oc], true));
                }
                geom = Some(g);
                vec![g.oh, g.ow, oc]
            }
            LayerSpec::Dense(c) => {
                if last == 0 || c.units == 0 {
                    return Err(layer_err(
                        n,
                        format!(
                            "needs units > 0 and a non-empty last axis, got input {input_shape:?}"
                        ),
                    ));
                }
                let shape = vec![last, c.units];
                let kernel = glorot_uniform(&shape, rng);
                params.push(Param::new("kernel", shape, kernel, true));
                if c.use_bias {
                    params.push(Param::new("bias", vec![c.units], vec![0.0; c.units], true));
                }
                let mut out = input_shape.to_vec();
                if let Some(l) = out.last_mut() {
                    *l = c.units;
                }
                out
            }
            LayerSpec::MaxPooling2D(p) | LayerSpec::AveragePooling2D(p) => {
                positive_pair(n, "pool_size", p.pool_size)?;
                positive_pair(n, "strides", p.strides())?;
                let g = Geom::new(n, input_shape, p.pool_size, p.strides(), [1, 1], p.padding)?;
                geom = Some(g);
                vec![g.oh, g.ow, g.c]
            }
            LayerSpec::GlobalAveragePooling2D {} => {
                let &[_, _, c] = input_shape else {
                    return Err(layer_err(
                        n,
                        format!("expects [height, width, channels], got {input_shape:?}"),
                    ));
                };
                vec![c]
            }
            LayerSpec::Permute { dims } => {
                let axes = permute_axes(dims, input_shape.len())
                    .map_err(|e| layer_err(n, format!("{e} (input {input_shape:?})")))?;
                axes.iter().map(|&a| input_shape[a]).collect()
            }
            LayerSpec::Flatten {} => vec![checked_numel(input_shape)?],
            LayerSpec::Dropout { rate } => {
                if !(0.0..1.0).contains(rate) {
                    return Err(layer_err(n, format!("rate must be in [0, 1), got {rate}")));
                }
                input_shape.to_vec()
            }
            LayerSpec::BatchNormalization { momentum, epsilon } => {
                if last == 0
                    || *epsilon <= 0.0
                    || epsilon.is_nan()
                    || !(0.0..=1.0).contains(momentum)
                {
                    return Err(layer_err(n, format!("needs a non-empty last axis, epsilon > 0 and momentum in [0, 1] (input {input_shape:?}, epsilon {epsilon}, momentum {momentum})")));
                }
                params.push(Param::new("gamma", vec![last], vec![1.0; last], true));
                params.push(Param::new("beta", vec![last], vec![0.0; last], true));
                params.push(Param::new(
                    "moving_mean",
                    vec![last],
                    vec![0.0; last],
                    false,
                ));
                params.push(Param::new(
                    "moving_variance",
                    vec![last],
                    vec![1.0; last],
                    false,
                ));
                input_shape.to_vec()
            }
            LayerSpec::ReLU { max_value } => {
                if matches!(max_value, Some(m) if m.is_nan() || *m <= 0.0) {
                    return Err(layer_err(n, "max_value must be positive"));
                }
                input_shape.to_vec()
            }
            LayerSpec::LeakyReLU { .. } | LayerSpec::Activation { .. } => input_shape.to_vec(),
        };
        if output_shape.contains(&0)
            || output_shape.is_empty() && !matches!(spec, LayerSpec::Reshape { .. })
        {
            return Err(layer_err(
                n,
                format!("output shape {output_shape:?} is empty"),
            ));
        }
        Ok(Layer {
            name,
            spec,
            index,
            input_shape: input_shape.to_vec(),
            output_shape,
            geom,
            params,
            cache: Cache::default(),
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
        &self.params
    }

    pub fn params_mut(&mut self) -> &mut [Param] {
        &mut self.params
    }

    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Number of weights (trainable, non-trainable).
    pub fn param_count(&self) -> (usize, usize) {
        self.params.iter().fold((0, 0), |(t, n), p| {
            if p.trainable {
                (t + p.value.len(), n)
            } else {
                (t, n + p.value.len())
            }
        })
    }

    fn check_input(&self, x: &Tensor) -> Result<usize, NnError> {
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
        Ok(batch)
    }

    fn input_numel(&self) -> usize {
        self.input_shape.iter().product()
    }

    fn output_numel(&self) -> usize {
        self.output_shape.iter().product()
    }

    fn with_batch(shape: &[usize], batch: usize) -> Vec<usize> {
        let mut s = Vec::with_capacity(shape.len() + 1);
        s.push(batch);
        s.extend_from_slice(shape);
        s
    }

    fn weight(&self, i: usize) -> &[f32] {
        self.params
            .get(i)
            .map(|p| p.value.as_slice())
            .unwrap_or_default()
    }

    /// Runs the layer on a batch `[batch, input_shape...]`. In training mode it keeps
    /// what [`Layer::backward`] needs.
    pub fn forward(&mut self, x: Tensor, mode: Mode) -> Result<Tensor, NnError> {
        let batch = self.check_input(&x)?;
        let train = mode.training;
        let out_shape = Self::with_batch(&self.output_shape, batch);
        let mut cache = Cache {
            valid: train,
            batch,
            ..Cache::default()
        };
        let y = match (&self.spec, self.geom) {
            (LayerSpec::Reshape { .. } | LayerSpec::Flatten {}, _) => x.data,
            (LayerSpec::Permute { dims }, _) => {
                permute_samples(&x.data, &self.input_shape, dims, batch, false)?
            }
            (LayerSpec::Conv2D(c), Some(g)) => {
                // im2col + GEMM. A single-channel input gets the im2col matrix stored
                // transposed ([taps, rows]): each tap then copies whole image rows
                // instead of scattering one value per im2col row.
                let rows = batch * g.oh * g.ow;
                if direct_conv::applies(&g) {
                    let n = rows * c.filters;
                    let mut y = vec![0.0f32; n];
                    let mut y_copy = std::mem::take(&mut self.cache.y);
                    let bias = if c.use_bias { self.weight(1) } else { &[] };
                    let fused = direct_conv::fuses(c.activation);
                    // The activation's output is kept for backward; when the kernel
                    // applies the activation it also writes that copy, into last
                    // step's buffer.
                    let keep_y = train && c.activation != Activation::Linear;
                    y_copy.resize(if keep_y && fused { n } else { 0 }, 0.0);
                    direct_conv::forward(
                        &g,
                        batch,
                        c.filters,
                        &x.data,
                        self.weight(0),
                        bias,
                        c.activation,
                        &mut y,
                        (keep_y && fused).then_some(y_copy.as_mut_slice()),
                    );
                    if !fused {
                        c.activation.apply(&mut y, c.filters);
                        if keep_y {
                            y_copy.clear();
                            y_copy.extend_from_slice(&y);
                        }
                    }
                    if train {
                        cache.x = x.data;
                        cache.y = y_copy;
                    }
                    return self.finish_forward(cache, out_shape, y);
                }
                let (col, col_mat) = if g.is_pointwise() {
                    (x.data, ColLayout::Rows)
                } else if g.c == 1 {
                    (
                        conv::im2col_t_batch(&g, &x.data, batch),
                        ColLayout::Transposed,
                    )
                } else {
                    (conv::im2col_batch(&g, &x.data, batch), ColLayout::Rows)
                };
                let mut y = vec![0.0f32; rows * c.filters];
                par_gemm(
                    rows,
                    g.col_width(),
                    c.filters,
                    col_mat.mat(&col, rows, g.col_width()),
                    Mat::rows(self.weight(0), c.filters),
                    &mut y,
                );
                if c.use_bias {
                    add_bias(&mut y, self.weight(1));
                }
                c.activation.apply(&mut y, c.filters);
                if train {
                    cache.x = col;
                    if c.activation != Activation::Linear {
                        cache.y = y.clone();
                    }
                }
                y
            }
            (LayerSpec::DepthwiseConv2D(c), Some(g)) => {
                let mult = c.depth_multiplier;
                let oc = g.c * mult;
                let per_out = g.oh * g.ow * oc;
                let mut y = vec![0.0f32; batch * per_out];
                let kernel = self.weight(0);
                y.par_chunks_mut(per_out)
                    .zip(x.data.par_chunks(g.in_len()))
                    .for_each(|(ys, xs)| conv::depthwise_sample(&g, mult, xs, kernel, ys));
                if c.use_bias {
                    add_bias(&mut y, self.weight(1));
                }
                c.activation.apply(&mut y, oc);
                if train {
                    cache.x = x.data;
                    if c.activation != Activation::Linear {
                        cache.y = y.clone();
                    }
                }
                y
            }
            (LayerSpec::Dense(c), _) => {
                let inner = self.params.first().map(|p| p.shape[0]).unwrap_or(1);
                let rows = x.data.len() / inner;
                let mut y = vec![0.0f32; rows * c.units];
                par_gemm(
                    rows,
                    inner,
                    c.units,
                    Mat::rows(&x.data, inner),
                    Mat::rows(self.weight(0), c.units),
                    &mut y,
                );
                if c.use_bias {
                    add_bias(&mut y, self.weight(1));
                }
                c.activation.apply(&mut y, c.units);
                if train {
                    cache.x = x.data;
                    if c.activation != Activation::Linear {
                        cache.y = y.clone();
                    }
                }
                y
            }
            (LayerSpec::MaxPooling2D(_), Some(g)) => {
                let per_out = g.oh * g.ow * g.c;
                let mut y = vec![0.0f32; batch * per_out];
                let mut idx = std::mem::take(&mut self.cache.idx);
                idx.resize(batch * per_out, 0);
                let chunk = conv::sample_chunk(batch);
                y.par_chunks_mut(chunk * per_out)
                    .zip(idx.par_chunks_mut(chunk * per_out))
                    .zip(x.data.par_chunks(chunk * g.in_len()))
                    .for_each(|((ys, is), xs)| {
                        for ((ys, is), xs) in ys
                            .chunks_mut(per_out)
                            .zip(is.chunks_mut(per_out))
                            .zip(xs.chunks(g.in_len()))
                        {
                            pool::max_forward(&g, xs, ys, is)
                        }
                    });
                if train {
                    cache.idx = idx;
                }
                y
            }
            (LayerSpec::AveragePooling2D(_), Some(g)) => {
                let per_out = g.oh * g.ow * g.c;
                let mut y = vec![0.0f32; batch * per_out];
                y.par_chunks_mut(per_out)
                    .zip(x.data.par_chunks(g.in_len()))
                    .for_each(|(ys, xs)| pool::avg_forward(&g, xs, ys));
                y
            }
            (LayerSpec::GlobalAveragePooling2D {}, _) => {
                let c = self.output_numel();
                let hw = self.input_numel() / c;
                let mut y = vec![0.0f32; batch * c];
                for (ys, xs) in y.chunks_mut(c).zip(x.data.chunks(hw * c)) {
                    for px in xs.chunks(c) {
                        ys.iter_mut().zip(px).for_each(|(y, v)| *y += v);
                    }
                    ys.iter_mut().for_each(|y| *y /= hw as f32);
                }
                y
            }
            (LayerSpec::Dropout { rate }, _) => {
                if !train || *rate == 0.0 {
                    x.data
                } else {
                    let mut rng = Rng::new(derive(mode.seed, self.index as u64));
                    let keep_scale = 1.0 / (1.0 - rate);
                    let mask: Vec<f32> = (0..x.data.len())
                        .map(|_| {
                            if rng.next_f32() < *rate {
                                0.0
                            } else {
                                keep_scale
                            }
                        })
                        .collect();
                    let y = x.data.iter().zip(&mask).map(|(v, m)| v * m).collect();
                    cache.aux = mask;
                    y
                }
            }
            (LayerSpec::BatchNormalization { momentum, epsilon }, _) => {
                self.batch_norm_forward(x.data, train, *momentum, *epsilon, &mut cache)
            }
            (LayerSpec::ReLU { max_value }, _) => {
                let cap = max_value.unwrap_or(f32::INFINITY);
                let y = x.data.iter().map(|v| v.max(0.0).min(cap)).collect();
                if train {
                    cache.x = x.data;
                }
                y
            }
            (LayerSpec::LeakyReLU { alpha }, _) => {
                let y = x
                    .data
                    .iter()
                    .map(|&v| if v > 0.0 { v } else { alpha * v })
                    .collect();
                if train {
                    cache.x = x.data;
                }
                y
            }
            (LayerSpec::Activation { activation }, _) => {
                let mut y = x.data;
                activation.apply(&mut y, self.output_shape.last().copied().unwrap_or(1));
                if train {
                    cache.y = y.clone();
                }
                y
            }
            (_, None) => return Err(NnError::State(format!("layer {} was not built", self.name))),
        };
        self.finish_forward(cache, out_shape, y)
    }

    fn finish_forward(
        &mut self,
        cache: Cache,
        out_shape: Vec<usize>,
        y: Vec<f32>,
    ) -> Result<Tensor, NnError> {
        self.cache = cache;
        Tensor::new(out_shape, y)
    }

    fn batch_norm_forward(
        &mut self,
        mut x: Vec<f32>,
        train: bool,
        momentum: f32,
        epsilon: f32,
        cache: &mut Cache,
    ) -> Vec<f32> {
        let c = self.output_shape.last().copied().unwrap_or(1);
        let rows = x.len() / c;
        let [gamma, beta, moving_mean, moving_var] = &mut self.params[..] else {
            return x;
        };
        if !train {
            let scale: Vec<f32> = (0..c)
                .map(|i| gamma.value[i] / (moving_var.value[i] + epsilon).sqrt())
                .collect();
            for row in x.chunks_mut(c) {
                for i in 0..c {
                    row[i] = (row[i] - moving_mean.value[i]) * scale[i] + beta.value[i];
                }
            }
            return x;
        }
        // Statistics in f64, summed in row order: accurate and order-fixed.
        let mut mean = vec![0.0f64; c];
        for row in x.chunks(c) {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, &v)| *m += f64::from(v));
        }
        mean.iter_mut().for_each(|m| *m /= rows.max(1) as f64);
        let mut var = vec![0.0f64; c];
        for row in x.chunks(c) {
            for i in 0..c {
                let d = f64::from(row[i]) - mean[i];
                var[i] += d * d;
            }
        }
        var.iter_mut().for_each(|v| *v /= rows.max(1) as f64);
        let inv_std: Vec<f32> = var
            .iter()
            .map(|&v| (1.0 / (v + f64::from(epsilon)).sqrt()) as f32)
            .collect();
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        let mut xhat = x;
        for row in xhat.chunks_mut(c) {
            for i in 0..c {
                row[i] = (row[i] - mean32[i]) * inv_std[i];
            }
        }
        let mut y = xhat.clone();
        for row in y.chunks_mut(c) {
            for ((v, g), b) in row.iter_mut().zip(&gamma.value).zip(&beta.value) {
                *v = *v * g + b;
            }
        }
        for i in 0..c {
            moving_mean.value[i] = moving_mean.value[i] * momentum + mean32[i] * (1.0 - momentum);
            moving_var.value[i] = moving_var.value[i] * momentum + var[i] as f32 * (1.0 - momentum);
        }
        cache.aux = xhat;
        cache.stat = inv_std;
        y
    }

    /// Back-propagates `dy` (`[batch, output_shape...]`) through the last training-mode
    /// forward: overwrites every trainable [`Param::grad`] with the gradient of the
    /// loss, and returns the input gradient if `need_dx` (the first layer of a model
    /// does not need one, which saves the most expensive product).
    pub fn backward(&mut self, dy: Tensor, need_dx: bool) -> Result<Option<Tensor>, NnError> {
        let batch = self.cache.batch;
        if !self.cache.valid {
            return Err(NnError::State(format!(
                "layer {}: backward needs a training-mode forward first",
                self.name
            )));
        }
        if dy.shape != Self::with_batch(&self.output_shape, batch)
            || dy.data.len() != batch * self.output_numel()
        {
            return Err(NnError::Shape(format!(
                "layer {}: output gradient {:?} does not match output [{batch}, {:?}]",
                self.name, dy.shape, self.output_shape
            )));
        }
        let in_shape = Self::with_batch(&self.input_shape, batch);
        let cache = &self.cache;
        let dx: Option<Vec<f32>> = match (&self.spec, self.geom) {
            (LayerSpec::Reshape { .. } | LayerSpec::Flatten {}, _) => Some(dy.data),
            (LayerSpec::Permute { dims }, _) => Some(permute_samples(
                &dy.data,
                &self.input_shape,
                dims,
                batch,
                true,
            )?),
            (LayerSpec::Conv2D(c), Some(g)) => {
                let f = c.filters;
                let k = g.col_width();
                let rows = batch * g.oh * g.ow;
                let mut dz = dy.data;
                let (kp, rest) = self.params.split_at_mut(1);
                let kp = &mut kp[0];
                if direct_conv::applies(&g) {
                    direct_conv::weight_gradient(
                        &g,
                        batch,
                        f,
                        &cache.x,
                        c.activation,
                        &cache.y,
                        &mut dz,
                        &mut kp.grad,
                        rest.first_mut().map(|b| b.grad.as_mut_slice()),
                    );
                    return Ok(if need_dx {
                        let mut dcol = vec![0.0f32; rows * k];
                        par_gemm(
                            rows,
                            f,
                            k,
                            Mat::rows(&dz, f),
                            Mat::transposed(&kp.value, f),
                            &mut dcol,
                        );
                        let dx = if g.is_pointwise() {
                            dcol
                        } else {
                            conv::col2im_batch(&g, &dcol, batch)
                        };
                        Some(Tensor::new(in_shape, dx)?)
                    } else {
                        None
                    });
                }
                c.activation.backward(&cache.y, &mut dz, f);
                if let Some(bias) = rest.first_mut() {
                    column_sums(&dz, f, &mut bias.grad);
                }
                let layout = if !g.is_pointwise() && g.c == 1 {
                    ColLayout::Transposed
                } else {
                    ColLayout::Rows
                };
                let col_t = match layout {
                    ColLayout::Rows => Mat::transposed(&cache.x, k),
                    ColLayout::Transposed => Mat::rows(&cache.x, rows),
                };
                par_gemm(k, rows, f, col_t, Mat::rows(&dz, f), &mut kp.grad);
                if need_dx {
                    let mut dcol = vec![0.0f32; rows * k];
                    par_gemm(
                        rows,
                        f,
                        k,
                        Mat::rows(&dz, f),
                        Mat::transposed(&kp.value, f),
                        &mut dcol,
                    );
                    if g.is_pointwise() {
                        Some(dcol)
                    } else {
                        Some(conv::col2im_batch(&g, &dcol, batch))
                    }
                } else {
                    None
                }
            }
            (LayerSpec::DepthwiseConv2D(c), Some(g)) => {
                let mult = c.depth_multiplier;
                let oc = g.c * mult;
                let mut dz = dy.data;
                c.activation.backward(&cache.y, &mut dz, oc);
                let (kp, rest) = self.params.split_at_mut(1);
                if let Some(bias) = rest.first_mut() {
                    column_sums(&dz, oc, &mut bias.grad);
                }
                let kp = &mut kp[0];
                let per_in = g.in_len();
                let per_out = g.oh * g.ow * oc;
                let chunk = conv::sample_chunk(batch);
                let mut dx = if need_dx {
                    vec![0.0f32; batch * per_in]
                } else {
                    Vec::new()
                };
                let kernel = &kp.value;
                let klen = kernel.len();
                let x = &cache.x;
                let partials: Vec<Vec<f32>> = if need_dx {
                    dx.par_chunks_mut(chunk * per_in)
                        .enumerate()
                        .map(|(i, dxs)| {
                            let mut dk = vec![0.0f32; klen];
                            for (s, dxs) in dxs.chunks_mut(per_in).enumerate() {
                                let n = i * chunk + s;
                                conv::depthwise_backward_sample(
                                    &g,
                                    mult,
                                    &x[n * per_in..][..per_in],
                                    kernel,
                                    &dz[n * per_out..][..per_out],
                                    &mut dk,
                                    Some(dxs),
                                );
                            }
                            dk
                        })
                        .collect()
                } else {
                    (0..batch.div_ceil(chunk))
                        .into_par_iter()
                        .map(|i| {
                            let mut dk = vec![0.0f32; klen];
                            for n in i * chunk..((i + 1) * chunk).min(batch) {
                                conv::depthwise_backward_sample(
                                    &g,
                                    mult,
                                    &x[n * per_in..][..per_in],
                                    kernel,
                                    &dz[n * per_out..][..per_out],
                                    &mut dk,
                                    None,
                                );
                            }
                            dk
                        })
                        .collect()
                };
                kp.grad.fill(0.0);
                for part in &partials {
                    kp.grad.iter_mut().zip(part).for_each(|(g, p)| *g += p);
                }
                need_dx.then_some(dx)
            }
            (LayerSpec::Dense(c), _) => {
                let units = c.units;
                let mut dz = dy.data;
                c.activation.backward(&cache.y, &mut dz, units);
                let (kp, rest) = self.params.split_at_mut(1);
                if let Some(bias) = rest.first_mut() {
                    column_sums(&dz, units, &mut bias.grad);
                }
                let kp = &mut kp[0];
                let inner = kp.shape[0];
                let rows = dz.len() / units;
                par_gemm(
                    inner,
                    rows,
                    units,
                    Mat::transposed(&cache.x, inner),
                    Mat::rows(&dz, units),
                    &mut kp.grad,
                );
                if need_dx {
                    let mut dx = vec![0.0f32; rows * inner];
                    par_gemm(
                        rows,
                        units,
                        inner,
                        Mat::rows(&dz, units),
                        Mat::transposed(&kp.value, units),
                        &mut dx,
                    );
                    Some(dx)
                } else {
                    None
                }
            }
            (LayerSpec::MaxPooling2D(_), Some(g)) => {
                let per_out = g.oh * g.ow * g.c;
                let mut dx = vec![0.0f32; batch * g.in_len()];
                let chunk = conv::sample_chunk(batch);
                dx.par_chunks_mut(chunk * g.in_len())
                    .zip(dy.data.par_chunks(chunk * per_out))
                    .zip(cache.idx.par_chunks(chunk * per_out))
                    .for_each(|((d, gy), idx)| {
                        for ((d, gy), idx) in d
                            .chunks_mut(g.in_len())
                            .zip(gy.chunks(per_out))
                            .zip(idx.chunks(per_out))
                        {
                            pool::max_backward(gy, idx, d)
                        }
                    });
                Some(dx)
            }
            (LayerSpec::AveragePooling2D(_), Some(g)) => {
                let per_out = g.oh * g.ow * g.c;
                let mut dx = vec![0.0f32; batch * g.in_len()];
                dx.par_chunks_mut(g.in_len())
                    .zip(dy.data.par_chunks(per_out))
                    .for_each(|(d, gy)| pool::avg_backward(&g, gy, d));
                Some(dx)
            }
            (LayerSpec::GlobalAveragePooling2D {}, _) => {
                let c = self.output_numel();
                let hw = self.input_numel() / c;
                let mut dx = vec![0.0f32; batch * hw * c];
                for (ds, gy) in dx.chunks_mut(hw * c).zip(dy.data.chunks(c)) {
                    for px in ds.chunks_mut(c) {
                        px.iter_mut().zip(gy).for_each(|(d, g)| *d = g / hw as f32);
                    }
                }
                Some(dx)
            }
            (LayerSpec::Dropout { .. }, _) => {
                if cache.aux.is_empty() {
                    Some(dy.data)
                } else {
                    Some(dy.data.iter().zip(&cache.aux).map(|(g, m)| g * m).collect())
                }
            }
            (LayerSpec::BatchNormalization { .. }, _) => {
                let c = self
                    .output_numel()
                    .min(self.output_shape.last().copied().unwrap_or(1));
                let rows = dy.data.len() / c;
                let xhat = &cache.aux;
                let inv_std = &cache.stat;
                let mut dgamma = vec![0.0f64; c];
                let mut dbeta = vec![0.0f64; c];
                for (gy, xh) in dy.data.chunks(c).zip(xhat.chunks(c)) {
                    for i in 0..c {
                        dgamma[i] += f64::from(gy[i]) * f64::from(xh[i]);
                        dbeta[i] += f64::from(gy[i]);
                    }
                }
                let (gp, rest) = self.params.split_at_mut(1);
                let gamma = &mut gp[0];
                let mut dx = dy.data;
                let n = rows as f32;
                for (d, xh) in dx.chunks_mut(c).zip(xhat.chunks(c)) {
                    for i in 0..c {
                        let s = gamma.value[i] * inv_std[i] / n;
                        d[i] = s * (n * d[i] - dbeta[i] as f32 - xh[i] * dgamma[i] as f32);
                    }
                }
                gamma
                    .grad
                    .iter_mut()
                    .zip(&dgamma)
                    .for_each(|(g, v)| *g = *v as f32);
                if let Some(beta) = rest.first_mut() {
                    beta.grad
                        .iter_mut()
                        .zip(&dbeta)
                        .for_each(|(g, v)| *g = *v as f32);
                }
                Some(dx)
            }
            (LayerSpec::ReLU { max_value }, _) => {
                let cap = max_value.unwrap_or(f32::INFINITY);
                let mut dx = dy.data;
                dx.iter_mut().zip(&cache.x).for_each(|(d, &x)| {
                    if !(x > 0.0 && x < cap) {
                        *d = 0.0
                    }
                });
                Some(dx)
            }
            (LayerSpec::LeakyReLU { alpha }, _) => {
                let mut dx = dy.data;
                dx.iter_mut().zip(&cache.x).for_each(|(d, &x)| {
                    if x <= 0.0 {
                        *d *= alpha
                    }
                });
                Some(dx)
            }
            (LayerSpec::Activation { activation }, _) => {
                let mut dx = dy.data;
                activation.backward(
                    &cache.y,
                    &mut dx,
                    self.output_shape.last().copied().unwrap_or(1),
                );
                Some(dx)
            }
            (_, None) => return Err(NnError::State(format!("layer {} was not built", self.name))),
        };
        match dx {
            Some(dx) if need_dx => Ok(Some(Tensor::new(in_shape, dx)?)),
            _ => Ok(None),
        }
    }
}

/// How a Conv2D stores its im2col matrix ([rows, taps] or transposed).
#[derive(Clone, Copy)]
enum ColLayout {
    Rows,
    Transposed,
}

impl ColLayout {
    fn mat(self, col: &[f32], rows: usize, width: usize) -> Mat<'_> {
        match self {
            ColLayout::Rows => Mat::rows(col, width),
            ColLayout::Transposed => Mat::transposed(col, rows),
        }
    }
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

/// Folds an inference-mode BatchNormalization into the preceding Conv2D /
/// DepthwiseConv2D / Dense weights: with `s = gamma / sqrt(var + eps)` per output
/// channel, `kernel' = kernel·s` and `bias' = (bias - mean)·s + beta`. The output
/// channel is the fastest-varying index of all three Keras kernel layouts (for
/// depthwise, channel `ci·mult + m` is the flat index of the last two axes), so the
/// channel of kernel element `i` is `i % channels`. `bias: None` means no bias (zero).
pub fn fold_batch_norm(
    kernel: &[f32],
    bias: Option<&[f32]>,
    gamma: &[f32],
    beta: &[f32],
    moving_mean: &[f32],
    moving_variance: &[f32],
    epsilon: f32,
) -> Result<(Vec<f32>, Vec<f32>), NnError> {
    let c = gamma.len();
    if c == 0
        || beta.len() != c
        || moving_mean.len() != c
        || moving_variance.len() != c
        || !kernel.len().is_multiple_of(c)
        || bias.is_some_and(|b| b.len() != c)
    {
        return Err(NnError::Shape(format!(
            "cannot fold a {c}-channel BatchNormalization into a kernel of {} values",
            kernel.len()
        )));
    }
    let scale: Vec<f32> = gamma
        .iter()
        .zip(moving_variance)
        .map(|(g, v)| g / (v + epsilon).sqrt())
        .collect();
    let folded_kernel = kernel
        .iter()
        .enumerate()
        .map(|(i, w)| w * scale[i % c])
        .collect();
    let folded_bias = (0..c)
        .map(|i| (bias.map_or(0.0, |b| b[i]) - moving_mean[i]) * scale[i] + beta[i])
        .collect();
    Ok((folded_kernel, folded_bias))
}
