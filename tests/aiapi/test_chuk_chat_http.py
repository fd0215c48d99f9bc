"""`POST /v1/ai/chat` and `/v1/ai/chat/stream`, over real HTTP against the fake upstream: the
answer, its usage and cost, the SSE event order, reasoning, errors before and during a stream,
a client that hangs up, and every way a request can be refused."""

import time
from decimal import Decimal

import httpx
import pytest

from aiapi.models import Conversation
from billing.models import LedgerEntry, UsageRecord
from billing.money import format_usd
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.chuk_support import sse_events, text_of
from tests.aiapi.test_openai_sdk import upstream_text, wait_for_record

QUESTION = [{"role": "user", "content": "What is USDC?"}]


def test_a_chat_answers_201_with_text_usage_cost_and_finish_reason(http, carol, upstream):
    reply = http.post("/v1/ai/chat", json={"model": "fast", "messages": QUESTION})

    assert reply.status_code == 201
    body = reply.json()
    assert body["text"] == upstream_text(upstream, "fake:tokens=8")
    assert body["model"] == "fast" and body["provider"] == "fake"
    assert body["finishReason"] == "stop"
    assert body["usage"]["outputTokens"] == 8
    assert body["usage"]["totalTokens"] == body["usage"]["inputTokens"] + 8
    assert isinstance(body["latencyMs"], int)
    assert body["conversationId"] is None and "reasoning" not in body
    record = UsageRecord.objects.get(request_id=body["id"])
    assert record.endpoint == "ai.chat" and record.status == "ok"
    assert body["cost"] == {"charged": format_usd(record.cost), "currency": "usd"}
    assert reply.headers["x-request-id"] == body["id"]
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)


def test_a_plain_call_stores_no_conversation(http, carol):
    assert http.post("/v1/ai/chat", json={"model": "fast", "messages": QUESTION}).status_code == 201
    assert not Conversation.objects.exists()


def test_the_model_defaults_to_the_platform_default(http, settings):
    settings.DEFAULT_CHAT_MODEL = "plain"
    reply = http.post("/v1/ai/chat", json={"messages": QUESTION})
    assert reply.status_code == 201
    assert reply.json()["model"] == "plain"


def test_max_tokens_defaults_to_4096_and_is_capped_at_the_models_limit(http, upstream):
    upstream.clear()
    http.post("/v1/ai/chat", json={"model": "plain", "messages": QUESTION})
    http.post("/v1/ai/chat", json={"model": "claude", "messages": QUESTION, "max_tokens": 10**6})
    sent = upstream.requests()
    assert sent[0]["body"]["max_completion_tokens"] == 4096
    assert sent[1]["body"]["max_tokens"] == 8192  # claude's own limit


def test_hitting_max_tokens_is_finish_reason_length(http):
    body = http.post(
        "/v1/ai/chat", json={"model": "fast", "messages": QUESTION, "max_tokens": 3}
    ).json()
    assert body["finishReason"] == "length"
    assert body["usage"]["outputTokens"] == 3


def test_a_system_prompt_is_sent_first(http, upstream):
    upstream.clear()
    http.post(
        "/v1/ai/chat", json={"model": "fast", "messages": QUESTION, "system": "Answer in French."}
    )
    messages = upstream.requests()[0]["body"]["messages"]
    assert messages[0] == {"role": "system", "content": "Answer in French."}


def test_a_reasoning_model_returns_its_reasoning(http):
    body = http.post("/v1/ai/chat", json={"model": "thinker", "messages": QUESTION}).json()
    assert body["reasoning"].split() == ["first", "consider", "the"]
    assert len(body["text"].split()) == 4


def stream(http, path="/v1/ai/chat/stream", **body):
    with http.stream("POST", path, json={"messages": QUESTION, **body}) as reply:
        return reply, sse_events(reply.iter_lines())


def test_the_stream_sends_meta_then_text_then_usage_then_done(http, carol, upstream):
    reply, events = stream(http, model="fast")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.headers["x-accel-buffering"] == "no"
    assert list(events[0]) == ["meta"]
    assert events[0]["meta"]["model"] == "fast" and events[0]["meta"]["provider"] == "fake"
    assert events[0]["meta"]["requestId"] == reply.headers["x-request-id"]
    assert [list(e) for e in events[1:9]] == [["text"]] * 8
    assert text_of(events) == upstream_text(upstream, "fake:tokens=8")
    assert list(events[9]) == ["usage"]
    done = events[10]
    assert done["done"] is True and len(events) == 11
    assert done["model"] == "fast" and done["provider"] == "fake"
    assert done["finishReason"] == "stop"
    assert done["usage"] == events[9]["usage"]
    record = UsageRecord.objects.get(request_id=reply.headers["x-request-id"])
    assert done["cost"]["charged"] == format_usd(record.cost)
    assert balance_of(user=carol) == Decimal(10) - record.cost


def test_stream_true_on_ai_chat_streams_the_same_events(http):
    reply, events = stream(http, path="/v1/ai/chat", model="fast", stream=True)
    assert reply.status_code == 200
    assert "meta" in events[0] and events[-1]["done"] is True


def test_a_reasoning_model_streams_reasoning_before_text(http):
    _, events = stream(http, model="thinker")
    kinds = [next(iter(e)) for e in events]
    assert kinds == ["meta"] + ["reasoning"] * 3 + ["text"] * 4 + ["usage", "done"]


def test_a_quiet_provider_gets_heartbeats(http, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.2
    reply, events = stream(http, model="sleepy")
    assert reply.status_code == 200
    assert events[0] == ": ping"  # the provider takes 0.7 s to say anything
    assert events[-1]["done"] is True
    assert text_of(events)


@pytest.mark.parametrize("path", ["/v1/ai/chat", "/v1/ai/chat/stream"])
def test_a_provider_failing_before_answering_is_a_502_and_costs_nothing(http, carol, path):
    reply = http.post(path, json={"model": "all-down", "messages": QUESTION, "stream": True})
    assert reply.status_code == 502
    assert reply.json()["error"]["code"] == "provider_error"
    record = wait_for_record(reply.headers["x-request-id"])
    assert record.status == "error" and record.cost == 0
    assert balance_of(user=carol) == Decimal(10)


def test_a_provider_failing_mid_stream_ends_it_with_an_error_event(http, carol):
    reply, events = stream(http, model="cut")
    assert reply.status_code == 200
    assert "meta" in events[0]
    assert [e["text"] for e in events[1:4]] == ["alpha ", "bravo ", "charlie "]
    assert events[-1] == {"error": "The provider's answer broke off.", "code": "provider_error"}
    assert not any(isinstance(e, dict) and e.get("done") for e in events)
    assert balance_of(user=carol) == Decimal(10)  # a failed call is not charged


def test_a_client_hanging_up_stops_the_provider_and_pays_for_what_was_generated(
    http, carol, upstream
):
    upstream.clear()
    with http.stream(
        "POST", "/v1/ai/chat/stream", json={"model": "slow-stream", "messages": QUESTION}
    ) as reply:
        request_id = reply.headers["x-request-id"]
        received = 0
        for line in reply.iter_lines():
            received += line.startswith('data: {"text"')
            if received == 5:
                break
    hung_up = time.monotonic()

    deadline = hung_up + 3
    while time.monotonic() < deadline and not upstream.requests()[-1].get("client_disconnected"):
        time.sleep(0.02)
    assert upstream.requests()[-1]["client_disconnected"], "the provider call was not stopped"
    assert time.monotonic() - hung_up < 1.5
    record = wait_for_record(request_id)
    assert record.status == "cancelled"
    assert 5 <= record.completion_tokens < 400
    assert record.cost > 0
    entries = LedgerEntry.objects.filter(reference=f"usage:{request_id}")
    assert [e.amount for e in entries] == [-record.cost]
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Missing API key"),
        ({"Authorization": "Bearer sk-chuk-short"}, "Malformed API key."),
        ({"Authorization": "Bearer sk-chuk-" + "x" * 43}, "Invalid API key"),
    ],
)
def test_a_bad_key_is_a_401(gateway_url, catalogue, headers, message):
    reply = httpx.post(f"{gateway_url}/v1/ai/chat", json={"messages": QUESTION}, headers=headers)
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["code"] == "invalid_api_key" and error["message"].startswith(message)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": "fast"}, "invalid_messages", "messages"),
        ({"model": "fast", "messages": []}, "invalid_messages", "messages"),
        (
            {"model": "fast", "messages": [{"role": "robot", "content": "hi"}]},
            "invalid_messages",
            "messages[0]",
        ),
        (
            {"model": "fast", "messages": QUESTION, "temperature": 3},
            "invalid_request",
            "temperature",
        ),
        ({"model": "fast", "messages": QUESTION, "max_tokens": 0}, "invalid_request", "max_tokens"),
        ({"model": "fast", "messages": QUESTION, "stream": "yes"}, "invalid_request", "stream"),
        ({"model": "fast", "messages": QUESTION, "system": 5}, "invalid_request", "system"),
        (
            {"model": "fast", "messages": QUESTION, "conversation_id": "abc"},
            "invalid_request",
            "conversation_id",
        ),
        ({"model": "fast", "content": "hi", "messages": QUESTION}, "invalid_request", "content"),
        ({"model": "fast", "regenerate": True}, "invalid_request", "conversation_id"),
    ],
)
def test_an_invalid_request_is_a_400_and_costs_nothing(http, carol, upstream, body, code, param):
    upstream.clear()
    reply = http.post("/v1/ai/chat", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code
    assert reply.json()["error"].get("param") == param
    assert upstream.requests() == []
    assert balance_of(user=carol) == Decimal(10) and not UsageRecord.objects.exists()


def test_a_body_that_is_not_json_is_a_400(http):
    reply = http.post("/v1/ai/chat", content=b"{nope", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_json"


def test_an_unknown_model_is_a_404_and_an_embedding_model_a_400(http):
    reply = http.post("/v1/ai/chat", json={"model": "gpt-9", "messages": QUESTION})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "model_not_found"
    reply = http.post("/v1/ai/chat", json={"model": "emb", "messages": QUESTION})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "invalid_model_type"


def test_without_credit_it_is_a_402_and_the_provider_is_never_asked(
    gateway_url, catalogue, upstream
):
    from accounts.api_keys import api_key_create
    from tests.factories import UserFactory

    dave = UserFactory(email="dave@example.com")
    _, key = api_key_create(user=dave)
    upstream.clear()
    reply = httpx.post(
        f"{gateway_url}/v1/ai/chat/stream",
        json={"model": "fast", "messages": QUESTION},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert reply.status_code == 402
    assert reply.json()["error"]["code"] == "insufficient_credits"
    assert upstream.requests() == []
