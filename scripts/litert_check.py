"""Cross-check ferrolite against the official LiteRT runtime (reference kernels).

For every case directory under CASES (each holding model.tflite and input.npy, written by
the test suite), run `ferrolite run` and LiteRT with OpResolverType.BUILTIN_REF on the
same input, one image per invoke as the fixtures were made, and compare: integer outputs
must be identical, float outputs within 1e-5 relative + 1e-5 absolute, or identical
too when the case directory holds a file named `exact` (e.g. a quantized model with
float IO, whose float output is a dequantized integer and must not differ at all).
Exits non-zero if any case disagrees, fails to load, or if there are no cases at all.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def litert_outputs(model_path, x):
    interp = Interpreter(model_path=model_path,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    rows = []
    for i in range(x.shape[0]):
        one = x[i:i + 1]
        if list(inp["shape"]) != list(one.shape):
            interp.resize_tensor_input(inp["index"], list(one.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], one)
        interp.invoke()
        rows.append(interp.get_tensor(out["index"]).copy())
    return np.concatenate(rows, axis=0)


def main():
    cases_dir, ferrolite = sys.argv[1], sys.argv[2]
    cases = sorted(d for d in os.listdir(cases_dir)
                   if os.path.isfile(os.path.join(cases_dir, d, "model.tflite")))
    if not cases:
        print(f"no cases found in {cases_dir}; run the test suite first", file=sys.stderr)
        return 1
    failed = 0
    for name in cases:
        d = os.path.join(cases_dir, name)
        model = os.path.join(d, "model.tflite")
        x = np.load(os.path.join(d, "input.npy"))
        # One image per `ferrolite run`, as LiteRT is invoked: models with a fixed batch
        # of 1 must work too.
        rows, error = [], None
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(x.shape[0]):
                in_path = os.path.join(tmp, f"in{i}.npy")
                out_path = os.path.join(tmp, f"out{i}.npy")
                np.save(in_path, x[i:i + 1])
                r = subprocess.run([ferrolite, "run", model, "--input", in_path,
                                    "--output", out_path], capture_output=True, text=True)
                if r.returncode != 0:
                    error = r.stderr.strip()
                    break
                rows.append(np.load(out_path))
        if error is not None:
            print(f"FAIL {name}: ferrolite run failed: {error}")
            failed += 1
            continue
        ours = np.concatenate(rows, axis=0)
        try:
            ref = litert_outputs(model, x)
        except Exception as e:  # the point is to report any load/run failure
            print(f"FAIL {name}: LiteRT could not run the file: {e}")
            failed += 1
            continue
        if ours.shape != ref.shape or ours.dtype != ref.dtype:
            print(f"FAIL {name}: ferrolite gives {ours.dtype}{list(ours.shape)}, "
                  f"LiteRT {ref.dtype}{list(ref.shape)}")
            failed += 1
            continue
        exact = os.path.isfile(os.path.join(d, "exact"))
        if np.issubdtype(ref.dtype, np.integer) or exact:
            bad = int(np.count_nonzero(ours != ref))
            detail = f"{bad} of {ref.size} elements differ"
        else:
            a, b = ours.astype(np.float64), ref.astype(np.float64)
            # NaN must meet NaN and an infinity the same infinity: a plain difference
            # compares NaN as "not outside the tolerance" and would hide them.
            special = np.isnan(a) | np.isnan(b) | np.isinf(a) | np.isinf(b)
            same_special = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
            finite = ~special
            diff = np.where(finite, np.abs(a - b), 0.0)
            bad = int(np.count_nonzero(diff > 1e-5 + 1e-5 * np.abs(np.where(finite, b, 0.0))))
            bad += int(np.count_nonzero(special & ~same_special))
            detail = f"max abs diff {diff.max():.3e}, {bad} of {ref.size} outside 1e-5+1e-5*|ref|"
        print(f"{'ok  ' if bad == 0 else 'FAIL'} {name}: {detail}")
        failed += bad != 0
    print(f"litert-check: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
