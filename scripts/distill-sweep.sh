#!/usr/bin/env bash
# Distilled student vs the same student trained alone, through the CLI.
#
#   scripts/distill-sweep.sh TEACHER_DIR [ALPHA:T ...]
#
# For every seed, the student trains alone once (`ferrolite train`) and once per
# ALPHA:T setting against the frozen teacher (`ferrolite distill`), with the same seed,
# so both arms start from the same weights and see the same batches in the same order.
# Prints the test accuracy per seed and mean ± sample std per arm.
#
# Environment: FERROLITE (binary, default target/release/ferrolite), SEEDS (default
# "1 2 3"), EPOCHS (default 3), STUDENT (preset, default mnist-student), LIMIT (train on
# the first N images), WORK (scratch directory, default a fresh mktemp -d).
# Timings on a shared machine are noisy; accuracies are not (runs are deterministic).
set -euo pipefail

if [[ $# -lt 1 || ! -f "$1/model.json" ]]; then
    echo "usage: $0 TEACHER_DIR [ALPHA:T ...] (TEACHER_DIR from ferrolite train)" >&2
    exit 2
fi
teacher=$1
shift
settings=("$@")
if [[ ${#settings[@]} -eq 0 ]]; then
    settings=(0.1:10 0.5:4 0.5:2 0.2:4)
fi
bin=${FERROLITE:-target/release/ferrolite}
seeds=${SEEDS:-1 2 3}
epochs=${EPOCHS:-3}
student=${STUDENT:-mnist-student}
work=${WORK:-$(mktemp -d)}
limit_args=()
if [[ -n ${LIMIT:-} ]]; then
    limit_args=(--limit "$LIMIT")
fi
results="$work/results.tsv"
: >"$results"

accuracy() { python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["test_accuracy"])'; }

for seed in $seeds; do
    start=$(date +%s)
    acc=$("$bin" train --preset "$student" --epochs "$epochs" --seed "$seed" "${limit_args[@]}" \
        -o "$work/alone-$seed" --force --json 2>/dev/null | accuracy)
    printf 'alone\t%s\t%s\t%s\n' "$seed" "$acc" "$(($(date +%s) - start))" | tee -a "$results"
    for s in "${settings[@]}"; do
        alpha=${s%%:*}
        temp=${s##*:}
        start=$(date +%s)
        acc=$("$bin" distill --teacher "$teacher" --student-preset "$student" \
            --alpha "$alpha" --temperature "$temp" --epochs "$epochs" --seed "$seed" \
            "${limit_args[@]}" -o "$work/distill-$alpha-$temp-$seed" --force --json 2>/dev/null |
            accuracy)
        printf 'a=%s,T=%s\t%s\t%s\t%s\n' "$alpha" "$temp" "$seed" "$acc" \
            "$(($(date +%s) - start))" | tee -a "$results"
    done
done

python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines() if l]
arms = {}
for arm, seed, acc, secs in rows:
    arms.setdefault(arm, []).append((int(seed), float(acc) * 100, int(secs)))
alone = statistics.mean(a for _, a, _ in arms["alone"])
print(f"\n{'arm':<14}{'mean ± std (%)':<18}{'vs alone (pp)':<15}{'s/run':<7}per seed")
for arm, runs in arms.items():
    accs = [a for _, a, _ in runs]
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    mean = statistics.mean(accs)
    secs = statistics.mean(s for _, _, s in runs)
    per_seed = " ".join(f"{s}:{a:.2f}" for s, a, _ in runs)
    print(f"{arm:<14}{mean:6.2f} ± {std:<9.2f}{mean - alone:+6.2f}{'':<9}{secs:<7.0f}{per_seed}")
EOF
