"""Rate limits by category, per user and per key, as a developer meets them: the x-ratelimit-*
headers on every answer, 429 with Retry-After past a limit (nothing charged, no provider
asked), a limit that holds across two server processes sharing Redis, and a limiter that
fails open when its Redis is gone."""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
from django.conf import settings as django_settings
from websockets.asyncio.client import connect

from accounts.api_keys import api_key_create
from accounts.models import ApiKey
from billing.entitlements import entitlements_changed
from billing.models import Plan
from billing.selectors import balance_of
from tests.aiapi.test_openai_sdk import wait_for_record
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
HELLO = [{"role": "user", "content": "hello"}]


@pytest.fixture
def limits(settings, catalogue):
    """Rate limits on, and the Free plan's limits as a test sets them."""
    settings.RATE_LIMITS_ENABLED = True

    def set_limits(**fields):
        Plan.objects.update_or_create(slug="free", defaults={"name": "Free", **fields})
        entitlements_changed()

    set_limits()
    return set_limits


def chat(http, model="fast", **body):
    return http.post("/v1/chat/completions", json={"model": model, "messages": HELLO, **body})


def test_every_answer_carries_the_rate_limit_headers(http, limits):
    limits(chat_requests_per_minute=20, chat_tokens_per_minute=40_000, api_requests_per_minute=120)

    first = chat(http)
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "20"
    assert first.headers["x-ratelimit-remaining-requests"] == "19"
    assert first.headers["x-ratelimit-reset-requests"] == "3s"  # one request back every 3 s
    assert first.headers["x-ratelimit-limit-tokens"] == "40000"
    prompt = 40_000 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert 0 < prompt < 20  # the prompt's estimate, counted up front
    assert chat(http).headers["x-ratelimit-remaining-requests"] == "18"

    for path in ("/v1/models", "/v1/conversations", "/v1/user/usage"):
        listed = http.get(path)
        assert listed.headers["x-ratelimit-limit-requests"] == "120", path
        assert "x-ratelimit-limit-tokens" not in listed.headers
    streamed = http.post("/v1/ai/chat/stream", json={"model": "fast", "messages": HELLO})
    assert streamed.headers["x-ratelimit-remaining-requests"] == "17"


def test_past_the_limit_is_a_429_with_retry_after_and_costs_nothing(http, limits, carol, upstream):
    limits(chat_requests_per_minute=3)
    for _ in range(3):
        reply = chat(http)
        assert reply.status_code == 200
        wait_for_record(reply.headers["x-request-id"])  # settled after the answer was sent
    upstream.clear()
    balance = balance_of(user=carol)

    refused = chat(http)

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert upstream.requests() == []
    assert balance_of(user=carol) == balance


def test_the_limit_refills_as_time_passes(http, limits):
    limits(chat_requests_per_minute=60)  # one a second
    statuses = [chat(http).status_code for _ in range(75)]
    assert statuses[:60] == [200] * 60 and statuses.count(429) >= 1
    time.sleep(1.1)
    assert chat(http).status_code == 200


def test_a_keys_own_limit_replaces_the_plans_for_that_key(
    http, limits, carol, carol_key, gateway_url
):
    limits(chat_requests_per_minute=20)
    ApiKey.objects.filter(user=carol).update(chat_requests_per_minute=1)
    assert chat(http).status_code == 200
    assert chat(http).status_code == 429
    _, other_key = api_key_create(user=carol, name="unthrottled")
    other = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "fast", "messages": HELLO},
        headers={"Authorization": f"Bearer {other_key}"},
    )
    assert other.status_code == 200
    assert other.headers["x-ratelimit-remaining-requests"] == "18"  # the user's count: 2 of 20


def test_a_users_limit_spans_all_their_keys(http, limits, carol, gateway_url):
    limits(chat_requests_per_minute=2)
    _, second_key = api_key_create(user=carol, name="second")
    second = httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {second_key}"})
    assert chat(http).status_code == 200
    assert chat(second).status_code == 200
    assert chat(http).status_code == 429
    assert chat(second).status_code == 429


def test_tokens_per_minute_count_the_prompt_first_and_the_answer_after(http, limits):
    limits(chat_tokens_per_minute=60)
    first = chat(http)  # "fast" answers 8 tokens
    wait_for_record(first.headers["x-request-id"])
    prompt = 60 - int(first.headers["x-ratelimit-remaining-tokens"])
    time.sleep(0.2)  # the answer is counted once settled
    second = chat(http)
    used = 60 - int(second.headers["x-ratelimit-remaining-tokens"])
    assert used >= 2 * prompt + 8 - 1  # two prompts and one answer (less what refilled)

    too_big = chat(http, messages=[{"role": "user", "content": "word " * 400}])
    assert too_big.status_code == 429
    assert "larger than your limit of 60 tokens per minute" in too_big.json()["error"]["message"]


def test_each_category_has_its_own_limit(http, limits):
    limits(chat_requests_per_minute=1, api_requests_per_minute=100, image_requests_per_minute=1)
    assert chat(http).status_code == 200
    assert chat(http).status_code == 429
    assert http.get("/v1/models").status_code == 200  # the general API limit is separate
    image = http.post("/v1/media/images", json={"model": "demo-image", "prompt": "a cat"})
    assert image.status_code == 202
    again = http.post("/v1/media/images", json={"model": "demo-image", "prompt": "a dog"})
    assert again.status_code == 429 and again.headers["retry-after"] == "60"


def test_the_general_api_limit_covers_the_rest_of_the_api(http, limits):
    limits(api_requests_per_minute=2)
    assert http.get("/v1/conversations").status_code == 200
    assert http.get("/v1/user/usage").status_code == 200
    refused = http.get("/v1/conversations")
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["retry-after"] == "30"


def test_a_chat_over_the_socket_past_the_limit_gets_an_error_frame(gateway_url, carol_key, limits):
    limits(chat_requests_per_minute=1)

    async def two_chats():
        url = gateway_url.replace("http://", "ws://") + "/v1/ai/chat/ws"
        async with connect(url, additional_headers={"Authorization": f"Bearer {carol_key}"}) as ws:
            frames = []
            for stream_id in ("1", "2"):
                await ws.send(
                    orjson.dumps(
                        {"type": "chat", "id": stream_id, "model": "fast", "messages": HELLO}
                    )
                )
                while not frames or frames[-1]["type"] not in ("done", "error"):
                    frames.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
                frames.append({"type": "separator"})
            return frames

    frames = asyncio.run(two_chats())
    refused = frames[-2]
    assert (refused["id"], refused["code"], refused["status"]) == ("2", "rate_limit_exceeded", 429)
    # When to ask again, as HTTP's Retry-After would say (the web app shows it).
    assert refused["retryAfter"] == 60


def test_when_the_limiters_redis_is_gone_requests_pass_and_health_says_so(
    http, limits, settings, caplog, client
):
    limits(chat_requests_per_minute=1)
    settings.RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    replies = [chat(http) for _ in range(3)]

    assert [r.status_code for r in replies] == [200, 200, 200]
    assert "x-ratelimit-limit-requests" not in replies[0].headers
    assert "rate limiter unavailable" in caplog.text
    settings.HEALTH_TOKEN = "health-probe-token"
    health = client.get("/health", HTTP_AUTHORIZATION="Bearer health-probe-token")
    assert health.status_code == 503 and health.json()["down"] == ["rate_limiter"]


def test_with_fail_closed_a_gone_limiter_refuses_with_503(http, limits, settings):
    limits()
    settings.RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"
    settings.RATE_LIMIT_FAIL_CLOSED = True
    refused = chat(http)
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "rate_limiter_unavailable"


@pytest.fixture
def two_servers(gateway_url, limits):
    """Two more server processes, each its own Python, on the test database and this Redis."""
    if not django_settings.REDIS_URL or "sqlite" in django_settings.DATABASES["default"]["ENGINE"]:
        pytest.skip("processes share a limit through Redis, and data through PostgreSQL")
    database = django_settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
        "CHUK_RATE_LIMIT_KEY_PREFIX": django_settings.RATE_LIMIT_KEY_PREFIX,
        "CHUK_LOG_LEVEL": "WARNING",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "chukchat.asgi:application", "--port", str(port),
             "--lifespan", "off", "--no-access-log"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        for port in ports
    ]  # fmt: skip
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    deadline = time.monotonic() + 30
    for url in urls:
        while True:
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    yield urls
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def test_a_limit_holds_across_two_server_processes(two_servers, limits, carol_key):
    limits(chat_requests_per_minute=5)
    statuses = []
    for n in range(10):
        reply = httpx.post(
            f"{two_servers[n % 2]}/v1/chat/completions",
            json={"model": "fast", "messages": HELLO},
            headers={"Authorization": f"Bearer {carol_key}"},
            timeout=10,
        )
        statuses.append(reply.status_code)
    assert statuses.count(200) == 5 and statuses.count(429) == 5
    assert statuses[:5] == [200] * 5  # the sixth request, wherever it lands, is refused
