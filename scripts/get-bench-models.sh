#!/usr/bin/env bash
# Fetches the benchmark models of issue 13 into DIR (default target/bench-models); they
# are not vendored (megabytes each).
#
#   scripts/get-bench-models.sh [DIR]
#   TF_PYTHON=/path/to/venv/bin/python scripts/get-bench-models.sh [DIR]
#
# - MediaPipe's published float models, taken from the mediapipe 0.10.14 wheel on PyPI
#   (downloaded once into $BENCH_CACHE, default target/bench-cache; the .tflite files
#   are the same in every platform's wheel, so the manylinux/cp311 one is asked for
#   whatever Python runs pip): face_detection_short_range (128x128),
#   hand_landmark_full (224x224), palm_detection_lite, pose_detection, iris_landmark,
#   face_landmark.
# - With TF_PYTHON (a Python with tensorflow and tf_keras, e.g. the venv of
#   scripts/gen_op_fixtures.py): MobileNetV2 alpha 0.35 96x96 and MobileNetV3-Small
#   96x96, float32 and full-int8, seeded (scripts/gen_bench_models.py says how).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-target/bench-models}
cache=${BENCH_CACHE:-target/bench-cache}
mkdir -p "$dir" "$cache"
wheel=$(ls "$cache"/mediapipe-0.10.14-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 \
    --implementation cp mediapipe==0.10.14 -d "$cache"
  wheel=$(ls "$cache"/mediapipe-0.10.14-*.whl | head -n1)
fi
python3 - "$wheel" "$dir" <<'PY'
import os, sys, zipfile
wheel, out = sys.argv[1:3]
wanted = {"face_detection_short_range", "hand_landmark_full", "palm_detection_lite",
          "pose_detection", "iris_landmark", "face_landmark"}
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("mediapipe/modules/") and base.endswith(".tflite") \
                and base[:-len(".tflite")] in wanted:
            path = os.path.join(out, base)
            with open(path + ".tmp", "wb") as f:
                f.write(z.read(name))
            os.replace(path + ".tmp", path)
            wanted.discard(base[:-len(".tflite")])
            print(f"{path}: {os.path.getsize(path)} bytes")
if wanted:
    sys.exit(f"not in {wheel}: {', '.join(sorted(wanted))}")
PY
if [ -n "${TF_PYTHON:-}" ]; then
  "$TF_PYTHON" scripts/gen_bench_models.py "$dir"
else
  echo "TF_PYTHON not set: MobileNetV2/V3 not generated (see scripts/gen_bench_models.py)" >&2
fi
