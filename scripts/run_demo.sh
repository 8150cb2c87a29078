#!/usr/bin/env bash
# `make run`: choose local services (scripts/devenv.py), start what the demo needs — the AWS
# emulator, and a Celery worker when Redis is there — migrate, load demo data and serve on
# http://$RUN_ADDR (default 127.0.0.1:8000). Each service it starts must answer before it goes
# on (else it stops, naming the service's log), and all of them stop when make run exits.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STATE=.demo  # logs, and the emulator's image plan
mkdir -p "$STATE"
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}
export DJANGO_SETTINGS_MODULE=registry.settings.demo
export PYTHONUNBUFFERED=1
RUN_ADDR=${RUN_ADDR:-127.0.0.1:8000}
case $RUN_ADDR in *:*) WEB_HOST=${RUN_ADDR%:*} WEB_PORT=${RUN_ADDR##*:} ;; *) WEB_HOST=127.0.0.1 WEB_PORT=$RUN_ADDR ;; esac

say() { echo "[make run] $*" >&2; }
fail() {  # message [log]: stop here, showing the end of the log
  echo "[make run] ERROR: $1" >&2
  if [ -n "${2:-}" ] && [ -s "$2" ]; then
    echo "[make run] last lines of $2:" >&2
    tail -n 15 "$2" | sed 's/^/    /' >&2
  fi
  exit 1
}

# Every service runs in its own process group (setsid): stopping the group stops its children
# too (the worker's pool, runserver's reloaded child).
started=()
stop_all() {
  trap - EXIT HUP INT TERM
  local group
  for group in "${started[@]}"; do kill -TERM -- "-$group" 2>/dev/null || true; done
  for group in "${started[@]}"; do
    for _ in $(seq 1 50); do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$group" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

start() {  # LOG COMMAND...: in the background; sets STARTED_PID
  local log=$1; shift
  setsid "$@" >"$log" 2>&1 </dev/null &
  STARTED_PID=$!
  started+=("$STARTED_PID")
}

wait_until() {  # NAME PID LOG SECONDS CHECK...: until CHECK succeeds; fail fast if PID exits or time runs out
  local name=$1 pid=$2 log=$3 deadline=$((SECONDS + $4)); shift 4
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || fail "$name stopped before it answered (log: $log)" "$log"
    [ "$SECONDS" -lt "$deadline" ] || fail "$name did not answer within $4 s (log: $log)" "$log"
    sleep 0.3
  done
}
http_ok() { $PY -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$1"; }
port_in_use() { $PY -c 'import socket, sys; s = socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex((sys.argv[1], int(sys.argv[2]))) != 0)' "$1" "$2"; }

is_port() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$WEB_PORT" || fail "RUN_ADDR=$RUN_ADDR: $WEB_PORT is not a TCP port"
is_port "${MOTO_PORT:-5055}" || fail "MOTO_PORT=${MOTO_PORT:-} is not a TCP port"

eval "$($PY scripts/devenv.py)"

if port_in_use "$WEB_HOST" "$WEB_PORT"; then
  fail "$RUN_ADDR is in use (another make run?): choose another address, e.g. RUN_ADDR=127.0.0.1:8001 make run"
fi

if [ "${REGISTRY_DEMO_EMULATOR:-0}" = 1 ]; then
  if port_in_use 127.0.0.1 "$MOTO_PORT"; then
    fail "port $MOTO_PORT, the AWS emulator's, is in use (an emulator an older checkout left running? kill \$(cat .moto_server.pid)); or choose another: MOTO_PORT=5056 make run"
  fi
  $PY manage.py seed_emulator --plan >"$STATE/emulator-images.json"
  say "starting the AWS emulator on 127.0.0.1:$MOTO_PORT (log: $STATE/emulator.log)"
  start "$STATE/emulator.log" $PY scripts/demo_emulator.py --port "$MOTO_PORT" --images "$STATE/emulator-images.json"
  wait_until "the AWS emulator" "$STARTED_PID" "$STATE/emulator.log" 60 http_ok "$AWS_ENDPOINT_URL/moto-api/"
fi

$PY manage.py migrate --noinput
# The worker starts once the tables exist (what it runs at start may read them) and boots while
# the demo data loads; tasks the seeding queues wait for it in the broker.
if [ "${REGISTRY_DEMO_WORKER:-0}" = 1 ]; then
  say "starting a Celery worker (queues default,aws) on $CELERY_BROKER_URL (log: $STATE/worker.log)"
  : >"$STATE/worker.log"
  start "$STATE/worker.log" .venv/bin/celery -A registry worker -Q default,aws -l info \
    --concurrency="${WORKER_CONCURRENCY:-2}" -n "demo-$$@%h" --without-gossip --without-mingle
  WORKER_PID=$STARTED_PID
fi
: >"$STATE/seed.log"
# The emulator starts empty: running instances and tagged images to create/copy/share from.
if [ "${REGISTRY_EMULATOR:-0}" = 1 ]; then $PY manage.py seed_emulator | tee -a "$STATE/seed.log"; fi
$PY manage.py seed_demo | tee -a "$STATE/seed.log"
if [ "${REGISTRY_DEMO_WORKER:-0}" = 1 ]; then
  wait_until "the Celery worker" "$WORKER_PID" "$STATE/worker.log" 90 grep -q " ready\.$" "$STATE/worker.log"
fi

say "starting the web server on http://$RUN_ADDR/"
setsid $PY manage.py runserver "$RUN_ADDR" </dev/null &
WEB_PID=$!
started+=("$WEB_PID")
wait_until "the web server" "$WEB_PID" "(its output above)" 90 http_ok "http://$WEB_HOST:$WEB_PORT/healthz"

url="http://$RUN_ADDR"
echo
echo "================================================================"
echo " Community AMI Registry — $url/"
grep '^account: ' "$STATE/seed.log" | sed 's/^account: /   sign in:   /'
echo "   admin:     $url/admin/        API docs: $url/api/docs/"
if [ "${REGISTRY_EMULATOR:-0}" = 1 ]; then
  echo "   AWS:       LOCAL EMULATOR (moto) at $AWS_ENDPOINT_URL — nothing reaches real AWS"
  sed -n 's/^emulator: running instance \(i-[0-9a-f]*\) (\(.*\))$/   instance:  \1  (\2) — for POST \/api\/v1\/ami\/create and \/submit\//p' "$STATE/seed.log"
fi
if [ "${REGISTRY_DEMO_WORKER:-0}" = 1 ]; then
  echo "   tasks:     a Celery worker on $CELERY_BROKER_URL (log: $STATE/worker.log)"
elif [ -n "${CELERY_BROKER_URL:-}" ]; then
  echo "   tasks:     queued on $CELERY_BROKER_URL — run \`make worker\` to process them"
else
  echo "   tasks:     run instantly inside the web process (no Redis, so no worker)"
fi
stopped="the web server"
[ "${REGISTRY_DEMO_WORKER:-0}" = 1 ] && stopped="$stopped, the worker"
[ "${REGISTRY_DEMO_EMULATOR:-0}" = 1 ] && stopped="$stopped, the emulator (log: $STATE/emulator.log)"
echo "   Ctrl-C stops $stopped."
echo "================================================================"
wait "$WEB_PID"
