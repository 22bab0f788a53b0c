#!/usr/bin/env bash
# Every benchmark in one run, release build.  Figures are printed next to a
# baseline measured in the same run (the machines are shared and noisy).
#   bench/run.sh [--all] [bench_http.py options]
# --all adds the slow system benches (several minutes each: galleries of
# 100k and 1M templates are imported): bench_matcher.py (the matcher's
# figures in one run: accuracy, 1:1, identify at 10k/100k/1M, memory),
# bench_fusion.py, bench_enroll.py and bench_punch.py.
set -euo pipefail
cd "$(dirname "$0")/.."
all=0
if [ "${1:-}" = "--all" ]; then
  all=1
  shift
fi
./build.sh build >/dev/null
export HUELLA_SHARED=${HUELLA_SHARED:-$(cd .. && pwd)/shared}
for b in build/bench/*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b"
done
echo "== bench_http.py"
python3 bench/bench_http.py "$@"
if [ "$all" = 1 ]; then
  echo "== bench_matcher.py"
  python3 bench/bench_matcher.py --no-build
  echo "== bench_fusion.py"
  python3 bench/bench_fusion.py --no-build
  echo "== bench_enroll.py"
  python3 bench/bench_enroll.py --no-build
  echo "== bench_punch.py"
  python3 bench/bench_punch.py --no-build
fi
