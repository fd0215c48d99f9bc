"""Chat and embeddings reach OpenAI-compatible servers over aiohttp directly
(aiapi/providers/openai_http.py), not through the `openai` SDK. The provider must not be able to
tell, and routing must be told the same: each case here sends one request through the SDK, set
up as the adapter used to set it up, and one through our path, to the same fake server, and
compares what arrived there and what routing was given."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import openai
import pytest

from aiapi.providers.base import ChatRequest, EmbeddingRequest, ProviderFailure
from aiapi.providers.openai_adapter import OpenAIAdapter, failure_from
from aiapi.providers.openai_http import OpenAIHttp
from aiapi.providers.rejections import secrets_of
from tests.support.loops import run_on_own_loop

KEY = "sk-test-raw-path-key-0123456789"
QUESTION = [{"role": "user", "content": "hello"}]


@dataclass(frozen=True)
class Outcome:
    """What routing is given: the failure's fields, or the answer's text."""

    message: str
    status: int | None = None
    retryable: bool | None = None
    timeout: bool = False
    rejected: bool = False


def as_outcome(failure: ProviderFailure) -> Outcome:
    return Outcome(
        failure.message, failure.status, failure.retryable, failure.timeout, failure.rejected
    )


def sdk_client(base_url: str, *, total: float = 10.0) -> openai.AsyncOpenAI:
    """The SDK as aiapi/providers/openai_adapter.py configured it for chat until the raw path."""
    import httpx2

    timeout = httpx2.Timeout(total, connect=2.0)
    limits = httpx2.Limits(max_connections=1000, max_keepalive_connections=200)
    return openai.AsyncOpenAI(
        api_key=KEY,
        base_url=base_url,
        max_retries=0,
        timeout=timeout,
        http_client=openai.DefaultAioHttpClient(limits=limits, timeout=timeout),
    )


def through_sdk(base_url: str, path: str, body: dict, *, stream=False, total=10.0) -> Outcome:
    async def call():
        client = sdk_client(base_url, total=total)
        try:
            import httpx2

            response = await client.post(path, cast_to=httpx2.Response, body=body, stream=stream)
            text = (await response.aread()).decode()
            return Outcome(text[:40])
        except openai.OpenAIError as error:
            return as_outcome(
                failure_from(error, secrets=secrets_of(api_key=KEY, base_url=base_url))
            )
        finally:
            await client.close()

    return run_on_own_loop(call)


def through_raw(base_url: str, path: str, body: dict, *, stream=False, total=10.0) -> Outcome:
    async def call():
        raw = OpenAIHttp(
            base_url=base_url,
            api_key=KEY,
            connect_timeout=2.0,
            total_timeout=total,
            secrets=secrets_of(api_key=KEY, base_url=base_url),
        )
        try:
            if stream:
                lines = raw.stream_lines(path, body)
                text = "".join([line async for line in lines])
            else:
                import orjson

                text = orjson.dumps(await raw.post_json(path, body)).decode()
            return Outcome(text[:40])
        except ProviderFailure as failure:
            return as_outcome(failure)
        finally:
            await raw.aclose()

    return run_on_own_loop(call)


@pytest.fixture
def fake(upstream):
    upstream.clear()
    yield upstream
    upstream.clear()


# --- what the provider sees -------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_the_provider_gets_the_same_request_from_both(fake, stream):
    body = {"model": "fake:tokens=3", "messages": QUESTION, "max_tokens": 5, "seed": 7}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    through_sdk(fake.base_url, "/chat/completions", body, stream=stream)
    through_raw(fake.base_url, "/chat/completions", body, stream=stream)

    by_sdk, by_raw = fake.requests()
    for seen in ("path", "body", "authorization", "content_type", "accept"):
        assert by_raw[seen] == by_sdk[seen], seen
    assert by_raw["authorization"] == f"Bearer {KEY}"
    assert by_raw["content_type"] == "application/json"


def test_neither_retries_a_failed_request(fake):
    body = {"model": "fake:fault=503", "messages": QUESTION, "max_tokens": 5}
    through_sdk(fake.base_url, "/chat/completions", body)
    through_raw(fake.base_url, "/chat/completions", body)

    assert len(fake.requests()) == 2  # one each


# --- what routing is told -------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422, 429, 500, 502, 503])
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_an_error_status_is_described_as_the_sdk_path_described_it(fake, status, stream):
    body = {"model": f"fake:fault={status},leak=1", "messages": QUESTION, "max_tokens": 5}
    if stream:
        body["stream"] = True
    by_sdk = through_sdk(fake.base_url, "/chat/completions", body, stream=stream)
    by_raw = through_raw(fake.base_url, "/chat/completions", body, stream=stream)

    assert by_raw == by_sdk
    assert by_raw.status == status
    assert KEY not in by_raw.message


def test_a_rejection_shows_the_providers_reason_without_our_key_or_address(fake):
    body = {"model": "fake:fault=400,leak=1", "messages": QUESTION, "max_tokens": 5}

    by_raw = through_raw(fake.base_url, "/chat/completions", body)

    assert by_raw.rejected and not by_raw.retryable
    assert "messages[0].content is not valid" in by_raw.message
    assert "127.0.0.1" not in by_raw.message and KEY not in by_raw.message


def test_a_provider_that_does_not_answer_in_time_is_a_timeout_on_both(fake):
    body = {"model": "fake:timeout=1", "messages": QUESTION, "max_tokens": 5}
    by_sdk = through_sdk(fake.base_url, "/chat/completions", body, total=0.3)
    by_raw = through_raw(fake.base_url, "/chat/completions", body, total=0.3)

    assert by_raw == by_sdk == Outcome("The provider timed out.", None, True, True)


def test_a_refused_connection_is_unreachable_on_both():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    body = {"model": "fake", "messages": QUESTION, "max_tokens": 5}

    by_sdk = through_sdk(closed, "/chat/completions", body)
    by_raw = through_raw(closed, "/chat/completions", body)

    assert by_raw == by_sdk == Outcome("The provider could not be reached.", None, True)


# --- the adapter on it ---------------------------------------------------------------------
def adapter(base_url: str) -> OpenAIAdapter:
    return OpenAIAdapter(
        provider_name="fake",
        kind="openai_compatible",
        base_url=base_url,
        api_key=KEY,
        connect_timeout=2.0,
        total_timeout=10.0,
    )


def test_a_cut_stream_is_an_error_after_the_tokens_it_delivered(fake):
    async def call():
        chat = adapter(fake.base_url)
        events = []
        try:
            request = ChatRequest(messages=QUESTION, max_tokens=8)
            async for event in chat.chat("fake:tokens=8,cut_after=3", request, stream=True):
                events.append(event)
        except Exception as error:
            return events, error
        finally:
            await chat.aclose()
        return events, None

    events, error = run_on_own_loop(call)

    assert len(events) == 3
    assert isinstance(error, ProviderFailure)
    assert error.message == "The provider's answer broke off."


def test_embeddings_come_back_through_the_raw_path(fake):
    async def call():
        embed = adapter(fake.base_url)
        try:
            return await embed.embed("fake-embedding", EmbeddingRequest(input=["a", "b"]))
        finally:
            await embed.aclose()

    result = run_on_own_loop(call)

    assert len(result.vectors) == 2
    assert result.prompt_tokens > 0
    assert fake.requests()[0]["body"]["encoding_format"] == "base64"


HEAVY_FOR_FEW = ("openai", "anthropic", "httpx", "httpx2", "stripe", "av", "markdown_it", "jinja2")


def test_a_worker_loads_no_sdk_until_a_request_needs_it():
    """Each of these costs every worker megabytes (together ~45 MB of a 156 MB worker) and
    serves few requests (transcription, images, billing, shared pages, the API schema, which
    brings jinja2 with django.test): a worker that has loaded every URL's view has none."""
    import subprocess
    import sys

    code = (
        "import os, sys; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'chukchat.settings');"
        "import django; django.setup(); import chukchat.asgi;"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        f"print(sorted(m for m in {HEAVY_FOR_FEW!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
