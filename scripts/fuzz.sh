#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (issue 14), one after the other,
# or all at once with FUZZ_PARALLEL=1. Seeds fuzz/corpus/<target>/ from fixtures/ on first
# use (the corpora grow as the fuzzer runs and are not committed), writes each run's log
# to fuzz/logs/<target>.log and prints, per target, the executions, and whether it ended
# in a crash, a timeout or running out of memory (the input is then in fuzz/artifacts/).
#
#   scripts/fuzz.sh 60                  # each target for a minute
#   scripts/fuzz.sh 1800 densify        # one target
#   FUZZ_PARALLEL=1 nice -n 19 scripts/fuzz.sh 1800
#
# Needs nightly Rust and cargo-fuzz (`cargo install cargo-fuzz`). The build has debug
# assertions on, so an integer overflow is a crash too. FUZZ_TIMEOUT (seconds per input,
# default 10) and FUZZ_RSS_MB (default 2048) are libFuzzer's -timeout and -rss_limit_mb.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
all_targets=(read plan_run densify loaders)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
timeout=${FUZZ_TIMEOUT:-10}
rss_mb=${FUZZ_RSS_MB:-2048}

corpus=fuzz/corpus
split='--ferrolite-split--'

# A file made of a selector byte (the loaders target's first byte) and the given files,
# separated by the split marker.
loader_seed() {
  local out=$1 selector=$2
  shift 2
  {
    printf "\\x$(printf %02x "$selector")"
    local first=1
    for f in "$@"; do
      [ $first = 1 ] || printf '%s' "$split"
      first=0
      cat "$f"
    done
  } >"$out"
}

# The first N images and labels of the MNIST test set as IDX files, raw and gzipped.
small_idx() {
  local dir=$1 n=$2
  local be
  # Whole files first: cutting a pipe short would fail it under pipefail.
  gzip -dc fixtures/mnist/t10k-images-idx3-ubyte.gz >"$dir/all-images"
  gzip -dc fixtures/mnist/t10k-labels-idx1-ubyte.gz >"$dir/all-labels"
  be=$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))
  { printf "\\x00\\x00\\x08\\x03$be\\x00\\x00\\x00\\x1c\\x00\\x00\\x00\\x1c"
    head -c $((16 + n * 784)) "$dir/all-images" | tail -c +17; } >"$dir/images"
  { printf "\\x00\\x00\\x08\\x01$be"
    head -c $((8 + n)) "$dir/all-labels" | tail -c +9; } >"$dir/labels"
  gzip -c "$dir/images" >"$dir/images.gz"
  gzip -c "$dir/labels" >"$dir/labels.gz"
}

seed() {
  local t=$1 dir=$corpus/$1
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    return
  fi
  mkdir -p "$dir"
  case $t in
    read | plan_run)
      cp fixtures/tflite/*.tflite fixtures/extra/*.tflite "$dir/"
      ;;
    densify)
      cp fixtures/tflite/*sparse*.tflite "$dir/"
      # The compact encoding (see fuzz_targets/densify.rs): a 4×8 tensor, dense rows and
      # CSR columns, with its 4 stored F32 values.
      printf '\x02\x04\x08\x00\x02\x00\x01\x02\x00\x04\x01\x00\x05\x00\x01\x02\x03\x04\x00\x04\x00\x02\x05\x07\x00' >"$dir/csr-4x8"
      head -c 16 /dev/zero >>"$dir/csr-4x8"
      ;;
    loaders)
      local tmp
      tmp=$(mktemp -d)
      local i=0
      for f in fixtures/tflite/mnist_test_labels_first32.npy fixtures/extra/*.npy; do
        [ "$(stat -c %s "$f")" -le 16384 ] || continue
        loader_seed "$dir/npy-$i" 0 "$f"
        i=$((i + 1))
      done
      (cd fixtures/extra && zip -q "$tmp/arrays.npz" raw_ops_int8.input.npy raw_ops_int8.output.ref.npy)
      (cd fixtures/extra && zip -q -0 "$tmp/stored.npz" sequence_int8.input.npy)
      loader_seed "$dir/npz-deflated" 1 "$tmp/arrays.npz"
      loader_seed "$dir/npz-stored" 1 "$tmp/stored.npz"
      local model=fixtures/models/tiny_convnet
      loader_seed "$dir/safetensors" 2 "$model/model.safetensors"
      loader_seed "$dir/model-dir" 3 "$model/model.json" "$model/model.safetensors"
      small_idx "$tmp" 3
      loader_seed "$dir/idx-raw" 4 "$tmp/images" "$tmp/labels"
      loader_seed "$dir/idx-gz" 4 "$tmp/images.gz" "$tmp/labels.gz"
      rm -rf "$tmp"
      ;;
    *)
      echo "unknown fuzz target $t (known: ${all_targets[*]})" >&2
      exit 2
      ;;
  esac
}

for t in "${targets[@]}"; do
  seed "$t"
done

mkdir -p fuzz/logs
(cd fuzz && cargo +nightly fuzz build --debug-assertions)

run() {
  local t=$1
  (cd fuzz && cargo +nightly fuzz run --debug-assertions "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb="$rss_mb" \
    -print_final_stats=1) >"fuzz/logs/$t.log" 2>&1 || true
}

summary() {
  local t=$1 log=fuzz/logs/$1.log execs outcome
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
  if grep -q 'ERROR: libFuzzer: timeout' "$log"; then
    outcome=TIMEOUT
  elif grep -q -e 'ERROR: libFuzzer: out-of-memory' -e 'ERROR: libFuzzer: malloc' "$log"; then
    outcome=OOM
  elif grep -q -e 'ERROR: libFuzzer' -e 'ERROR: AddressSanitizer' -e 'panicked at' "$log"; then
    outcome=CRASH
  elif grep -q 'Done [0-9]* runs' "$log"; then
    outcome=ok
  else
    outcome='did not finish (see the log)'
  fi
  printf '%-10s %12s executions  %s  (%s)\n' "$t" "${execs:-?}" "$outcome" "$root/$log"
}

if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
  for t in "${targets[@]}"; do run "$t" & done
  wait
else
  for t in "${targets[@]}"; do run "$t"; done
fi
for t in "${targets[@]}"; do summary "$t"; done
