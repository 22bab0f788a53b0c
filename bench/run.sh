#!/usr/bin/env bash
# Every benchmark in one run, release build.  Figures are printed next to a
# baseline measured in the same run (the machines are shared and noisy).
set -euo pipefail
cd "$(dirname "$0")/.."
./build.sh build >/dev/null
export HUELLA_SHARED=${HUELLA_SHARED:-$(cd .. && pwd)/shared}
for b in build/bench/*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
done
echo "== bench_http.py"
python3 bench/bench_http.py "$@"
