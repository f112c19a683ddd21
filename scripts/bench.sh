#!/usr/bin/env bash
# Benchmarks beside oidc-client-ts, oauth4webapi (+ jose) and @auth0/auth0-spa-js (issues 6 and
# 14): size (with its twiggy profile and the floor of the stack), start-up, token verification,
# cached getAccessToken(), round trips per login/refresh, refresh storms. Not part of scripts/test.sh. Installs what it needs (scripts/setup.sh, then the
# peers pinned in bench/package-lock.json), builds pkg/ in release with wasm-opt
# (scripts/build.sh), runs bench/run.mjs in headless Chromium against the local HelseID test
# double, and writes BENCHMARKS.md + bench/results.json. Prints whether each target is met; the
# exit status does not depend on the figures. About 3-5 minutes.
#
#   scripts/bench.sh                      # everything
#   scripts/bench.sh --only verify,storm  # some sections (size,startup,verify,cached,roundtrips,storm); writes nothing
#   BENCH_SKIP_BUILD=1 scripts/bench.sh   # measure the pkg/ that is there
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step setup
scripts/setup.sh

# The peers, exactly as pinned in the committed lockfile; reinstalled only when it changed.
if [ ! -f bench/node_modules/.package-lock.json ] || ! cmp -s bench/package-lock.json bench/node_modules/.bench-lock; then
  step "npm ci (bench/)"
  (cd bench && npm ci --no-audit --no-fund)
  cp bench/package-lock.json bench/node_modules/.bench-lock
fi

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  step "build pkg/ (release, wasm-opt -Oz --converge)"
  scripts/build.sh
fi

step "size profile (twiggy) and floor (bench/floor)"
scripts/size-profile.sh

step "benchmarks"
node bench/run.mjs "$@"
