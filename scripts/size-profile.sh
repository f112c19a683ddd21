#!/usr/bin/env bash
# The size profile (issue 14), for BENCHMARKS.md: what the bytes of pkg/ are, and the floor.
#
# 1. The release wasm built again with its function names kept (same profile, same wasm-opt -Oz --converge,
#    names not stripped, before wasm-opt), then twiggy: `top` and `dominators`, and the bytes grouped by origin
#    (our core, our shell, async machinery, serde_json, Rust's core/alloc, data, ...).
# 2. The floor: bench/floor, the chosen stack as we use it with no HelseID logic (serde_json,
#    jwt-compact + chrono time checks, one WebCrypto call), built and shrunk the same way, gzip -9.
#
# Writes target/size-profile/profile.json (read by bench/run.mjs). Installs twiggy 0.7.0 when it
# is missing. Not part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
out=target/size-profile
mkdir -p "$out"

if ! twiggy --version 2>/dev/null | grep -q '0\.7\.0'; then
  echo "[size-profile] cargo install twiggy 0.7.0" >&2
  cargo install twiggy --version =0.7.0 --locked >&2
fi

WASM_OPT=(node_modules/.bin/wasm-opt -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue)

# 1. Ours, with names.
CARGO_PROFILE_RELEASE_STRIP=false cargo build --lib --release --target wasm32-unknown-unknown -q
wasm-bindgen --target web --out-dir "$out/ours" \
  target/wasm32-unknown-unknown/release/helseid_wasm.wasm
# twiggy 0.7 cannot read wasm-opt's output ("should not parse the same key into multiple
# items"), so it reads wasm-bindgen's: before wasm-opt, which takes off about a tenth.
twiggy top -n 100000 --format csv "$out/ours/helseid_wasm_bg.wasm" >"$out/top.csv"
twiggy dominators -d 2 -r 400 --format csv "$out/ours/helseid_wasm_bg.wasm" >"$out/dominators.csv"

# 2. The floor.
CARGO_TARGET_DIR="$PWD/target/floor" cargo build --manifest-path bench/floor/Cargo.toml \
  --release --target wasm32-unknown-unknown -q
wasm-bindgen --target web --out-dir "$out/floor" target/floor/wasm32-unknown-unknown/release/floor.wasm
"${WASM_OPT[@]}" "$out/floor/floor_bg.wasm" -o "$out/floor/floor_bg.wasm"
node_modules/.bin/esbuild "$out/floor/floor.js" --minify --keep-names --format=esm \
  --log-level=warning --allow-overwrite --outfile="$out/floor/floor.js"

node - "$out" <<'JS'
const fs = require('fs');
const zlib = require('zlib');
const out = process.argv[2];
const gz = (f) => zlib.gzipSync(fs.readFileSync(f), { level: 9 }).length;
// RFC 4180 CSV (twiggy quotes names that hold commas or quotes).
const csv = (f) => {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  const text = fs.readFileSync(f, 'utf8');
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i += 1; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; } else cell += c;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
};
const top = csv(`${out}/top.csv`).filter((r) => !/^custom section|subsection$/.test(r.Name));
const groups = [
  ['our core (src/core)', /helseid_wasm(\[[0-9a-f]+\])?::core::/],
  ['our shell (src/shell)', /helseid_wasm(\[[0-9a-f]+\])?::shell::/],
  ['async: js_sys::futures / wasm_bindgen_futures', /js_sys(\[[0-9a-f]+\])?::futures|wasm_bindgen_futures/],
  ['serde_json', /serde_json/],
  ['serde', /\bserde(\[[0-9a-f]+\])?::|<serde::/],
  ['float formatting (core::fmt::float, flt2dec)', /flt2dec|fmt::float/],
  ['text formatting (core::fmt)', /core(\[[0-9a-f]+\])?::fmt/],
  ['BTreeMap (serde_json::Map)', /btree/],
  ['wasm-bindgen glue', /wasm_bindgen/],
  ['web_sys / js_sys bindings', /web_sys|js_sys/],
  ['allocator (dlmalloc)', /dlmalloc/],
  ['base64ct, sha2, jwt-compact, chrono', /base64ct|sha2|jwt_compact|chrono/],
  ['Rust core / alloc (other)', /^<?(core|alloc|std)(\[[0-9a-f]+\])?::/],
  ['data segments (strings, tables)', /^data\[/],
];
const sums = Object.fromEntries(groups.map(([g]) => [g, 0]));
sums.other = 0;
let total = 0;
for (const r of top) {
  const size = Number(r.ShallowSize);
  if (!Number.isFinite(size)) continue;
  total += size;
  const g = groups.find(([, re]) => re.test(r.Name));
  sums[g ? g[0] : 'other'] += size;
}
const profile = {
  note: 'uncompressed, before wasm-opt, the names section not counted',
  total,
  groups: Object.entries(sums).sort((a, b) => b[1] - a[1]).map(([name, bytes]) => ({ name, bytes })),
  top: top.slice(0, 15).map((r) => ({ name: r.Name, bytes: Number(r.ShallowSize) })),
  // The biggest subtrees below the root's direct children (the function table holds every
  // closure passed to JS, so it dominates most of the async code).
  dominators: csv(`${out}/dominators.csv`)
    .filter((r) => !/^<meta root>$|^table\[|^elem\[|subsection$/.test(r.Name))
    .sort((a, b) => Number(b.RetainedSize) - Number(a.RetainedSize))
    .slice(0, 15)
    .map((r) => ({ name: r.Name, retained: Number(r.RetainedSize) })),
  floor: {
    what: 'serde_json + jwt-compact/chrono time checks + base64url + one WebCrypto verify, no HelseID logic',
    wasmGzip: gz(`${out}/floor/floor_bg.wasm`),
    glueGzip: gz(`${out}/floor/floor.js`),
  },
};
fs.writeFileSync(`${out}/profile.json`, `${JSON.stringify(profile, null, 2)}\n`);
console.log(`[size-profile] ${total} bytes with names; floor ${profile.floor.wasmGzip} + ${profile.floor.glueGzip} bytes gzip -9; ${out}/profile.json`);
JS
