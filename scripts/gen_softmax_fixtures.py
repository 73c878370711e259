"""Generates fixtures/softmax/: int8 SOFTMAX whose input scale is so small that LiteRT's
reference kernel cannot run it (beta * input_scale * 2^26 <= 1 fails its
QuantizeMultiplierGreaterThanOne check and aborts), while LiteRT's default kernel, a
float lookup table, runs it. Such scales appear in real conversions (an untrained or
weakly activated MobileNetV3-Small has logits of scale ~7.8e-9), so ferrolite must run
them and match the default kernel bit for bit (issue 12).

Each model: Dense -> Softmax from random inputs, with the Dense weights scaled so the
logits span about `span`; the file is int8 with int8 IO. Saved beside it: the input
(.input.npy), LiteRT's default-kernel output without XNNPACK (.output.opt.npy), and,
where the reference kernel runs (tried in a child process, since it aborts), its output
(.output.ref.npy); the manifest says which.

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu==2.21.0 \
        tf-keras==2.21.0 ai-edge-litert
    /tmp/tf/bin/python scripts/gen_softmax_fixtures.py fixtures/softmax
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

BATCH = 4
DEPTH = 12
CLASSES = 10

REF_CHILD = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
it = Interpreter(sys.argv[1], experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
it.allocate_tensors()
d = it.get_input_details()[0]
x = np.load(sys.argv[2])
it.resize_tensor_input(d['index'], list(x.shape)); it.allocate_tensors()
it.set_tensor(d['index'], x); it.invoke()
np.save(sys.argv[3], it.get_tensor(it.get_output_details()[0]['index']))
"""


def model(span, rng):
    x = keras.Input((DEPTH,))
    y = keras.layers.Dense(CLASSES)(x)
    y = keras.layers.Softmax()(y)
    m = keras.Model(x, y)
    w = rng.uniform(-1, 1, (DEPTH, CLASSES)).astype(np.float32) * (span / DEPTH)
    b = rng.uniform(-1, 1, (CLASSES,)).astype(np.float32) * span * 0.1
    m.layers[1].set_weights([w, b])
    return m


def convert(m, rng):
    def rep():
        for _ in range(32):
            yield [rng.uniform(-1, 1, (1, DEPTH)).astype(np.float32)]

    c = tf.lite.TFLiteConverter.from_keras_model(m)
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.representative_dataset = rep
    c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    c.inference_input_type = tf.int8
    c.inference_output_type = tf.int8
    return c.convert()


def run_default(path, x):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(
        path,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    d = it.get_input_details()[0]
    it.resize_tensor_input(d["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(d["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"])


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261203)
    manifest = {"generator": "scripts/gen_softmax_fixtures.py", "tensorflow": tf.__version__, "models": []}
    # Logit spans from far below the reference kernel's limit to an ordinary one.
    for name, span in [("softmax_tiny_scale", 2e-7), ("softmax_small_scale", 3e-5), ("softmax_usual_scale", 8.0)]:
        path = os.path.join(out, name + ".tflite")
        with open(path, "wb") as f:
            f.write(convert(model(span, rng), rng))
        x = rng.integers(-128, 128, (BATCH, DEPTH)).astype(np.int8)
        # A row of equal inputs and rows at the extremes.
        x[1, :] = 5
        x[2, :] = -128
        x[2, 3] = 127
        np.save(os.path.join(out, name + ".input.npy"), x)
        np.save(os.path.join(out, name + ".output.opt.npy"), run_default(path, x))
        child = subprocess.run(
            [sys.executable, "-c", REF_CHILD, path, os.path.join(out, name + ".input.npy"),
             os.path.join(out, name + ".output.ref.npy")],
            capture_output=True,
        )
        manifest["models"].append({"name": name, "logit_span": span, "reference_kernel_aborts": child.returncode != 0})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fixtures/softmax")
