#!/usr/bin/env bash
# The end-to-end suite (tests/e2e/) once per engine, the engines side by side (one core each):
# headless Chromium and Firefox ESR, through harness.mjs (E2E_BROWSER). Each engine's TAP report
# goes to artifacts/e2e-<engine>.tap; a failing engine's report is printed whole.
#   scripts/e2e.sh                      # both engines, every file
#   E2E_ENGINES=firefox scripts/e2e.sh tests/e2e/context.test.mjs
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
read -r -a engines <<<"${E2E_ENGINES:-chromium firefox}"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(tests/e2e/)

declare -A pid start
for e in "${engines[@]}"; do
  start[$e]=$(date +%s)
  # --test-timeout: a test (or a whole file) that hangs fails after 10 min instead of holding the run.
  E2E_BROWSER=$e node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}" \
    >"artifacts/e2e-$e.tap" 2>&1 &
  pid[$e]=$!
done

status=0
for e in "${engines[@]}"; do
  if wait "${pid[$e]}"; then result=passed; else result=FAILED; status=1; fi
  secs=$(( $(date +%s) - start[$e] ))
  if [ "$result" = FAILED ]; then cat "artifacts/e2e-$e.tap"; fi
  # Skips print their reason (harness.mjs skipIn).
  grep -E '# SKIP' "artifacts/e2e-$e.tap" | grep -v 'does not match pattern' || true
  printf '%s: %s in %ss (%s)\n' "$e" "$result" "$secs" \
    "$(grep -E '^# (tests|pass|fail|skipped) ' "artifacts/e2e-$e.tap" | sed 's/^# //' | paste -sd, -)"
done
exit $status
