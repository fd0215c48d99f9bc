"""Anthropic's Messages API (`/v1/messages`, `/v1/messages/count_tokens`): the official
`anthropic` SDK works against our gateway with nothing changed but base_url and api_key, for
an OpenAI-kind model ("plain") and an Anthropic-kind one ("claude") alike; every call is
metered and charged once, bad input is a 400 in Anthropic's shape that charges nothing."""

from decimal import Decimal

import anthropic
import httpx
import orjson
import pytest

from accounts.api_keys import api_key_create
from aiapi.catalogue import catalogue_load
from billing.models import UsageRecord
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.test_openai_sdk import upstream_text, wait_for_record
from tests.factories import UserFactory

# Tool-calling models of both kinds, beside the gateway catalogue's own.
MORE_MODELS = """
[[models]]
id = "claude-tools"
provider = "fake-anthropic"
upstream = "fake:tokens=3,tools=1"
input_price = 3.0
output_price = 15.0

[[models]]
id = "demo-chat"
provider = "demo"
upstream = "demo-chat"

[[models]]
id = "plain-tools"
provider = "fake-openai"
upstream = "fake:tokens=3,tools=1"
input_price = 0.5
output_price = 1.5
"""

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
HELLO = [{"role": "user", "content": "Hello there"}]
BOTH_KINDS = pytest.mark.parametrize("model", ["plain", "claude"])


@pytest.fixture
def claude_sdk(gateway_url, carol_key) -> anthropic.Anthropic:
    catalogue_load(text=MORE_MODELS)
    return anthropic.Anthropic(base_url=gateway_url, api_key=carol_key, max_retries=0)


def charged_once(carol, request_id: str) -> UsageRecord:
    """The call's one usage record, and the balance moved by exactly its cost."""
    record = wait_for_record(request_id)
    assert UsageRecord.objects.filter(user=carol).count() == 1
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)
    return record


# --- messages.create ----------------------------------------------------------------------


def test_an_openai_kind_model_answers_in_anthropics_shape(claude_sdk, upstream, carol):
    raw = claude_sdk.messages.with_raw_response.create(
        model="plain",
        max_tokens=100,
        system="Be brief.",
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        ],
        extra_body={"temperature": 0.5},  # this SDK release lists no sampling arguments
    )
    message = raw.parse()

    assert message.type == "message" and message.role == "assistant"
    assert message.model == "plain"
    assert [block.type for block in message.content] == ["text"]
    assert message.stop_reason == "end_turn"
    sent = upstream.requests()[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    assert sent["body"]["temperature"] == 0.5
    assert message.content[0].text == upstream_text(upstream, "fake:tokens=4")
    record = charged_once(carol, raw.headers["request-id"])
    assert record.endpoint == "anthropic.messages" and record.status == "ok"
    assert record.provider == "fake-openai"
    assert message.usage.input_tokens == record.prompt_tokens
    assert message.usage.output_tokens == record.completion_tokens == 4
    cost = Decimal(raw.headers["x-chuk-cost"])
    assert (
        record.cost
        == cost
        == (record.prompt_tokens * Decimal("0.5") + 4 * Decimal("1.5")) / (1_000_000)
    )


def test_an_anthropic_kind_model_gets_the_request_as_sent(claude_sdk, upstream, carol):
    raw = claude_sdk.messages.with_raw_response.create(
        model="claude",
        max_tokens=300,
        system=[{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        messages=HELLO,
        extra_body={"temperature": 0.3, "top_k": 5},
        stop_sequences=["\n\nHuman:"],
    )
    message = raw.parse()

    assert len(message.content[0].text.split()) == 6
    body = upstream.requests()[-1]["body"]
    assert upstream.requests()[-1]["path"] == "/v1/messages"
    assert body["system"] == "Be brief.\n\nBe kind."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello there"}]}
    ]
    assert body["max_tokens"] == 300 and body["temperature"] == 0.3 and body["top_k"] == 5
    assert body["stop_sequences"] == ["\n\nHuman:"]
    assert "thinking" not in body
    record = charged_once(carol, raw.headers["request-id"])
    assert record.provider == "fake-anthropic"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (
        record.prompt_tokens,
        record.completion_tokens,
    )
    assert record.cost == Decimal(raw.headers["x-chuk-cost"]) > 0


def test_hitting_max_tokens_is_stop_reason_max_tokens(claude_sdk):
    message = claude_sdk.messages.create(model="claude", max_tokens=2, messages=HELLO)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2


def test_the_api_v1_prefix_serves_messages_too(gateway_url, carol_key):
    client = anthropic.Anthropic(base_url=f"{gateway_url}/api", api_key=carol_key, max_retries=0)
    assert client.messages.create(model="plain", max_tokens=50, messages=HELLO).content[0].text


@BOTH_KINDS
def test_cache_control_marks_reach_anthropic_kind_providers_only(claude_sdk, upstream, model):
    mark = {"type": "ephemeral"}
    claude_sdk.messages.create(
        model=model,
        max_tokens=50,
        system=[{"type": "text", "text": "A long, stable preamble.", "cache_control": mark}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Context", "cache_control": mark},
                    {"type": "text", "text": "Question"},
                ],
            }
        ],
        tools=[{**WEATHER_TOOL, "cache_control": mark}],
    )
    body = upstream.requests()[-1]["body"]
    if model == "claude":
        assert body["system"] == [
            {"type": "text", "text": "A long, stable preamble.", "cache_control": mark}
        ]
        assert body["messages"][0]["content"] == [
            {"type": "text", "text": "Context", "cache_control": mark},
            {"type": "text", "text": "Question"},
        ]
        assert body["tools"][0]["cache_control"] == mark
    else:
        assert "cache_control" not in orjson.dumps(body).decode()
        assert body["messages"][0] == {
            "role": "system",
            "content": [{"type": "text", "text": "A long, stable preamble."}],
        }


# --- messages.stream ----------------------------------------------------------------------


@BOTH_KINDS
def test_streamed_text_and_the_final_message_agree(claude_sdk, carol, model):
    with claude_sdk.messages.stream(model=model, max_tokens=200, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["request-id"]

    assert text and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    record = charged_once(carol, request_id)
    assert final.usage.output_tokens == record.completion_tokens == len(text.split())
    assert final.usage.input_tokens == record.prompt_tokens


@pytest.mark.parametrize("model", ["demo-chat", "toolsy"])  # demo and openai_compatible kinds
def test_every_provider_kind_answers(claude_sdk, carol, model):
    message = claude_sdk.messages.create(model=model, max_tokens=100, messages=HELLO)
    with claude_sdk.messages.stream(model=model, max_tokens=100, messages=HELLO) as stream:
        streamed = "".join(stream.text_stream)
        request_id = stream.response.headers["request-id"]
    assert message.content[0].text and streamed == message.content[0].text
    assert wait_for_record(request_id).status == "ok"


def test_a_stream_follows_anthropics_event_sequence(gateway_url, carol_key):
    with httpx.stream(
        "POST",
        f"{gateway_url}/v1/messages",
        headers={"x-api-key": carol_key, "anthropic-version": "2023-06-01"},
        json={"model": "claude", "max_tokens": 100, "messages": HELLO, "stream": True},
        timeout=30,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]

    names = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    datas = [orjson.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert names == [d["type"] for d in datas]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 6,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert datas[2]["content_block"] == {"type": "text", "text": ""}
    assert {d["delta"]["type"] for d in datas[3:9]} == {"text_delta"}
    assert datas[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert datas[-2]["usage"]["output_tokens"] == 6


# --- count_tokens -------------------------------------------------------------------------


def test_count_tokens_estimates_the_prompt_and_charges_nothing(claude_sdk, upstream, carol):
    short = claude_sdk.messages.count_tokens(model="claude", messages=HELLO)
    longer = claude_sdk.messages.count_tokens(
        model="plain",
        system="You are a careful assistant who answers in full sentences.",
        messages=HELLO,
        tools=[WEATHER_TOOL],
    )

    assert 0 < short.input_tokens < longer.input_tokens
    assert upstream.requests() == []
    assert UsageRecord.objects.count() == 0
    assert balance_of(user=carol) == Decimal(10)
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude_sdk.messages.count_tokens(model="no-such-model", messages=HELLO)
    assert missing.value.body["error"]["type"] == "not_found_error"


# --- tools --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["plain-tools", "claude-tools"])
def test_a_tool_round_trip(claude_sdk, upstream, carol, model):
    first = claude_sdk.messages.create(
        model=model,
        max_tokens=200,
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any"},
    )
    assert first.stop_reason == "tool_use"
    (call,) = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"}
    sent = upstream.requests()[-1]["body"]
    if model == "plain-tools":
        assert sent["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": WEATHER_TOOL["input_schema"],
                },
            }
        ]
        assert sent["tool_choice"] == "required"
    else:
        assert sent["tools"] == [WEATHER_TOOL] and sent["tool_choice"] == {"type": "any"}

    second = claude_sdk.messages.with_raw_response.create(
        model=model,
        max_tokens=200,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"},
                    {"type": "text", "text": "Thanks! Summarise it."},
                ],
            },
        ],
        tools=[WEATHER_TOOL],
    )
    sent = upstream.requests()[-1]["body"]["messages"]
    if model == "plain-tools":
        assert sent[1]["tool_calls"][0]["id"] == call.id
        assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"}
        assert sent[3] == {"role": "user", "content": "Thanks! Summarise it."}
    else:
        assert sent[1]["content"][-1] == {
            "type": "tool_use",
            "id": call.id,
            "name": "get_weather",
            "input": {"city": "Paris"},
        }
        assert sent[2]["content"] == [
            {"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 21 C"},
            {"type": "text", "text": "Thanks! Summarise it."},
        ]
    wait_for_record(second.headers["request-id"])
    assert UsageRecord.objects.filter(user=carol, status="ok").count() == 2


@pytest.mark.parametrize("model", ["plain-tools", "claude-tools"])
def test_a_streamed_tool_call_arrives_as_input_json(claude_sdk, model):
    with claude_sdk.messages.stream(
        model=model, max_tokens=200, messages=HELLO, tools=[WEATHER_TOOL]
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()

    assert "input_json" in kinds
    assert final.stop_reason == "tool_use"
    (call,) = [block for block in final.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"} and call.id


# --- thinking -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["thinker", "claude-thinker"])
def test_thinking_comes_back_as_thinking_blocks(claude_sdk, upstream, model):
    thinking = {"type": "enabled", "budget_tokens": 2048}
    message = claude_sdk.messages.create(
        model=model, max_tokens=4096, messages=HELLO, thinking=thinking
    )
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking
    if model == "claude-thinker":
        assert upstream.requests()[-1]["body"]["thinking"] == thinking

    with claude_sdk.messages.stream(
        model=model, max_tokens=4096, messages=HELLO, thinking=thinking
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds
    assert final.content[0].type == "thinking" and final.content[0].thinking
    assert final.content[1].text == message.content[1].text


@pytest.mark.parametrize("model", ["thinker", "claude-thinker"])
def test_without_thinking_asked_for_there_are_no_thinking_blocks(claude_sdk, upstream, model):
    message = claude_sdk.messages.create(model=model, max_tokens=4096, messages=HELLO)
    assert [block.type for block in message.content] == ["text"]
    if model == "claude-thinker":
        assert "thinking" not in upstream.requests()[-1]["body"]


# --- authentication -----------------------------------------------------------------------


def test_x_api_key_and_bearer_both_authenticate_every_v1_route(gateway_url, carol_key, carol):
    bearer = anthropic.Anthropic(base_url=gateway_url, auth_token=carol_key, max_retries=0)
    assert bearer.messages.create(model="plain", max_tokens=20, messages=HELLO).content

    with httpx.Client(base_url=gateway_url, headers={"x-api-key": carol_key}) as client:
        completion = client.post("/v1/chat/completions", json={"model": "plain", "messages": HELLO})
        status = client.get("/v1/user/status")
        models = client.get("/v1/models")
    # Not the session stack (no CSRF 403): the key is the credential, as with Bearer.
    assert completion.status_code == 200 and completion.json()["object"] == "chat.completion"
    assert status.status_code == 200 and status.json()["email"] == carol.email
    assert models.status_code == 200


def test_a_bad_key_is_an_authentication_error(gateway_url, carol_key):
    client = anthropic.Anthropic(base_url=gateway_url, api_key="sk-chuk-" + "x" * 43, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        client.messages.create(model="plain", max_tokens=20, messages=HELLO)
    assert refused.value.status_code == 401
    assert refused.value.body["type"] == "error"
    assert refused.value.body["error"]["type"] == "authentication_error"
    with pytest.raises(anthropic.AuthenticationError):
        client.messages.count_tokens(model="plain", messages=HELLO)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, complaint",
    [
        ({"model": "plain", "messages": HELLO}, "max_tokens"),
        ({"model": "plain", "max_tokens": 0, "messages": HELLO}, "max_tokens"),
        ({"model": "plain", "max_tokens": 10, "messages": []}, "messages"),
        (
            {"model": "plain", "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]},
            "role",
        ),
        (
            {"model": "plain", "max_tokens": 10, "messages": HELLO, "temperature": 1.5},
            "temperature",
        ),
        ({"model": "plain", "max_tokens": 10, "messages": HELLO, "n": 2}, "n"),
        (
            {
                "model": "claude",
                "max_tokens": 2000,
                "messages": HELLO,
                "thinking": {"type": "enabled", "budget_tokens": 4000},
            },
            "budget_tokens",
        ),
        (
            {
                "model": "plain",
                "max_tokens": 10,
                "messages": HELLO,
                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            },
            "server tools",
        ),
        (
            {
                "model": "plain",
                "max_tokens": 10,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "a\u0000b"}]}],
            },
            "NUL",
        ),
    ],
)
def test_bad_input_is_an_invalid_request_error_that_charges_nothing(
    gateway_url, carol_key, upstream, carol, body, complaint
):
    refused = httpx.post(
        f"{gateway_url}/v1/messages", headers={"x-api-key": carol_key}, json=body, timeout=30
    )
    assert refused.status_code == 400
    assert refused.json()["type"] == "error"
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert complaint in refused.json()["error"]["message"]
    assert upstream.requests() == []
    assert UsageRecord.objects.count() == 0
    assert balance_of(user=carol) == Decimal(10) == ledger_sum(user=carol)


def test_an_unknown_model_is_not_found(claude_sdk):
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude_sdk.messages.create(model="no-such-model", max_tokens=10, messages=HELLO)
    assert missing.value.body["error"]["type"] == "not_found_error"


def test_a_balance_that_cannot_cover_the_call_is_a_billing_error(gateway_url, catalogue):
    dave = UserFactory(email="dave@example.com")  # no credit at all
    _, key = api_key_create(user=dave, name="dave's script")
    client = anthropic.Anthropic(base_url=gateway_url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(model="claude", max_tokens=1000, messages=HELLO)
    assert refused.value.status_code == 402
    assert refused.value.body["error"]["type"] == "billing_error"
    assert UsageRecord.objects.count() == 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_provider_down_before_answering_is_a_plain_api_error(claude_sdk, carol, stream):
    with pytest.raises(anthropic.InternalServerError) as failed:
        claude_sdk.messages.create(model="all-down", max_tokens=10, messages=HELLO, stream=stream)
    assert failed.value.status_code == 502
    assert failed.value.body["error"]["type"] == "api_error"
    assert balance_of(user=carol) == Decimal(10)


# --- other clients ------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["plain", "claude"])
def test_litellms_anthropic_provider_works_unchanged(
    gateway_url, carol_key, carol, model, monkeypatch
):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch from GitHub
    import litellm

    reply = litellm.completion(
        model=f"anthropic/{model}",
        api_base=gateway_url,
        api_key=carol_key,
        messages=[{"role": "system", "content": "Be brief."}, *HELLO],
        max_tokens=100,
    )
    assert reply.choices[0].message.content
    assert reply.usage.completion_tokens == len(reply.choices[0].message.content.split())

    chunks = litellm.completion(
        model=f"anthropic/{model}",
        api_base=gateway_url,
        api_key=carol_key,
        messages=HELLO,
        max_tokens=100,
        stream=True,
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == reply.choices[0].message.content
