#!/usr/bin/env bash
# Every test: format, clippy (native and wasm32), native unit tests, the standalone check, the
# build and its size budget, the .d.ts type check, the API reference (TypeDoc) and the README's
# recipe snippets, wasm tests in headless Chromium and Firefox,
# the end-to-end browser tests against the test double in Chromium and Firefox ESR, and the
# WebKit suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step setup
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy (native, wasm32)"
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --target wasm32-unknown-unknown -- -D warnings

step "native unit tests (the protocol core)"
cargo test

step "the repository stands alone (native tests in a copy with no sibling folders)"
scripts/standalone-check.sh

step "build pkg/"
scripts/build.sh

step "size budget (wasm + glue, gzip -9)"
scripts/size-budget.sh

step "TypeScript check of the generated .d.ts (and of the Angular recipe against it)"
node_modules/.bin/tsc -p tests/types/tsconfig.json
node_modules/.bin/tsc -p tests/types/tsconfig.recipes.json

step "API reference from the .d.ts (TypeDoc, warnings are errors) and the README's recipes"
scripts/docs.sh
node --test tests/docs/

step "wasm tests in headless Chromium and Firefox (WebCrypto)"
wasm-pack test --headless --chrome
wasm-pack test --headless --firefox

step "end-to-end browser tests against the local HelseID test double, in Chromium and Firefox ESR"
scripts/e2e.sh

step "WebKit (WebKitGTK MiniBrowser under Xvfb, WebDriver classic): the core flows against the double"
node --test --test-concurrency=1 --test-timeout=120000 tests/webkit/
