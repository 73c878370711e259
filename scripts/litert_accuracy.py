"""MNIST test accuracy of a .tflite file in the official LiteRT runtime (reference
kernels), for comparing with `ferrolite eval` on the same file.

    python scripts/litert_accuracy.py MODEL.tflite [--limit N] [--opt]

Needs ai-edge-litert and numpy (scripts/litert-check.sh creates such a venv in .venv).
Images are IDX uint8 / 255 as float32; int8/uint8 inputs are quantized with the input
tensor's scale and zero point (round half away from zero, as the fixtures were made).
Prints one JSON object: accuracy, samples, seconds.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "mnist")


def idx(name, offset):
    with gzip.open(os.path.join(ROOT, name), "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def quantize(x, dtype, scale, zero_point):
    info = np.iinfo(dtype)
    q = np.trunc(x / scale + np.copysign(0.5, x / scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--limit", type=int, default=10000)
    p.add_argument("--opt", action="store_true", help="optimized kernels instead of BUILTIN_REF")
    a = p.parse_args()
    x = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)[: a.limit]
    y = idx("t10k-labels-idx1-ubyte.gz", 8)[: a.limit]
    x = x.astype(np.float32) / 255.0
    kind = OpResolverType.AUTO if a.opt else OpResolverType.BUILTIN_REF
    interp = Interpreter(model_path=a.model, experimental_op_resolver_type=kind)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    if list(inp["shape"]) != [1, 28, 28]:
        interp.resize_tensor_input(inp["index"], [1, 28, 28])
    interp.allocate_tensors()
    scale, zero_point = inp["quantization"]
    correct = 0
    t0 = time.perf_counter()
    for i in range(len(y)):
        one = x[i:i + 1]
        if inp["dtype"] != np.float32:
            one = quantize(one, inp["dtype"], scale, zero_point)
        interp.set_tensor(inp["index"], one)
        interp.invoke()
        correct += int(np.argmax(interp.get_tensor(out["index"])[0]) == y[i])
    print(json.dumps({"model": a.model, "accuracy": correct / len(y), "samples": len(y),
                      "seconds": time.perf_counter() - t0}))


if __name__ == "__main__":
    main()
