//! The check every architecture passes before any weight or activation is allocated.
//!
//! An architecture comes from a `model.json` or an `--arch` file that anyone may have
//! written, so every size it implies is computed here with checked arithmetic and
//! bounded: the weights of each layer and of the whole model, the activation bytes a
//! sample (and a batch) needs, and every window (kernel, pool, stride, dilation) against
//! the input it slides over. [`Sequential::from_config`](super::Sequential::from_config)
//! and [`BuiltLayer::new`](super::BuiltLayer::new) run it, so `train`, `evaluate`, `summary`,
//! `convert`, `prune` and `distill` all refuse the same files with the same message.
//!
//! The limits are generous (the study's models are 0.1% of them) and each error says
//! how to raise them: the environment variables [`MAX_WEIGHTS_ENV`] and
//! [`MAX_ACTIVATION_BYTES_ENV`].

use super::{layer_err, LayerSpec, ModelConfig, NnError, Padding};
use crate::kernels::common::window_dim;

/// Most weights a model may have (400 MB of F32; training holds four copies: values,
/// gradients and Adam's two moments).
pub const DEFAULT_MAX_WEIGHTS: usize = 100_000_000;
/// Most activation bytes one batch may need (every layer's output plus its im2col
/// matrix, all kept at once during training).
pub const DEFAULT_MAX_ACTIVATION_BYTES: usize = 4 << 30;
/// Environment variable that overrides [`DEFAULT_MAX_WEIGHTS`].
pub const MAX_WEIGHTS_ENV: &str = "FERROLITE_MAX_WEIGHTS";
/// Environment variable that overrides [`DEFAULT_MAX_ACTIVATION_BYTES`].
pub const MAX_ACTIVATION_BYTES_ENV: &str = "FERROLITE_MAX_ACTIVATION_BYTES";

/// The bounds an architecture must stay within.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchLimits {
    pub max_weights: usize,
    pub max_activation_bytes: usize,
}

impl Default for ArchLimits {
    fn default() -> Self {
        ArchLimits {
            max_weights: DEFAULT_MAX_WEIGHTS,
            max_activation_bytes: DEFAULT_MAX_ACTIVATION_BYTES,
        }
    }
}

impl ArchLimits {
    /// The defaults, overridden by [`MAX_WEIGHTS_ENV`] and [`MAX_ACTIVATION_BYTES_ENV`]
    /// when set. A value that is not a positive whole number is an error, not ignored:
    /// a typo should not silently bring the default back.
    pub fn from_env() -> Result<Self, NnError> {
        let read = |var: &str, default: usize| match std::env::var(var) {
            Err(std::env::VarError::NotPresent) => Ok(default),
            Ok(text) => parse_limit(var, Some(&text), default),
            Err(e) => Err(NnError::State(format!("{var}: {e}"))),
        };
        Ok(ArchLimits {
            max_weights: read(MAX_WEIGHTS_ENV, DEFAULT_MAX_WEIGHTS)?,
            max_activation_bytes: read(MAX_ACTIVATION_BYTES_ENV, DEFAULT_MAX_ACTIVATION_BYTES)?,
        })
    }

    fn weights_hint(&self) -> String {
        format!(
            "the limit is {} weights (set {MAX_WEIGHTS_ENV}=N to raise it)",
            self.max_weights
        )
    }

    fn activation_hint(&self) -> String {
        format!(
            "the limit is {} bytes (set {MAX_ACTIVATION_BYTES_ENV}=N to raise it)",
            self.max_activation_bytes
        )
    }
}

/// A limit from an environment variable's `text` (`None` when unset; `_` separators
/// allowed).
fn parse_limit(var: &str, text: Option<&str>, default: usize) -> Result<usize, NnError> {
    let Some(text) = text else {
        return Ok(default);
    };
    text.trim()
        .replace('_', "")
        .parse::<usize>()
        .ok()
        .filter(|&v| v > 0)
        .ok_or_else(|| NnError::State(format!("{var}={text:?} is not a positive whole number")))
}

/// What one layer needs, per sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerNeeds {
    pub output_shape: Vec<usize>,
    /// Weights the layer allocates (trainable and not).
    pub weights: usize,
    /// f32 values per sample: the output plus any scratch (the im2col matrix).
    pub activation_values: usize,
}

/// What a whole architecture needs; the result of [`check`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchNeeds {
    pub layers: Vec<(String, LayerNeeds)>,
    pub total_weights: usize,
    /// Activation bytes per sample, the input included.
    pub activation_bytes_per_sample: usize,
    pub limits: ArchLimits,
}

impl ArchNeeds {
    /// Fails when `batch` samples at once would need more activation memory than the
    /// limit allows; `flag` names what sets the batch size, for the message.
    pub fn check_batch(&self, batch: usize, flag: &str) -> Result<(), NnError> {
        let needed = self.activation_bytes_per_sample.checked_mul(batch);
        if needed.is_some_and(|n| n <= self.limits.max_activation_bytes) {
            return Ok(());
        }
        let largest = self
            .layers
            .iter()
            .max_by_key(|(_, l)| l.activation_values)
            .map(|(name, l)| format!(", most of it layer {name} {:?}", l.output_shape))
            .unwrap_or_default();
        let fits = self.limits.max_activation_bytes / self.activation_bytes_per_sample.max(1);
        Err(NnError::State(format!(
            "a batch of {batch} needs {} bytes of activations ({} per sample{largest}); {}, or lower {flag} to at most {fits}",
            needed.map_or_else(|| "more".to_string(), |n| n.to_string()),
            self.activation_bytes_per_sample,
            self.limits.activation_hint()
        )))
    }
}

/// Checks `config` against `limits` and works out every layer's shape, weight count and
/// activation size, without allocating any of them.
pub fn check(config: &ModelConfig, limits: &ArchLimits) -> Result<ArchNeeds, NnError> {
    let input = &config.input_shape;
    if input.is_empty() || input.contains(&0) {
        return Err(NnError::Shape(format!(
            "input_shape {input:?} must be non-empty with positive dimensions"
        )));
    }
    let input_values = values(input).ok_or_else(|| {
        NnError::Shape(format!(
            "input_shape {input:?} has more values than this machine can count"
        ))
    })?;
    let mut activation_bytes = activation_bytes(input_values, limits).ok_or_else(|| {
        NnError::Shape(format!(
            "input_shape {input:?} needs {} bytes per sample; {}",
            input_values.saturating_mul(4),
            limits.activation_hint()
        ))
    })?;
    let mut shape = input.clone();
    let mut total_weights = 0usize;
    let mut layers = Vec::with_capacity(config.layers.len());
    for entry in &config.layers {
        let name = entry.name.as_str();
        let needs = check_layer(&entry.spec, name, &shape, limits)?;
        total_weights = total_weights
            .checked_add(needs.weights)
            .filter(|&t| t <= limits.max_weights)
            .ok_or_else(|| {
                layer_err(
                    name,
                    format!(
                        "its {} weights bring the model to {} weights; {}",
                        needs.weights,
                        total_weights.saturating_add(needs.weights),
                        limits.weights_hint()
                    ),
                )
            })?;
        activation_bytes = needs
            .activation_values
            .checked_mul(4)
            .and_then(|b| b.checked_add(activation_bytes))
            .filter(|&b| b <= limits.max_activation_bytes)
            .ok_or_else(|| {
                layer_err(
                    name,
                    format!(
                        "output {:?} brings the activations of one sample to {} bytes; {}",
                        needs.output_shape,
                        needs
                            .activation_values
                            .saturating_mul(4)
                            .saturating_add(activation_bytes),
                        limits.activation_hint()
                    ),
                )
            })?;
        shape = needs.output_shape.clone();
        layers.push((name.to_string(), needs));
    }
    Ok(ArchNeeds {
        layers,
        total_weights,
        activation_bytes_per_sample: activation_bytes,
        limits: *limits,
    })
}

fn values(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn activation_bytes(values: usize, limits: &ArchLimits) -> Option<usize> {
    values
        .checked_mul(4)
        .filter(|&b| b <= limits.max_activation_bytes)
}

/// Checks one layer on per-sample `input` and says what it needs. Every field is
/// bounded here, so [`BuiltLayer::new`](super::BuiltLayer::new) only allocates what this allowed.
pub fn check_layer(
    spec: &LayerSpec,
    name: &str,
    input: &[usize],
    limits: &ArchLimits,
) -> Result<LayerNeeds, NnError> {
    let err = |message: String| layer_err(name, message);
    let input_values = values(input).ok_or_else(|| {
        err(format!(
            "input {input:?} has more values than this machine can count"
        ))
    })?;
    let last = input.last().copied().unwrap_or(0);
    // A layer's own weights, bounded before they are multiplied into anything else.
    let bounded = |field: String, weights: Option<usize>| -> Result<usize, NnError> {
        match weights {
            Some(w) if w <= limits.max_weights => Ok(w),
            Some(w) => Err(err(format!(
                "{field} makes {w} weights in this layer; {}",
                limits.weights_hint()
            ))),
            None => Err(err(format!(
                "{field} makes more weights than this machine can count; {}",
                limits.weights_hint()
            ))),
        }
    };
    let (output_shape, weights, scratch) = match spec {
        LayerSpec::Reshape { target_shape } => {
            let target = values(target_shape).ok_or_else(|| {
                err(format!(
                    "target_shape {target_shape:?} has more values than this machine can count"
                ))
            })?;
            if target != input_values {
                return Err(err(format!(
                    "target_shape {target_shape:?} holds {target} values, the input {input:?} holds {input_values}"
                )));
            }
            (target_shape.clone(), 0, 0)
        }
        LayerSpec::Conv2D(c) => {
            if c.filters == 0 {
                return Err(err("filters must be positive, got 0".into()));
            }
            let [h, w, ch] = image(input, name)?;
            let kernel = c.kernel_size[0]
                .checked_mul(c.kernel_size[1])
                .and_then(|k| k.checked_mul(ch));
            let weights = kernel
                .and_then(|k| k.checked_mul(c.filters))
                .and_then(|k| k.checked_add(if c.use_bias { c.filters } else { 0 }));
            let weights = bounded(
                format!(
                    "filters {} with kernel_size {:?} on {ch} channels",
                    c.filters, c.kernel_size
                ),
                weights,
            )?;
            let (oh, ow) = windows(
                name,
                [h, w],
                ("kernel_size", c.kernel_size),
                c.strides,
                c.dilation_rate,
                c.padding,
            )?;
            let out = [oh, ow, c.filters];
            let pointwise = c.kernel_size == [1, 1] && c.strides == [1, 1];
            let col = if pointwise {
                Some(0)
            } else {
                kernel.and_then(|k| oh.checked_mul(ow)?.checked_mul(k))
            };
            let col = col.ok_or_else(|| {
                err(format!(
                    "the im2col matrix of output {out:?} has more values than this machine can count"
                ))
            })?;
            (out.to_vec(), weights, col)
        }
        LayerSpec::DepthwiseConv2D(c) => {
            if c.depth_multiplier == 0 {
                return Err(err("depth_multiplier must be positive, got 0".into()));
            }
            let [h, w, ch] = image(input, name)?;
            let field = format!(
                "depth_multiplier {} with kernel_size {:?} on {ch} channels",
                c.depth_multiplier, c.kernel_size
            );
            let oc = ch.checked_mul(c.depth_multiplier);
            let weights = oc.and_then(|oc| {
                c.kernel_size[0]
                    .checked_mul(c.kernel_size[1])?
                    .checked_mul(oc)?
                    .checked_add(if c.use_bias { oc } else { 0 })
            });
            let weights = bounded(field, weights)?;
            let (oh, ow) = windows(
                name,
                [h, w],
                ("kernel_size", c.kernel_size),
                c.strides,
                c.dilation_rate,
                c.padding,
            )?;
            // Bounded by the weights just checked.
            let oc = ch * c.depth_multiplier;
            (vec![oh, ow, oc], weights, 0)
        }
        LayerSpec::Dense(c) => {
            if c.units == 0 {
                return Err(err("units must be positive, got 0".into()));
            }
            if last == 0 {
                return Err(err(format!(
                    "needs a non-empty last axis, got input {input:?}"
                )));
            }
            let weights = last
                .checked_add(usize::from(c.use_bias))
                .and_then(|rows| rows.checked_mul(c.units));
            let weights = bounded(format!("units {} on {last} inputs", c.units), weights)?;
            let mut out = input.to_vec();
            if let Some(l) = out.last_mut() {
                *l = c.units;
            }
            (out, weights, 0)
        }
        LayerSpec::MaxPooling2D(p) | LayerSpec::AveragePooling2D(p) => {
            let [h, w, ch] = image(input, name)?;
            let strides = p.strides.unwrap_or(p.pool_size);
            let (oh, ow) = windows(
                name,
                [h, w],
                ("pool_size", p.pool_size),
                strides,
                [1, 1],
                p.padding,
            )?;
            (vec![oh, ow, ch], 0, 0)
        }
        LayerSpec::GlobalAveragePooling2D {} => {
            let [_, _, ch] = image(input, name)?;
            (vec![ch], 0, 0)
        }
        LayerSpec::Permute { dims } => {
            let axes = super::layers::permute_axes(dims, input.len())
                .map_err(|e| err(format!("{e} (input {input:?})")))?;
            (axes.iter().map(|&a| input[a]).collect(), 0, 0)
        }
        LayerSpec::Flatten {} => (vec![input_values], 0, 0),
        LayerSpec::BatchNormalization { .. } => {
            let weights = bounded(format!("{last} channels"), last.checked_mul(4))?;
            (input.to_vec(), weights, 0)
        }
        LayerSpec::Dropout { .. }
        | LayerSpec::ReLU { .. }
        | LayerSpec::LeakyReLU { .. }
        | LayerSpec::Activation { .. } => (input.to_vec(), 0, 0),
    };
    if output_shape.contains(&0) {
        return Err(err(format!("output shape {output_shape:?} is empty")));
    }
    let activation_values = values(&output_shape)
        .and_then(|v| v.checked_add(scratch))
        .ok_or_else(|| {
            err(format!(
                "output {output_shape:?} has more values than this machine can count"
            ))
        })?;
    Ok(LayerNeeds {
        output_shape,
        weights,
        activation_values,
    })
}

fn image(input: &[usize], layer: &str) -> Result<[usize; 3], NnError> {
    match *input {
        [h, w, c] if c > 0 => Ok([h, w, c]),
        _ => Err(layer_err(
            layer,
            format!("expects a [height, width, channels] input, got {input:?}"),
        )),
    }
}

/// Output height and width of a window sliding over `[h, w]`. The window (its extent
/// with dilation) and the stride must stay within twice the input plus one: beyond
/// that every extra tap reads only padding, and the window loops and the `.tflite`
/// export (32-bit sizes) would be asked for numbers with no meaning.
fn windows(
    layer: &str,
    [h, w]: [usize; 2],
    (field, kernel): (&str, [usize; 2]),
    strides: [usize; 2],
    dilation: [usize; 2],
    padding: Padding,
) -> Result<(usize, usize), NnError> {
    let err = |message: String| layer_err(layer, message);
    let window = if dilation == [1, 1] {
        format!("{field} {kernel:?}")
    } else {
        format!("{field} {kernel:?} with dilation_rate {dilation:?}")
    };
    for (what, v) in [
        (field, kernel),
        ("strides", strides),
        ("dilation_rate", dilation),
    ] {
        if v.contains(&0) {
            return Err(err(format!("{what} must be positive, got {v:?}")));
        }
    }
    let mut out = [0usize; 2];
    for (axis, (dim, axis_name)) in [(h, "height"), (w, "width")].into_iter().enumerate() {
        let bound = dim.saturating_mul(2).saturating_add(1);
        let extent = (kernel[axis] - 1)
            .checked_mul(dilation[axis])
            .and_then(|e| e.checked_add(1))
            .filter(|&e| e <= bound);
        let Some(extent) = extent else {
            return Err(err(format!(
                "{window} spans more than the input's {axis_name} allows: the input is {h}×{w}, and a window may span at most 2×{dim}+1 = {bound} (beyond that it reads only padding)"
            )));
        };
        if strides[axis] > bound {
            return Err(err(format!(
                "strides {strides:?} exceed the input's {axis_name}: the input is {h}×{w}, and a stride may be at most 2×{dim}+1 = {bound}"
            )));
        }
        if padding == Padding::Valid && extent > dim {
            return Err(err(format!(
                "{window} does not fit the {h}×{w} input with padding \"valid\""
            )));
        }
        let (o, _) = window_dim(
            padding.to_ir(),
            dim,
            kernel[axis],
            strides[axis],
            dilation[axis],
        )
        .map_err(|e| err(e.to_string()))?;
        out[axis] = o;
    }
    Ok((out[0], out[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Conv2DConfig, LayerEntry, PoolConfig};

    fn arch(input: &[usize], layers: Vec<LayerSpec>) -> ModelConfig {
        ModelConfig {
            name: "hostile".into(),
            input_shape: input.to_vec(),
            layers: layers
                .into_iter()
                .enumerate()
                .map(|(i, spec)| LayerEntry {
                    name: format!("l{i}"),
                    spec,
                })
                .collect(),
        }
    }

    fn mlp(units: usize) -> ModelConfig {
        arch(
            &[28, 28],
            vec![
                LayerSpec::Flatten {},
                LayerSpec::dense(units),
                LayerSpec::dense(10),
            ],
        )
    }

    fn cnn(filters: usize) -> ModelConfig {
        arch(
            &[28, 28, 1],
            vec![
                LayerSpec::Conv2D(Conv2DConfig::new(filters, [3, 3])),
                LayerSpec::Flatten {},
                LayerSpec::dense(10),
            ],
        )
    }

    fn message(r: Result<ArchNeeds, NnError>) -> String {
        r.expect_err("must be refused").to_string()
    }

    #[test]
    fn absurd_dense_units_are_refused_naming_layer_and_limit() {
        let limits = ArchLimits::default();
        for units in [1usize << 63, 10_000_000, 1 << 31, 1_000_000_000_000] {
            let m = message(check(&mlp(units), &limits));
            assert!(m.contains("layer l1"), "{m}");
            assert!(m.contains(&format!("units {units}")), "{m}");
            assert!(m.contains("100000000 weights"), "{m}");
            assert!(m.contains(MAX_WEIGHTS_ENV), "{m}");
        }
    }

    #[test]
    fn absurd_conv_filters_are_refused() {
        let m = message(check(&cnn(1_000_000_000), &ArchLimits::default()));
        assert!(
            m.contains("layer l0") && m.contains("filters 1000000000"),
            "{m}"
        );
        // 100,000 filters of 3×3: 1.0 M weights are fine, but one sample's output is
        // 26·26·100,000 values; the Dense after the Flatten is what exceeds the
        // weight limit (67.6 M inputs × 10 units).
        let m = message(check(&cnn(100_000), &ArchLimits::default()));
        assert!(
            m.contains("layer l2") && m.contains("units 10 on 67600000 inputs"),
            "{m}"
        );
    }

    #[test]
    fn activations_are_bounded_per_sample_and_per_batch() {
        // 100,000 filters and global pooling: few weights, 270 MB per sample.
        let config = arch(
            &[28, 28, 1],
            vec![
                LayerSpec::Conv2D(Conv2DConfig::new(100_000, [3, 3])),
                LayerSpec::GlobalAveragePooling2D {},
                LayerSpec::dense(10),
            ],
        );
        let needs = check(&config, &ArchLimits::default()).unwrap();
        // Input 784, conv output 26·26·100,000 plus its im2col 26·26·9, pooled 100,000,
        // logits 10, all f32.
        let per_sample = 4 * (784 + 26 * 26 * 100_000 + 26 * 26 * 9 + 100_000 + 10);
        assert_eq!(needs.activation_bytes_per_sample, per_sample);
        assert!(needs.check_batch(15, "--batch-size").is_ok());
        let m = needs
            .check_batch(32, "--batch-size")
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("a batch of 32") && m.contains("--batch-size to at most 15"),
            "{m}"
        );
        assert!(m.contains(MAX_ACTIVATION_BYTES_ENV), "{m}");
        // One sample above a smaller limit fails at check time.
        let small = ArchLimits {
            max_activation_bytes: 100 << 20,
            ..ArchLimits::default()
        };
        let m = message(check(&config, &small));
        assert!(
            m.contains("layer l0") && m.contains("[26, 26, 100000]"),
            "{m}"
        );
    }

    #[test]
    fn a_huge_pool_size_is_refused_against_the_input() {
        for padding in [Padding::Same, Padding::Valid] {
            let config = arch(
                &[28, 28, 1],
                vec![LayerSpec::MaxPooling2D(PoolConfig {
                    padding,
                    ..PoolConfig::new([1 << 63, 1])
                })],
            );
            let m = message(check(&config, &ArchLimits::default()));
            assert!(m.contains("pool_size [9223372036854775808, 1]"), "{m}");
            assert!(m.contains("28×28"), "{m}");
        }
        // Strides and dilations past the input, and a dilation that overflows.
        let config = arch(
            &[28, 28, 1],
            vec![LayerSpec::MaxPooling2D(PoolConfig {
                strides: Some([1, 1 << 40]),
                padding: Padding::Same,
                ..PoolConfig::new([2, 2])
            })],
        );
        assert!(message(check(&config, &ArchLimits::default())).contains("strides"));
        let config = arch(
            &[28, 28, 1],
            vec![LayerSpec::Conv2D(Conv2DConfig {
                dilation_rate: [usize::MAX, 1],
                padding: Padding::Same,
                ..Conv2DConfig::new(4, [3, 3])
            })],
        );
        assert!(message(check(&config, &ArchLimits::default())).contains("dilation_rate"));
        // SAME windows somewhat larger than a small input stay legal (TF allows a 3×3
        // kernel on a 1×1 feature map).
        let config = arch(
            &[1, 1, 4],
            vec![LayerSpec::Conv2D(Conv2DConfig {
                padding: Padding::Same,
                ..Conv2DConfig::new(4, [3, 3])
            })],
        );
        assert!(check(&config, &ArchLimits::default()).is_ok());
    }

    #[test]
    fn counts_match_the_built_model() {
        // The weights and shapes worked out here against the Keras numbers of
        // mnist-cnn: conv 3·3·1·12 + 12 = 120, dense 13·13·12·10 + 10 = 20,290.
        let config = crate::nn::presets::mnist_cnn(0).unwrap().config();
        let needs = check(&config, &ArchLimits::default()).unwrap();
        assert_eq!(needs.total_weights, 120 + 20_290);
        assert_eq!(needs.layers[1].1.output_shape, vec![26, 26, 12]);
        assert_eq!(needs.layers[2].1.output_shape, vec![13, 13, 12]);
    }

    #[test]
    fn a_bad_limit_value_is_an_error_not_ignored() {
        assert_eq!(parse_limit("V", None, 7).unwrap(), 7);
        assert_eq!(parse_limit("V", Some("1_000"), 7).unwrap(), 1000);
        for bad in ["", "0", "-1", "1e9", "lots"] {
            let m = parse_limit("V", Some(bad), 7).unwrap_err().to_string();
            assert!(
                m.contains("V=") && m.contains("positive whole number"),
                "{m}"
            );
        }
    }
}
