#!/usr/bin/env bash
# Runs the whole system in the foreground (called by `./build.sh run`):
# huellad under a supervisor that restarts it within a second of dying,
# nginx with the Huella module, demo data loaded on first start.
# SIGINT/SIGTERM stop everything this script started, by PID.
set -euo pipefail

# Started in the background by a script (`./build.sh run &`), we inherit
# SIGINT ignored (POSIX, for background jobs without job control), and bash
# cannot trap a signal that was ignored on entry: re-exec once with SIGINT
# at its default so that SIGINT stops everything, as Ctrl-C does
# (coreutils >= 9.0; an older env leaves things as they were).
if [ "${HUELLA_RUN_SIGINT:-}" != default ] \
   && env --default-signal=INT true 2>/dev/null; then
  exec env --default-signal=INT HUELLA_RUN_SIGINT=default "$0" "$@"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PORT=${HUELLA_PORT:-8080}
# the demo upstream behind /protected/ (huella_auth)
UPSTREAM_PORT=$((PORT + 1))
TLS_PORT=${HUELLA_TLS_PORT:-$((PORT + 363))}
# the demo kiosk's capture device agent behind /kiosk-agent/ (tools/kiosk-agent.py)
AGENT_PORT=${HUELLA_AGENT_PORT:-$((PORT + 2))}
VAR=${HUELLA_VAR:-$ROOT/var}
BIN=${HUELLA_BIN:-$ROOT/build/bin}
MODULE=${HUELLA_MODULE:-$ROOT/build/modules/ngx_http_huella_module.so}
CONFIG=${HUELLA_CONFIG:-$ROOT/config/huella.yaml}

say() { printf '\033[1m[huella]\033[0m %s\n' "$*" >&2; }

mkdir -p "$VAR/data" "$VAR/log" "$VAR/nginx" "$VAR/outbox" "$VAR/tls"

# A self-signed certificate for https://127.0.0.1:$TLS_PORT (HTTP/2 on);
# replace var/tls/server.{crt,key} with the institution's own.
if [ ! -s "$VAR/tls/server.crt" ] || [ ! -s "$VAR/tls/server.key" ]; then
  (umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
     -nodes -days 825 -subj "/CN=localhost" \
     -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
     -keyout "$VAR/tls/server.key" -out "$VAR/tls/server.crt" 2>/dev/null)
  say "created a self-signed TLS certificate in $VAR/tls/"
fi

if [ ! -s "$VAR/admin.token" ]; then
  (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '/+=\n' \
     >"$VAR/admin.token")
  say "created $VAR/admin.token (mode 0600)"
fi
chmod 0600 "$VAR/admin.token"

# The config's run-time paths (var/...) are relative to the checkout; with
# HUELLA_VAR elsewhere, huellad reads a copy whose var/ paths point there
# (mail outbox, bootstrap token), other relative paths still resolve from
# $ROOT, where huellad runs.
if [ "$VAR" != "$ROOT/var" ]; then
  sed -E "s#^([[:space:]]*[a-z_]+:[[:space:]]*)var/#\\1$VAR/#" "$CONFIG" \
    >"$VAR/huella.yaml"
  CONFIG=$VAR/huella.yaml
fi

# nginx workers run unprivileged when we are root; they only need the
# socket (huellad makes it world-connectable per config) and their temp dirs.
# Where the checkout sits in a directory www-data cannot enter (a 0700 home
# or temp dir), unprivileged workers could not serve the portal: then they
# stay root, and we say so.
USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then
  if id www-data >/dev/null 2>&1 \
     && runuser -u www-data -- test -r "$ROOT/html/index.html" 2>/dev/null \
     && runuser -u www-data -- test -x "$VAR" 2>/dev/null; then
    USER_LINE="user www-data;"
    chown -R www-data "$VAR/nginx"
  else
    USER_LINE="user root;"
    say "www-data cannot read $ROOT/html or $VAR: nginx workers run as root"
  fi
fi

sed -e "s|@MODULE@|$MODULE|g" -e "s|@VAR@|$VAR|g" -e "s|@ROOT@|$ROOT|g" \
    -e "s|@PORT@|$PORT|g" -e "s|@TLS_PORT@|$TLS_PORT|g" \
    -e "s|@UPSTREAM_PORT@|$UPSTREAM_PORT|g" -e "s|@AGENT_PORT@|$AGENT_PORT|g" \
    -e "s|@USER_LINE@|$USER_LINE|g" \
    config/nginx.conf.in >"$VAR/nginx.conf"

SUPERVISOR_PID=""
NGINX_PID=""
AGENT_PID=""
stopping=0

stop_all() {
  stopping=1
  say "stopping"
  if [ -n "$AGENT_PID" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
    kill -TERM "$AGENT_PID" 2>/dev/null || true
  fi
  if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
    kill -QUIT "$NGINX_PID" 2>/dev/null || true
  fi
  if [ -n "$SUPERVISOR_PID" ] && kill -0 "$SUPERVISOR_PID" 2>/dev/null; then
    kill -TERM "$SUPERVISOR_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -f "$VAR/nginx.pid" "$VAR/kiosk-agent.pid"
  say "stopped"
}
trap 'stop_all; exit 0' INT TERM

# The supervisor: restarts huellad within a second whenever it dies.
supervise_huellad() {
  local child="" running=1
  trap 'running=0; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null; \
        wait "$child" 2>/dev/null; rm -f "$VAR/huellad.pid"; exit 0' TERM INT
  while [ "$running" -eq 1 ]; do
    "$BIN/huellad" -c "$CONFIG" -s "$VAR/huellad.sock" -d "$VAR/data" \
      -p "$VAR/huellad.pid" >>"$VAR/log/huellad.log" 2>&1 &
    child=$!
    wait "$child" || true
    [ "$running" -eq 1 ] || break
    echo "$(date -Is) huellad exited; restarting" >>"$VAR/log/huellad.log"
    sleep 0.3
  done
}
supervise_huellad &
SUPERVISOR_PID=$!

/usr/sbin/nginx -p "$VAR/nginx" -c "$VAR/nginx.conf" -e "$VAR/log/nginx-error.log" \
  -g 'daemon off;' &
NGINX_PID=$!

base="http://127.0.0.1:$PORT"
# Each nginx worker answers /healthz for its own link to huellad, and a
# worker that started before huellad attaches a moment later: healthy means
# five answers in a row (new connections, spread over the workers).
ok=0
for _ in $(seq 1 200); do
  if curl -fs "$base/healthz" >/dev/null 2>&1; then
    ok=$((ok + 1))
    [ "$ok" -ge 5 ] && break
  else
    ok=0
  fi
  sleep 0.05
done
if [ "$ok" -lt 5 ]; then
  say "Huella did not become healthy; see $VAR/log/"
  tail -n 20 "$VAR"/log/*.log >&2 || true
  stop_all
  exit 1
fi

fresh_data=0
if [ ! -f "$VAR/data/.demo-loaded" ]; then
  fresh_data=1
  say "loading demo data from config/demo/"
  token=$(cat "$VAR/admin.token")
  while IFS=$'\t' read -r curp nss name; do
    case "$curp" in ''|'#'*) continue ;; esac
    curl -fs -o /dev/null -X POST "$base/api/v1/subjects" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data "{\"curp\":\"$curp\",\"nss\":\"$nss\",\"name\":\"$name\"}" || true
  done <config/demo/subjects.tsv
  # Demo accounts, one per role (README "Demo accounts").
  while IFS=$'\t' read -r curp nss email password roles rfc; do
    case "$curp" in ''|'#'*) continue ;; esac
    curl -fs -o /dev/null -X POST "$base/api/v1/accounts" \
      -H 'Content-Type: application/json' \
      --data "{\"curp\":\"$curp\",\"nss\":\"$nss\",\"email\":\"$email\",
\"password\":\"$password\",\"security_question\":\"Nombre de tu primera mascota\",
\"security_answer\":\"Firulais\"}" || say "demo account $curp not created"
    roles_json=$(printf '"%s",' ${roles//,/ }); roles_json="[${roles_json%,}]"
    extra=""
    [ -z "$rfc" ] || extra=",\"employer_rfc\":\"$rfc\""
    curl -fs -o /dev/null -X PUT "$base/api/v1/accounts/$curp/roles" \
      -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      --data "{\"roles\":$roles_json$extra}" || say "roles of $curp not set"
  done <config/demo/accounts.tsv
  HUELLA_SOCKET=$VAR/huellad.sock "$BIN/huellactl" import config/demo \
    && touch "$VAR/data/.demo-loaded"
fi

# The demo kiosk (/kiosk/): a device key pair in $VAR/kiosk/, registered
# once as a "kiosk" of the demo employer with the admin token; the agent
# holds the key and signs every punch (the browser never sees it).
KIOSK=$VAR/kiosk
KIOSK_RFC=AAA010101AAA   # the demo employer (generic RFC)
register_kiosk() {
  (umask 077 && mkdir -p "$KIOSK")
  "$BIN/huellactl" device keygen "$KIOSK" >/dev/null || return 1
  local body answer id
  body=$(python3 -c 'import json,sys
print(json.dumps({"public_key_pem": open(sys.argv[1]).read(),
  "make": "Huella", "model": "kiosk-agent demo", "serial": sys.argv[2],
  "purpose": "kiosk", "employer_rfc": sys.argv[3]}))' \
    "$KIOSK/device.pub" "demo-kiosk-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    "$KIOSK_RFC") || return 1
  answer=$(curl -fsS -X POST "$base/api/v1/devices" \
    -H "Authorization: Bearer $(cat "$VAR/admin.token")" \
    -H 'Content-Type: application/json' --data "$body") || return 1
  id=$(printf '%s' "$answer" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["device_id"])') || return 1
  printf '%s\n' "$id" >"$KIOSK/device_id"
  say "registered the demo kiosk $id (key in $KIOSK/)"
}
# (again when the data is new: an old device_id would be unknown there)
if [ "$fresh_data" -eq 1 ] || [ ! -s "$KIOSK/device_id" ] || [ ! -s "$KIOSK/device.key" ]; then
  rm -f "$KIOSK/device_id"
  register_kiosk || say "could not register the demo kiosk; /kiosk/ will not punch"
fi
# The demo kiosk belongs to the demo site "central" (its 1:N search is that
# site's roster first): mapped once through the attendance admin API, which
# keeps the mapping in huellad's data (docs/attendance-api.md).
KIOSK_SITE=central
map_kiosk_site() {
  local id rules
  id=$(cat "$KIOSK/device_id")
  rules=$(curl -fsS "$base/api/v1/attendance/rules" \
    -H "Authorization: Bearer $(cat "$VAR/admin.token")") || return 1
  printf '%s' "$rules" | python3 -c 'import json,sys
d = json.load(sys.stdin)
sys.exit(0 if any(sys.argv[1] in s["kiosks"] for s in d["sites"]) else 1)' \
    "$id" && return 0
  curl -fsS -o /dev/null -X POST "$base/api/v1/attendance/rules/changes" \
    -H "Authorization: Bearer $(cat "$VAR/admin.token")" \
    -H 'Content-Type: application/json' \
    --data "{\"kiosks\":{\"$id\":\"$KIOSK_SITE\"}}" || return 1
  say "the demo kiosk $id belongs to site $KIOSK_SITE"
}
# The demo supervisor account (README "Demo accounts") heads the demo
# institution: Juan García (head of human resources in
# config/attendance-demo.yaml) reports to him, so his inbox, team records
# and reports hold the whole chain below Juan.  Set once through the admin
# API, like the kiosk's site.
DEMO_SUPERVISOR=SUPV800101HDFPRR00
DEMO_HEAD=GARJ850312HDFRMN07
chain_demo_supervisor() {
  local rules
  rules=$(curl -fsS "$base/api/v1/attendance/rules" \
    -H "Authorization: Bearer $(cat "$VAR/admin.token")") || return 1
  # done already, or no demo institution in this configuration
  printf '%s' "$rules" | python3 -c 'import json,sys
head = [p for p in json.load(sys.stdin).get("people", [])
        if p["curp"] == sys.argv[2]]
sys.exit(0 if not head or head[0].get("supervisor") == sys.argv[1] else 1)' \
    "$DEMO_SUPERVISOR" "$DEMO_HEAD" && return 0
  curl -fsS -o /dev/null -X POST "$base/api/v1/attendance/rules/changes" \
    -H "Authorization: Bearer $(cat "$VAR/admin.token")" \
    -H 'Content-Type: application/json' \
    --data "{\"people\":[{\"curp\":\"$DEMO_HEAD\",\"supervisor\":\"$DEMO_SUPERVISOR\"}]}" \
    || return 1
  say "the demo supervisor $DEMO_SUPERVISOR heads the demo institution"
}
chain_demo_supervisor || say "could not make $DEMO_SUPERVISOR the demo supervisor"
if [ -s "$KIOSK/device_id" ]; then
  map_kiosk_site || say "could not map the demo kiosk to site $KIOSK_SITE"
  python3 "$ROOT/tools/kiosk-agent.py" --port "$AGENT_PORT" --huella "$base" \
    --key "$KIOSK/device.key" --device-id-file "$KIOSK/device_id" \
    --huellactl "$BIN/huellactl" --demo-fingers "$ROOT/config/demo/fingers" \
    >>"$VAR/log/kiosk-agent.log" 2>&1 &
  AGENT_PID=$!
  echo "$AGENT_PID" >"$VAR/kiosk-agent.pid"
fi

say "Huella is up on $base and https://127.0.0.1:$TLS_PORT (self-signed)"
say "  admin token: var/admin.token; Ctrl-C stops"
say "  curl $base/healthz"
[ -z "$AGENT_PID" ] || say "  kiosk: $base/kiosk/ (agent on 127.0.0.1:$AGENT_PORT)"
agent_warned=0
while [ "$stopping" -eq 0 ]; do
  if ! kill -0 "$NGINX_PID" 2>/dev/null; then
    say "nginx exited; see $VAR/log/nginx-error.log"
    stop_all
    exit 1
  fi
  if [ -n "$AGENT_PID" ] && [ "$agent_warned" -eq 0 ] \
     && ! kill -0 "$AGENT_PID" 2>/dev/null; then
    say "the kiosk agent exited; see $VAR/log/kiosk-agent.log"
    agent_warned=1
  fi
  sleep 1 &
  wait $! || true
done
