"""A streamed chat when the provider misbehaves, in both SSE formats (OpenAI's
`chat.completion.chunk` on /v1/chat/completions, Chuk's on /v1/ai/chat/stream): a provider
that fails before answering is a plain HTTP error the official SDK raises, a quiet provider
gets heartbeat comments, and one that goes quiet mid-answer is given up on."""

import time
from decimal import Decimal

import openai
import orjson
import pytest

from aiapi.catalogue import catalogue_load
from aiapi.token_count import estimate_text_tokens
from billing.models import LedgerEntry
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.chuk_support import sse_events, text_of
from tests.aiapi.test_openai_sdk import wait_for_record

HELLO = [{"role": "user", "content": "hello"}]
MILLION = Decimal(1_000_000)
STALLS_UPSTREAM = "fake:tokens=10,stall_after=2"  # two words, then silence


def openai_stream_lines(http, model: str) -> tuple[object, list[str]]:
    """The raw SSE lines of a streamed /v1/chat/completions, as a client reads them."""
    with http.stream(
        "POST", "/v1/chat/completions", json={"model": model, "messages": HELLO, "stream": True}
    ) as reply:
        return reply, [line for line in reply.iter_lines() if line]


def openai_payloads(lines: list[str]) -> list[dict]:
    return [orjson.loads(line[6:]) for line in lines if line.startswith("data: {")]


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [("all-down", 502, "provider_error"), ("hangs-alone", 504, "provider_timeout")],
)
def test_a_stream_whose_provider_fails_before_answering_is_an_http_error_the_sdk_raises(
    sdk, carol, model, status, code
):
    with pytest.raises(openai.InternalServerError) as excinfo:
        sdk.chat.completions.create(model=model, messages=HELLO, stream=True)

    error = excinfo.value
    assert error.status_code == status
    assert error.response.headers["content-type"].startswith("application/json")
    assert error.body["code"] == code and set(error.body) == {"message", "type", "param", "code"}
    record = wait_for_record(error.response.headers["x-request-id"])
    assert record.status == "error" and record.error_code == code
    assert record.cost == 0 and record.completion_tokens == 0
    assert not LedgerEntry.objects.filter(kind="usage").exists()
    assert balance_of(user=carol) == Decimal(10) == ledger_sum(user=carol)


def test_a_quiet_provider_gets_heartbeats_on_the_openai_stream(http, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.2  # the server's thread reads the same settings

    reply, lines = openai_stream_lines(http, "sleepy")  # 0.7 s before the first token

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert lines[0] == ": ping"
    data = [line for line in lines if line != ": ping"]
    assert data[-1] == "data: [DONE]"
    chunks = openai_payloads(data)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == (
        "alpha bravo charlie"
    )
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_the_sdk_reads_a_stream_with_heartbeats_in_it(sdk, settings):
    settings.SSE_HEARTBEAT_SECONDS = 0.2

    chunks = list(sdk.chat.completions.create(model="sleepy", messages=HELLO, stream=True))

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "alpha bravo charlie"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 3


@pytest.fixture
def stalls(catalogue, settings):
    """A model whose provider says two words and then nothing, with the gateway's patience
    for a quiet provider cut to 0.3 s."""
    catalogue_load(
        text=f"""
[[models]]
id = "stalls"
provider = "fake"
upstream = "{STALLS_UPSTREAM}"
input_price = 1.0
output_price = 2.0
"""
    )
    settings.PROVIDER_IDLE_TIMEOUT = 0.3
    return "stalls"


def upstream_was_closed(upstream) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        sent = [r for r in upstream.requests() if r["model"] == STALLS_UPSTREAM]
        if sent and sent[-1]["client_disconnected"]:
            return True
        time.sleep(0.02)
    return False


def test_a_provider_going_quiet_mid_answer_ends_the_openai_stream_with_a_timeout(
    http, stalls, upstream
):
    reply, lines = openai_stream_lines(http, stalls)

    assert reply.status_code == 200
    payloads = openai_payloads(lines)
    assert [p["choices"][0]["delta"]["content"] for p in payloads[:-1]] == ["alpha ", "bravo "]
    assert payloads[-1]["error"]["code"] == "provider_timeout"
    assert "data: [DONE]" not in lines
    assert upstream_was_closed(upstream)
    assert wait_for_record(reply.headers["x-request-id"]).error_code == "provider_timeout"


def test_the_sdk_raises_when_the_provider_goes_quiet_mid_answer(sdk, stalls):
    stream = sdk.chat.completions.create(model=stalls, messages=HELLO, stream=True)
    received = []
    with pytest.raises(openai.APIError) as excinfo:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)

    assert received == ["alpha ", "bravo "]
    assert excinfo.value.body["code"] == "provider_timeout"


def test_a_provider_going_quiet_mid_answer_ends_the_chuk_stream_with_a_timeout(
    http, stalls, upstream
):
    with http.stream(
        "POST", "/v1/ai/chat/stream", json={"model": stalls, "messages": HELLO}
    ) as reply:
        events = sse_events(reply.iter_lines())

    assert reply.status_code == 200
    assert list(events[0]) == ["meta"]
    assert [e["text"] for e in events[1:3]] == ["alpha ", "bravo "]
    assert events[3:] == [
        {"error": "The model's provider stopped answering.", "code": "provider_timeout"}
    ]
    assert upstream_was_closed(upstream)
    assert wait_for_record(reply.headers["x-request-id"]).error_code == "provider_timeout"


def delivered_openai(http, model: str) -> tuple[str, str]:
    reply, lines = openai_stream_lines(http, model)
    text = "".join(
        p["choices"][0]["delta"].get("content") or ""
        for p in openai_payloads(lines)
        if "choices" in p
    )
    return reply.headers["x-request-id"], text


def delivered_chuk(http, model: str) -> tuple[str, str]:
    with http.stream("POST", "/v1/ai/chat/stream", json={"model": model, "messages": HELLO}) as r:
        return r.headers["x-request-id"], text_of(sse_events(r.iter_lines()))


@pytest.mark.parametrize("read", [delivered_openai, delivered_chuk], ids=["openai", "chuk"])
def test_a_provider_going_quiet_mid_answer_is_charged_for_what_was_delivered(
    http, carol, stalls, read
):
    request_id, delivered = read(http, stalls)

    assert delivered == "alpha bravo "
    record = wait_for_record(request_id)
    assert record.error_code == "provider_timeout"
    # The provider never reported usage: what it delivered is counted the platform's way.
    assert record.tokens_estimated
    assert record.completion_tokens == estimate_text_tokens(delivered)
    assert record.cost == (record.prompt_tokens * 1 + record.completion_tokens * 2) / MILLION > 0
    [charge] = LedgerEntry.objects.filter(kind="usage")
    assert charge.reference == f"usage:{request_id}" and charge.amount == -record.cost
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)
