# Community AMI Registry — the two commands are `make run` and `make test` (see README.md).
PY := .venv/bin/python
PIP := .venv/bin/pip
SHELL := /bin/bash

.PHONY: run test venv deps deps-dev worker beat migrate check-migrations bench bench-resolve bench-load bench-api screenshots clean

.venv/bin/python:
	python3 -m venv .venv
	$(PIP) install -q -U pip

# Reinstall only when the requirement files change.
.venv/.deps: requirements.txt .venv/bin/python
	$(PIP) install -q -r requirements.txt
	touch $@

.venv/.deps-demo: requirements-demo.txt .venv/.deps
	$(PIP) install -q -r requirements-demo.txt
	touch $@

.venv/.deps-dev: requirements-dev.txt .venv/.deps-demo
	$(PIP) install -q -r requirements-dev.txt
	touch $@

venv deps: .venv/.deps
deps-dev: .venv/.deps-dev

run: .venv/.deps-demo
	bash scripts/run_demo.sh

test: .venv/.deps-dev
	bash scripts/ensure_services.sh
	bash scripts/ensure_chromium.sh
	DJANGO_SETTINGS_MODULE=registry.settings.test $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest --cov --cov-report=term:skip-covered $(PYTEST_ARGS)

# Redraw docs/screenshots/*.png from the browser tests (a plain `make test` writes them to a
# temporary folder instead, so the committed images change only when asked for).
screenshots: .venv/.deps-dev .venv/.cws
	bash scripts/ensure_services.sh
	bash scripts/ensure_chromium.sh
	REGISTRY_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/browser -m browser -q --no-cov -p no:cacheprovider $(PYTEST_ARGS)

# Same service choice and dev defaults as `make run` (database, cache, AWS emulator, DEBUG);
# set CELERY_BROKER_URL for both. Production runs the celery commands itself (docker-compose.yml).
worker: .venv/.deps
	export DJANGO_DEBUG=$${DJANGO_DEBUG:-1} && eval "$$($(PY) scripts/devenv.py)" && .venv/bin/celery -A registry worker -Q default,aws -l info --concurrency=$${WORKER_CONCURRENCY:-2}

beat: .venv/.deps
	export DJANGO_DEBUG=$${DJANGO_DEBUG:-1} && eval "$$($(PY) scripts/devenv.py)" && .venv/bin/celery -A registry beat -l info --schedule=$${BEAT_SCHEDULE_FILE:-/tmp/registry-celerybeat-schedule}

migrate: .venv/.deps
	$(PY) manage.py migrate --noinput

# The cws command-line client (pyproject.toml): `make run` and `make test` install it into .venv
# (an extra prerequisite of both; reinstalled when its sources change).
run test: .venv/.cws
.venv/.cws: pyproject.toml $(wildcard cws/*.py cws/commands/*.py) .venv/.deps
	$(PIP) install -q .
	touch $@

# Resolver benchmark (~2.5 min): own moto server :5111, gunicorn :8101, database reg_bench, Redis db 12.
bench-resolve: .venv/.deps-dev
	bash scripts/ensure_services.sh
	$(PY) bench/bench_resolve.py

# Write load (~5 min): 100 concurrent resolutions, 50 concurrent creates, 500 copies into one region
# under the copy limit. Own emulator :5113, gunicorn :8103, a Celery worker, database reg_bench_load,
# Redis db 14 (cache, copy slots) and 15 (broker). See README.
bench-load: .venv/.deps-dev
	bash scripts/ensure_services.sh
	$(PY) bench/bench_load.py

clean:
	rm -rf .venv staticfiles db.sqlite3 .coverage htmlcov .moto_server.* .demo

# The catalogue at size (~5 min; the first run seeds 100k AMIs first, ~3 min): wrk on loopback,
# own moto server :5112, gunicorn :8102, database reg_bench_scale, Redis db 13. See README.
bench: .venv/.deps-dev
	bash scripts/ensure_services.sh
	$(PY) bench/bench_scale.py
