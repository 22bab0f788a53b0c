#!/usr/bin/env bash
# Copies the portal's front-end libraries from node_modules (installed by
# `npm ci` from the committed package-lock.json) into html/vendor/, which
# nginx serves as /vendor/.  html/vendor/ is not committed.
#
#   tools/vendor.sh          npm ci first when node_modules is missing or
#                            older than the lock, then copy
#
# Nothing is fetched at run time: the pages load /vendor/* from the portal.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

log() { printf '[vendor] %s\n' "$*" >&2; }

stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] \
   || [ package.json -nt "$stamp" ] || [ ! -d node_modules/node-forge ]; then
  command -v npm >/dev/null || { log "npm is missing (apt-get install npm)"; exit 1; }
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

# FROM (under node_modules/)      TO (under html/vendor/)
files=(
  "node-forge/dist/forge.min.js   forge.min.js"
  "node-forge/LICENSE             node-forge.LICENSE.txt"
)

mkdir -p html/vendor
for f in "${files[@]}"; do
  read -r from to <<<"$f"
  src=node_modules/$from
  [ -f "$src" ] || { log "missing $src"; exit 1; }
  tmp=html/vendor/.$to.tmp
  cp "$src" "$tmp"
  # forge.min.js names a source map that is not shipped: drop the comment
  # (no 404 when someone opens the developer tools).
  case $to in *.js) sed -i 's|^//# sourceMappingURL=.*$||' "$tmp" ;; esac
  if cmp -s "$tmp" "html/vendor/$to"; then rm -f "$tmp"
  else mv -f "$tmp" "html/vendor/$to"; fi
done
log "html/vendor: $(cd html/vendor && ls | tr '\n' ' ')"
