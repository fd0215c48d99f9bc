"""/health reports each service with its latency, and names the part that is down."""

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CLOSED = "127.0.0.1:1"  # nothing listens on port 1


def test_health_is_200_when_everything_answers(client):
    for path in ("/health", "/v1/health"):
        response = client.get(path)
        assert response.status_code == 200, response.content
        report = response.json()
        assert report["status"] == "ok"
        assert set(report["checks"]) == {
            "database",
            "cache",
            "channel_layer",
            "broker",
            "rate_limiter",
        }
        assert all(check["ok"] and check["latency_ms"] >= 0 for check in report["checks"].values())


def test_health_needs_no_authentication_and_shows_no_secrets(client, settings):
    body = client.get("/health").content.decode()
    assert settings.SECRET_KEY not in body
    assert "postgres://" not in body and "redis://" not in body


def test_health_is_503_naming_the_cache_when_redis_is_unreachable(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://{CLOSED}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5},
        }
    }
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["down"] == ["cache"]
    assert response.json()["checks"]["database"]["ok"]


def test_health_is_503_naming_the_broker_when_it_is_unreachable(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://{CLOSED}/0"
    response = client.get("/health")
    assert response.status_code == 503
    assert "broker" in response.json()["down"]


def test_health_is_503_naming_the_channel_layer_when_it_is_unreachable(client, settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://{CLOSED}/0"]},
        }
    }
    response = client.get("/health")
    assert response.status_code == 503
    assert "channel_layer" in response.json()["down"]


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="needs PostgreSQL settings")
def test_health_is_503_naming_the_database_when_it_is_unreachable():
    # The database connection is process-wide, so this case runs in a process of its own.
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://postgres@{CLOSED}/chukchat",
        "CHUK_DB_POOL_TIMEOUT": "1",
    }
    code = (
        "import django, orjson; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/health');"
        "print(r.status_code); print(r.content.decode())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, body = out.stdout.strip().split("\n", 1)
    assert status == "503", out.stderr
    assert "database" in orjson.loads(body)["down"]
