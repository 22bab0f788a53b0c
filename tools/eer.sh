#!/bin/sh
# eer.sh -- accuracy of `huellactl compare` on the FVC sets in $HUELLA_SHARED.
#
# For every folder $HUELLA_SHARED/data/fvc*/DB*_B, compares every unordered
# pair once (each file as probe against the files after it) and pipes
# "PROBE CANDIDATE SCORE" lines into $HUELLA_SHARED/tools/eer.py, which
# prints EER and FNMR at FMR 1%, 0.1% and 0 per set and their mean.
#
#   tools/eer.sh                      uses build/bin/huellactl
#   HUELLACTL=build/hm/bin/huellactl tools/eer.sh
#   tools/eer.sh --scores FILE        also keeps the raw score lines

set -eu
cd "$(dirname "$0")/.."
SHARED=${HUELLA_SHARED:-../shared}
CTL=${HUELLACTL:-build/bin/huellactl}
KEEP=
if [ "${1:-}" = "--scores" ]; then KEEP=$2; fi

[ -x "$CTL" ] || { echo "eer.sh: $CTL not built (run make)" >&2; exit 1; }
[ -f "$SHARED/tools/eer.py" ] || { echo "eer.sh: no $SHARED/tools/eer.py (set HUELLA_SHARED)" >&2; exit 1; }

scores=$(mktemp)
trap 'rm -f "$scores"' EXIT INT TERM
for dir in "$SHARED"/data/fvc*/DB*_B; do
    [ -d "$dir" ] || continue
    set -- "$dir"/*.iso
    while [ $# -gt 1 ]; do
        probe=$1
        shift
        "$CTL" compare "$probe" "$@" | {
            for cand in "$@"; do
                read -r score || { echo "eer.sh: short output for $probe" >&2; exit 1; }
                echo "$probe $cand $score"
            done
        }
    done
done > "$scores"
[ -n "$KEEP" ] && cp "$scores" "$KEEP"
python3 "$SHARED/tools/eer.py" < "$scores"
