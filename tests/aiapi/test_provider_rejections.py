"""A request the provider rejects as invalid (HTTP 400, 413, 422) is the caller's to fix: 400
`provider_rejected_request` with the provider's own explanation, sanitised (none of our keys,
URLs or addresses, no control characters, bounded), not a 502 "try again", never sent on to a
fallback, and nothing charged. On the OpenAI and the Chuk routes, streaming or not."""

from decimal import Decimal

import openai
import orjson
import pytest

from aiapi.catalogue import catalogue_load
from aiapi.providers.base import ProviderFailure
from aiapi.providers.rejections import (
    MAX_MESSAGE_CHARS,
    provider_message,
    rejection,
    sanitised,
    secrets_of,
)
from aiapi.selectors import catalogue_changed
from billing.models import UsageRecord
from billing.selectors import balance_of
from tests.aiapi.chuk_support import sse_events
from tests.aiapi.test_openai_sdk import wait_for_record

QUESTION = [{"role": "user", "content": "hello"}]

# Beside the gateway tests' "rejects" (fake:fault=400, fallbacks ["fast"]): providers that
# give away their address and our key in the message, on the OpenAI and the Anthropic wire.
LEAKY_MODELS = """
[[models]]
id = "rejects-leaky"
provider = "fake"
upstream = "fake:fault=400,leak=1"
fallbacks = ["fast"]

[[models]]
id = "claude-rejects"
provider = "fake-anthropic"
upstream = "fake:fault=400,leak=1"
fallbacks = ["fast"]
"""


@pytest.fixture
def leaky_catalogue(catalogue):
    catalogue_load(text=LEAKY_MODELS)
    catalogue_changed()


# --- the message, made safe -----------------------------------------------------------------
def test_the_providers_explanation_is_kept_when_it_is_plain_text():
    assert (
        sanitised("Invalid 'messages[0].content': string too long. Expected at most 1048576.")
        == "Invalid 'messages[0].content': string too long. Expected at most 1048576."
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (
            "refused: see https://vllm.internal.example:8000/v1/chat?key=abc",
            "refused: see [url]",
        ),
        (
            "Incorrect API key provided: sk-proj-abcd****************wxyz.",
            "Incorrect API key provided: [redacted].",
        ),
        ("Incorrect API key provided: sk-ant-api03-Zx9", "Incorrect API key provided: [redacted]"),
        (
            "header was Authorization: Bearer tok_live_123",
            "header was Authorization: Bearer [redacted]",
        ),
        ("billed to org-Qw3rTy7uIo9p", "billed to [redacted]"),
        ("session 5f4dcc3b5aa765d61d8327deb882cf99 expired", "session [redacted] expired"),
        ("upstream 10.0.3.7:8000 refused", "upstream [address] refused"),
        ("upstream [fd00::7]:8000 refused", "upstream [address] refused"),
        ("upstream gpu-box-3.cluster.local:11434 refused", "upstream [address] refused"),
    ],
)
def test_keys_urls_and_addresses_are_taken_out(raw, shown):
    assert sanitised(raw) == shown


def test_the_providers_own_key_and_address_are_taken_out_whatever_their_shape():
    secrets = secrets_of(api_key="my-house-key", base_url="http://models.home.arpa/v1/")

    shown = sanitised(
        "model not loaded on models.home.arpa (key my-house-key); try models.home.arpa/v1",
        secrets=secrets,
    )

    assert "my-house-key" not in shown and "models.home.arpa" not in shown
    assert shown.startswith("model not loaded on [redacted]")


def test_control_characters_are_dropped_and_the_message_is_bounded():
    shown = sanitised("bad\x00 input\x1b[31m red\u202e " + "word " * 500)

    assert "\x00" not in shown and "\x1b" not in shown and "\u202e" not in shown
    assert shown.startswith("bad input [31m red word")
    assert len(shown) <= MAX_MESSAGE_CHARS and shown.endswith("…")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"message": "too long", "type": "invalid_request_error"}, "too long"),  # OpenAI's
        ({"type": "invalid_request_error", "message": "bad image"}, "bad image"),  # Anthropic's
        ({"error": "model requires more system memory"}, "model requires more system memory"),
        ({"detail": "field required"}, "field required"),  # FastAPI servers
        ({"error": {"message": "nested"}}, "nested"),
        ("<html><body>400 Bad Request</body></html>", None),  # not the provider's words
        ({"detail": [{"loc": ["body"], "msg": "x"}]}, None),
        (None, None),
    ],
)
def test_only_a_text_message_from_the_provider_is_used(body, message):
    assert provider_message(body) == message


def test_a_rejection_without_words_says_so_plainly():
    failure = rejection(400, "<html>Bad Request</html>")

    assert isinstance(failure, ProviderFailure)
    assert failure.rejected and not failure.retryable and failure.status == 400
    assert failure.message == "The model's provider rejected the request as invalid."


# --- over HTTP ------------------------------------------------------------------------------
def test_a_request_the_provider_rejects_is_a_400_with_its_reason(sdk, carol):
    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="rejects", messages=QUESTION)

    error = excinfo.value
    assert error.status_code == 400
    assert error.body["code"] == "provider_rejected_request"
    assert error.body["type"] == "invalid_request_error"
    assert error.body["message"] == (
        "The model's provider rejected the request as invalid: injected fault 400"
    )
    record = wait_for_record(error.response.headers["x-request-id"])
    assert record.status == "error" and record.error_code == "provider_rejected_request"
    assert record.cost == 0
    assert balance_of(user=carol) == Decimal(10)


def test_a_rejected_stream_is_a_plain_400_before_any_chunk(http, carol, upstream):
    upstream.clear()
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "rejects", "messages": QUESTION, "stream": True},
    ) as response:
        response.read()

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "provider_rejected_request"
    assert [r["model"] for r in upstream.requests()] == ["fake:fault=400"]  # no fallback
    assert wait_for_record(response.headers["x-request-id"]).cost == 0
    assert balance_of(user=carol) == Decimal(10)


@pytest.mark.parametrize("status", [413, 422])
def test_a_request_too_large_or_unprocessable_for_the_provider_is_rejected_too(
    sdk, upstream, status
):
    upstream.clear()
    upstream.set_fault("fake:tokens=4", status=status, count=1)  # "plain"

    with pytest.raises(openai.BadRequestError) as excinfo:
        sdk.chat.completions.create(model="plain", messages=QUESTION)

    assert excinfo.value.body["code"] == "provider_rejected_request"
    assert f"injected fault {status}" in excinfo.value.body["message"]


@pytest.mark.parametrize("model", ["rejects-leaky", "claude-rejects"])
def test_what_the_provider_gives_away_never_reaches_the_caller(
    http, leaky_catalogue, upstream, model
):
    upstream.clear()
    response = http.post("/v1/chat/completions", json={"model": model, "messages": QUESTION})

    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith(
        "The model's provider rejected the request as invalid: injected fault 400: "
        "messages[0].content is not valid."
    )
    for secret in ("sk-fake-upstream", "sk-ant-fake", "127.0.0.1", "http", "org-a1b2", "9f86d"):
        assert secret not in message
    assert "\x00" not in message
    assert len(message) < MAX_MESSAGE_CHARS + 80  # our prefix and the provider's bounded words
    assert len(upstream.requests()) == 1  # and "fast", the fallback, was not asked


def test_the_chuk_api_answers_the_same_400(http, carol, upstream):
    upstream.clear()
    response = http.post("/v1/ai/chat", json={"model": "rejects", "messages": QUESTION})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "provider_rejected_request"
    assert "injected fault 400" in response.json()["error"]["message"]
    assert len(upstream.requests()) == 1
    assert wait_for_record(response.headers["x-request-id"]).cost == 0
    assert balance_of(user=carol) == Decimal(10)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/ai/chat/stream", {"model": "rejects", "messages": QUESTION}),
        ("/v1/ai/chat", {"model": "rejects", "messages": QUESTION, "stream": True}),
    ],
)
def test_a_rejected_chuk_stream_is_a_plain_400_before_any_event(http, carol, path, body):
    with http.stream("POST", path, json=body) as response:
        lines = list(response.iter_lines())

    assert response.status_code == 400
    assert not sse_events(lines)  # no "data:" event: a JSON error instead of a stream
    assert orjson.loads("".join(lines))["error"]["code"] == "provider_rejected_request"
    assert not UsageRecord.objects.filter(user=carol).exclude(cost=0).exists()
    assert balance_of(user=carol) == Decimal(10)


def test_embeddings_the_provider_rejects_are_a_400_too(http, upstream, carol):
    upstream.clear()
    upstream.set_fault("fake-embedding", status=400, count=1)  # "emb"

    response = http.post("/v1/embeddings", json={"model": "emb", "input": "hello"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "provider_rejected_request"
    assert balance_of(user=carol) == Decimal(10)
