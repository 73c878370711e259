"""Writes the generated benchmark models of issue 13 (not vendored: too big, and only
speed is measured on them, so their weights need no meaning, only realistic shapes).

    TF_PYTHON=/work/tfvenv/bin/python scripts/get-bench-models.sh [DIR]
    (or directly: PYTHON scripts/gen_bench_models.py DIR)

Needs tensorflow and tf_keras (the venv of scripts/gen_op_fixtures.py). Per architecture,
NAME_float32.tflite and NAME_int8.tflite (full-integer, int8 input and output,
calibrated on seeded uniform [-1, 1] samples):
- mobilenet_v2_035_96: keras.applications.MobileNetV2, alpha 0.35, 96x96x3, Keras' own
  head (global average pool + 10-class softmax dense: classes=10, since weights=None
  allows any class count and 1000 classes would make the head dominate at alpha 0.35);
- mobilenet_v3_small_96: keras.applications.MobileNetV3Small, alpha 1.0, 96x96x3,
  Keras' own head with classes=10 (its 1024-wide 1x1 layer kept), no rescaling layer.
  fixtures/arch/mobilenet_v3_small_* is the alpha 0.35 variant with a smaller head.
Weights are Keras' seeded initializers (weights=None), the batch-norm statistics seeded
too, so every run writes the same files for one TensorFlow version.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import tensorflow as tf
import tf_keras as keras


def mobilenet_v2():
    return keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, weights=None, include_top=True, classes=10)


def mobilenet_v3_small():
    return keras.applications.MobileNetV3Small(
        input_shape=(96, 96, 3), alpha=1.0, weights=None, include_top=True, classes=10,
        include_preprocessing=False)


ARCHS = {
    "mobilenet_v2_035_96": mobilenet_v2,
    "mobilenet_v3_small_96": mobilenet_v3_small,
}


def seed_batch_norms(model, rng):
    # Fresh batch norms are identities (mean 0, variance 1); seeded statistics give the
    # int8 calibration activation ranges like a trained network's rather than all alike.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([
                rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                rng.uniform(-0.1, 0.1, beta.shape).astype(np.float32),
                rng.uniform(-0.1, 0.1, mean.shape).astype(np.float32),
                rng.uniform(0.5, 1.5, var.shape).astype(np.float32),
            ])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/bench-models"
    os.makedirs(out, exist_ok=True)
    for index, (name, build) in enumerate(ARCHS.items()):
        keras.utils.set_random_seed(1300 + index)
        model = build()
        seed_batch_norms(model, np.random.default_rng(1400 + index))
        calib = np.random.default_rng(1500 + index).uniform(
            -1, 1, (32, 1, 96, 96, 3)).astype(np.float32)

        def rep():
            for c in calib:
                yield [c]

        for kind in ("float32", "int8"):
            converter = tf.lite.TFLiteConverter.from_keras_model(model)
            if kind == "int8":
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
                converter.representative_dataset = rep
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
            data = converter.convert()
            path = os.path.join(out, f"{name}_{kind}.tflite")
            with open(path + ".tmp", "wb") as f:
                f.write(data)
            os.replace(path + ".tmp", path)
            print(f"{path}: {len(data)} bytes")


if __name__ == "__main__":
    main()
