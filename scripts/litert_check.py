"""Cross-check ferrolite against the official LiteRT runtime (reference kernels).

For every case directory under CASES (each holding model.tflite and input.npy, written by
the test suite), run `ferrolite run` and LiteRT with OpResolverType.BUILTIN_REF on the
same input, one image per invoke as the fixtures were made, and compare every output:
integer outputs must be identical, float outputs within 1e-5 relative + 1e-5 absolute, or
identical too when the case directory holds a file named `exact` (e.g. a quantized model with
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
    """Every output of the model, in the subgraph's order, one image per invoke."""
    interp = Interpreter(model_path=model_path,
                         experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    inp = interp.get_input_details()[0]
    outs = interp.get_output_details()
    rows = [[] for _ in outs]
    for i in range(x.shape[0]):
        one = x[i:i + 1]
        if list(inp["shape"]) != list(one.shape):
            interp.resize_tensor_input(inp["index"], list(one.shape))
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], one)
        interp.invoke()
        for k, out in enumerate(outs):
            rows[k].append(interp.get_tensor(out["index"]).copy())
    return [np.concatenate(r, axis=0) for r in rows]


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
        try:
            refs = litert_outputs(model, x)
        except Exception as e:  # the point is to report any load/run failure
            print(f"FAIL {name}: LiteRT could not run the file: {e}")
            failed += 1
            continue
        # `ferrolite run` writes one .npy per `--output`, in the model's output order.
        rows, error = [[] for _ in refs], None
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(x.shape[0]):
                in_path = os.path.join(tmp, f"in{i}.npy")
                out_paths = [os.path.join(tmp, f"out{i}_{k}.npy") for k in range(len(refs))]
                np.save(in_path, x[i:i + 1])
                args = [ferrolite, "run", model, "--input", in_path]
                for p in out_paths:
                    args += ["--output", p]
                r = subprocess.run(args, capture_output=True, text=True)
                if r.returncode != 0:
                    error = r.stderr.strip()
                    break
                for k, p in enumerate(out_paths):
                    rows[k].append(np.load(p))
        if error is not None:
            print(f"FAIL {name}: ferrolite run failed: {error}")
            failed += 1
            continue
        bad_outputs = 0
        details = []
        for k, ref in enumerate(refs):
            ours = np.concatenate(rows[k], axis=0)
            bad, detail = compare(ours, ref, os.path.isfile(os.path.join(d, "exact")))
            bad_outputs += bad != 0
            details.append(detail if len(refs) == 1 else f"output {k}: {detail}")
        print(f"{'ok  ' if bad_outputs == 0 else 'FAIL'} {name}: {'; '.join(details)}")
        failed += bad_outputs != 0
    print(f"litert-check: {len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


def compare(ours, ref, exact):
    """(number of elements outside the tolerance, a one-line description)."""
    if ours.shape != ref.shape or ours.dtype != ref.dtype:
        return max(ref.size, 1), (f"ferrolite gives {ours.dtype}{list(ours.shape)}, "
                                  f"LiteRT {ref.dtype}{list(ref.shape)}")
    if np.issubdtype(ref.dtype, np.integer) or exact:
        bad = int(np.count_nonzero(ours != ref))
        return bad, f"{bad} of {ref.size} elements differ"
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    # NaN must meet NaN and an infinity the same infinity: a plain difference
    # compares NaN as "not outside the tolerance" and would hide them.
    special = np.isnan(a) | np.isnan(b) | np.isinf(a) | np.isinf(b)
    same_special = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    finite = ~special
    diff = np.where(finite, np.abs(a - b), 0.0)
    bad = int(np.count_nonzero(diff > 1e-5 + 1e-5 * np.abs(np.where(finite, b, 0.0))))
    bad += int(np.count_nonzero(special & ~same_special))
    return bad, f"max abs diff {diff.max():.3e}, {bad} of {ref.size} outside 1e-5+1e-5*|ref|"


if __name__ == "__main__":
    sys.exit(main())
