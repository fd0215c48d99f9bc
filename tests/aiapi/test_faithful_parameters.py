"""Every Chat Completions parameter either reaches the provider in the provider's own terms or
is refused with a 400 that names it and charges nothing; none is dropped on the way.

Structured output, reasoning effort, parallel tool calls, metadata, log probabilities, cached
tokens, documents and audio, and OpenAI's own fields, over the openai SDK at the gateway, for
an OpenAI-kind model (`plain`) and an Anthropic-kind one (`claude`)."""

import base64
from decimal import Decimal

import openai
import orjson
import pytest
from pydantic import BaseModel

from billing.models import UsageRecord
from billing.selectors import balance_of
from tests.support.openapi import assert_valid

HELLO = [{"role": "user", "content": "What is the capital of France?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


class City(BaseModel):
    name: str
    population: int


def last_body(upstream) -> dict:
    return upstream.requests()[-1]["body"]


def refused(sdk, carol, **kwargs) -> openai.BadRequestError:
    kwargs.setdefault("messages", HELLO)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(**kwargs)
    assert not UsageRecord.objects.exists()
    assert balance_of(user=carol) == 10
    return caught.value


# --- Structured output ---------------------------------------------------------------------


def test_structured_output_from_an_anthropic_model_parses(sdk, upstream):
    completion = sdk.chat.completions.parse(model="claude", messages=HELLO, response_format=City)

    city = completion.choices[0].message.parsed
    assert isinstance(city, City)
    assert completion.choices[0].finish_reason == "stop"
    assert not completion.choices[0].message.tool_calls
    body = last_body(upstream)
    # Anthropic has no response_format: the schema goes as a tool the model must answer with.
    assert body["tool_choice"] == {"type": "tool", "name": "json_answer"}
    assert body["tools"][0]["input_schema"]["properties"].keys() == {"name", "population"}


def test_json_mode_from_an_anthropic_model_streams_valid_json(sdk):
    stream = sdk.chat.completions.create(
        model="claude", messages=HELLO, response_format={"type": "json_object"}, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert isinstance(orjson.loads(text), dict)


def test_with_tools_of_its_own_the_model_may_still_call_them(sdk, upstream):
    sdk.chat.completions.create(
        model="claude", messages=HELLO, tools=TOOLS, response_format={"type": "json_object"}
    )
    body = last_body(upstream)
    assert [t["name"] for t in body["tools"]] == ["get_weather", "json_answer"]
    assert body["tool_choice"] == {"type": "any"}


# --- Reasoning effort, parallel tool calls, metadata ---------------------------------------


def test_reasoning_effort_reaches_an_openai_model_as_is(sdk, upstream):
    sdk.chat.completions.create(model="plain", messages=HELLO, reasoning_effort="low")
    assert last_body(upstream)["reasoning_effort"] == "low"


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("high", {"type": "enabled", "budget_tokens": 1600}),
        ("low", {"type": "enabled", "budget_tokens": 1024}),
        ("minimal", None),
    ],
)
def test_reasoning_effort_becomes_an_anthropic_thinking_budget(sdk, upstream, effort, thinking):
    sdk.chat.completions.create(
        model="claude-thinker", messages=HELLO, reasoning_effort=effort, max_tokens=2000
    )
    assert last_body(upstream).get("thinking") == thinking


def test_an_unknown_reasoning_effort_is_refused(sdk, carol):
    error = refused(sdk, carol, model="plain", reasoning_effort="extreme")
    assert error.body["param"] == "reasoning_effort"


def test_parallel_tool_calls_off_reaches_both_kinds(sdk, upstream):
    sdk.chat.completions.create(
        model="plain", messages=HELLO, tools=TOOLS, parallel_tool_calls=False
    )
    assert last_body(upstream)["parallel_tool_calls"] is False

    sdk.chat.completions.create(
        model="claude", messages=HELLO, tools=TOOLS, parallel_tool_calls=False
    )
    assert last_body(upstream)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}


def test_metadata_reaches_openai_and_its_user_id_reaches_anthropic(
    sdk, upstream, carol, gateway_server
):
    sdk.chat.completions.create(model="plain", messages=HELLO, metadata={"team": "growth"})
    assert last_body(upstream)["metadata"] == {"team": "growth"}

    sdk.chat.completions.create(model="claude", messages=HELLO, metadata={"user_id": "u-42"})
    assert last_body(upstream)["metadata"] == {"user_id": "u-42"}

    gateway_server.wait_idle()  # both settled
    records, carol_balance = UsageRecord.objects.count(), balance_of(user=carol)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="claude", messages=HELLO, metadata={"team": "growth"})
    assert caught.value.code == "unsupported_parameter"
    gateway_server.wait_idle()
    assert UsageRecord.objects.count() == records and balance_of(user=carol) == carol_balance


# --- Log probabilities ---------------------------------------------------------------------


def test_log_probabilities_come_back_from_an_openai_model(sdk, http):
    completion = sdk.chat.completions.create(
        model="plain", messages=HELLO, logprobs=True, top_logprobs=2
    )
    entries = completion.choices[0].logprobs.content
    assert "".join(e.token for e in entries) == completion.choices[0].message.content
    assert all(len(e.top_logprobs) == 2 and e.logprob < 0 for e in entries)

    raw = http.post(
        "/v1/chat/completions", json={"model": "plain", "messages": HELLO, "logprobs": True}
    )
    assert_valid(raw.json(), "CreateChatCompletionResponse")


def test_log_probabilities_stream_with_each_token(sdk):
    stream = sdk.chat.completions.create(model="plain", messages=HELLO, logprobs=True, stream=True)
    pieces = [c.choices[0] for c in stream if c.choices and c.choices[0].delta.content]
    assert pieces
    assert all(p.logprobs.content[0].token == p.delta.content for p in pieces)


def test_log_probabilities_from_an_anthropic_model_are_refused(sdk, carol):
    error = refused(sdk, carol, model="claude", logprobs=True)
    assert error.code == "unsupported_parameter"
    assert "logprobs" in error.message


def test_top_logprobs_without_logprobs_is_refused(sdk, carol):
    error = refused(sdk, carol, model="plain", top_logprobs=3)
    assert error.body["param"] == "top_logprobs"


# --- Usage: cached tokens, include_usage -----------------------------------------------------


@pytest.mark.parametrize("model", ["plain-cached", "claude-cached"])
def test_cached_prompt_tokens_are_reported(sdk, model, gateway_server):
    completion = sdk.chat.completions.create(model=model, messages=HELLO)
    usage = completion.usage
    assert usage.prompt_tokens_details.cached_tokens == 6
    # Anthropic counts cached input apart; ours is all the input, the cached part within it.
    assert usage.prompt_tokens > 6
    gateway_server.wait_idle()
    record = UsageRecord.objects.get()
    assert record.prompt_tokens == usage.prompt_tokens


def test_cached_input_is_charged_at_the_models_cache_prices(sdk, gateway_server, carol):
    reply = sdk.chat.completions.with_raw_response.create(model="claude-cached", messages=HELLO)
    usage = reply.parse().usage

    gateway_server.wait_idle()
    record = UsageRecord.objects.get()
    assert (record.cached_tokens, record.cache_write_tokens) == (6, 2)
    # USD per million: plain input 3, cache reads 0.3, cache writes 3.75, output 15.
    plain = usage.prompt_tokens - 6 - 2
    expected = (plain * Decimal(3) + 6 * Decimal("0.3") + 2 * Decimal("3.75") + 4 * 15) / 10**6
    assert record.cost == expected == Decimal(reply.headers["x-chuk-cost"])
    assert balance_of(user=carol) == 10 - expected


def test_include_usage_sends_the_usage_in_a_chunk_of_its_own(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="fast", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    assert chunks[-2].choices[0].finish_reason == "stop" and chunks[-2].usage is None
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_without_include_usage_the_usage_rides_on_the_finish_chunk(sdk):
    chunks = list(sdk.chat.completions.create(model="fast", messages=HELLO, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 8


# --- OpenAI's own fields, unknown fields ---------------------------------------------------


def test_openai_only_fields_reach_an_openai_model(sdk, upstream):
    sdk.chat.completions.create(
        model="plain", messages=HELLO, store=False, service_tier="auto", prompt_cache_key="k1"
    )
    body = last_body(upstream)
    assert (body["store"], body["service_tier"], body["prompt_cache_key"]) == (False, "auto", "k1")


def test_openai_only_fields_to_an_anthropic_model_are_refused(sdk, carol):
    error = refused(sdk, carol, model="claude", service_tier="auto")
    assert error.code == "unsupported_parameter" and "service_tier" in error.message


def test_a_field_nobody_knows_is_refused_as_openai_refuses_it(sdk, carol):
    error = refused(sdk, carol, model="plain", extra_body={"temprature": 0.2})
    assert error.code == "unknown_parameter"
    assert error.body["message"] == "Unrecognized request argument supplied: temprature"


# --- Documents and audio -------------------------------------------------------------------


PDF = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 fake").decode()
AUDIO = {"data": base64.b64encode(b"RIFF....WAVEfmt ").decode(), "format": "wav"}


def with_part(part: dict) -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": "Summarise"}, part]}]


def test_a_pdf_reaches_an_anthropic_model_as_a_document(sdk, upstream):
    sdk.chat.completions.create(
        model="claude",
        messages=with_part({"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}}),
    )
    block = last_body(upstream)["messages"][0]["content"][1]
    assert block["type"] == "document" and block["title"] == "a.pdf"
    assert block["source"]["media_type"] == "application/pdf"


def test_files_and_audio_reach_an_openai_model_as_sent(sdk, upstream):
    sdk.chat.completions.create(
        model="plain",
        messages=with_part({"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}})
        + with_part({"type": "input_audio", "input_audio": AUDIO}),
    )
    messages = last_body(upstream)["messages"]
    assert messages[0]["content"][1]["type"] == "file"
    assert messages[1]["content"][1] == {"type": "input_audio", "input_audio": AUDIO}


def test_audio_to_an_anthropic_model_is_refused(sdk, carol):
    error = refused(
        sdk,
        carol,
        model="claude",
        messages=with_part({"type": "input_audio", "input_audio": AUDIO}),
    )
    assert error.code == "unsupported_parameter" and "input_audio" in error.message


def test_a_file_that_is_not_a_data_uri_is_refused(sdk, carol):
    error = refused(
        sdk,
        carol,
        model="plain",
        messages=with_part({"type": "file", "file": {"file_data": "just text"}}),
    )
    assert error.code == "invalid_messages"


# --- The same through Anthropic's Messages API -----------------------------------------------


def test_a_messages_api_pdf_reaches_each_kind_in_its_own_terms(http, upstream):
    document = {
        "type": "document",
        "title": "a.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": PDF.split(",")[1]},
    }
    for model, expected in (("claude", "document"), ("plain", "file")):
        answer = http.post(
            "/v1/messages",
            json={
                "model": model,
                "max_tokens": 100,
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Sum"}, document]}
                ],
            },
        )
        assert answer.status_code == 200, answer.text
        assert last_body(upstream)["messages"][0]["content"][1]["type"] == expected


def test_disable_parallel_tool_use_reaches_an_openai_model(http, upstream):
    answer = http.post(
        "/v1/messages",
        json={
            "model": "plain",
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        },
    )
    assert answer.status_code == 200, answer.text
    assert last_body(upstream)["parallel_tool_calls"] is False
