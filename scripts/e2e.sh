#!/usr/bin/env bash
# The end-to-end suite (tests/e2e/) in headless Chromium and Firefox ESR (harness.mjs,
# E2E_BROWSER): scripts/e2e-run.mjs shares the (engine, file) jobs among one worker per core, the
# longest first. TAP reports: artifacts/e2e/<engine>/<file>.tap.
#   scripts/e2e.sh                      # both engines, every file
#   E2E_ENGINES=firefox scripts/e2e.sh tests/e2e/context.test.mjs
set -uo pipefail
cd "$(dirname "$0")/.."
exec node scripts/e2e-run.mjs "$@"
