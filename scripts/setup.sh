#!/usr/bin/env bash
# Installs what the build and the tests need, when it is missing. Idempotent and quick when
# everything is there. Sourced by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# wasm-bindgen-cli must be exactly the version in Cargo.lock (wasm-pack then downloads nothing).
[ -f Cargo.lock ] || cargo generate-lockfile
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  log "cargo install wasm-bindgen-cli $want (have: ${have:-none})"
  # Not --locked: its lockfile pins a webpki-roots release the registry no longer serves.
  cargo install wasm-bindgen-cli --version "=$want" --force
fi

if ! command -v wasm-pack >/dev/null || [ "$(wasm-pack --version | awk '{print $2}')" != "0.15.1" ]; then
  log "cargo install wasm-pack 0.15.1"
  cargo install wasm-pack --version =0.15.1 --locked
fi

# Node packages from the committed lockfile; reinstalled only when the lockfile changed.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.helseid-lock; then
  log "npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json node_modules/.helseid-lock
fi

# Browsers: Debian's Chromium + ChromeDriver, Firefox ESR with geckodriver from crates.io, and
# WebKitGTK's WebKitWebDriver + MiniBrowser with Xvfb (no headless mode).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -x /usr/bin/firefox-esr ] || missing+=(firefox-esr)
[ -x /usr/bin/WebKitWebDriver ] || missing+=(webkit2gtk-driver)
command -v Xvfb >/dev/null || missing+=(xvfb)
command -v xauth >/dev/null || missing+=(xauth)
if [ ${#missing[@]} -gt 0 ]; then
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ "$(geckodriver --version 2>/dev/null | awk 'NR==1{print $2}')" != "0.37.1" ]; then
  log "cargo install geckodriver 0.37.1"
  cargo install geckodriver --version =0.37.1 --locked
fi
