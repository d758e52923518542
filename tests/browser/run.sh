#!/usr/bin/env bash
# Browser tests of the admin center and the sign-in page: headless Debian
# Chromium driven by playwright-core, WebAuthn through Chromium's virtual
# authenticator (CDP). Builds nothing: KEYSMITH_BIN names the keysmith
# binary; the test spawns `keysmith serve` and `keysmith admin` itself.
# Screenshots go to <repo>/target/screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
: "${KEYSMITH_BIN:?set KEYSMITH_BIN to the keysmith binary (e.g. target/debug/keysmith)}"
[ -x "$KEYSMITH_BIN" ] || { echo "KEYSMITH_BIN=$KEYSMITH_BIN is not executable" >&2; exit 2; }
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] || { echo "no Chromium at $CHROMIUM (apt-get install chromium)" >&2; exit 2; }
if [ ! -d node_modules/playwright-core ]; then
  npm ci --silent --no-audit --no-fund
fi
exec node web.test.mjs
