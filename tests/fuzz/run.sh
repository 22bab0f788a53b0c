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
[ -f build/nginx/ngx_auto_config.h ] && [ -x build/bin/huellactl ] \
  || { echo "fuzz: run ./build.sh first (nginx configure, huellactl)" >&2
       exit 1; }
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
    fuzz_signature_headers)   # Signature-Input, Signature, Digest, path
      local keys body h
      keys=$(mktemp -d)
      build/bin/huellactl device keygen "$keys/es" >/dev/null
      build/bin/huellactl device keygen "$keys/ed" --ed25519 >/dev/null
      for body in '{"curp":"GODE561231HDFRRN00"}' '{}' ''; do
        for f in es ed; do
          i=$((i + 1))
          printf '%s' "$body" >"$keys/body"
          h=$(build/bin/huellactl device sign --key "$keys/$f/device.key" \
                --keyid dev_0123456789abcdef --method POST \
                --path /api/v1/kiosk/punch "$keys/body")
          { sed -n 's/^Signature-Input: //p' <<<"$h"
            sed -n 's/^Signature: //p' <<<"$h"
            sed -n 's/^Content-Digest: //p' <<<"$h"
            echo /api/v1/kiosk/punch; } >"$dir/seed-$i"
        done
      done
      rm -rf "$keys"
      printf '%s\n' 'sig1=("content-digest" "@path" "@method");created=007;keyid="a\\\"b";nonce="0123456789";expires=-1;tag="t"' \
        'sig1=:AAAA:' 'sha-256=:AAAA:' >"$dir/seed-tag"
      return ;;
    fuzz_json_fields)   # the bodies the integration tests send
      local b64=AAAA t=(
        '{"curp":"GODE561231HDFRRN00","name":"X","nss":"12345678903"}'
        '{"curp":"gode561231hdfrrn01","name":"X"}' '{"curp":5}' '[]' '{'
        '{"a":1,"a":2}' '{"max_candidates":101}' '{"finger":"x"}'
        '{"format":"png","data":"AAAA"}' '{"format":"ansi378-2004","data":"!!"}'
        '{"finger":{"format":"iso19794-2:2005","data":"AAAAAAAA","position":11}}'
        '{"date":"2025-03-13","reason":"cita_medica","text":null}'
        '{"decision":"approve","comment":5}' '{"email":"a@b.mx","password":"x"}')
      for f in "${t[@]}"; do
        i=$((i + 1)); printf '%s' "$f" >"$dir/seed-$i"
      done
      for f in "$SHARED"/data/*/*/*.iso; do
        [ -f "$f" ] && b64=$(base64 -w0 "$f") && break
      done
      printf '{"curp":"GODE561231HDFRRN00","finger":{"format":"iso19794-2:2005","position":2,"data":"%s"}}' \
        "$b64" >"$dir/seed-finger"
      printf '{"format":"iso19794-2:2005","position":1,"data":"%s"}' \
        "$b64" >"$dir/seed-top"
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
