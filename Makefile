# `make run` serves the platform on embedded defaults; `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

.PHONY: run serve deploy worker beat test lint format install install-test system-packages migrate bench clean cluster \
	test-cluster

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian packages the tests need (espeak-ng, Chromium); only the missing ones.
system-packages:
	@bash scripts/system_packages.sh

migrate: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput

# Embedded mode: SQLite, in-memory channel layer, local-memory cache, eager Celery.
# The site's own address follows HOST and PORT unless CHUK_SITE_URL says otherwise.
run: export CHUK_SITE_URL ?= http://$(HOST):$(PORT)
run: migrate
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/python manage.py bootstrap
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(BIN)/uvicorn chukchat.asgi:application --host $(HOST) --port $(PORT) \
		--lifespan on --timeout-graceful-shutdown 30 --ws chukchat.draining:WebSocketProtocol

# As production runs it: several worker processes, static files collected and hashed.
# A release on the real services (README "Production"): migrations, the site and the model
# catalogue (CHUK_MODEL_CATALOGUE, or `MODELS=file.toml` for loadmodels too), static files.
deploy: install
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py bootstrap --no-demo
	$(BIN)/python manage.py collectstatic --noinput >/dev/null
	@if [ -n "$(MODELS)" ]; then $(BIN)/python manage.py loadmodels $(MODELS); fi

# As production runs it. Refuses, in one line, to start on unapplied migrations or without the
# static manifest (`make deploy` first). With several workers, each writes its metrics under
# var/prometheus (emptied at each start) and /metrics sums them all (multiprocess mode).
serve: install
	@$(BIN)/python manage.py check_deploy
	@if [ "$(WORKERS)" -gt 1 ]; then rm -rf var/prometheus && mkdir -p var/prometheus && \
		export PROMETHEUS_MULTIPROC_DIR=$(CURDIR)/var/prometheus; fi; \
	$(BIN)/uvicorn chukchat.asgi:application --host $(HOST) --port $(PORT) --workers $(WORKERS) \
		--lifespan on --timeout-graceful-shutdown 30 --ws chukchat.draining:WebSocketProtocol \
		--no-access-log --loop uvloop --http httptools --timeout-worker-healthcheck 60 --backlog 4096

# Beat runs inside the worker (BEAT=0: not; then one `make beat`); its schedule file lives
# under var/, not in the repository's root.
BEAT ?= 1
worker: install
	mkdir -p var
	$(BIN)/celery -A chukchat worker --loglevel INFO --concurrency $${CELERY_CONCURRENCY:-2} \
		$(if $(filter 1,$(BEAT)),-B --schedule var/celerybeat-schedule)

# Beat on its own (with workers started without -B), as the deploy files run it: one only.
beat: install
	mkdir -p var
	$(BIN)/celery -A chukchat beat --loglevel INFO --schedule var/celerybeat-schedule

# HAProxy on PORT before three server processes on PORT+1..PORT+3, two Celery workers and beat,
# all on DATABASE_URL and REDIS_URL (scripts/cluster.py; logs under var/cluster). Ctrl-C stops
# it; `kill -HUP` on the script restarts the nodes one at a time.
cluster: deploy system-packages
	$(BIN)/python scripts/cluster.py --port $(PORT)

# Only the cluster's tests (they are part of `make test` too).
test-cluster: install-test system-packages
	@mkdir -p var
	@source <($(BIN)/python scripts/test_services.py) && \
		$(BIN)/python -m pytest tests/cluster -p no:cacheprovider $(PYTEST_ARGS)

# The whole suite on PostgreSQL and Redis, then the money tests again in embedded mode
# (SQLite, no Redis), so the ORM twin of every settlement rule runs in CI as well.
test: install-test system-packages
	@mkdir -p var
	@source <($(BIN)/python scripts/test_services.py) && \
		$(BIN)/python -m pytest $(PYTEST_ARGS)
	@source <(CHUK_TEST_EMBEDDED=1 $(BIN)/python scripts/test_services.py) && \
		$(BIN)/python -m pytest tests/billing -p no:cacheprovider $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The gateway against LiteLLM's proxy with every scenario (docs/benchmarks.md); wrk comes from
# scripts/system_packages.sh, LiteLLM is installed into var/bench-litellm on first use.
bench: install-test
	@bash scripts/system_packages.sh
	$(BIN)/pip install --quiet -c constraints.txt -e '.[bench]'
	$(BIN)/python bench/gateway.py --litellm

clean:
	rm -rf $(VENV) var .pytest_cache
