#!/bin/sh
# The image's one entry point: which part of the platform this container runs.
#   web     uvicorn, WORKERS processes (refuses to start before `deploy` has run)
#   worker  a Celery worker (no beat: run exactly one `beat`)
#   beat    Celery beat, its schedule under var/
#   deploy  the release step: migrations, site and catalogue (no demo user)
set -eu
cd /app
role="${1:-web}"
[ "$#" -gt 0 ] && shift
case "$role" in
    web)
        if [ "${WORKERS:-2}" -gt 1 ]; then
            # Every worker process writes its metrics here; /metrics sums them.
            export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/prometheus}"
            rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        fi
        python manage.py check_deploy
        exec uvicorn chukchat.asgi:application --host 0.0.0.0 --port "${PORT:-8000}" \
            --workers "${WORKERS:-2}" --lifespan on --timeout-graceful-shutdown 30 \
            --ws chukchat.draining:WebSocketProtocol --no-access-log --loop uvloop \
            --http httptools --timeout-worker-healthcheck 60 --backlog 4096 "$@"
        ;;
    worker)
        exec celery -A chukchat worker --loglevel INFO --concurrency "${CELERY_CONCURRENCY:-2}" "$@"
        ;;
    beat)
        exec celery -A chukchat beat --loglevel INFO --schedule var/celerybeat-schedule "$@"
        ;;
    deploy)
        python manage.py migrate --noinput
        exec python manage.py bootstrap --no-demo "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
