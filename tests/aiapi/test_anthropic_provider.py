"""Anthropic models behind the OpenAI-compatible API: messages become Messages API calls, and
extended thinking comes back as reasoning."""

import json


def test_a_claude_model_answers_through_the_messages_api(sdk, upstream):
    reply = sdk.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ],
        max_tokens=300,
        temperature=0.3,
    )
    assert len(reply.choices[0].message.content.split()) == 6
    assert reply.usage.completion_tokens == 6
    sent = upstream.requests()[-1]
    assert sent["path"] == "/v1/messages"
    body = sent["body"]
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 300 and body["temperature"] == 0.3


def test_claude_streams_and_reports_usage(sdk):
    chunks = list(
        sdk.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 6
    assert chunks[-1].usage.completion_tokens == 6
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_extended_thinking_streams_as_reasoning_content(sdk, upstream):
    chunks = list(
        sdk.chat.completions.create(
            model="claude-thinker",
            messages=[{"role": "user", "content": "Think"}],
            max_tokens=4096,
            stream=True,
        )
    )
    reasoning = "".join(
        c.choices[0].delta.model_dump().get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert reasoning
    assert upstream.requests()[-1]["body"]["thinking"]["type"] == "enabled"


def test_tools_become_anthropic_tools(sdk, upstream):
    from tests.aiapi.test_openai_sdk import TOOLS

    sdk.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=TOOLS,
        tool_choice="required",
    )
    body = upstream.requests()[-1]["body"]
    assert body["tools"][0]["name"] == "get_weather"
    assert body["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
    assert body["tool_choice"] == {"type": "any"}
    assert json.dumps(body)  # the recorded request is plain JSON
