"""OpenAI's Responses API works with the official `openai` SDK pointed at us (base_url and key
only): create with a string or items, stream the documented events, a tools round trip,
continuing with previous_response_id, stored responses (retrieve, input items, delete, and
nobody else's), structured output; every answer valid against OpenAI's spec, and charged
exactly once."""

import json
import time
from decimal import Decimal

import httpx
import openai
import orjson
import pytest

from accounts.api_keys import api_key_create
from aiapi.models import StoredResponse
from billing.ledger import credit_grant
from billing.models import UsageRecord
from billing.selectors import balance_of, ledger_sum
from tests.aiapi.test_openai_sdk import upstream_text, wait_for_record
from tests.factories import UserFactory
from tests.support.openapi import assert_valid

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# Each streamed event's type and the schema of OpenAI's spec that describes it.
EVENT_SCHEMAS = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.reasoning_summary_part.added": "ResponseReasoningSummaryPartAddedEvent",
    "response.reasoning_summary_part.done": "ResponseReasoningSummaryPartDoneEvent",
    "response.reasoning_summary_text.delta": "ResponseReasoningSummaryTextDeltaEvent",
    "response.reasoning_summary_text.done": "ResponseReasoningSummaryTextDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
    "response.failed": "ResponseFailedEvent",
    "error": "ResponseErrorEvent",
}


def raw_events(http, body: dict) -> list[dict]:
    """The SSE events of a streamed response, as sent, each checked against the spec."""
    with http.stream("POST", "/v1/responses", json={**body, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    events, names = [], []
    for line in lines:
        if line.startswith("event: "):
            names.append(line[7:])
        elif line.startswith("data: "):
            events.append(orjson.loads(line[6:]))
    assert names == [e["type"] for e in events]  # each event is named on its own line
    for event in events:
        assert_valid(event, EVENT_SCHEMAS[event["type"]])
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events


@pytest.fixture
def dave_sdk(gateway_url, catalogue) -> openai.OpenAI:
    dave = UserFactory(email="dave@example.com")
    credit_grant(user=dave, amount=Decimal("5"), description="test credit")
    _, key = api_key_create(user=dave, name="dave's script")
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)


def test_a_string_input_gets_the_models_answer_charged_once(sdk, upstream, carol):
    raw = sdk.responses.with_raw_response.create(
        model="fast", input="What is the capital of France?", instructions="Be terse."
    )
    response = raw.parse()

    assert response.object == "response" and response.status == "completed"
    assert response.id.startswith("resp_") and response.model == "fast"
    assert response.output_text == upstream_text(upstream, "fake:tokens=8")
    assert response.instructions == "Be terse."
    assert response.usage.output_tokens == 8
    sent = upstream.requests()[-2]["body"]["messages"]  # [-1] is upstream_text's own call
    assert sent == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    record = wait_for_record(raw.headers["x-request-id"])
    assert response.id == f"resp_{record.request_id}"
    assert record.endpoint == "responses" and record.status == "ok"
    assert record.prompt_tokens == response.usage.input_tokens
    assert record.completion_tokens == 8
    cost = Decimal(raw.headers["x-chuk-cost"])
    assert record.cost == cost == (record.prompt_tokens * 1 + 8 * 2) / Decimal(1_000_000)
    assert balance_of(user=carol) == Decimal(10) - cost == ledger_sum(user=carol)
    assert UsageRecord.objects.filter(user=carol).count() == 1


def test_the_response_object_conforms_to_the_spec(http):
    response = http.post(
        "/v1/responses", json={"model": "thinker", "input": "hi", "reasoning": {"effort": "low"}}
    )
    payload = response.json()
    assert_valid(payload, "Response")
    assert [item["type"] for item in payload["output"]] == ["reasoning", "message"]
    assert payload["output"][0]["summary"][0]["type"] == "summary_text"
    assert payload["usage"]["output_tokens_details"]["reasoning_tokens"] == 3
    assert payload["reasoning"]["effort"] == "low"


def test_reasoning_effort_reaches_an_openai_kind_provider(sdk, upstream):
    sdk.responses.create(model="thinker", input="hi", reasoning={"effort": "high"})
    assert upstream.requests()[-1]["body"]["reasoning_effort"] == "high"


def test_items_input_with_parameters_reaches_the_provider(sdk, upstream):
    response = sdk.responses.create(
        model="plain",
        input=[
            {"role": "developer", "content": "Answer in French."},
            {"role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
            {"type": "message", "role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "And goodbye?"},
        ],
        temperature=0.4,
        top_p=0.8,
        max_output_tokens=50,
        metadata={"job": "nightly"},
    )

    assert response.status == "completed" and response.metadata == {"job": "nightly"}
    assert response.temperature == 0.4 and response.top_p == 0.8
    assert response.max_output_tokens == 50
    body = upstream.requests()[-1]["body"]
    assert body["messages"] == [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [{"type": "text", "text": "Hello"}]},
        {"role": "assistant", "content": "Bonjour"},
        {"role": "user", "content": "And goodbye?"},
    ]
    assert body["temperature"] == 0.4 and body["top_p"] == 0.8
    assert body["max_completion_tokens"] == 50


def test_a_short_max_output_tokens_makes_an_incomplete_response(sdk):
    response = sdk.responses.create(model="fast", input="hi", max_output_tokens=3)

    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage.output_tokens == 3


def test_streaming_sends_the_documented_events_in_order(sdk, http, upstream, carol):
    with sdk.responses.stream(model="fast", input="Tell me a story") as stream:
        events = list(stream)
        final = stream.get_final_response()

    text = upstream_text(upstream, "fake:tokens=8")
    assert final.output_text == text and final.status == "completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == text
    kinds = [e.type for e in events if e.type != "response.output_text.delta"]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert final.usage.output_tokens == 8
    record = wait_for_record(final.id.removeprefix("resp_"))
    assert record.completion_tokens == 8 and record.status == "ok"
    assert record.cost == (record.prompt_tokens * 1 + 8 * 2) / Decimal(1_000_000)
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)


def test_every_streamed_event_conforms_to_the_spec(http):
    for body in (
        {"model": "thinker", "input": "hi"},
        {"model": "toolsy", "input": "weather?", "tools": [WEATHER_TOOL]},
        {"model": "claude-thinker", "input": "hi"},
    ):
        events = raw_events(http, body)
        assert events[0]["type"] == "response.created"
        assert events[-1]["type"] == "response.completed"
        final = events[-1]["response"]
        assert_valid(final, "Response")
        assert final["usage"]["total_tokens"] > 0


def test_reasoning_streams_as_a_reasoning_summary(http):
    events = raw_events(http, {"model": "thinker", "input": "hi"})

    kinds = [e["type"] for e in events if not e["type"].endswith(".delta")]
    assert kinds[2:6] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
    ]
    thought = "".join(
        e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"
    )
    final = events[-1]["response"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": thought}]
    assert thought and final["output"][1]["type"] == "message"


def test_a_tools_round_trip(sdk, upstream):
    first = sdk.responses.create(model="toolsy", input="Weather in Paris?", tools=[WEATHER_TOOL])

    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Paris"}
    assert first.tools[0].name == "get_weather"
    sent_tools = upstream.requests()[-1]["body"]["tools"]
    assert sent_tools[0]["function"]["name"] == "get_weather"
    assert sent_tools[0]["function"]["parameters"] == WEATHER_TOOL["parameters"]

    second = sdk.responses.create(
        model="fast",
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21C"},
        ],
        tools=[WEATHER_TOOL],
    )

    assert second.status == "completed" and second.output_text
    messages = upstream.requests()[-1]["body"]["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": call.arguments},
            }
        ],
    }
    assert messages[2] == {"role": "tool", "tool_call_id": call.call_id, "content": "Sunny, 21C"}


def test_a_streamed_tool_call_delivers_its_arguments(sdk):
    with sdk.responses.stream(
        model="toolsy", input="Weather?", tools=[WEATHER_TOOL], tool_choice="required"
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()

    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = next(e for e in events if e.type == "response.function_call_arguments.done")
    assert "".join(deltas) == done.arguments == final.output[0].arguments
    assert json.loads(done.arguments) == {"city": "Paris"}


def test_previous_response_id_continues_the_conversation(sdk, upstream):
    first = sdk.responses.create(model="fast", input="My name is Carol.", instructions="Be nice.")
    second = sdk.responses.create(
        model="fast", input="What is my name?", previous_response_id=first.id
    )

    assert second.previous_response_id == first.id
    messages = upstream.requests()[-1]["body"]["messages"]
    # Instructions are not carried over (as OpenAI documents); the conversation is.
    assert messages == [
        {"role": "user", "content": "My name is Carol."},
        {"role": "assistant", "content": first.output_text},
        {"role": "user", "content": "What is my name?"},
    ]
    third = sdk.responses.create(model="fast", input="Thanks.", previous_response_id=second.id)
    assert len(upstream.requests()[-1]["body"]["messages"]) == 5
    assert third.status == "completed"


def test_a_stored_response_can_be_retrieved_listed_and_deleted(sdk, http):
    created = sdk.responses.create(
        model="fast",
        input=[
            {"role": "user", "content": "First question"},
            {"role": "assistant", "content": "First answer"},
            {"role": "user", "content": "Second question"},
        ],
    )

    fetched = sdk.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == created.output_text
    assert_valid(http.get(f"/v1/responses/{created.id}").json(), "Response")

    items = sdk.responses.input_items.list(created.id, order="asc")
    assert [item.role for item in items.data] == ["user", "assistant", "user"]
    assert items.data[0].content[0].text == "First question"
    listed = http.get(f"/v1/responses/{created.id}/input_items").json()
    assert_valid(listed, "ResponseItemList")
    assert listed["data"][0]["content"][0]["text"] == "Second question"  # newest first
    page = http.get(f"/v1/responses/{created.id}/input_items?order=asc&limit=2").json()
    assert page["has_more"] is True and len(page["data"]) == 2
    rest = http.get(
        f"/v1/responses/{created.id}/input_items?order=asc&after={page['last_id']}"
    ).json()
    assert [i["content"][0]["text"] for i in rest["data"]] == ["Second question"]

    deleted = http.delete(f"/v1/responses/{created.id}")
    assert deleted.json() == {"id": created.id, "object": "response.deleted", "deleted": True}
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created.id)
    assert http.delete(f"/v1/responses/{created.id}").status_code == 404


def test_a_streamed_response_is_stored_by_the_time_it_completes(sdk):
    with sdk.responses.stream(model="fast", input="hi") as stream:
        final = stream.get_final_response()
        assert sdk.responses.retrieve(final.id).output_text == final.output_text


def test_store_false_keeps_nothing(sdk):
    response = sdk.responses.create(model="fast", input="hi", store=False)

    assert response.store is False
    assert not StoredResponse.objects.filter(id=response.id).exists()
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(response.id)


def test_someone_elses_response_does_not_exist_for_me(sdk, dave_sdk, carol):
    carols = sdk.responses.with_raw_response.create(model="fast", input="my secret plan")
    wait_for_record(carols.headers["x-request-id"])
    carols = carols.parse()
    records_before = UsageRecord.objects.count()

    for attempt in (
        lambda: dave_sdk.responses.retrieve(carols.id),
        lambda: dave_sdk.responses.input_items.list(carols.id),
        lambda: dave_sdk.responses.delete(carols.id),
        lambda: dave_sdk.responses.create(
            model="fast", input="go on", previous_response_id=carols.id
        ),
    ):
        with pytest.raises(openai.NotFoundError) as caught:
            attempt()
        assert caught.value.body["code"] == "response_not_found"
        assert "secret" not in str(caught.value.body)
    assert sdk.responses.retrieve(carols.id).id == carols.id  # still carol's
    assert UsageRecord.objects.count() == records_before  # dave was charged nothing


def test_json_schema_text_format_becomes_the_providers_response_format(sdk, upstream):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    response = sdk.responses.create(
        model="fast",
        input="Which city?",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema, "strict": True}},
    )

    assert response.text.format.type == "json_schema"
    body = upstream.requests()[-1]["body"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": schema, "strict": True},
    }
    sdk.responses.create(
        model="fast", input="JSON please", text={"format": {"type": "json_object"}}
    )
    assert upstream.requests()[-1]["body"]["response_format"] == {"type": "json_object"}


def test_served_for_an_anthropic_kind_model(sdk, upstream):
    response = sdk.responses.create(model="claude", input="hi", instructions="Be brief.")

    assert response.output_text == upstream_text(upstream, "fake:tokens=6")
    request = [r for r in upstream.requests() if r["path"].endswith("/messages")][-1]
    assert request["body"]["system"] == "Be brief."


def test_served_under_api_v1_too(gateway_url, carol_key):
    client = openai.OpenAI(base_url=f"{gateway_url}/api/v1", api_key=carol_key, max_retries=0)
    assert client.responses.create(model="fast", input="hi").status == "completed"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fast"}, "input"),
        ({"model": "fast", "input": []}, "input"),
        ({"model": "fast", "input": [{"type": "web_search_call"}]}, "input[0]"),
        ({"model": "fast", "input": "hi", "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"model": "fast", "input": "hi", "temperature": 3}, "temperature"),
        ({"model": "fast", "input": "hi", "text": {"format": {"type": "yaml"}}}, "text.format"),
        ({"model": "fast", "input": "hi", "reasoning": {"effort": "huge"}}, "reasoning"),
        ({"model": "fast", "input": "hi", "frobnicate": True}, "frobnicate"),
        ({"model": "fast", "input": "hi", "store": "yes"}, "store"),
        ({"model": "fast", "input": [{"role": "user", "content": "a\x00b"}]}, "input[0].content"),
        ({"model": "fast", "input": "hi", "metadata": {"k": "\x00"}}, "metadata.k"),
        ({"model": "fast", "input": "hi", "max_output_tokens": 0}, "max_output_tokens"),
        (
            {"model": "fast", "input": [{"role": "user", "content": [{"type": "input_file"}]}]},
            "input[0].content[0]",
        ),
    ],
)
def test_bad_input_is_a_400_that_charges_nothing(http, carol, body, param):
    response = http.post("/v1/responses", json=body)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert_valid(response.json(), "ErrorResponse")
    assert UsageRecord.objects.count() == 0
    assert balance_of(user=carol) == Decimal(10)


def test_an_id_we_could_never_have_made_is_simply_not_found(http):
    for response_id in ("resp_%00", "x" * 300):
        assert http.get(f"/v1/responses/{response_id}").status_code == 404
        assert http.delete(f"/v1/responses/{response_id}").status_code == 404
    response = http.post(
        "/v1/responses", json={"model": "fast", "input": "hi", "previous_response_id": "x" * 99}
    )
    assert response.status_code == 404 and response.json()["error"]["param"] == (
        "previous_response_id"
    )


def test_a_provider_failure_before_answering_is_a_plain_http_error(http, carol):
    for stream in (False, True):
        response = http.post(
            "/v1/responses", json={"model": "all-down", "input": "hi", "stream": stream}
        )
        assert response.status_code == 502
        assert response.json()["error"]["code"] == "provider_error"
    assert StoredResponse.objects.count() == 0
    assert balance_of(user=carol) == Decimal(10)


def test_a_stream_cut_mid_way_ends_with_response_failed(http, carol):
    events = raw_events(http, {"model": "cut", "input": "hi"})

    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    record = wait_for_record(failed["id"].removeprefix("resp_"))
    assert record.status == "error"
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)


def test_without_a_key_is_401(gateway_url, catalogue):
    response = httpx.post(f"{gateway_url}/v1/responses", json={"model": "fast", "input": "hi"})
    assert response.status_code == 401


def test_langchain_with_the_responses_api_works_unchanged(gateway_url, carol_key, upstream):
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    def chat(model: str) -> ChatOpenAI:
        return ChatOpenAI(
            model=model,
            base_url=f"{gateway_url}/v1",
            api_key=carol_key,
            max_retries=0,
            use_responses_api=True,
        )

    text = upstream_text(upstream, "fake:tokens=8")
    assert chat("fast").invoke("hello").text == text
    assert "".join(chunk.text for chunk in chat("fast").stream("hello")) == text

    @tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "Sunny"

    reply = chat("toolsy").bind_tools([get_weather]).invoke("Weather in Paris?")
    assert reply.tool_calls[0]["name"] == "get_weather"
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}
    deadline = time.monotonic() + 5
    while UsageRecord.objects.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(UsageRecord.objects.values_list("endpoint", flat=True)) == ["responses"] * 3


def test_deleting_my_account_deletes_my_stored_responses_and_my_export_has_them(sdk, carol):
    from accounts.account_deletion import account_delete
    from aiapi.personal_data import export_for

    kept = sdk.responses.create(model="fast", input="remember my secret plan")
    exported = export_for(user=carol)["responses"]
    assert [r["id"] for r in exported] == [kept.id]
    assert exported[0]["inputItems"][0]["content"] == "remember my secret plan"

    carol.set_password("correct horse battery staple")
    carol.save()
    erased = account_delete(
        user=carol, password="correct horse battery staple", confirm_email="carol@example.com"
    )

    assert erased["chat: stored responses"] == 1
    assert not StoredResponse.objects.filter(owner=carol).exists()


def test_a_client_that_hangs_up_mid_stream_pays_once_for_what_was_generated(http, carol):
    body = {"model": "slow-stream", "input": "a long story", "stream": True}
    with http.stream("POST", "/v1/responses", json=body) as response:
        request_id = response.headers["x-request-id"]
        deltas = 0
        for line in response.iter_lines():
            deltas += line.startswith("data: ") and '"response.output_text.delta"' in line
            if deltas == 5:
                break  # and hang up

    record = wait_for_record(request_id)
    assert record.status == "cancelled" and 5 <= record.completion_tokens < 400
    assert UsageRecord.objects.filter(request_id=request_id).count() == 1
    assert balance_of(user=carol) == Decimal(10) - record.cost == ledger_sum(user=carol)
    assert not StoredResponse.objects.exists()  # never completed, so never stored
