"""Generates fixtures/ops/: one small TensorFlow-made model per operator family of
issue 12, as float32 and (where TensorFlow's converter makes one) full-integer int8 with
int8 IO, each with its input and LiteRT's outputs.

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0 \
        tf-keras==2.21.0 ai-edge-litert
    /tmp/tf/bin/python scripts/gen_op_fixtures.py fixtures/ops [CASE...]

For every file: NAME.input.npy, and NAME.output.ref.npy from LiteRT's reference kernels
(BUILTIN_REF). Those abort on some int8 models; they run in a child process, and where
they fail the optimized kernels without XNNPACK give NAME.output.opt.npy instead. The
manifest lists, per file, the TFLite operators it holds, which output file it has, and
why a case has no int8 file. Weights and inputs are seeded random numbers.
"""
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf
import tf_keras as keras

BATCH = 2

# Runs one resolver on one file in a child process (the reference kernels can abort)
# and saves the first output: argv = model, input.npy, output.npy, resolver name.
CHILD = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
it = Interpreter(sys.argv[1], experimental_op_resolver_type=getattr(OpResolverType, sys.argv[4]))
d = it.get_input_details()[0]
x = np.load(sys.argv[2])
it.resize_tensor_input(d['index'], list(x.shape))
it.allocate_tensors()
it.set_tensor(d['index'], x)
it.invoke()
np.save(sys.argv[3], it.get_tensor(it.get_output_details()[0]['index']))
ops = sorted({o['op_name'] for o in it._get_ops_details()})
print(','.join(ops))
"""


def const(rng, shape, scale=1.0):
    return tf.constant(rng.uniform(-scale, scale, shape).astype(np.float32))


# ---- the cases: name -> (input shape without batch, builder(rng) -> fn(x) or keras model)

def keras_case(layers_fn):
    def build(rng, shape):
        x = keras.Input(shape, batch_size=BATCH)
        m = keras.Model(x, layers_fn(x))
        for layer in m.layers:
            ws = layer.get_weights()
            if ws:
                layer.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in ws])
        return m
    return build


def fn_case(make):
    def build(rng, shape):
        return make(rng)
    return build


CASES = {
    # convolution family
    "transpose_conv": ((6, 5, 3), keras_case(lambda x: keras.layers.Conv2DTranspose(
        4, 3, strides=2, padding="same", activation="relu")(x))),
    "transpose_conv_valid": ((5, 4, 2), keras_case(lambda x: keras.layers.Conv2DTranspose(
        3, (3, 2), strides=(2, 1), padding="valid")(x))),
    "conv_dilated": ((11, 10, 3), keras_case(lambda x: keras.layers.Conv2D(
        4, 3, dilation_rate=(2, 3), padding="same", activation="relu6")(x))),
    "depthwise_dilated": ((11, 10, 3), keras_case(lambda x: keras.layers.DepthwiseConv2D(
        3, dilation_rate=2, depth_multiplier=2, padding="valid")(x))),
    "prelu": ((5, 4, 3), keras_case(lambda x: keras.layers.PReLU()(x))),
    "prelu_shared": ((5, 4, 3), keras_case(lambda x: keras.layers.PReLU(shared_axes=[1, 2])(x))),
    "leaky_relu": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.nn.leaky_relu(x, 0.2))),
    "elu": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.nn.elu(x * 3.0))),
    "gelu": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.nn.gelu(x * 3.0, approximate=False))),
    "gelu_tanh": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.nn.gelu(x * 3.0, approximate=True))),
    "relu_n1_to_1": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.clip_by_value(x, -1.0, 1.0))),
    "hard_swish": ((5, 4, 3), fn_case(lambda rng: lambda x: x * 4.0 * tf.nn.relu6(x * 4.0 + 3.0) / 6.0)),
    "logistic": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.sigmoid(x * 4.0))),
    "tanh": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.tanh(x * 3.0))),
    # resampling and layout
    "resize_bilinear": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.image.resize(x, [9, 7], "bilinear"))),
    "resize_bilinear_align_corners": ((5, 4, 3), fn_case(lambda rng: lambda x:
        tf.compat.v1.image.resize_bilinear(x, [9, 7], align_corners=True))),
    "resize_bilinear_legacy": ((5, 4, 3), fn_case(lambda rng: lambda x:
        tf.compat.v1.image.resize_bilinear(x, [8, 10], align_corners=False, half_pixel_centers=False))),
    "resize_nearest": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.image.resize(x, [10, 6], "nearest"))),
    "resize_nearest_align_corners": ((5, 4, 3), fn_case(lambda rng: lambda x:
        tf.compat.v1.image.resize_nearest_neighbor(x, [9, 7], align_corners=True))),
    "depth_to_space": ((3, 4, 8), fn_case(lambda rng: lambda x: tf.nn.depth_to_space(x, 2))),
    "space_to_depth": ((6, 4, 3), fn_case(lambda rng: lambda x: tf.nn.space_to_depth(x, 2))),
    "split": ((4, 3, 6), fn_case(lambda rng: lambda x: (lambda p: tf.concat(
        [p[0] + 1.0, p[1] * 2.0, p[2] - 0.5], axis=1))(tf.split(x, 3, axis=-1)))),
    "split_v": ((4, 6, 3), fn_case(lambda rng: lambda x: (lambda p: tf.concat(
        [p[0] * 3.0, p[1] + 1.0, p[2] * -1.0], axis=2))(tf.split(x, [1, 3, 2], axis=2)))),
    "slice": ((5, 6, 4), fn_case(lambda rng: lambda x: tf.slice(x, [0, 1, 2, 1], [BATCH, 3, 3, 2]))),
    "gather": ((5, 6, 4), fn_case(lambda rng: lambda x: tf.gather(x, [4, 0, 2, 2], axis=2))),
    "expand_dims": ((5, 6), fn_case(lambda rng: lambda x: tf.expand_dims(x, 1) * tf.expand_dims(x, 2))),
    "tile": ((3, 2, 2), fn_case(lambda rng: lambda x: tf.tile(x, [1, 2, 1, 3]))),
    "broadcast_to": ((1, 3, 1), fn_case(lambda rng: lambda x: tf.broadcast_to(x, [BATCH, 4, 3, 5]))),
    "transpose_rank5": ((2, 3, 4, 5), fn_case(lambda rng: lambda x: tf.transpose(
        tf.reshape(x, [BATCH, 2, 3, 4, 5]), [0, 4, 2, 1, 3]))),
    "transpose_rank6": ((2, 3, 2, 2, 3), fn_case(lambda rng: lambda x: tf.transpose(
        x, [0, 5, 3, 1, 4, 2]))),
    "cast": ((5, 4), fn_case(lambda rng: lambda x: tf.cast(tf.cast(x * 10.0, tf.int32), tf.float32) * 0.5)),
    # element-wise
    "maximum": ((5, 4, 3), fn_case(lambda rng: (lambda c: lambda x: tf.maximum(x, c))(const(rng, (4, 1))))),
    "minimum": ((5, 4, 3), fn_case(lambda rng: (lambda c: lambda x: tf.minimum(x, c))(const(rng, (1, 3))))),
    "abs": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.abs(x))),
    "neg": ((5, 4, 3), fn_case(lambda rng: lambda x: -x)),
    "sqrt": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.sqrt(tf.abs(x)))),
    "rsqrt": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.math.rsqrt(tf.abs(x) + 0.25))),
    "exp": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.exp(x * 2.0))),
    "log": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.math.log(tf.abs(x) + 0.1))),
    "square": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.square(x))),
    "squared_difference": ((5, 4, 3), fn_case(lambda rng: (lambda c: lambda x:
        tf.math.squared_difference(x, c))(const(rng, (4, 3))))),
    "pow": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.pow(tf.abs(x) + 0.5, 2.5))),
    "floor": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.floor(x * 4.0))),
    "add_rank6": ((2, 1, 3, 1, 2), fn_case(lambda rng: (lambda c: lambda x: x + c)(const(rng, (1, 1, 4, 1, 5, 2))))),
    "mul_rank5": ((2, 1, 3, 2), fn_case(lambda rng: (lambda c: lambda x: x * c)(const(rng, (1, 1, 3, 1, 2))))),
    # reductions
    "sum": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.reduce_sum(x, axis=[1, 3]))),
    "sum_keepdims": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.reduce_sum(x, axis=2, keepdims=True))),
    "reduce_max": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.reduce_max(x, axis=[1, 2]))),
    "reduce_min": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.reduce_min(x, axis=-1, keepdims=True))),
    "reduce_prod": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.reduce_prod(x * 2.0, axis=2))),
    "arg_max": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.cast(tf.argmax(x, axis=-1), tf.float32))),
    "arg_min": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.cast(tf.argmin(x, axis=1), tf.float32))),
    "l2_normalization": ((5, 4, 3), fn_case(lambda rng: lambda x: tf.math.l2_normalize(x, axis=-1))),
    "log_softmax": ((5, 7), fn_case(lambda rng: lambda x: tf.nn.log_softmax(x * 3.0))),
    "batch_matmul": ((3, 4, 6), fn_case(lambda rng: lambda x: tf.matmul(
        x[:, :, :, :3], x[:, :, :, 3:], transpose_b=True))),
    "batch_matmul_const": ((3, 4, 6), fn_case(lambda rng: (lambda c: lambda x: tf.matmul(x, c))(
        const(rng, (3, 6, 5))))),
}


# Inputs are uniform in [-r, r], r = 1 unless given here (activations that clip need
# inputs beyond their bounds).
# (TensorFlow 2.21's converter never emits RELU_0_TO_1: min(max(x, 0), 1) stays
# MINIMUM and RELU, so that op has no fixture here.)
INPUT_RANGE = {"relu_n1_to_1": 2.5}

# Cases traced with an unknown batch dimension: with a fixed one the converter folds
# EXPAND_DIMS into RESHAPE.
DYNAMIC_BATCH = {"expand_dims"}


def make_converter(case, rng, shape):
    built = CASES[case][1](rng, shape)
    if isinstance(built, keras.Model):
        return tf.lite.TFLiteConverter.from_keras_model(built)
    module = tf.Module()
    batch = None if case in DYNAMIC_BATCH else BATCH
    module.f = tf.function(built, input_signature=[tf.TensorSpec((batch,) + shape, tf.float32)])
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [module.f.get_concrete_function()], module)


def quantize_input(x, path):
    from ai_edge_litert.interpreter import Interpreter
    d = Interpreter(path).get_input_details()[0]
    if d["dtype"] == np.float32:
        return x
    scale, zp = d["quantization"]
    info = np.iinfo(d["dtype"])
    q = np.clip(np.round(x / scale) + zp, info.min, info.max)
    return q.astype(d["dtype"])


def litert(path, input_path, output_path, resolver):
    child = subprocess.run([sys.executable, "-c", CHILD, path, input_path, output_path, resolver],
                           capture_output=True, text=True)
    if child.returncode != 0:
        return None
    return child.stdout.strip().splitlines()[-1].split(",")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures/ops"
    only = set(sys.argv[2:])
    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    entries = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            entries = {m["name"]: m for m in json.load(f)["models"]}
    for index, (case, (shape, _)) in enumerate(CASES.items()):
        if only and case not in only:
            continue
        rng = np.random.default_rng(5000 + index)
        r = INPUT_RANGE.get(case, 1.0)
        calib = rng.uniform(-r, r, (32, 1) + shape).astype(np.float32)
        x = rng.uniform(-r, r, (BATCH,) + shape).astype(np.float32)

        def rep():
            for c in calib:
                yield [np.repeat(c, BATCH, axis=0)]

        for kind in ("float32", "int8"):
            name = f"{case}_{kind}"
            try:
                converter = make_converter(case, np.random.default_rng(7000 + index), shape)
                if kind == "int8":
                    converter.optimizations = [tf.lite.Optimize.DEFAULT]
                    converter.representative_dataset = rep
                    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                    converter.inference_input_type = tf.int8
                    converter.inference_output_type = tf.int8
                data = converter.convert()
            except Exception as e:  # not every op has an int8 conversion
                reason = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
                entries[name] = {"name": name, "case": case, "kind": kind, "converted": False,
                                 "why": reason}
                print(f"{name}: no file ({reason})", file=sys.stderr)
                continue
            path = os.path.join(out, name + ".tflite")
            with open(path, "wb") as f:
                f.write(data)
            input_path = os.path.join(out, name + ".input.npy")
            np.save(input_path, quantize_input(x, path))
            for stale in ("ref", "opt"):
                p = os.path.join(out, f"{name}.output.{stale}.npy")
                if os.path.exists(p):
                    os.remove(p)
            ops = litert(path, input_path, os.path.join(out, name + ".output.ref.npy"), "BUILTIN_REF")
            reference = "ref"
            if ops is None:
                reference = "opt"
                ops = litert(path, input_path, os.path.join(out, name + ".output.opt.npy"),
                             "BUILTIN_WITHOUT_DEFAULT_DELEGATES")
            if ops is None:
                os.remove(path)
                os.remove(input_path)
                entries[name] = {"name": name, "case": case, "kind": kind, "converted": False,
                                 "why": "LiteRT cannot run the converted file"}
                print(f"{name}: LiteRT cannot run it", file=sys.stderr)
                continue
            entries[name] = {"name": name, "case": case, "kind": kind, "converted": True,
                             "ops": ops, "output": reference}
            print(f"{name}: {','.join(ops)} ({reference})")
    with open(manifest_path, "w") as f:
        json.dump({"generator": "scripts/gen_op_fixtures.py", "tensorflow": tf.__version__,
                   "batch": BATCH, "models": sorted(entries.values(), key=lambda m: m["name"])},
                  f, indent=1)


if __name__ == "__main__":
    main()
