#!/usr/bin/env bash
# Proves that a clone of this repository stands on its own: copies the repository's files (and
# nothing beside them) into an empty folder and runs the native tests there. A test that reads
# ../shared, or anything else outside the repository, fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$HOME/.cargo/bin:$PATH"
top=$(pwd)
# A fixed place (under the git-ignored target/), so cargo's cached build output stays valid.
box="$top/target/standalone"
rm -rf "$box/src-copy"
mkdir -p "$box/src-copy/helseid-wasm"
# Tracked files, plus new files not yet committed (but nothing git ignores).
git ls-files -z --cached --others --exclude-standard \
  | xargs -0 tar cf - --no-recursion 2>/dev/null | tar xf - -C "$box/src-copy/helseid-wasm"
cd "$box/src-copy/helseid-wasm"
log="$box/log"
if ! CARGO_TARGET_DIR="$box/target" cargo test --quiet >"$log" 2>&1; then
  cat "$log" >&2
  echo "[standalone] cargo test failed in a copy without sibling folders" >&2
  exit 1
fi
grep -E "^test result" "$log" || true
echo "[standalone] native tests pass in a copy with no sibling folders ($box/src-copy)"
