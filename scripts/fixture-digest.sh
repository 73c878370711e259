#!/usr/bin/env bash
# Prints one line per fixture: the SHA-256 of what ferrolite computes on it, so that a
# refactoring can prove its outputs bit-identical to before (issue 11):
#
#   scripts/fixture-digest.sh > before.txt      # on the old commit
#   scripts/fixture-digest.sh > after.txt       # on the new one
#   diff before.txt after.txt                   # empty = nothing changed
#
# For every fixtures/**/X.tflite with an X.input.npy beside it: the outputs of `run`.
# For every model directory under fixtures/models: the bytes of the float, int8 and
# dynamic-range .tflite files `convert` writes. Uses the release binary (built first);
# FERROLITE overrides it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${FERROLITE:-}" ]; then
  cargo build --release --quiet
  FERROLITE=${CARGO_TARGET_DIR:-target}/release/ferrolite
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for model in $(find fixtures -name '*.tflite' | sort); do
  input=${model%.tflite}.input.npy
  [ -f "$input" ] || continue
  if "$FERROLITE" run "$model" --input "$input" -o "$tmp/out.npz" --force >/dev/null 2>"$tmp/err"; then
    printf '%s  run %s\n' "$(sha256sum <"$tmp/out.npz" | cut -c1-16)" "$model"
  else
    printf 'error: %s  run %s\n' "$(head -n 1 "$tmp/err")" "$model"
  fi
done

for dir in $(find fixtures/models -mindepth 1 -maxdepth 1 -type d | sort); do
  for mode in none int8 dynamic; do
    out=$tmp/$mode.tflite
    if "$FERROLITE" convert "$dir" -o "$out" --quantize "$mode" --force >/dev/null 2>"$tmp/err"; then
      printf '%s  convert --quantize %s %s\n' "$(sha256sum <"$out" | cut -c1-16)" "$mode" "$dir"
    else
      printf 'error: %s  convert --quantize %s %s\n' "$(head -n 1 "$tmp/err")" "$mode" "$dir"
    fi
  done
done
