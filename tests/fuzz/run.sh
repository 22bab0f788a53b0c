#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 10) on a corpus seeded from ../shared/data.
# A crash fails the run and leaves the reproducer in build/fuzz/crashes/.
#   tests/fuzz/run.sh                 short run of every target
#   FUZZ_SECONDS=3600 tests/fuzz/run.sh fuzz_template    a long run of one
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER=${FUZZ_SECONDS:-10}
SHARED=${HUELLA_SHARED:-$(cd .. && pwd)/shared}
OUT=build/fuzz
make -s FUZZ=1 BUILD=$OUT fuzzers -j"$(nproc)"
mkdir -p "$OUT/crashes"

seed() {   # seed TARGET DIR: corpus files for one target
  local target=$1 dir=$2 f i=0
  mkdir -p "$dir"
  case $target in
    fuzz_config)
      for f in config/*.yaml; do cp "$f" "$dir/"; done
      return ;;
    fuzz_certificate)
      openssl req -x509 -newkey rsa:2048 -nodes -days 30 -outform DER \
        -subj "/CN=EDUARDO GOMEZ/x500UniqueIdentifier=GODE561231GR8/serialNumber=GODE561231HDFRRN00" \
        -keyout /dev/null -out "$dir/seed-cert.der" 2>/dev/null || true
      return ;;
  esac
  for f in "$SHARED"/data/*/*/*.iso "$SHARED"/data/invalid/*.iso; do
    [ -f "$f" ] || continue
    i=$((i + 1))
    case $target in
      fuzz_template) { printf '\0'; cat "$f"; } >"$dir/seed-$i" ;;
      *) cat "$f" >"$dir/seed-$i" ;;
    esac
  done
}

passed=0 failed=0
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls "$OUT"/fuzz/))
for t in "${targets[@]}"; do
  corpus=$OUT/corpus/$t
  [ -d "$corpus" ] || seed "$t" "$corpus"
  log=$OUT/$t.log
  if "$OUT/fuzz/$t" -max_total_time="$SECONDS_PER" -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$OUT/crashes/$t-" "$corpus" >"$log" 2>&1; then
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" \
              | grep -o '[0-9]*$' || true)
    [ -n "$execs" ] || execs=$(grep -Eo '#[0-9]+' "$log" | tail -1 | tr -d '#')
    echo "fuzz: $t ok, ${execs:-?} executions in ${SECONDS_PER}s, 0 crashes"
    passed=$((passed + 1))
  else
    echo "fuzz: $t FAILED (see $log)"; tail -30 "$log"
    failed=$((failed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
