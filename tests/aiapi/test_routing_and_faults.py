"""Fallbacks before the first token, clean errors after it, timeouts, broken upstreams, and a
client that hangs up: what a developer sees, and what they pay."""

import time
from decimal import Decimal

import httpx
import openai
import orjson
import pytest

from billing.models import UsageRecord
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.test_openai_sdk import wait_for_record


def ask(sdk, model: str, **kwargs):
    return sdk.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hello"}], **kwargs
    )


@pytest.mark.parametrize("model", ["flaky", "limited", "unreachable", "no-key", "hangs"])
def test_a_failing_provider_falls_back_before_the_first_token(sdk, model):
    reply = ask(sdk, model)
    completion = reply.parse()

    assert completion.model == model  # the client sees the model it asked for
    assert len(completion.choices[0].message.content.split()) == 8  # answered by "fast"
    record = wait_for_record(reply.headers["x-request-id"])
    assert record.model == model and record.provider == "fake"
    assert record.upstream_model == "fake:tokens=8"


def test_a_fallback_is_charged_at_the_price_of_the_model_that_answered(sdk, carol):
    reply = ask(sdk, "limited")  # "limited" is free; its fallback "fast" is not
    record = wait_for_record(reply.headers["x-request-id"])
    assert record.cost == (record.prompt_tokens * 1 + record.completion_tokens * 2) / Decimal(
        1_000_000
    )
    assert balance_of(user=carol) == Decimal(10) - record.cost


def test_a_fallback_also_applies_to_streams(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="flaky", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_when_every_provider_fails_the_client_gets_502_and_pays_nothing(sdk, carol):
    with pytest.raises(openai.APIStatusError) as excinfo:
        ask(sdk, "all-down")
    assert excinfo.value.status_code == 502
    assert excinfo.value.body["code"] == "provider_error"
    record = wait_for_record(excinfo.value.response.headers["x-request-id"])
    assert record.model == "all-down"
    assert record.status == "error" and record.cost == 0
    assert record.error_code == "provider_error"
    assert balance_of(user=carol) == Decimal(10)


def test_a_provider_that_never_answers_is_a_504(sdk, carol):
    with pytest.raises(openai.APIStatusError) as excinfo:
        ask(sdk, "hangs-alone")
    assert excinfo.value.status_code == 504
    assert excinfo.value.body["code"] == "provider_timeout"
    assert balance_of(user=carol) == Decimal(10)


def test_a_request_the_provider_rejects_is_not_retried_elsewhere(sdk, upstream):
    upstream.clear()
    with pytest.raises(openai.APIStatusError) as excinfo:
        ask(sdk, "rejects")
    assert excinfo.value.status_code == 400  # the request is bad: not a 502 "try again"
    assert excinfo.value.body["code"] == "provider_rejected_request"
    assert "400" in excinfo.value.message
    assert [r["model"] for r in upstream.requests()] == ["fake:fault=400"]


def test_the_providers_error_body_never_reaches_the_client(http):
    response = http.post(
        "/v1/chat/completions",
        json={"model": "all-down", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 502
    body = response.text
    assert "fake" not in body.lower() and "127.0.0.1" not in body
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_a_provider_outage_is_a_502_until_it_recovers(sdk, upstream):
    upstream.set_fault("fake:tokens=4", status=503, count=1)  # "plain" has no fallbacks
    with pytest.raises(openai.APIStatusError) as excinfo:
        ask(sdk, "plain")
    assert excinfo.value.status_code == 502
    assert ask(sdk, "plain").parse().choices[0].message.content


def test_a_stream_cut_after_the_first_tokens_ends_with_an_error_event(http, carol):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "cut", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    payloads = [orjson.loads(line[6:]) for line in lines if line != "data: [DONE]"]
    assert "data: [DONE]" not in lines
    assert payloads[-1]["error"]["code"] == "provider_error"
    assert sum(1 for p in payloads if "choices" in p) == 3


def test_the_sdk_raises_on_a_stream_that_broke_off(sdk):
    with pytest.raises(openai.APIError):
        list(
            sdk.chat.completions.create(
                model="cut", messages=[{"role": "user", "content": "x"}], stream=True
            )
        )


def test_a_malformed_upstream_chunk_ends_the_stream_with_an_error(http):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "garbled", "messages": [{"role": "user", "content": "x"}], "stream": True},
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    last = orjson.loads(lines[-1][6:])
    assert last["error"]["code"] == "provider_error"


def test_a_client_hanging_up_stops_the_upstream_and_pays_for_what_was_generated(
    gateway_url, carol_key, upstream, carol
):
    upstream.clear()
    with (
        httpx.Client(timeout=30) as client,
        client.stream(
            "POST",
            f"{gateway_url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {carol_key}"},
            json={
                "model": "slow-stream",
                "messages": [{"role": "user", "content": "go"}],
                "stream": True,
            },
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        received = 0
        for line in response.iter_lines():
            if line.startswith("data: "):
                received += 1
            if received == 5:
                break  # hang up mid-stream

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = [r for r in upstream.requests() if r["model"] == "fake:tokens=400,tps=40"]
        if log and log[-1].get("client_disconnected"):
            break
        time.sleep(0.05)
    assert log[-1]["client_disconnected"] is True
    assert log[-1]["chunks_sent"] < 100  # of 400: the upstream call stopped promptly

    record = wait_for_record(request_id)
    assert record.status == "cancelled"
    assert 5 <= record.completion_tokens < 100
    assert record.cost > 0
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)
    assert UsageRecord.objects.filter(request_id=request_id).count() == 1
