//! Keras-style layer configurations: what `model.json` stores for each layer.

use serde::{Deserialize, Serialize};

use super::activation::Activation;

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

    pub(super) fn strides(&self) -> [usize; 2] {
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
