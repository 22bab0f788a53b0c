#!/usr/bin/env bash
# Huella's one entry point.
#   ./build.sh          install missing packages and build into build/
#   ./build.sh run      build, then run nginx + huellad on 127.0.0.1:8080
#   ./build.sh test     build (also with ASan/UBSan) and run every test
set -euo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd)
cd "$ROOT"
BUILD=$ROOT/build
JOBS=$(nproc 2>/dev/null || echo 2)

# Debian packages, and why (see README "Dependencies").
PACKAGES=(
  build-essential pkg-config       # compiler, make, pkg-config
  nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev  # nginx + module build
  liblmdb-dev lmdb-utils           # template store
  libyaml-dev                      # config
  libjansson-dev                   # JSON in the module and huellactl
  libargon2-dev                    # Argon2id password hashing (in huellad)
  libicu-dev                       # NFKC normalisation of passwords
  check libsubunit-dev             # unit tests
  python3                          # integration tests (stdlib only)
  curl                             # health checks in run mode
  openssl                          # run mode's TLS certificate, test CAs
  wrk                              # benches and load kit
  clang libclang-rt-14-dev         # libFuzzer targets (tests/fuzz)
)
# nodejs + npm (front-end libraries, package-lock.json): installed only when
# the commands are missing, since many hosts carry a newer Node.js that
# bundles its own npm.

log() { printf '\033[1m[build.sh]\033[0m %s\n' "$*" >&2; }

install_deps() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$p")
  done
  command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The dynamic module, built against Debian's nginx-dev with Debian's own
# configure flags so that the stock nginx binary accepts it.
build_module() {
  local variant=$1 extra_cc=$2 out=$BUILD/$3
  local src=$BUILD/nginx-src-$variant
  local stamp=$out/.configured
  if [ ! -f "$stamp" ] || [ ngx_module/config -nt "$stamp" ]; then
    rm -rf "$src" "$out"
    mkdir -p "$src" "$out"
    cp -r /usr/share/nginx/src/. "$src/"
    # shellcheck disable=SC1091
    source /usr/share/nginx/src/conf_flags
    (cd "$src" && ./configure "${NGX_CONF_FLAGS[@]}" \
        --with-cc-opt="-g -O2 -fPIC -Wall -Wextra -Werror $extra_cc" \
        --with-ld-opt="-fPIC $extra_cc" \
        --add-dynamic-module="$ROOT/ngx_module" \
        --builddir="$out" >"$out/configure.log" 2>&1) \
      || { cat "$out/configure.log" >&2; return 1; }
    touch "$stamp"
  fi
  (cd "$src" && make -s -f "$out/Makefile" modules -j"$JOBS" >/dev/null)
}

# A running nginx has the old .so mapped: replace the file, never rewrite it.
install_module() {
  local from=$1/ngx_http_huella_module.so to=$2
  mkdir -p "$to"
  cmp -s "$from" "$to/ngx_http_huella_module.so" && return 0
  cp "$from" "$to/.ngx_http_huella_module.so.tmp"
  mv -f "$to/.ngx_http_huella_module.so.tmp" "$to/ngx_http_huella_module.so"
}

build_all() {
  install_deps
  log "front-end libraries into html/vendor/ (npm ci from package-lock.json)"
  bash "$ROOT/tools/vendor.sh"
  log "building huellad, huellactl, tests, benches"
  make -s -j"$JOBS" BUILD=build
  log "building ngx_http_huella_module.so"
  build_module release "" nginx
  install_module "$BUILD/nginx" "$BUILD/modules"
}

build_asan() {
  log "building with AddressSanitizer + UBSan"
  make -s -j"$JOBS" SAN=1 BUILD=build/asan
  build_module asan "-fsanitize=address,undefined -fno-omit-frame-pointer" \
    asan/nginx
  install_module "$BUILD/asan/nginx" "$BUILD/asan/modules"
}

run_tests() {
  build_all
  build_asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export HUELLA_BUILD=$BUILD/asan
  export HUELLA_SHARED=${HUELLA_SHARED:-$(cd "$ROOT/.." && pwd)/shared}
  local passed=0 failed=0 t names=()
  log "unit tests (Check, ASan/UBSan)"
  for t in "$BUILD"/asan/tests/test_*; do
    [ -x "$t" ] || continue
    if CK_FORK=yes "$t"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); names+=("$(basename "$t")")
    fi
  done
  log "integration tests (real nginx + huellad on loopback)"
  for t in tests/integration/test_*.py; do
    [ -f "$t" ] || continue
    if python3 "$t"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1)); names+=("$(basename "$t")")
    fi
  done
  log "browser tests (Debian chromium + playwright-core, real nginx + huellad)"
  if tests/browser/run.sh; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); names+=("tests/browser")
  fi
  log "fuzz targets (libFuzzer, short run)"
  if tests/fuzz/run.sh; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); names+=("fuzz")
  fi
  [ ${#names[@]} -eq 0 ] || log "failed: ${names[*]}"
  echo "suites: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

run_system() {
  build_all
  exec "$ROOT/tools/huella-run.sh"
}

case "${1:-build}" in
  build) build_all ;;
  test) run_tests ;;
  run) run_system ;;
  deps) install_deps ;;
  *) echo "usage: $0 [build|run|test|deps]" >&2; exit 2 ;;
esac
