#!/usr/bin/env bash
# The size budget (issue 14): wasm + JS glue, gzip -9, must not grow past the figure in
# scripts/size-budget.txt (the size reached, plus a little room). Deterministic: gzip -n writes
# no name or time. Raise the budget only with a reason in the commit message.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=$(grep -v '^#' scripts/size-budget.txt | head -n 1)
wasm=$(gzip -9 -n -c pkg/helseid_wasm_bg.wasm | wc -c)
glue=$(gzip -9 -n -c pkg/helseid_wasm.js | wc -c)
total=$((wasm + glue))
echo "[size] wasm ${wasm} + glue ${glue} = ${total} bytes gzip -9 (budget ${budget})"
if [ "$total" -gt "$budget" ]; then
  echo "[size] over budget by $((total - budget)) bytes" >&2
  exit 1
fi
