# syntax=docker/dockerfile:1
# Chuk Chat: one image for the web processes, the Celery worker, beat and the release step
# (deploy/docker-entrypoint.sh: web | worker | beat | deploy). Validated, not built here: see
# README "Deploy files".

# --- Build: the pinned dependencies (pyproject.toml, constraints.txt) in a virtualenv, static
# files collected.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# The dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md constraints.txt ./
RUN pip install -c constraints.txt .
COPY . .
# Hashed static files and their manifest, baked into the image (embedded settings: no database
# is needed to collect them, and this secret is used for nothing else).
RUN DATABASE_URL= REDIS_URL= DJANGO_SECRET_KEY=collectstatic-only \
    python manage.py collectstatic --noinput >/dev/null

# --- Runtime: the virtualenv and the app, run by an unprivileged user.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=chukchat.settings \
    CHUK_LOG_FORMAT=json \
    WORKERS=2
RUN groupadd --system --gid 10001 chuk \
    && useradd --system --uid 10001 --gid chuk --home-dir /app --shell /usr/sbin/nologin chuk
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=chuk:chuk /app /app
WORKDIR /app
RUN mkdir -p /app/var/media && chown -R chuk:chuk /app/var
USER chuk
EXPOSE 8000
# Liveness only: touches no backend, so a slow database does not get the container restarted.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.Request('http://127.0.0.1:8000/health/live', headers={'Host': 'localhost'}); sys.exit(0 if urllib.request.urlopen(r, timeout=2).status == 200 else 1)"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["web"]
