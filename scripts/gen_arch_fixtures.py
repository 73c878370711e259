"""Generates fixtures/arch/: three well-known architectures with seeded random weights,
converted by TensorFlow as float32 and full-integer int8 (int8 IO), each with a seeded
input and LiteRT's outputs, to hold ferrolite to whole models rather than single ops.

    /tmp/tf/bin/python scripts/gen_arch_fixtures.py [fixtures/arch]

(the venv of scripts/gen_op_fixtures.py). The models, kept small enough to vendor:
- mobilenet_v3_small: Keras' MobileNetV3Small backbone (alpha 0.35, 96x96x3) with a pooled
  10-class dense head: hard-swish,
  squeeze-excite (MEAN, MUL, HARD_SWISH), depthwise convolutions, SOFTMAX;
- unet: a two-level U-Net: convolutions, max pooling, transposed convolutions, a bilinear
  resize, skip concatenations, a PReLU;
- ssd_head: a small backbone with two feature maps and an SSD-style head: per-map box and
  class convolutions reshaped and concatenated over anchors, class scores through a
  sigmoid; two outputs (boxes, scores).
Per model NAME (= ARCH_float32 / ARCH_int8): NAME.tflite, NAME.in0.npy, and
NAME.out<i>.ref.npy from LiteRT's reference kernels (BUILTIN_REF, run in a child process;
where they abort, NAME.out<i>.opt.npy from the optimized kernels without XNNPACK). The
manifest records which, the operators of each file, and the range the inputs (and the
calibration samples) are drawn uniformly from.
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

L = keras.layers

CHILD = """
import sys, os, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
model, d, name, resolver, tag = sys.argv[1:6]
it = Interpreter(model, experimental_op_resolver_type=getattr(OpResolverType, resolver))
it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]['index'], np.load(os.path.join(d, name + '.in0.npy')))
it.invoke()
for i, det in enumerate(it.get_output_details()):
    np.save(os.path.join(d, f"{name}.out{i}.{tag}.npy"), it.get_tensor(det['index']))
print(','.join(sorted({o['op_name'] for o in it._get_ops_details()})))
"""


def mobilenet_v3_small():
    # Keras' own top keeps a 1024-wide layer whatever alpha is; a pooled dense head keeps
    # the file small (the backbone is unchanged).
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=False,
        pooling="avg")
    x = keras.Input((96, 96, 3), batch_size=1)
    return keras.Model(x, L.Dense(10, activation="softmax")(backbone(x)))


def unet():
    x = keras.Input((64, 64, 3), batch_size=1)
    c1 = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    p1 = L.MaxPooling2D()(c1)
    c2 = L.Conv2D(16, 3, padding="same", activation="relu")(p1)
    p2 = L.MaxPooling2D()(c2)
    b = L.Conv2D(32, 3, padding="same")(p2)
    b = L.PReLU(shared_axes=[1, 2])(b)
    u2 = L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(b)
    d2 = L.Conv2D(16, 3, padding="same", activation="relu")(L.Concatenate()([u2, c2]))
    u1 = L.Conv2DTranspose(8, 2, strides=2, padding="valid")(d2)
    d1 = L.Conv2D(8, 3, padding="same", activation="relu")(L.Concatenate()([u1, c1]))
    side = L.UpSampling2D(size=4, interpolation="bilinear")(L.Conv2D(8, 1)(b))
    y = L.Conv2D(4, 1, activation="softmax")(L.Add()([d1, side]))
    return keras.Model(x, y)


def ssd_head():
    x = keras.Input((64, 64, 3), batch_size=1)
    h = L.Conv2D(16, 3, strides=2, padding="same", activation="relu6")(x)
    h = L.DepthwiseConv2D(3, padding="same", activation="relu6")(h)
    f1 = L.Conv2D(24, 1, strides=2, activation="relu6")(h)              # 16x16
    f2 = L.Conv2D(32, 3, strides=2, padding="same", activation="relu6")(f1)  # 8x8
    anchors, classes = 3, 5
    boxes, scores = [], []
    for f in (f1, f2):
        n = f.shape[1] * f.shape[2] * anchors
        boxes.append(L.Reshape((n, 4))(L.Conv2D(anchors * 4, 3, padding="same")(f)))
        scores.append(L.Reshape((n, classes))(L.Conv2D(anchors * classes, 3, padding="same")(f)))
    box = L.Concatenate(axis=1, name="boxes")(boxes)
    score = L.Activation("sigmoid", name="scores")(L.Concatenate(axis=1)(scores))
    return keras.Model(x, [box, score])


ARCHS = {
    "mobilenet_v3_small": (mobilenet_v3_small, (96, 96, 3), (0.0, 255.0)),
    "unet": (unet, (64, 64, 3), (-1.0, 1.0)),
    "ssd_head": (ssd_head, (64, 64, 3), (-1.0, 1.0)),
}


def randomize(model, rng):
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for var, w in zip(layer.weights, ws):
            if "gamma" in var.name or "moving_variance" in var.name:
                new.append(rng.uniform(0.5, 1.5, w.shape))
            elif "alpha" in var.name:  # PReLU slopes
                new.append(rng.uniform(0.0, 0.5, w.shape))
            elif w.ndim >= 2:  # He-scaled kernels keep activations in range through depth
                fan_in = int(np.prod(w.shape[:-1]))
                new.append(rng.normal(0, np.sqrt(2.0 / max(fan_in, 1)), w.shape))
            else:
                new.append(rng.normal(0, 0.1, w.shape))
        layer.set_weights([n.astype(np.float32) for n in new])


def run_litert(path, out, name, resolver, tag):
    child = subprocess.run([sys.executable, "-c", CHILD, path, out, name, resolver, tag],
                           capture_output=True, text=True)
    if child.returncode != 0:
        for f in os.listdir(out):
            if f.startswith(name + ".out") and f.endswith(f".{tag}.npy"):
                os.remove(os.path.join(out, f))
        return None
    return child.stdout.strip().splitlines()[-1].split(",")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "fixtures/arch"
    os.makedirs(out, exist_ok=True)
    entries = []
    for index, (arch, (build, shape, (lo, hi))) in enumerate(ARCHS.items()):
        tf.keras.utils.set_random_seed(100 + index)
        model = build()
        randomize(model, np.random.default_rng(200 + index))
        rng = np.random.default_rng(300 + index)
        calib = rng.uniform(lo, hi, (24, 1) + shape).astype(np.float32)
        x = rng.uniform(lo, hi, (1,) + shape).astype(np.float32)

        def rep():
            for c in calib:
                yield [c]

        for kind in ("float32", "int8"):
            name = f"{arch}_{kind}"
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            if kind == "int8":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = rep
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
            data = converter.convert()
            path = os.path.join(out, name + ".tflite")
            open(path, "wb").write(data)
            for f in os.listdir(out):
                if f.startswith(name + ".out"):
                    os.remove(os.path.join(out, f))
            from ai_edge_litert.interpreter import Interpreter
            d = Interpreter(path).get_input_details()[0]
            xin = x
            if d["dtype"] != np.float32:
                s, zp = d["quantization"]
                xin = np.clip(np.round(x / s) + zp, -128, 127).astype(np.int8)
            np.save(os.path.join(out, name + ".in0.npy"), xin)
            tag = "ref"
            ops = run_litert(path, out, name, "BUILTIN_REF", tag)
            if ops is None:
                tag = "opt"
                ops = run_litert(path, out, name, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", tag)
            outputs = len([f for f in os.listdir(out) if f.startswith(name + ".out")])
            entries.append({"name": name, "arch": arch, "kind": kind, "ops": ops,
                            "input_range": [lo, hi],
                            "output": tag, "outputs": outputs, "bytes": len(data)})
            print(f"{name}: {len(data)} B, {','.join(ops or ['LiteRT failed'])} ({tag})")
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/gen_arch_fixtures.py", "tensorflow": tf.__version__,
                   "models": entries}, f, indent=1)


if __name__ == "__main__":
    main()
