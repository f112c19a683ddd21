#!/usr/bin/env bash
# The API reference: TypeDoc (pinned in package-lock.json; typedoc.json) over the shipped
# pkg/helseid_wasm.d.ts, into artifacts/docs/ (git-ignored). Any warning fails it, an
# undocumented public name included. Builds pkg/ first when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f pkg/helseid_wasm.d.ts ] || scripts/build.sh
node_modules/.bin/typedoc --treatWarningsAsErrors --logLevel Warn
echo "[docs] artifacts/docs/index.html"
