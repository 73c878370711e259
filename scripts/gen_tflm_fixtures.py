"""Generates fixtures/tflm/: tflite-micro's own example and benchmark models, each with
seeded random inputs and LiteRT's outputs, so that ferrolite is held to the files embedded
developers actually start from.

    /tmp/tf/bin/python scripts/gen_tflm_fixtures.py TFLITE_MICRO_CHECKOUT [fixtures/tflm]

(TFLM_COMMIT=<hash> names the commit when the checkout is an export without .git)

(the venv of scripts/gen_op_fixtures.py). Per model NAME: NAME.tflite (copied unchanged),
NAME.in<i>.npy for each input, NAME.out<i>.ref.npy for each output from LiteRT's reference
kernels (BUILTIN_REF, in a child process since they can abort; where they do, the optimized
kernels without XNNPACK give NAME.out<i>.opt.npy). A dynamic batch (-1) is run as 1.

person_detect.tflite carries per-channel rank-1 biases whose quantized_dimension is 3,
which LiteRT refuses and tflite-micro accepts (it never reads a bias's axis). Its outputs
come from a copy with those axes set to 0, the only axis such a tensor has; the copy is
not kept. Its two test images (testdata/person.bmp, no_person.bmp) are inputs too, passed
as tflite-micro's test passes them: the 96x96 grayscale bytes reinterpreted as int8.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

MODELS = {
    "hello_world_float": "tensorflow/lite/micro/examples/hello_world/models/hello_world_float.tflite",
    "hello_world_int8": "tensorflow/lite/micro/examples/hello_world/models/hello_world_int8.tflite",
    "micro_speech_quantized": "tensorflow/lite/micro/examples/micro_speech/models/micro_speech_quantized.tflite",
    "person_detect": "tensorflow/lite/micro/models/person_detect.tflite",
    "keyword_scrambled": "tensorflow/lite/micro/models/keyword_scrambled.tflite",
    "keyword_scrambled_8bit": "tensorflow/lite/micro/models/keyword_scrambled_8bit.tflite",
    "mnist_lstm": "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm.tflite",
    "mnist_lstm_int8": "tensorflow/lite/micro/examples/mnist_lstm/trained_lstm_int8.tflite",
    "dtln_noise_suppression": "tensorflow/lite/micro/examples/dtln/dtln_noise_suppression.tflite",
    "simple_add": "tensorflow/lite/micro/examples/memory_footprint/models/simple_add_model.tflite",
}

# Runs one resolver on one model: argv = model, directory, name, resolver, output tag.
# Reads NAME.in<i>.npy, writes NAME.out<i>.<tag>.npy, prints the operator names.
CHILD = """
import sys, os, numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType
model, d, name, resolver, tag = sys.argv[1:6]
it = Interpreter(model, experimental_op_resolver_type=getattr(OpResolverType, resolver))
ins = it.get_input_details()
xs = [np.load(os.path.join(d, f"{name}.in{i}.npy")) for i in range(len(ins))]
for det, x in zip(ins, xs):
    it.resize_tensor_input(det['index'], list(x.shape))
it.allocate_tensors()
for det, x in zip(ins, xs):
    it.set_tensor(det['index'], x)
it.invoke()
for i, det in enumerate(it.get_output_details()):
    np.save(os.path.join(d, f"{name}.out{i}.{tag}.npy"), it.get_tensor(det['index']))
print(','.join(sorted({o['op_name'] for o in it._get_ops_details()})))
"""


def input_details(path):
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter(path).get_input_details()


def random_input(rng, det):
    shape = [1 if s < 0 else int(s) for s in det["shape_signature"]]
    dtype = det["dtype"]
    if dtype == np.float32:
        return rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def with_moot_axes_fixed(src, dst):
    """Copies src to dst with the quantized_dimension of every rank-1 tensor whose scales
    are one or one per entry set to 0 (see the module doc)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema
    buf = open(src, "rb").read()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
    fixed = 0
    for g in model.subgraphs:
        for t in g.tensors:
            q = t.quantization
            if q is None or q.scale is None or t.shape is None:
                continue
            if len(t.shape) == 1 and q.quantizedDimension >= 1 and len(q.scale) in (1, t.shape[0]):
                q.quantizedDimension = 0
                fixed += 1
    b = flatbuffers.Builder(len(buf) + 1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    open(dst, "wb").write(b.Output())
    return fixed


def run_litert(model, out, name, resolver, tag):
    child = subprocess.run([sys.executable, "-c", CHILD, model, out, name, resolver, tag],
                           capture_output=True, text=True)
    if child.returncode != 0:
        # A child that crashed after saving some outputs proves nothing about them.
        for f in os.listdir(out):
            if f.startswith(name + ".out") and f.endswith(f".{tag}.npy"):
                os.remove(os.path.join(out, f))
        return None, (child.stderr.strip().splitlines() or ["exit %d" % child.returncode])[-1]
    return child.stdout.strip().splitlines()[-1].split(","), None


def bmp_as_int8(path):
    """The pixel bytes of an uncompressed 8-bit BMP, top row first (what PIL's tobytes
    gives tflite-micro's array generator), reinterpreted as int8."""
    raw = open(path, "rb").read()
    offset = int.from_bytes(raw[10:14], "little")
    width = int.from_bytes(raw[18:22], "little", signed=True)
    height = int.from_bytes(raw[22:26], "little", signed=True)
    bits = int.from_bytes(raw[28:30], "little")
    compression = int.from_bytes(raw[30:34], "little")
    assert bits == 8 and compression == 0 and (width, abs(height)) == (96, 96), path
    stride = (width + 3) // 4 * 4
    rows = [raw[offset + r * stride: offset + r * stride + width] for r in range(abs(height))]
    if height > 0:  # stored bottom-up
        rows.reverse()
    return np.frombuffer(b"".join(rows), dtype=np.uint8).view(np.int8).reshape(1, 96, 96, 1)


def main():
    repo = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "fixtures/tflm"
    os.makedirs(out, exist_ok=True)
    entries = []
    runs = []  # (name, model file LiteRT runs, note)
    tmp = tempfile.mkdtemp()
    for index, (name, rel) in enumerate(MODELS.items()):
        path = os.path.join(out, name + ".tflite")
        shutil.copyfile(os.path.join(repo, rel), path)
        for f in os.listdir(out):
            if f.startswith(name + ".") and f.endswith(".npy"):
                os.remove(os.path.join(out, f))
        litert_model, note = path, None
        if name == "person_detect":
            litert_model = os.path.join(tmp, name + ".tflite")
            n = with_moot_axes_fixed(path, litert_model)
            note = f"LiteRT ran a copy with {n} rank-1 bias axes set to 0"
        rng = np.random.default_rng(9000 + index)
        dets = input_details(litert_model)
        for i, det in enumerate(dets):
            np.save(os.path.join(out, f"{name}.in{i}.npy"), random_input(rng, det))
        runs.append((name, litert_model, note, rel))
        if name == "person_detect":
            for image in ("person", "no_person"):
                img_name = f"person_detect_{image}"
                np.save(os.path.join(out, f"{img_name}.in0.npy"), bmp_as_int8(os.path.join(
                    repo, "tensorflow/lite/micro/examples/person_detection/testdata", image + ".bmp")))
                runs.append((img_name, litert_model, note + f"; input testdata/{image}.bmp", rel))
    for name, litert_model, note, rel in runs:
        model_name = name if name in MODELS else "person_detect"
        ops, why = run_litert(litert_model, out, name, "BUILTIN_REF", "ref")
        tag = "ref"
        if ops is None:
            ops, why2 = run_litert(litert_model, out, name, "BUILTIN_WITHOUT_DEFAULT_DELEGATES", "opt")
            tag = "opt"
            if ops is None:
                print(f"{name}: LiteRT cannot run it ({why}; {why2})", file=sys.stderr)
                entries.append({"name": name, "model": model_name, "source": rel, "ran": False,
                                "why": why2})
                continue
        outputs = len([f for f in os.listdir(out) if f.startswith(name + ".out")])
        inputs = len([f for f in os.listdir(out) if f.startswith(name + ".in")])
        e = {"name": name, "model": model_name, "source": rel, "ran": True, "ops": ops,
             "output": tag, "inputs": inputs, "outputs": outputs}
        if note:
            e["note"] = note
        entries.append(e)
        print(f"{name}: {','.join(ops)} ({tag}, {inputs} in, {outputs} out)")
    shutil.rmtree(tmp)
    commit = os.environ.get("TFLM_COMMIT") or subprocess.run(
        ["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/gen_tflm_fixtures.py",
                   "tflite_micro_commit": commit or "unknown", "models": entries}, f, indent=1)


if __name__ == "__main__":
    main()
