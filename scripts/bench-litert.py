#!/usr/bin/env python3
"""Times ferrolite and LiteRT (XNNPACK) on the same .tflite files in one run, rounds
alternated, and prints the ratio table of issue 13.

    scripts/bench-litert.py MODEL... [--ferrolite PATH] [--seconds S] [--threads T]
                            [--batch N] [--rounds R] [--json]

LiteRT: the ai-edge-litert package (its Interpreter with the default op resolver, which
applies the XNNPACK delegate), num_threads=T (default 1). If this Python lacks it, the
script makes the venv scripts/litert-check.sh makes ($LITERT_VENV, default .venv:
`python3 -m venv .venv && .venv/bin/pip install ai-edge-litert numpy`) and re-runs itself
there.

ferrolite: one `ferrolite --threads T bench MODEL --no-tract --json --seconds <round>
--batch-size N` process per round, whose own timing excludes process start and model
loading (it reports µs per batch over its timed calls after a warm-up).

Per model, R rounds (default 9); in each, one LiteRT round and one ferrolite round of
about S/(2R) seconds each, which goes first alternating. A machine shared with other
work drifts 2x within seconds, so the ratio is the median of the per-round ratios
(ferrolite / LiteRT, both timed within seconds of each other), and the µs columns are
per-runtime medians. Ratios below 1 mean ferrolite is faster.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ensure_litert():
    try:
        import numpy  # noqa: F401
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("FERROLITE_BENCH_REEXEC"):
        sys.exit("ai-edge-litert and numpy are not importable even in the venv")
    venv = os.environ.get("LITERT_VENV", os.path.join(ROOT, ".venv"))
    python = os.path.join(venv, "bin", "python")
    probe = [python, "-c", "import ai_edge_litert, numpy"]
    if not os.path.exists(python) or subprocess.run(probe, capture_output=True).returncode:
        print(f"making the LiteRT venv {venv} (as scripts/litert-check.sh does)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--quiet",
                        "--disable-pip-version-check", "ai-edge-litert", "numpy"], check=True)
    os.environ["FERROLITE_BENCH_REEXEC"] = "1"
    os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


class LiteRT:
    def __init__(self, path, threads, batch, seed):
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter
        self.it = Interpreter(model_path=path, num_threads=threads)
        if batch != 1:
            for d in self.it.get_input_details():
                self.it.resize_tensor_input(d["index"], [batch] + list(d["shape"][1:]))
        self.it.allocate_tensors()
        rng = np.random.default_rng(seed)
        for d in self.it.get_input_details():
            shape, dtype = d["shape"], d["dtype"]
            if np.issubdtype(dtype, np.floating):
                x = rng.uniform(-1, 1, shape).astype(dtype)
            else:
                info = np.iinfo(dtype)
                x = rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)
            self.it.set_tensor(d["index"], x)
        self.it.invoke()

    def round(self, seconds):
        """µs per call over about `seconds` of back-to-back invokes."""
        invoke = self.it.invoke
        calls, start = 0, time.perf_counter()
        while True:
            invoke()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return elapsed / calls * 1e6


def ferrolite_round(exe, model, seconds, threads, batch):
    cmd = [exe, "--threads", str(threads), "bench", model, "--no-tract", "--json",
           "--seconds", f"{seconds:.3f}", "--batch-size", str(batch)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip()
                           else f"exit {out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])["ferrolite_us"]


def fmt_us(us):
    return f"{us:,.1f}" if us < 100 else f"{us:,.0f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--ferrolite", default=os.path.join(ROOT, "target", "release", "ferrolite"))
    p.add_argument("--seconds", type=float, default=10.0,
                   help="timing per model, both runtimes together (default 10)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--json", action="store_true", help="one JSON object per model, no table")
    a = p.parse_args()
    if a.threads < 1 or a.batch < 1 or a.rounds < 1 or not a.seconds > 0:
        sys.exit("--threads, --batch, --rounds and --seconds must be positive")
    if not os.access(a.ferrolite, os.X_OK):
        sys.exit(f"{a.ferrolite} is not there: cargo build --release, or give --ferrolite")
    ensure_litert()
    per_round = a.seconds / (2 * a.rounds)
    rows = []
    for model in a.models:
        name = os.path.basename(model)
        row = {"model": name, "path": model, "batch": a.batch, "threads": a.threads}
        try:
            lite = LiteRT(model, a.threads, a.batch, seed=13)
            lite.round(min(per_round, 0.5))  # warm-up: caches, XNNPACK's packing
            ours, theirs, ratios = [], [], []
            for r in range(a.rounds):
                if r % 2 == 0:
                    f = ferrolite_round(a.ferrolite, model, per_round, a.threads, a.batch)
                    t = lite.round(per_round)
                else:
                    t = lite.round(per_round)
                    f = ferrolite_round(a.ferrolite, model, per_round, a.threads, a.batch)
                ours.append(f)
                theirs.append(t)
                ratios.append(f / t)
            row.update(ferrolite_us=statistics.median(ours),
                       litert_us=statistics.median(theirs),
                       ratio=statistics.median(ratios))
        except Exception as e:  # a model one runtime cannot run gets a row saying so
            row["error"] = str(e)
        rows.append(row)
        if a.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"  {name}: " + (f"ratio {row['ratio']:.2f}" if "ratio" in row
                                    else row["error"]), file=sys.stderr, flush=True)
    if a.json:
        return
    print(f"batch {a.batch}, {a.threads} thread{'s' if a.threads != 1 else ''}, "
          f"{a.rounds} alternated rounds per model; ratio = median per-round "
          f"ferrolite / LiteRT")
    print()
    print("| model | ferrolite µs | LiteRT+XNNPACK µs | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        if "ratio" in row:
            print(f"| {row['model']} | {fmt_us(row['ferrolite_us'])} | "
                  f"{fmt_us(row['litert_us'])} | {row['ratio']:.2f} |")
        else:
            print(f"| {row['model']} | – | – | {row['error']} |")


if __name__ == "__main__":
    main()
