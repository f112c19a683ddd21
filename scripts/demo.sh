#!/usr/bin/env bash
# The demo: builds pkg/, starts the local HelseID test double, the demo backend and the page.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec node www/dev-idp/start.mjs
