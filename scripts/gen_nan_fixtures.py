"""Generates fixtures/nan/: how LiteRT's reference kernels treat NaN and infinities.

TFLite clamps fused activations with std::min(std::max(x, lo), hi), which lets NaN through,
and its reference max pool starts from the lowest float and skips NaN taps with std::max.
ferrolite must do the same. This script takes the TensorFlow-made float-input models already
vendored in fixtures/tflite and fixtures/extra, poisons copies of their inputs with NaN and
±inf in three patterns (one NaN pixel, a NaN block large enough that whole pooling windows see
only NaN, and a mix of +inf and -inf), and records LiteRT's BUILTIN_REF outputs, one image per
invoke as the other fixtures are made. Only LiteRT and numpy are needed:

    python3 -m venv .venv && .venv/bin/pip install ai-edge-litert numpy
    .venv/bin/python scripts/gen_nan_fixtures.py fixtures/nan
"""
import json
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

SOURCES = ["fixtures/tflite", "fixtures/extra"]
# Float kernels only. A dynamic-range model quantizes its float input inside the hybrid op,
# where a NaN becomes an integer through a C++ float-to-int cast (undefined behaviour, on
# x86 INT_MIN) and std::minmax_element, whose result with NaN depends on the position: not
# a semantic worth copying, so those models are left out (hybrid.rs tests its activation).
FLOAT_KINDS = ("float32", "float16")
# An intermediate at or beyond this magnitude means a sum overflowed (an all-NaN max-pool
# window gives the lowest float, which the next layer multiplies): whether such a sum ends at
# ±inf, NaN or a finite value depends on the order of its terms, which float kernels may
# change within their tolerance. Such images are compared for NaN/overflow class only.
HUGE = 1e30


def poison(x):
    """Three poisoned images from the first input image; works for any rank ≥ 2."""
    base = np.array(x[:1], dtype=np.float32)
    one_nan = base.copy()
    flat = one_nan.reshape(-1)
    flat[flat.size // 2] = np.nan

    block = base.copy()
    if block.ndim == 4:  # NHWC: a 6×6 NaN square, every channel
        block[:, 2:8, 2:8, :] = np.nan
    else:
        f = block.reshape(-1)
        f[: max(1, f.size // 4)] = np.nan

    infs = base.copy()
    f = infs.reshape(-1)
    f[1] = np.inf
    f[f.size // 3] = -np.inf
    f[(2 * f.size) // 3] = np.inf
    return np.concatenate([one_nan, block, infs], axis=0)


def litert(model_path, x):
    """Outputs per image and whether any op's output overflowed for that image."""
    interp = Interpreter(model_path=model_path,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                         experimental_preserve_all_tensors=True)
    inp = interp.get_input_details()
    if len(inp) != 1 or len(interp.get_output_details()) != 1:
        return None
    inp = inp[0]
    out = interp.get_output_details()[0]
    rows, overflowed = [], []
    for i in range(x.shape[0]):
        one = x[i:i + 1]
        if list(inp["shape"]) != list(one.shape):
            interp.resize_tensor_input(inp["index"], list(one.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], one)
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).copy())
        big = False
        for op in interp._get_ops_details():
            for t in op["outputs"]:
                v = interp.get_tensor(t)
                if v.dtype.kind == "f" and np.any(np.abs(v[~np.isnan(v)]) >= HUGE):
                    big = True
        overflowed.append(big)
    return np.concatenate(rows, axis=0), overflowed


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    cases = []
    for src in SOURCES:
        for name in sorted(os.listdir(src)):
            if not name.endswith(".tflite"):
                continue
            stem = name[: -len(".tflite")]
            if not any(k in stem for k in FLOAT_KINDS):
                continue
            x = np.load(os.path.join(src, stem + ".input.npy"))
            if x.dtype != np.float32:
                continue
            xs = poison(x)
            result = litert(os.path.join(src, name), xs)
            if result is None:
                continue
            ys, overflowed = result
            np.save(os.path.join(out_dir, stem + ".input.npy"), xs)
            np.save(os.path.join(out_dir, stem + ".output.ref.npy"), ys)
            nan = int(np.isnan(ys).sum())
            print(f"{stem}: output {list(ys.shape)}, {nan} NaN, "
                  f"{int(np.isinf(ys).sum())} inf, {ys.size - nan} other; "
                  f"overflow per image {overflowed}")
            cases.append({"model": os.path.join(src, name), "name": stem,
                          "nan_outputs": nan, "outputs": int(ys.size),
                          "overflowed": overflowed})
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/gen_nan_fixtures.py",
                   "runtime": "ai-edge-litert BUILTIN_REF", "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
