"""Seconds per epoch for the study's mnist-cnn in TensorFlow/Keras, the peer for
ferrolite's training benchmark. Needs tensorflow (not used by CI or the tests):

    python3 -m venv /tmp/tf && /tmp/tf/bin/pip install tensorflow-cpu numpy
    /tmp/tf/bin/python scripts/keras_epoch.py [EPOCHS]

Reads the vendored MNIST, builds Reshape(28,28,1) -> Conv2D(12,3x3,relu) -> MaxPool(2x2)
-> Flatten -> Dense(10), Adam(1e-3), batch 32, and prints wall seconds per epoch and the
test accuracy, one JSON object on the last line.
"""
import gzip
import json
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "mnist")


def idx(name, offset):
    with gzip.open(os.path.join(ROOT, name), "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28).astype(np.float32) / 255.0
    y = idx("train-labels-idx1-ubyte.gz", 8)
    xt = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28).astype(np.float32) / 255.0
    yt = idx("t10k-labels-idx1-ubyte.gz", 8)
    tf.keras.utils.set_random_seed(42)
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(28, 28)),
        tf.keras.layers.Reshape((28, 28, 1)),
        tf.keras.layers.Conv2D(12, (3, 3), activation="relu"),
        tf.keras.layers.MaxPooling2D((2, 2)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10),
    ])
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])

    class Timer(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    timer = Timer()
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=2, callbacks=[timer])
    _, acc = model.evaluate(xt, yt, verbose=0)
    print(json.dumps({"tensorflow": tf.__version__, "seconds_per_epoch": timer.seconds,
                      "test_accuracy": float(acc)}))


if __name__ == "__main__":
    main()
