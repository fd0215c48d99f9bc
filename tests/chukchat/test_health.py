"""/health/live says the process answers and touches nothing; /health/ready checks every part
(briefly cached per process), and names the parts, backends and latencies only to a caller
with the health token. /health is readiness, as it always was."""

import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import redis
from django.db.migrations.recorder import MigrationRecorder

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "127.0.0.1:1"  # nothing listens on port 1
TOKEN = "health-probe-token"
PARTS = {"database", "cache", "channel_layer", "broker", "rate_limiter", "migrations"}


@pytest.fixture
def probe(client, settings):
    """GET `path` as the operator's monitoring does: with the health token."""
    settings.HEALTH_TOKEN = TOKEN

    def get(path="/health/ready"):
        return client.get(path, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    return get


def redis_everywhere(settings, url: str) -> None:
    """Cache, channel layer, broker and rate limiter all on the Redis at `url`."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [url]}}
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = url
    settings.RATE_LIMIT_REDIS_URL = url


def connections_received(url: str) -> int:
    return redis.Redis.from_url(url).info("stats")["total_connections_received"]


def test_live_is_200_and_touches_no_backend(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{CLOSED}/0",
        }
    }
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://{CLOSED}/0"

    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_is_200_and_says_only_ok_without_the_token(client):
    for path in ("/health/ready", "/health", "/v1/health"):
        response = client.get(path)
        assert response.status_code == 200, response.content
        assert response.json() == {"status": "ok"}


def test_a_wrong_token_sees_only_the_status(client, settings):
    settings.HEALTH_TOKEN = TOKEN
    response = client.get("/health/ready", HTTP_AUTHORIZATION="Bearer not-the-token")
    assert response.json() == {"status": "ok"}


def test_with_the_token_ready_names_every_part_with_its_latency(probe):
    for path in ("/health/ready", "/health"):
        response = probe(path)
        assert response.status_code == 200, response.content
        report = response.json()
        assert report["status"] == "ok"
        assert set(report["checks"]) == PARTS
        assert all(check["ok"] and check["latency_ms"] >= 0 for check in report["checks"].values())
        assert report["checks"]["migrations"]["backend"] == "applied"


def test_the_metrics_token_also_shows_the_detail(client, settings):
    settings.METRICS_TOKEN = "metrics-scraper-token"
    report = client.get("/health/ready", HTTP_AUTHORIZATION="Bearer metrics-scraper-token").json()
    assert set(report["checks"]) == PARTS


def test_health_shows_no_secrets_even_with_the_token(probe, settings):
    body = probe().content.decode()
    assert settings.SECRET_KEY not in body
    assert "postgres://" not in body and "redis://" not in body


def test_ready_is_503_naming_the_cache_when_redis_is_unreachable(probe, settings, client):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{CLOSED}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    response = probe()
    assert response.status_code == 503
    assert response.json()["down"] == ["cache"]
    assert response.json()["checks"]["database"]["ok"]
    # Without the token: the same verdict, nothing about why.
    assert client.get("/health/ready").json() == {"status": "unavailable"}


def test_ready_is_503_naming_the_broker_when_it_is_unreachable(probe, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://{CLOSED}/0"
    response = probe()
    assert response.status_code == 503
    assert "broker" in response.json()["down"]


def test_ready_is_503_naming_the_channel_layer_when_it_is_unreachable(probe, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://{CLOSED}/0"]},
        }
    }
    response = probe()
    assert response.status_code == 503
    assert "channel_layer" in response.json()["down"]


def test_a_flood_of_ready_probes_opens_no_new_connections(client, settings, private_redis):
    _, url = private_redis
    redis_everywhere(settings, url)
    settings.HEALTH_CACHE_SECONDS = 60
    assert client.get("/health/ready").status_code == 200
    after_one = connections_received(url)

    replies = [client.get("/health/ready").status_code for _ in range(50)]

    assert replies == [200] * 50
    # Only this test's own INFO connection is new.
    assert connections_received(url) - after_one == 1


def test_once_the_report_is_older_than_the_cache_period_the_parts_are_checked_again(
    client, settings, private_redis
):
    _, url = private_redis
    redis_everywhere(settings, url)
    settings.HEALTH_CACHE_SECONDS = 0.2
    client.get("/health/ready")
    before = connections_received(url)

    time.sleep(0.3)
    client.get("/health/ready")

    # Broker, channel layer and cache each connected anew (and the INFO connection).
    assert connections_received(url) - before >= 3


@pytest.mark.django_db(transaction=True)
def test_ready_is_503_while_a_migration_is_unapplied(probe, client):
    # Committed, so the checks' own connections see it; put back whatever the test does.
    recorder = MigrationRecorder.Migration.objects
    latest = recorder.filter(app="billing").order_by("-id").first()
    latest.delete()
    try:
        response = probe()
        assert response.status_code == 503
        assert response.json()["down"] == ["migrations"]
        assert response.json()["checks"]["migrations"]["error"] == "unapplied_migrations: 1"
        assert client.get("/health/ready").json() == {"status": "unavailable"}
    finally:
        recorder.create(app=latest.app, name=latest.name)


def run_in_own_process(code: str, **env) -> tuple[str, str]:
    """`code` in a Django process of its own (for process-wide state: the drain, the database
    connection); its last two lines of stdout: status and body."""
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "chukchat.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    status, body = out.stdout.strip().split("\n")[-2:]
    return status, body


def test_ready_is_503_draining_once_the_process_drains():
    status, body = run_in_own_process(
        "import asyncio, django; django.setup()\n"
        "from django.test import Client\n"
        "from chukchat import draining\n"
        "r = Client().get('/health/live'); print(r.status_code, r.content.decode())\n"
        "async def drain():\n"
        "    draining.begin(0)\n"
        "    await draining.finish()\n"
        "asyncio.run(drain())\n"
        "r = Client().get('/health/ready'); print(r.status_code); print(r.content.decode())\n"
    )
    assert status == "503"
    assert orjson.loads(body) == {"status": "draining"}


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="needs PostgreSQL settings")
def test_ready_is_503_naming_the_database_when_it_is_unreachable():
    status, body = run_in_own_process(
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "r = Client().get('/health/ready', HTTP_AUTHORIZATION='Bearer t')\n"
        "print(r.status_code); print(r.content.decode())\n",
        DATABASE_URL=f"postgres://postgres@{CLOSED}/chukchat",
        CHUK_DB_POOL_TIMEOUT="1",
        CHUK_HEALTH_TOKEN="t",
    )
    assert status == "503"
    assert "database" in orjson.loads(body)["down"]
