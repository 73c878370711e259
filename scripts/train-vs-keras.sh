#!/usr/bin/env bash
# Training speed benchmark for issue 4: seconds per epoch of the mnist-cnn preset in
# ferrolite and in TensorFlow/Keras, measured back to back on this machine.
#   scripts/train-vs-keras.sh [EPOCHS]        (default 2; the first Keras epoch includes tracing)
# Needs a Python with tensorflow; TF_PYTHON points at it (default: .tf-venv/bin/python,
# created on first use with `pip install tensorflow-cpu`, about 250 MB, not used by CI).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-2}
py=${TF_PYTHON:-.tf-venv/bin/python}
if [ ! -x "$py" ]; then
  python3 -m venv .tf-venv
  .tf-venv/bin/pip install --quiet --disable-pip-version-check tensorflow-cpu numpy
  py=.tf-venv/bin/python
fi
cargo build --release --quiet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
ours=$(target/release/ferrolite train --preset mnist-cnn --epochs "$epochs" -o "$out/m" --json 2>/dev/null | tail -1)
theirs=$("$py" scripts/keras_epoch.py "$epochs" 2>/dev/null | tail -1)
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
a = [e["seconds"] for e in ours["epochs"]]
b = theirs["seconds_per_epoch"]
print("ferrolite s/epoch:", " ".join(f"{s:.2f}" for s in a), f"(test acc {ours['test_accuracy']:.4f})")
print(f"keras {theirs['tensorflow']} s/epoch:", " ".join(f"{s:.2f}" for s in b), f"(test acc {theirs['test_accuracy']:.4f})")
print("ratio per epoch (keras / ferrolite):", " ".join(f"{y / x:.2f}" for x, y in zip(a, b)))
print(f"ratio of medians: {sorted(b)[len(b) // 2] / sorted(a)[len(a) // 2]:.2f}")
PY
