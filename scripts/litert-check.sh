#!/usr/bin/env bash
# Cross-checks every model the test suite wrote (target/litert-cases/*) against the
# official LiteRT runtime with its reference kernels. Creates its own venv on first use.
# Run the test suite first (cargo test --release), which writes the cases.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LITERT_VENV:-.venv}
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import ai_edge_litert, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check ai-edge-litert numpy
fi
cargo build --release --quiet
exec "$venv/bin/python" scripts/litert_check.py target/litert-cases target/release/ferrolite
