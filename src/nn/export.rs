//! Export: a trained [`Sequential`] as a float [`ir::Model`], ready for
//! `tflite::write`, laid out the way TensorFlow's converter lays out the same Keras
//! model (compare `fixtures/tflite/mnist_cnn_float32.tflite`):
//!
//! * Conv2D → CONV_2D, kernel `[out, h, w, in]`; DepthwiseConv2D → DEPTHWISE_CONV_2D,
//!   kernel `[1, h, w, in·mult]`; Dense → FULLY_CONNECTED, kernel `[out, in]`. Every one
//!   gets a bias tensor (zeros when the layer has none), as TF emits.
//! * ReLU and ReLU6 (as `activation=`, a ReLU layer or an Activation layer) are fused
//!   into the preceding conv / dense / add; sigmoid, tanh, softmax and LeakyReLU become
//!   LOGISTIC, TANH, SOFTMAX and LEAKY_RELU ops.
//! * BatchNormalization folds into a directly preceding conv / dense without a
//!   non-linear activation; elsewhere it becomes MUL + ADD by per-channel constants.
//! * Flatten / Reshape → one RESHAPE whose constant shape starts with -1, so the batch
//!   can be resized (TF computes the batch with a SHAPE / STRIDED_SLICE / PACK chain
//!   instead; the result is the same). Consecutive reshapes merge, no-ops vanish.
//! * Permute → TRANSPOSE with the batch axis kept first.
//! * Max / AveragePooling2D → MAX / AVERAGE_POOL_2D, GlobalAveragePooling2D → MEAN over
//!   axes [1, 2], Dropout → nothing.
//!
//! Tensors are named after the layers that produce them (`conv2d;re_lu` when a ReLU
//! layer was fused into `conv2d`), weights `layer/param`; shapes have batch 1 and
//! `shape_signature` -1 in the batch.

use super::{fold_batch_norm, layer_err, Activation, BuiltLayer, LayerSpec, NnError, Sequential};
use crate::ir::{
    self, Conv2dOptions, DepthwiseConv2dOptions, FullyConnectedOptions, Graph, Op, Operator,
    Pool2dOptions, Signature, Tensor,
};

/// The name of the exported model's input tensor (and its signature alias).
pub const INPUT_NAME: &str = "input";

/// One exported op before tensors are laid out; weights still in Keras layouts, so
/// BatchNormalization can be folded in.
enum Node {
    Conv {
        kernel: Vec<f32>,
        /// [kh, kw, in, out]
        kshape: [usize; 4],
        bias: Vec<f32>,
        options: Conv2dOptions,
    },
    Depthwise {
        kernel: Vec<f32>,
        /// [kh, kw, in, mult]
        kshape: [usize; 4],
        bias: Vec<f32>,
        options: DepthwiseConv2dOptions,
    },
    Dense {
        kernel: Vec<f32>,
        /// [in, out]
        kshape: [usize; 2],
        bias: Vec<f32>,
        options: FullyConnectedOptions,
    },
    /// An unfolded BatchNormalization: `x·scale + shift` per channel (last axis).
    Affine {
        scale: Vec<f32>,
        shift: Vec<f32>,
        activation: ir::Activation,
    },
    Reshape,
    /// TRANSPOSE by a constant permutation of the batched axes.
    Transpose(Vec<i32>),
    Pool {
        max: bool,
        options: Pool2dOptions,
    },
    Mean,
    /// An op with one input and no weights (RELU, LOGISTIC, SOFTMAX, ...).
    Unary(Op),
}

struct Step {
    node: Node,
    /// Names of the layers this op computes, joined with ';' for the tensor name.
    names: Vec<String>,
    /// Per-sample output shape.
    shape: Vec<usize>,
}

impl Step {
    fn name(&self) -> String {
        self.names.join(";")
    }

    /// The fused activation slot, if this op has one.
    fn activation_mut(&mut self) -> Option<&mut ir::Activation> {
        match &mut self.node {
            Node::Conv { options, .. } => Some(&mut options.activation),
            Node::Depthwise { options, .. } => Some(&mut options.activation),
            Node::Dense { options, .. } => Some(&mut options.activation),
            Node::Affine { activation, .. } => Some(activation),
            _ => None,
        }
    }
}

/// Composes a fused clamp with another: relu after relu6 is still relu6, and so on.
fn compose(current: ir::Activation, next: ir::Activation) -> Option<ir::Activation> {
    use ir::Activation as A;
    match (current, next) {
        (A::None, n) => Some(n),
        (A::Relu, A::Relu) => Some(A::Relu),
        (A::Relu | A::Relu6, A::Relu | A::Relu6) => Some(A::Relu6),
        _ => None,
    }
}

/// Maps the trained `model` to a float TFLite-style graph.
pub fn export(model: &Sequential) -> Result<ir::Model, NnError> {
    let mut steps: Vec<Step> = Vec::new();
    let mut shape = model.input_shape().to_vec();
    for layer in model.layers() {
        lower_layer(layer, &shape, &mut steps)?;
        shape = layer.output_shape().to_vec();
    }
    if steps.is_empty() {
        return Err(NnError::State(format!(
            "model {} has no layer that computes anything at inference; nothing to export",
            model.name()
        )));
    }
    let graph = lay_out(model.input_shape(), &steps)?;
    let output = graph.outputs.first().copied().unwrap_or(0);
    let input = graph.inputs.first().copied().unwrap_or(0);
    let output_alias = model
        .layers()
        .last()
        .map(|l| l.name().to_string())
        .unwrap_or_else(|| "output".into());
    let exported = ir::Model {
        graph,
        description: Some(format!(
            "ferrolite {} export of {}",
            env!("CARGO_PKG_VERSION"),
            model.name()
        )),
        signature: Some(Signature {
            key: "serving_default".into(),
            inputs: vec![(INPUT_NAME.into(), input)],
            outputs: vec![(output_alias, output)],
        }),
    };
    // The same structural check the reader applies, so a lowering bug surfaces here.
    exported
        .validate()
        .map_err(|e| NnError::State(format!("export built a malformed graph: {e}")))?;
    Ok(exported)
}

fn param<'a>(layer: &'a BuiltLayer, name: &str) -> Result<&'a [f32], NnError> {
    layer
        .param(name)
        .map(|p| p.value.as_slice())
        .ok_or_else(|| layer_err(layer.name(), format!("has no weight {name}")))
}

fn bias_or_zeros(layer: &BuiltLayer, channels: usize) -> Vec<f32> {
    layer
        .param("bias")
        .map(|p| p.value.clone())
        .unwrap_or_else(|| vec![0.0; channels])
}

fn as_i32(layer: &BuiltLayer, what: &str, v: usize) -> Result<i32, NnError> {
    i32::try_from(v).map_err(|_| layer_err(layer.name(), format!("{what} {v} is too large")))
}

/// Splits a Keras activation into the part TFLite fuses and the op that must follow.
fn split_activation(a: Activation) -> (ir::Activation, Option<Op>) {
    match a {
        Activation::Linear => (ir::Activation::None, None),
        Activation::Relu => (ir::Activation::Relu, None),
        Activation::Relu6 => (ir::Activation::Relu6, None),
        Activation::Sigmoid => (ir::Activation::None, Some(Op::Logistic)),
        Activation::Tanh => (ir::Activation::None, Some(Op::Tanh)),
        Activation::Softmax => (ir::Activation::None, Some(Op::Softmax { beta: 1.0 })),
    }
}

/// Appends `layer`'s ops (if any) to `steps`; `input_shape` is the per-sample shape
/// entering the layer.
fn lower_layer(
    layer: &BuiltLayer,
    input_shape: &[usize],
    steps: &mut Vec<Step>,
) -> Result<(), NnError> {
    let name = layer.name().to_string();
    let out_shape = layer.output_shape().to_vec();
    let push = |steps: &mut Vec<Step>, node: Node| {
        steps.push(Step {
            node,
            names: vec![name.clone()],
            shape: out_shape.clone(),
        })
    };
    // Pushes a weighted op with its fused clamp, then the op TFLite cannot fuse.
    let push_with = |steps: &mut Vec<Step>, node: Node, after: Option<Op>| {
        push(steps, node);
        if let Some(op) = after {
            push(steps, Node::Unary(op));
        }
    };
    match layer.spec() {
        LayerSpec::Reshape { .. } | LayerSpec::Flatten {} => {
            if out_shape.as_slice() == input_shape {
                return Ok(());
            }
            match steps.last_mut() {
                Some(last) if matches!(last.node, Node::Reshape) => {
                    last.names.push(name.clone());
                    last.shape = out_shape.clone();
                }
                _ => push(steps, Node::Reshape),
            }
        }
        LayerSpec::Permute { dims } => {
            let axes = super::layers::permute_axes(dims, input_shape.len())
                .map_err(|e| layer_err(&name, e))?;
            let mut perm = vec![0i32];
            for a in axes {
                perm.push(as_i32(layer, "dims", a + 1)?);
            }
            push(steps, Node::Transpose(perm));
        }
        LayerSpec::Dropout { .. } => {}
        LayerSpec::Conv2D(c) => {
            let kernel = param(layer, "kernel")?.to_vec();
            let &[cin] = &input_shape[input_shape.len().saturating_sub(1)..] else {
                return Err(layer_err(&name, "has no input channels"));
            };
            let (fused, after) = split_activation(c.activation);
            let options = Conv2dOptions {
                padding: c.padding.to_ir(),
                stride_w: as_i32(layer, "stride", c.strides[1])?,
                stride_h: as_i32(layer, "stride", c.strides[0])?,
                dilation_w: as_i32(layer, "dilation", c.dilation_rate[1])?,
                dilation_h: as_i32(layer, "dilation", c.dilation_rate[0])?,
                activation: fused,
            };
            let node = Node::Conv {
                kernel,
                kshape: [c.kernel_size[0], c.kernel_size[1], cin, c.filters],
                bias: bias_or_zeros(layer, c.filters),
                options,
            };
            push_with(steps, node, after);
        }
        LayerSpec::DepthwiseConv2D(c) => {
            let kernel = param(layer, "depthwise_kernel")?.to_vec();
            let &[cin] = &input_shape[input_shape.len().saturating_sub(1)..] else {
                return Err(layer_err(&name, "has no input channels"));
            };
            let (fused, after) = split_activation(c.activation);
            let options = DepthwiseConv2dOptions {
                padding: c.padding.to_ir(),
                stride_w: as_i32(layer, "stride", c.strides[1])?,
                stride_h: as_i32(layer, "stride", c.strides[0])?,
                depth_multiplier: as_i32(layer, "depth_multiplier", c.depth_multiplier)?,
                dilation_w: as_i32(layer, "dilation", c.dilation_rate[1])?,
                dilation_h: as_i32(layer, "dilation", c.dilation_rate[0])?,
                activation: fused,
            };
            let node = Node::Depthwise {
                kernel,
                kshape: [c.kernel_size[0], c.kernel_size[1], cin, c.depth_multiplier],
                bias: bias_or_zeros(layer, cin * c.depth_multiplier),
                options,
            };
            push_with(steps, node, after);
        }
        LayerSpec::Dense(c) => {
            let kernel = param(layer, "kernel")?.to_vec();
            let inner = kernel.len() / c.units.max(1);
            let (fused, after) = split_activation(c.activation);
            let options = FullyConnectedOptions {
                activation: fused,
                // Keras' Dense maps the last axis and keeps the others.
                keep_num_dims: input_shape.len() > 1,
                asymmetric_quantize_inputs: false,
                shuffled_weights: false,
            };
            let node = Node::Dense {
                kernel,
                kshape: [inner, c.units],
                bias: bias_or_zeros(layer, c.units),
                options,
            };
            push_with(steps, node, after);
        }
        LayerSpec::BatchNormalization { epsilon, .. } => {
            let gamma = param(layer, "gamma")?;
            let beta = param(layer, "beta")?;
            let mean = param(layer, "moving_mean")?;
            let var = param(layer, "moving_variance")?;
            if let Some(last) = steps.last_mut() {
                let folded = match &mut last.node {
                    Node::Conv {
                        kernel,
                        bias,
                        options,
                        ..
                    } if options.activation == ir::Activation::None => Some((kernel, bias)),
                    Node::Depthwise {
                        kernel,
                        bias,
                        options,
                        ..
                    } if options.activation == ir::Activation::None => Some((kernel, bias)),
                    Node::Dense {
                        kernel,
                        bias,
                        options,
                        ..
                    } if options.activation == ir::Activation::None => Some((kernel, bias)),
                    _ => None,
                };
                if let Some((kernel, bias)) = folded {
                    let (k, b) =
                        fold_batch_norm(kernel, Some(bias), gamma, beta, mean, var, *epsilon)
                            .map_err(|e| layer_err(&name, e.to_string()))?;
                    *kernel = k;
                    *bias = b;
                    last.names.push(name.clone());
                    return Ok(());
                }
            }
            let scale: Vec<f32> = gamma
                .iter()
                .zip(var)
                .map(|(g, v)| g / (v + epsilon).sqrt())
                .collect();
            let shift = beta
                .iter()
                .zip(mean)
                .zip(&scale)
                .map(|((b, m), s)| b - m * s)
                .collect();
            push(
                steps,
                Node::Affine {
                    scale,
                    shift,
                    activation: ir::Activation::None,
                },
            );
        }
        LayerSpec::ReLU { max_value } => {
            let clamp = match max_value {
                None => ir::Activation::Relu,
                Some(m) if *m == 6.0 => ir::Activation::Relu6,
                Some(m) => {
                    return Err(layer_err(
                        &name,
                        format!("ReLU with max_value {m} has no TFLite op (only 6 does: RELU6)"),
                    ))
                }
            };
            fuse_or_push(steps, clamp, &name, &out_shape);
        }
        LayerSpec::LeakyReLU { alpha } => push(steps, Node::Unary(Op::LeakyRelu { alpha: *alpha })),
        LayerSpec::Activation { activation } => match split_activation(*activation) {
            (ir::Activation::None, None) => {}
            (ir::Activation::None, Some(op)) => push(steps, Node::Unary(op)),
            (clamp, _) => fuse_or_push(steps, clamp, &name, &out_shape),
        },
        LayerSpec::MaxPooling2D(p) | LayerSpec::AveragePooling2D(p) => {
            let strides = p.strides.unwrap_or(p.pool_size);
            let options = Pool2dOptions {
                padding: p.padding.to_ir(),
                stride_w: as_i32(layer, "stride", strides[1])?,
                stride_h: as_i32(layer, "stride", strides[0])?,
                filter_w: as_i32(layer, "pool size", p.pool_size[1])?,
                filter_h: as_i32(layer, "pool size", p.pool_size[0])?,
                activation: ir::Activation::None,
            };
            let max = matches!(layer.spec(), LayerSpec::MaxPooling2D(_));
            push(steps, Node::Pool { max, options });
        }
        LayerSpec::GlobalAveragePooling2D {} => push(steps, Node::Mean),
    }
    Ok(())
}

/// Fuses a RELU / RELU6 into the op before it when it has a free activation slot,
/// otherwise adds the activation as an op.
fn fuse_or_push(steps: &mut Vec<Step>, clamp: ir::Activation, name: &str, shape: &[usize]) {
    if let Some(last) = steps.last_mut() {
        if let Some(slot) = last.activation_mut() {
            if let Some(fused) = compose(*slot, clamp) {
                *slot = fused;
                last.names.push(name.to_string());
                return;
            }
        }
    }
    let op = if clamp == ir::Activation::Relu6 {
        Op::Relu6
    } else {
        Op::Relu
    };
    steps.push(Step {
        node: Node::Unary(op),
        names: vec![name.to_string()],
        shape: shape.to_vec(),
    });
}

/// Batch-1 shape and its -1-batch signature.
fn batched(shape: &[usize]) -> Result<(Vec<usize>, Vec<i32>), NnError> {
    let mut concrete = vec![1];
    concrete.extend_from_slice(shape);
    let mut signature = vec![-1];
    for &d in shape {
        signature.push(
            i32::try_from(d)
                .map_err(|_| NnError::Shape(format!("dimension {d} does not fit a .tflite")))?,
        );
    }
    Ok((concrete, signature))
}

fn activation_tensor(name: String, shape: &[usize]) -> Result<Tensor, NnError> {
    let (concrete, signature) = batched(shape)?;
    let mut t = Tensor::activation(name, ir::DType::F32, concrete);
    t.shape_signature = Some(signature);
    Ok(t)
}

/// Keras `[kh, kw, in, out]` to TFLite `[out, kh, kw, in]`.
fn conv_kernel_to_ohwi(kernel: &[f32], [kh, kw, cin, cout]: [usize; 4]) -> Vec<f32> {
    let mut out = vec![0.0; kernel.len()];
    for (i, &w) in kernel.iter().enumerate() {
        let o = i % cout;
        let rest = i / cout;
        let ci = rest % cin;
        let tap = rest / cin; // y·kw + x
        if let Some(slot) = out.get_mut((o * kh * kw + tap) * cin + ci) {
            *slot = w;
        }
    }
    out
}

/// Keras `[in, out]` to TFLite `[out, in]`.
fn dense_kernel_to_oi(kernel: &[f32], [inner, units]: [usize; 2]) -> Vec<f32> {
    let mut out = vec![0.0; kernel.len()];
    for (i, &w) in kernel.iter().enumerate() {
        let (r, c) = (i / units, i % units);
        if let Some(slot) = out.get_mut(c * inner + r) {
            *slot = w;
        }
    }
    out
}

fn add(tensors: &mut Vec<Tensor>, t: Tensor) -> usize {
    tensors.push(t);
    tensors.len() - 1
}

/// Builds the tensor table and operators of `steps`.
fn lay_out(input_shape: &[usize], steps: &[Step]) -> Result<Graph, NnError> {
    let mut tensors: Vec<Tensor> = vec![activation_tensor(INPUT_NAME.into(), input_shape)?];
    let mut operators = Vec::new();
    let mut current = 0usize;
    for step in steps {
        let name = step.name();
        let mut inputs = vec![current];
        let op = match &step.node {
            Node::Conv {
                kernel,
                kshape,
                bias,
                options,
            } => {
                let [kh, kw, cin, cout] = *kshape;
                let w = conv_kernel_to_ohwi(kernel, *kshape);
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/kernel"), vec![cout, kh, kw, cin], &w),
                ));
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/bias"), vec![cout], bias),
                ));
                Op::Conv2d(options.clone())
            }
            Node::Depthwise {
                kernel,
                kshape,
                bias,
                options,
            } => {
                // Keras' [kh, kw, in, mult] already has TFLite's flat order: channel
                // ci·mult + m is the flat index of the last two axes.
                let [kh, kw, cin, mult] = *kshape;
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(
                        format!("{name}/depthwise_kernel"),
                        vec![1, kh, kw, cin * mult],
                        kernel,
                    ),
                ));
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/bias"), vec![cin * mult], bias),
                ));
                Op::DepthwiseConv2d(options.clone())
            }
            Node::Dense {
                kernel,
                kshape,
                bias,
                options,
            } => {
                let [inner, units] = *kshape;
                let w = dense_kernel_to_oi(kernel, *kshape);
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/kernel"), vec![units, inner], &w),
                ));
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/bias"), vec![units], bias),
                ));
                Op::FullyConnected(options.clone())
            }
            Node::Affine {
                scale,
                shift,
                activation,
            } => {
                let c = scale.len();
                let scale_t = add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/scale"), vec![c], scale),
                );
                let scaled = add(
                    &mut tensors,
                    activation_tensor(format!("{name}/mul"), &step.shape)?,
                );
                operators.push(Operator::new(
                    Op::Mul {
                        activation: ir::Activation::None,
                    },
                    vec![current, scale_t],
                    vec![scaled],
                ));
                inputs = vec![scaled];
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_f32(format!("{name}/shift"), vec![c], shift),
                ));
                Op::Add {
                    activation: *activation,
                }
            }
            Node::Reshape => {
                let (_, signature) = batched(&step.shape)?;
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_i32(
                        format!("{name}/shape"),
                        vec![signature.len()],
                        &signature,
                    ),
                ));
                Op::Reshape { new_shape: None }
            }
            Node::Transpose(perm) => {
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_i32(format!("{name}/perm"), vec![perm.len()], perm),
                ));
                Op::Transpose
            }
            Node::Pool { max, options } => {
                if *max {
                    Op::MaxPool2d(options.clone())
                } else {
                    Op::AveragePool2d(options.clone())
                }
            }
            Node::Mean => {
                inputs.push(add(
                    &mut tensors,
                    Tensor::constant_i32(format!("{name}/axes"), vec![2], &[1, 2]),
                ));
                Op::Mean { keep_dims: false }
            }
            Node::Unary(op) => op.clone(),
        };
        let output = add(&mut tensors, activation_tensor(name, &step.shape)?);
        operators.push(Operator::new(op, inputs, vec![output]));
        current = output;
    }
    Ok(Graph {
        name: Some("main".into()),
        tensors,
        inputs: vec![0],
        outputs: vec![current],
        operators,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_kernel_moves_output_channel_first() {
        // kh=1, kw=2, in=2, out=3; Keras value encodes (y, x, i, o) as digits.
        let shape = [1, 2, 2, 3];
        let mut keras = Vec::new();
        for x in 0..2 {
            for i in 0..2 {
                for o in 0..3 {
                    keras.push((x * 10 + i + o * 100) as f32);
                }
            }
        }
        let t = conv_kernel_to_ohwi(&keras, shape);
        // TFLite [o, y, x, i]: element (o=2, x=1, i=0) at ((2·1+0)·2+1)·2+0 = 10.
        assert_eq!(t[10], 210.0);
        assert_eq!(t[0], 0.0);
        assert_eq!(t[3], 11.0); // o=0, x=1, i=1
    }

    #[test]
    fn dense_kernel_is_transposed() {
        let keras = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [in=2, out=3]
        assert_eq!(
            dense_kernel_to_oi(&keras, [2, 3]),
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
        );
    }
}
