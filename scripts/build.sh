#!/usr/bin/env bash
# Builds pkg/ (wasm-pack --target web, release), shrinks the wasm with a current wasm-opt
# from npm `binaryen` (Debian's is too old; wasm-pack's own download is turned off).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"

# A failed build must fail this script: an old pkg/ must never pass for a new one.
rm -rf pkg/helseid_wasm_bg.wasm pkg/helseid_wasm.js pkg/snippets pkg/helseid_wasm_worker.js pkg/helseid_wasm_page.js pkg/dbg
log=$(mktemp)
if ! wasm-pack build --target web --release --no-pack --out-dir pkg >"$log" 2>&1; then
  cat "$log" >&2
  rm -f "$log"
  echo "[build] wasm-pack build failed" >&2
  exit 1
fi
grep -vE '^\s*$' "$log" | grep -v 'wasm-opt' || true
rm -f "$log"
[ -f pkg/helseid_wasm_bg.wasm ] || { echo "[build] wasm-pack wrote no pkg/helseid_wasm_bg.wasm" >&2; exit 1; }
# --converge: -Oz again until nothing shrinks (about 360 bytes gz, a few seconds more).
node_modules/.bin/wasm-opt -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  pkg/helseid_wasm_bg.wasm -o pkg/helseid_wasm_bg.wasm
# The glue JS minified (names kept: classes and errors stay recognisable in stack traces); the
# import names the wasm asks for are object keys and survive. 10.8 -> 7 KB gzipped.
node_modules/.bin/esbuild pkg/helseid_wasm.js --minify --keep-names --format=esm \
  --log-level=warning --allow-overwrite --outfile=pkg/helseid_wasm.js
# The session host: its worker script beside the module, and the package version in the
# worker's name (a literal there, so that bundlers can read the options).
version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
# Minified as the glue is (names kept); its import of ./helseid_wasm.js stays as it is.
node_modules/.bin/esbuild js/worker.js --minify --keep-names --format=esm --log-level=warning \
  --outfile=pkg/helseid_wasm_worker.js
# The thin page (issue 22): the API without WebAssembly while the session host runs.
node_modules/.bin/esbuild js/page.js --minify --keep-names --format=esm --log-level=warning \
  --outfile=pkg/helseid_wasm_page.js
sed -i "s/__VERSION__/$version/g" pkg/helseid_wasm_page.js
cp js/page.d.ts pkg/helseid_wasm_page.d.ts
for snippet in pkg/snippets/*/js/host.js; do
  sed -i "s/__VERSION__/$version/g" "$snippet"
done
# verifyJwt's JWKS check (js/verify.js) minified like the glue: its comments are for readers.
for snippet in pkg/snippets/*/js/verify.js; do
  node_modules/.bin/esbuild "$snippet" --minify --format=esm --log-level=warning \
    --allow-overwrite --outfile="$snippet"
done
node scripts/package-json.mjs
node scripts/dts-docs.mjs
raw=$(stat -c %s pkg/helseid_wasm_bg.wasm)
gz=$(gzip -9 -c pkg/helseid_wasm_bg.wasm | wc -c)
js=$(gzip -9 -c pkg/helseid_wasm.js | wc -c)
page=$(gzip -9 -c pkg/helseid_wasm_page.js | wc -c)
echo "[build] pkg/helseid_wasm_bg.wasm: $raw bytes, $gz gzipped; glue JS $js gzipped; thin page $page gzipped"
