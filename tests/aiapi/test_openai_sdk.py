"""The official `openai` SDK works against our gateway with nothing changed but base_url and
api_key: models, chat (sync, async, streaming), reasoning, tools, embeddings."""

import time
from decimal import Decimal

import openai
import pytest

from billing.models import UsageRecord
from billing.selectors import balance_of, ledger_sum


def wait_for_record(request_id: str, timeout: float = 5.0) -> UsageRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = UsageRecord.objects.filter(request_id=request_id).first()
        if record is not None:
            return record
        time.sleep(0.02)
    raise AssertionError(f"no usage record for {request_id}")


def upstream_text(upstream, model: str, tokens_hint: str = "") -> str:
    """What the fake upstream says for `model`, asked directly."""
    direct = openai.OpenAI(base_url=upstream.base_url, api_key="x", max_retries=0)
    reply = direct.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello"}]
    )
    return reply.choices[0].message.content


def test_models_list_shows_active_models_with_capabilities(sdk):
    models = {m.id: m for m in sdk.models.list()}

    assert {"fast", "thinker", "claude", "emb"} <= set(models)
    assert "retired" not in models
    fast = models["fast"].model_dump()
    assert fast["object"] == "model"
    assert fast["owned_by"] == "fake"
    assert fast["root"] == "fast" and fast["parent"] is None and fast["permission"] == []
    assert fast["vision"] is True and fast["kind"] == "chat"
    assert fast["pricing"]["input_per_million_tokens"] == "1"
    assert models["emb"].model_dump()["kind"] == "embedding"


def test_models_are_served_under_api_v1_too(gateway_url, carol_key):
    client = openai.OpenAI(base_url=f"{gateway_url}/api/v1", api_key=carol_key)
    assert "fast" in {m.id for m in client.models.list()}
    assert client.models.retrieve("fast").id == "fast"


def test_chat_completion_returns_the_providers_answer_and_usage(sdk, upstream, carol):
    reply = sdk.chat.completions.with_raw_response.create(
        model="fast",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        temperature=0.2,
        max_tokens=100,
    )
    completion = reply.parse()

    assert completion.object == "chat.completion"
    assert completion.model == "fast"
    assert completion.choices[0].message.content == upstream_text(upstream, "fake:tokens=8")
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 8
    request_id = reply.headers["x-request-id"]
    record = wait_for_record(request_id)
    assert record.provider == "fake" and record.upstream_model == "fake:tokens=8"
    assert record.completion_tokens == 8 and record.status == "ok"
    assert record.prompt_tokens == completion.usage.prompt_tokens
    cost = Decimal(reply.headers["x-chuk-cost"])
    assert cost == (record.prompt_tokens * Decimal(1) + 8 * Decimal(2)) / 1_000_000
    assert record.cost == cost
    assert balance_of(user=carol) == Decimal(10) - cost == ledger_sum(user=carol)


def test_parameters_are_passed_to_the_provider(sdk, upstream):
    sdk.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.5,
        top_p=0.9,
        stop=["\n\n"],
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        max_tokens=50,
        response_format={"type": "json_object"},
        user="end-user-1",
        extra_body={"top_k": 40},
    )
    body = upstream.requests()[-1]["body"]
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9 and body["top_k"] == 40
    assert body["stop"] == ["\n\n"] and body["seed"] == 7
    assert body["presence_penalty"] == 0.1 and body["frequency_penalty"] == 0.2
    assert body["max_tokens"] == 50
    assert body["response_format"] == {"type": "json_object"}
    assert body["user"] == "end-user-1"


def test_max_tokens_is_capped_at_the_models_limit(sdk, upstream):
    sdk.chat.completions.create(
        model="plain", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=10**6
    )
    body = upstream.requests()[-1]["body"]
    assert body["max_completion_tokens"] == 4096  # the model's max_output_tokens


def test_streaming_delivers_every_token_then_usage_then_done(sdk, upstream):
    stream = sdk.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": "Tell me a story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == upstream_text(upstream, "fake:tokens=8")
    assert all(c.object == "chat.completion.chunk" and c.model == "fast" for c in chunks)
    # As OpenAI sends it: the finish, then the usage in a chunk of its own.
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_the_sse_wire_format_matches_the_reference(http):
    with http.stream(
        "POST",
        "/v1/chat/completions",
        json={"model": "fast", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    import orjson

    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    assert len(chunks) == 9  # 8 tokens and the final chunk
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert {c["id"] for c in chunks} == {chunks[0]["id"]}
    assert chunks[-1]["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "logprobs": None,
    }
    assert chunks[-1]["usage"]["completion_tokens"] == 8


async def test_the_async_client_streams_too(async_sdk, upstream):
    stream = await async_sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert len(text.split()) == 8

    reply = await async_sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == text


def test_reasoning_models_stream_reasoning_content_before_the_answer(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="thinker", messages=[{"role": "user", "content": "think"}], stream=True
        )
    )
    kinds = []
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta.model_dump()
        if delta.get("reasoning_content"):
            kinds.append("reasoning")
        if delta.get("content"):
            kinds.append("content")
    assert kinds == ["reasoning"] * 3 + ["content"] * 4

    reply = sdk.chat.completions.create(
        model="thinker", messages=[{"role": "user", "content": "think"}]
    )
    assert reply.choices[0].message.model_dump()["reasoning_content"]


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def test_tool_calls_are_passed_through_and_returned(sdk, upstream):
    reply = sdk.chat.completions.create(
        model="toolsy",
        messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=TOOLS,
        tool_choice="auto",
    )
    assert upstream.requests()[-1]["body"]["tools"] == TOOLS
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.id

    # and the conversation continues with the tool's result
    follow_up = sdk.chat.completions.create(
        model="fast",
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ],
    )
    assert follow_up.choices[0].message.content


def test_tool_calls_stream_as_deltas(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="toolsy",
            messages=[{"role": "user", "content": "Weather in Paris?"}],
            tools=TOOLS,
            stream=True,
        )
    )
    deltas = [
        c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls
    ]
    assert deltas
    assert deltas[0][0].function.name == "get_weather" and deltas[0][0].id
    arguments = "".join(d[0].function.arguments or "" for d in deltas)
    assert arguments.startswith("{")
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings_for_one_and_many_inputs(sdk, carol):
    one = sdk.embeddings.create(model="emb", input="Your text here", encoding_format="float")
    assert one.object == "list" and one.model == "emb"
    assert len(one.data) == 1 and one.data[0].index == 0
    assert all(isinstance(x, float) for x in one.data[0].embedding)
    assert one.usage.prompt_tokens > 0 and one.usage.total_tokens == one.usage.prompt_tokens

    many = sdk.embeddings.create(model="emb", input=["First", "Second", "Third"])
    assert [d.index for d in many.data] == [0, 1, 2]
    # The SDK asks for base64 by default and decodes it: same vectors either way.
    first = sdk.embeddings.create(model="emb", input="First", encoding_format="float")
    assert many.data[0].embedding == pytest.approx(first.data[0].embedding, rel=1e-6)
    assert balance_of(user=carol) == ledger_sum(user=carol) < Decimal(10)


def test_embedding_dimensions_are_passed_through(sdk, upstream):
    reply = sdk.embeddings.create(model="emb", input="x", dimensions=8, encoding_format="float")
    assert len(reply.data[0].embedding) == 8
    assert upstream.requests()[-1]["body"]["dimensions"] == 8


def test_usage_is_counted_when_the_provider_reports_none(sdk):
    reply = sdk.chat.completions.with_raw_response.create(
        model="no-usage", messages=[{"role": "user", "content": "count for me"}]
    )
    completion = reply.parse()
    assert completion.usage.completion_tokens > 0 and completion.usage.prompt_tokens > 0
    record = wait_for_record(reply.headers["x-request-id"])
    assert record.tokens_estimated
    assert record.cost > 0
