#!/usr/bin/env bash
# `make run`: choose local services, start the AWS emulator when needed, migrate, load demo data,
# create the demo admin and serve on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DJANGO_DEBUG=${DJANGO_DEBUG:-1}
export DJANGO_SETTINGS_MODULE=registry.settings.base
eval "$($PY scripts/devenv.py)"

if [ "${REGISTRY_EMULATOR:-0}" = 1 ]; then
  if ! curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1; then
    echo "[make run] starting the AWS emulator (moto_server) on 127.0.0.1:$MOTO_PORT"
    # moto's stock AMIs stay loaded: instances and images made from them get real architectures
    # (x86_64 / arm64), which registration and resolution check.
    nohup .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" \
      >.moto_server.log 2>&1 &
    echo $! > .moto_server.pid
    for _ in $(seq 1 40); do curl -fsS "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.25; done
  fi
fi

$PY manage.py migrate --noinput
# The emulator starts empty: a running instance and tagged images to create/copy/share from.
if [ "${REGISTRY_EMULATOR:-0}" = 1 ]; then $PY manage.py seed_emulator; fi
$PY manage.py seed_demo
echo
echo "================================================================"
echo " Community AMI Registry — http://127.0.0.1:8000/"
echo "   admin:     http://127.0.0.1:8000/admin/   user: ${DEMO_ADMIN_USER:-admin}  password: ${DEMO_ADMIN_PASSWORD:-admin-demo-password}"
echo "   API docs:  http://127.0.0.1:8000/api/docs/"
echo "   demo user: researcher / researcher-demo-password"
[ "${REGISTRY_EMULATOR:-0}" = 1 ] && echo "   AWS:       LOCAL EMULATOR (moto) at $AWS_ENDPOINT_URL — nothing reaches real AWS"
echo "================================================================"
exec $PY manage.py runserver "${RUN_ADDR:-127.0.0.1:8000}"
