#!/usr/bin/env bash
# Huella load-test kit: runs the standard scenarios with wrk against a
# running instance and prints one table (requests/s, p50/p90/p99, errors).
#
#   bench/load/run.sh                         ./build.sh run on :8080
#   bench/load/run.sh -u https://staging:8443 -t TOKEN -d 30s -c 64
#   bench/load/run.sh -s verify,identify      only some scenarios
#
# Scenarios: static health verify identify login punch (see docs/ops.md).
# Loopback/staging only: it sends real traffic to the URL you give.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
URL=http://127.0.0.1:${HUELLA_PORT:-8080}
TOKEN_FILE=$ROOT/var/admin.token
TOKEN=${HUELLA_TOKEN:-}
DURATION=10s
CONNS=32
THREADS=2
POOL=3000
SCENARIOS=static,health,verify,identify,login,punch
export HUELLA_CURP=${HUELLA_CURP:-GARJ850312HDFRMN07}
export HUELLA_PROBE=${HUELLA_PROBE:-$ROOT/config/demo/fingers/101_2.iso}
# the demo worker of ./build.sh run (README "Demo accounts")
export HUELLA_USER=${HUELLA_USER-GARJ850312HDFRMN07}
export HUELLA_PASSWORD=${HUELLA_PASSWORD-Trabajador-Huella-2026}
# simulated kiosks: directories with a registered kiosk's device.key and
# device_id (./build.sh run keeps its demo kiosk in var/kiosk/)
HUELLA_KIOSKS=${HUELLA_KIOSKS:-$ROOT/var/kiosk}
HUELLA_FINGERS=${HUELLA_FINGERS:-$ROOT/config/demo/fingers}
HUELLACTL=${HUELLACTL:-$ROOT/build/bin/huellactl}

while getopts "u:t:d:c:T:s:n:h" opt; do
  case $opt in
    u) URL=$OPTARG ;;
    t) TOKEN=$OPTARG ;;
    d) DURATION=$OPTARG ;;
    c) CONNS=$OPTARG ;;
    T) THREADS=$OPTARG ;;
    s) SCENARIOS=$OPTARG ;;
    n) POOL=$OPTARG ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ -z "$TOKEN" ] && [ -r "$TOKEN_FILE" ]; then TOKEN=$(cat "$TOKEN_FILE"); fi
export HUELLA_TOKEN=$TOKEN HUELLA_LOAD_DIR=$HERE
export HUELLA_WRK_THREADS=$THREADS HUELLA_WRK_CONNS=$CONNS
POOL_DIR=$(mktemp -d)
trap 'rm -rf "$POOL_DIR"' EXIT
export HUELLA_PUNCH_POOL=$POOL_DIR/pool.lua

# One request first, so a scenario that cannot work here is skipped with
# the reason instead of filling the table with errors.
probe() {
  local s=$1 code
  case $s in
    static) code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/index.html") ;;
    health) code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz") ;;
    verify|identify)
      [ -n "$TOKEN" ] || { echo "no token"; return; }
      code=$(curl -s -o /dev/null -w '%{http_code}' \
        -H "Authorization: Bearer $TOKEN" "$URL/api/v1/subjects/$HUELLA_CURP") ;;
    login)
      [ -n "$HUELLA_USER" ] || { echo "set HUELLA_USER/HUELLA_PASSWORD"; return; }
      code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "{\"user\":\"$HUELLA_USER\",\"password\":\"$HUELLA_PASSWORD\"}" \
        "$URL/api/v1/session") ;;
    punch)
      # signs the pool of punches (each sent once) right before the run
      if out=$(python3 "$HERE/punch_pool.py" --url "$URL" \
          --kiosks "$HUELLA_KIOSKS" --huellactl "$HUELLACTL" \
          --fingers "$HUELLA_FINGERS" --pool "$POOL" \
          --out "$HUELLA_PUNCH_POOL" 2>&1); then
        echo ok
      else
        tail -1 <<<"$out"
      fi
      return ;;
    *) echo "unknown scenario"; return ;;
  esac
  case $code in 2*) echo ok ;; *) echo "HTTP $code" ;; esac
}

printf '%-10s %10s %9s %9s %9s %8s %8s  %s\n' scenario req/s p50_ms p90_ms p99_ms non2xx sockerr note
IFS=, read -r -a list <<<"$SCENARIOS"
for s in "${list[@]}"; do
  why=$(probe "$s")
  if [ "$why" != ok ]; then
    printf '%-10s %10s %9s %9s %9s %8s %8s  skipped: %s\n' "$s" - - - - - - "$why"
    continue
  fi
  out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$HERE/$s.lua" "$URL" 2>&1)
  line=$(grep '^HUELLA_RESULT' <<<"$out" || true)
  if [ -z "$line" ]; then
    printf '%-10s failed: %s\n' "$s" "$(tail -2 <<<"$out" | tr '\n' ' ')"
    continue
  fi
  python3 - "$s" "$line" <<'PY'
import sys
name, line = sys.argv[1], sys.argv[2]
kv = dict(p.split("=") for p in line.split()[1:])
n = int(kv["requests"]); secs = int(kv["duration_us"]) / 1e6
sock = sum(int(kv[k]) for k in ("connect", "read", "write", "timeout"))
ms = lambda k: int(kv[k]) / 1000
print(f"{name:10} {n / secs:10.0f} {ms('p50'):9.2f} {ms('p90'):9.2f} "
      f"{ms('p99'):9.2f} {int(kv['non2xx']):8d} {sock:8d}")
PY
done
echo "($THREADS threads, $CONNS connections, $DURATION each, against $URL)"
