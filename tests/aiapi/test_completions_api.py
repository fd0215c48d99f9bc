"""OpenAI's legacy completions work with the official `openai` SDK pointed at us: a prompt (or
several) answered as chat turns, streamed or not, as `text_completion` objects valid against
OpenAI's spec, each prompt charged exactly once."""

from decimal import Decimal

import orjson
import pytest

from billing.models import UsageRecord
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.test_openai_sdk import upstream_text, wait_for_record
from tests.support.openapi import assert_valid


def test_a_prompt_is_answered_as_a_chat_turn_and_charged_once(sdk, upstream, carol):
    raw = sdk.completions.with_raw_response.create(
        model="fast", prompt="Say something", max_tokens=100, temperature=0.3, stop=["\n\n"]
    )
    completion = raw.parse()

    assert completion.object == "text_completion" and completion.model == "fast"
    assert completion.choices[0].text == upstream_text(upstream, "fake:tokens=8")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 8
    body = upstream.requests()[-2]["body"]  # [-1] is upstream_text's own call
    assert body["messages"] == [{"role": "user", "content": "Say something"}]
    assert body["temperature"] == 0.3 and body["stop"] == ["\n\n"] and body["max_tokens"] == 100
    record = wait_for_record(raw.headers["x-request-id"])
    assert completion.id == f"cmpl-{record.request_id}"
    assert record.endpoint == "completions" and record.status == "ok"
    cost = Decimal(raw.headers["x-chuk-cost"])
    assert record.cost == cost == (record.prompt_tokens * 1 + 8 * 2) / Decimal(1_000_000)
    assert balance_of(user=carol) == Decimal(10) - cost == ledger_sum(user=carol)
    assert UsageRecord.objects.filter(user=carol).count() == 1


def test_the_completion_conforms_to_the_spec(http):
    response = http.post("/v1/completions", json={"model": "thinker", "prompt": "hi"})
    assert_valid(response.json(), "CreateCompletionResponse")


def test_a_list_of_prompts_gets_one_choice_each_each_charged(sdk, upstream, carol):
    raw = sdk.completions.with_raw_response.create(model="plain", prompt=["One", "Two", "Three"])
    completion = raw.parse()

    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert all(c.text == upstream_text(upstream, "fake:tokens=4") for c in completion.choices)
    asked = [r["body"]["messages"][0]["content"] for r in upstream.requests()[:3]]
    assert asked == ["One", "Two", "Three"]
    records = [wait_for_record(raw.headers["x-request-id"] + suffix) for suffix in ("", "-1", "-2")]
    assert all(r.status == "ok" and r.completion_tokens == 4 for r in records)
    assert completion.usage.completion_tokens == 12
    cost = Decimal(raw.headers["x-chuk-cost"])
    assert cost == sum(r.cost for r in records)
    assert balance_of(user=carol) == Decimal(10) - cost == ledger_sum(user=carol)


def test_echo_puts_the_prompt_before_the_answer(sdk, upstream):
    completion = sdk.completions.create(model="fast", prompt="Once upon a time", echo=True)
    assert completion.choices[0].text.startswith("Once upon a time")


def test_streaming_delivers_every_token_then_usage_then_done(sdk, upstream, carol):
    stream = sdk.completions.create(
        model="fast", prompt="Tell me a story", stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    assert all(c.object == "text_completion" and c.model == "fast" for c in chunks)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == upstream_text(upstream, "fake:tokens=8")
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    record = wait_for_record(chunks[0].id.removeprefix("cmpl-"))
    assert record.completion_tokens == 8 and record.endpoint == "completions"
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)


def test_every_stream_chunk_conforms_to_the_spec(http):
    body = {"model": "fast", "prompt": ["a", "b"], "stream": True}
    with http.stream("POST", "/v1/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]

    assert lines[-1] == "data: [DONE]"
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1}
    finishing = [c for c in chunks if c["choices"][0]["finish_reason"] is not None]
    assert len(finishing) == 2
    for chunk in chunks:
        # As OpenAI sends them, chunks before a choice's last have finish_reason null, which
        # its spec (one schema for both shapes) does not allow: everything else must fit.
        if chunk["choices"][0]["finish_reason"] is None:
            chunk["choices"][0]["finish_reason"] = "stop"
        assert_valid(chunk, "CreateCompletionResponse")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fast"}, "prompt"),
        ({"model": "fast", "prompt": [1, 2, 3]}, "prompt"),
        ({"model": "fast", "prompt": []}, "prompt"),
        ({"model": "fast", "prompt": "hi", "best_of": 3}, "best_of"),
        ({"model": "fast", "prompt": "hi", "suffix": "end"}, "suffix"),
        ({"model": "fast", "prompt": "hi", "logprobs": 2}, "logprobs"),
        ({"model": "fast", "prompt": "hi", "n": 2}, "n"),
        ({"model": "fast", "prompt": "hi", "temperature": -1}, "temperature"),
        ({"model": "fast", "prompt": "hi", "wibble": 1}, "wibble"),
        ({"model": "fast", "prompt": "a\x00b"}, "messages[0]"),
    ],
)
def test_bad_input_is_a_400_that_charges_nothing(http, carol, body, param):
    response = http.post("/v1/completions", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert_valid(response.json(), "ErrorResponse")
    assert UsageRecord.objects.count() == 0
    assert balance_of(user=carol) == Decimal(10)


def test_an_unknown_model_is_404_and_nothing_is_held(http, carol):
    response = http.post("/v1/completions", json={"model": "nope", "prompt": ["a", "b"]})
    assert response.status_code == 404
    assert balance_of(user=carol) == Decimal(10)


def test_a_provider_down_is_a_plain_error_that_charges_nothing(http, carol):
    for stream in (False, True):
        response = http.post(
            "/v1/completions", json={"model": "all-down", "prompt": "hi", "stream": stream}
        )
        assert response.status_code == 502
    assert balance_of(user=carol) == Decimal(10)


def test_a_stream_cut_mid_way_ends_with_an_error_and_charges_what_was_sent(http, carol):
    with http.stream(
        "POST", "/v1/completions", json={"model": "cut", "prompt": "hi", "stream": True}
    ) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]

    chunks = [orjson.loads(line[6:]) for line in lines]
    assert "error" in chunks[-1] and "data: [DONE]" not in lines
    texts = [c["choices"][0]["text"] for c in chunks[:-1]]
    assert len(texts) == 3  # what the provider sent before the connection dropped
    record = wait_for_record(chunks[0]["id"].removeprefix("cmpl-"))
    assert record.status == "error"
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)
