"""Generates fixtures/extra/: TensorFlow-made .tflite models of architectures the MNIST
fixtures do not cover, with inputs and LiteRT reference-kernel outputs.

ferrolite's tests run these to check that ops are implemented fully (paddings, strides,
dilation, depth multipliers, broadcasting, axes, masks), not just as the MNIST models use
them. TensorFlow is needed only to regenerate; the outputs are committed.

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0 \
        tf-keras==2.21.0 ai-edge-litert==2.3.0
    /tmp/tf/bin/python scripts/gen_extra_fixtures.py fixtures/extra

Weights are random (seeded): correctness of execution does not need trained weights.
Each model gets a float32 file and full-integer int8 files (int8 IO and uint8 IO,
calibrated on random inputs), and a dynamic-range file where the converter makes one.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf
import tf_keras as keras
from ai_edge_litert.interpreter import Interpreter, OpResolverType

BATCH = 3


def set_random_weights(model, rng):
    for layer in model.layers:
        ws = layer.get_weights()
        if ws:
            layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in ws])


def dwsep(rng):
    x = keras.Input((16, 16, 3))
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu6")(x)
    y = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu")(y)
    y = keras.layers.DepthwiseConv2D(3, strides=2, padding="valid")(y)
    y = keras.layers.Conv2D(12, 1)(y)
    y = keras.layers.AveragePooling2D(2, padding="same")(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(5)(y)
    y = keras.layers.Softmax()(y)
    return keras.Model(x, y), (16, 16, 3)


def residual(rng):
    x = keras.Input((12, 12, 4))
    a = keras.layers.Conv2D(4, 3, padding="same")(x)
    s = keras.layers.Add()([a, x])
    s = keras.layers.LeakyReLU(0.1)(s)
    c = keras.layers.Concatenate(axis=-1)([s, a])
    d = keras.layers.Conv2D(6, (3, 2), strides=(1, 2), padding="valid")(c)
    d = keras.layers.Activation("tanh")(d)
    m = keras.layers.MaxPooling2D(3, strides=2, padding="same")(d)
    f = keras.layers.Flatten()(m)
    y = keras.layers.Dense(7, activation="sigmoid")(f)
    return keras.Model(x, y), (12, 12, 4)


def mobilenet_block(rng):
    # Inverted residual as in MobileNetV2: expand 1x1, depthwise 3x3, project 1x1, add.
    x = keras.Input((10, 10, 8))
    y = keras.layers.Conv2D(24, 1, activation="relu6")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(y)
    y = keras.layers.Conv2D(8, 1)(y)
    y = keras.layers.Add()([x, y])
    y = keras.layers.Conv2D(16, 3, strides=(2, 1), padding="same")(y)
    y = keras.layers.Lambda(lambda t: t * tf.nn.relu6(t + 3.0) / 6.0)(y)  # HARD_SWISH
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(4)(y)
    return keras.Model(x, y), (10, 10, 8)


def sequence(rng):
    # Dense on a rank-3 input (FULLY_CONNECTED keep_num_dims), multiply by a broadcast
    # constant, permute, reshape.
    # A fixed batch of 1: with a dynamic batch Keras's tensordot adds GATHER/REDUCE_PROD
    # shape arithmetic. References are made one image per invoke anyway.
    x = keras.Input((6, 5), batch_size=1)
    y = keras.layers.Dense(8, activation="relu")(x)
    y = keras.layers.Lambda(lambda t: t * tf.constant(np.linspace(-1, 1, 8, dtype=np.float32)))(y)
    y = keras.layers.Permute((2, 1))(y)
    y = keras.layers.Reshape((4, 12))(y)
    y = keras.layers.Dense(3)(y)
    return keras.Model(x, y), (6, 5)


class RawOps(tf.Module):
    """Ops Keras layers do not reach: PAD, STRIDED_SLICE with masks, SQUEEZE, PACK,
    TRANSPOSE, MEAN over several axes with keep_dims, SUB/DIV/MUL broadcasting."""

    def __init__(self, rng):
        super().__init__()
        self.w = tf.constant(rng.normal(0, 1, (1, 1, 3, 4)).astype(np.float32))
        self.b = tf.constant(rng.normal(0, 1, (4,)).astype(np.float32))
        self.w3 = tf.constant(rng.normal(0, 1, (3, 3, 3, 4)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 7, 9, 3], tf.float32)])
    def __call__(self, x):
        p = tf.pad(x, [[0, 0], [1, 2], [0, 1], [0, 0]])
        c = tf.nn.conv2d(p, self.w, strides=[1, 2, 3, 1], padding="VALID") + self.b
        c = c + tf.nn.conv2d(p, self.w3, strides=1, dilations=2, padding="SAME")[:, ::2, ::3, :]
        s = c[:, ::-1, 1:, :]  # negative stride, begin/end masks
        s = s[:, :, :, 1:3]
        t = tf.transpose(s, [0, 3, 1, 2])
        m = tf.reduce_mean(t, axis=[2, -1], keepdims=True)
        q = tf.squeeze(m, axis=[3])
        d = (t - q[..., None]) / (q[..., None] * q[..., None] + 1.0)
        st = tf.stack([d[:, 0], d[:, 1] * 2.0], axis=1)
        return tf.nn.softmax(tf.reshape(st, [-1, 2 * d.shape[2] * d.shape[3]]))


def convert(converter, kind, rep):
    if kind == "float32":
        pass
    elif kind == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif kind in ("int8", "int8_uint8_io"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = rep
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = tf.int8 if kind == "int8" else tf.uint8
        converter.inference_input_type = io
        converter.inference_output_type = io
    return converter.convert()


def reference(path, x):
    interp = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    if inp["dtype"] != np.float32:
        scale, zp = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        q = np.clip(np.sign(x / scale) * np.floor(np.abs(x / scale) + 0.5) + zp, info.min, info.max)
        x = q.astype(inp["dtype"])
    rows = []
    for i in range(x.shape[0]):
        one = x[i:i + 1]
        interp.resize_tensor_input(inp["index"], list(one.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], one)
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).copy())
    ops = sorted({d["op_name"] for d in interp._get_ops_details()})
    return x, np.concatenate(rows, axis=0), ops


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    manifest = []
    builders = {"dwsep": dwsep, "residual": residual, "mobilenet_block": mobilenet_block,
                "sequence": sequence, "raw_ops": None}
    for seed, (name, build) in enumerate(builders.items()):
        rng = np.random.default_rng(1000 + seed)
        if build is None:
            module = RawOps(rng)
            in_shape = (7, 9, 3)
            make = lambda: tf.lite.TFLiteConverter.from_concrete_functions(
                [module.__call__.get_concrete_function()], module)
        else:
            model, in_shape = build(rng)
            set_random_weights(model, rng)
            make = lambda model=model: tf.lite.TFLiteConverter.from_keras_model(model)
        calib = rng.uniform(-1, 1, (64,) + in_shape).astype(np.float32)

        def rep(calib=calib):
            for i in range(calib.shape[0]):
                yield [calib[i:i + 1]]

        x = rng.uniform(-1, 1, (BATCH,) + in_shape).astype(np.float32)
        for kind in ("float32", "dynamic_range", "int8", "int8_uint8_io"):
            try:
                data = convert(make(), kind, rep)
            except Exception as e:  # report and go on: not every model converts every way
                print(f"skip {name} {kind}: {e}", file=sys.stderr)
                continue
            stem = f"{name}_{kind}"
            path = os.path.join(out_dir, stem + ".tflite")
            with open(path, "wb") as f:
                f.write(data)
            xin, ref, ops = reference(path, x)
            np.save(os.path.join(out_dir, stem + ".input.npy"), xin)
            np.save(os.path.join(out_dir, stem + ".output.ref.npy"), ref)
            manifest.append({"name": stem, "kind": kind, "ops": ops,
                             "input_dtype": str(xin.dtype), "output_dtype": str(ref.dtype)})
            print(f"{stem}: {ops}")
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/gen_extra_fixtures.py",
                   "tensorflow": tf.__version__, "batch": BATCH, "models": manifest}, f, indent=1)


if __name__ == "__main__":
    main()
