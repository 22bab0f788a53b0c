#!/usr/bin/env bash
# Browser tests of the portal: Debian's chromium driven by playwright-core.
#
#   tests/browser/run.sh                 start a real Huella (huellad + nginx
#                                        with the module, from $HUELLA_BUILD,
#                                        default build/) and test it
#   HUELLA_URL=http://127.0.0.1:8080 tests/browser/run.sh
#                                        test a Huella that is already running
#   HUELLA_BROWSER_STATIC=1 tests/browser/run.sh
#                                        development fallback: html/ from a
#                                        Python server with a stub /healthz
#
# Installs what it needs (apt chromium, npm ci) only when missing or stale.
# Runs every tests/browser/*.test.mjs with `node --test`; its summary closes
# the output. Screenshots go to build/artifacts/screenshots/.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

log() { printf '[browser] %s\n' "$*" >&2; }

export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

# 1. Debian's chromium (no browser download by any npm package).
if [ ! -x "$CHROMIUM" ]; then
  log "installing chromium from Debian"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi

# 2. node_modules from the committed lock, when missing or older than it.
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] \
   || [ package.json -nt "$stamp" ] || [ ! -d node_modules/playwright-core ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# 2b. Front-end libraries into html/vendor/ (not committed; the pages load
#     /vendor/forge.min.js for e.firma).
bash tools/vendor.sh

# 3. A Huella to test, unless HUELLA_URL names one.
SERVE_PID=""
NODE_PID=""
tmp=$(mktemp -d /tmp/huella-browser-XXXXXX)
cleanup() {
  local rc=$?
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
  fi
  exec 3>&- 2>/dev/null || true      # closing serve.py's stdin stops it
  if [ -n "$SERVE_PID" ]; then
    for _ in $(seq 1 100); do
      kill -0 "$SERVE_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVE_PID" 2>/dev/null; then
      kill -TERM "$SERVE_PID" 2>/dev/null || true
    fi
    wait "$SERVE_PID" 2>/dev/null || rc=$((rc ? rc : 1))
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${HUELLA_URL:-}" ]; then
  mode=()
  if [ -n "${HUELLA_BROWSER_STATIC:-}" ]; then
    mode=(--static)
    log "HUELLA_BROWSER_STATIC set: static html/ with a stub /healthz"
  fi
  mkfifo "$tmp/in"
  python3 tests/browser/serve.py "${mode[@]}" <"$tmp/in" >"$tmp/out" &
  SERVE_PID=$!
  exec 3>"$tmp/in"
  for _ in $(seq 1 600); do
    grep -q '^EFIRMA_CA=' "$tmp/out" 2>/dev/null && break
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q '^EFIRMA_CA=' "$tmp/out"; then
    log "could not start a Huella (serve.py):"
    cat "$tmp/out" >&2
    exit 1
  fi
  HUELLA_URL=$(sed -n 's/^URL=//p' "$tmp/out")
  HUELLA_TOKEN=$(sed -n 's/^TOKEN=//p' "$tmp/out")
  HUELLA_EFIRMA_CA=$(sed -n 's/^EFIRMA_CA=//p' "$tmp/out")
  HUELLA_OUTBOX=$(sed -n 's/^OUTBOX=//p' "$tmp/out")
  export HUELLA_URL HUELLA_TOKEN HUELLA_EFIRMA_CA HUELLA_OUTBOX
fi
export HUELLA_URL
log "testing $HUELLA_URL with $("$CHROMIUM" --version 2>/dev/null | head -1)"

mkdir -p build/artifacts/screenshots
shopt -s nullglob
tests=(tests/browser/*.test.mjs)
[ ${#tests[@]} -gt 0 ] || { log "no tests"; exit 1; }
# Not exec: the EXIT trap must stop serve.py afterwards. In the background
# and waited for, so that a TERM or INT runs the traps at once.
node --test --test-concurrency=1 "${tests[@]}" &
NODE_PID=$!
set +e
wait "$NODE_PID"
rc=$?
set -e
NODE_PID=""
exit "$rc"
