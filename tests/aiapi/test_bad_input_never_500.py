"""Bad input is a 4xx JSON error that changes nothing, never a 500: odd JSON types where a
string is expected, digits that are not ASCII, numbers past what the database can hold, NUL
characters PostgreSQL cannot store, and sizes no model can produce. Each case names the error
it gets, and afterwards carol has no usage record, no new ledger row, no hold and no stored
conversation. A model's answer that contains a NUL is stored too."""

from decimal import Decimal

import pytest
from channels.testing import WebsocketCommunicator

from aiapi.catalogue import catalogue_load
from aiapi.models import Conversation, Message
from billing.models import CreditAccount, LedgerEntry, Reservation, UsageRecord
from billing.selectors import balance_of
from chukchat.asgi import application
from tests.aiapi.chuk_support import sse_events, text_of

HELLO = [{"role": "user", "content": "hello"}]
CHAT_ENDPOINTS = ["/v1/chat/completions", "/v1/ai/chat", "/v1/ai/chat/stream"]
BIGINT_PAST = 2**63  # one more than PostgreSQL's bigint holds


@pytest.fixture
def nothing_changed(carol):
    """After the test: carol was charged nothing, holds nothing, and nothing was stored."""
    yield
    assert not UsageRecord.objects.exists()
    assert LedgerEntry.objects.filter(account__user=carol).count() == 1  # the grant only
    assert balance_of(user=carol) == Decimal(10)
    assert CreditAccount.objects.get(user=carol).reserved == 0
    assert not Reservation.objects.exists()
    assert not Conversation.objects.exists()
    assert not Message.objects.exists()


def refused(response, status: int, code: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["type"]
    if param is not None:
        assert error.get("param") == param, error
    return error


# --- messages[].role ----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS)
@pytest.mark.parametrize("role", [{"name": "user"}, ["user"]], ids=["object", "list"])
def test_a_role_that_is_an_object_or_a_list_is_invalid_messages(
    http, nothing_changed, endpoint, role
):
    body = {"model": "fast", "messages": [{"role": role, "content": "hello"}]}
    refused(http.post(endpoint, json=body), 400, "invalid_messages", "messages[0]")


@pytest.mark.parametrize("endpoint", ["/v1/ai/chat", "/v1/ai/chat/stream"])
@pytest.mark.parametrize("role", [{}, []], ids=["object", "list"])
def test_a_role_that_is_an_object_or_a_list_is_refused_for_a_saved_conversation(
    http, nothing_changed, endpoint, role
):
    body = {
        "model": "fast",
        "conversation_id": "new",
        "messages": [{"role": role, "content": "hello"}],
    }
    refused(http.post(endpoint, json=body), 400, "invalid_messages")


# --- response_format ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", [{}, [], ["text"], 5, None, True], ids=repr)
def test_a_response_format_type_that_is_not_a_string_is_invalid_request(
    http, nothing_changed, kind
):
    body = {"model": "fast", "messages": HELLO, "response_format": {"type": kind}}
    refused(http.post("/v1/chat/completions", json=body), 400, "invalid_request", "response_format")


# --- conversation_id and edit_message_id --------------------------------------------------


@pytest.mark.parametrize(
    "conversation_id",
    [
        "²",
        "\u0661\u0662",
        "1²",
        "9" * 5000,
        str(BIGINT_PAST),
        BIGINT_PAST,
        "0",
        0,
        -1,
        " 1",
        "1.0",
        1.0,
    ],
    ids=[
        "superscript-two",
        "arabic-indic-digits",  # "12" in Arabic-Indic digits
        "one-superscript-two",
        "5000-digits",
        "past-bigint-text",
        "past-bigint-number",
        "zero-text",
        "zero",
        "negative",
        "leading-space",
        "decimal-text",
        "decimal-number",
    ],
)
def test_a_conversation_id_that_is_not_a_database_id_is_invalid_request(
    http, nothing_changed, conversation_id
):
    body = {"model": "fast", "messages": HELLO, "conversation_id": conversation_id}
    refused(http.post("/v1/ai/chat", json=body), 400, "invalid_request", "conversation_id")


@pytest.mark.parametrize(
    "conversation_id", ["²", "9" * 5000], ids=["superscript-two", "5000-digits"]
)
def test_the_stream_endpoint_refuses_the_same_conversation_ids(
    http, nothing_changed, conversation_id
):
    body = {"model": "fast", "messages": HELLO, "conversation_id": conversation_id}
    refused(http.post("/v1/ai/chat/stream", json=body), 400, "invalid_request", "conversation_id")


def test_a_conversation_id_in_ascii_digits_still_continues_the_conversation(http, carol):
    first = http.post(
        "/v1/ai/chat", json={"model": "fast", "messages": HELLO, "conversation_id": "new"}
    ).json()
    again = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "messages": HELLO, "conversation_id": str(first["conversationId"])},
    )
    assert again.status_code == 201, again.text
    assert again.json()["conversationId"] == first["conversationId"]
    assert Message.objects.filter(conversation_id=first["conversationId"]).count() == 4


@pytest.mark.parametrize("edit_message_id", [BIGINT_PAST, 0], ids=["past-bigint", "zero"])
def test_an_edit_message_id_past_the_database_is_invalid_request(http, carol, edit_message_id):
    saved = http.post(
        "/v1/ai/chat", json={"model": "fast", "messages": HELLO, "conversation_id": "new"}
    ).json()
    records, messages = UsageRecord.objects.count(), Message.objects.count()
    entries, balance = LedgerEntry.objects.count(), balance_of(user=carol)

    response = http.post(
        "/v1/ai/chat",
        json={
            "model": "fast",
            "messages": HELLO,
            "conversation_id": saved["conversationId"],
            "edit_message_id": edit_message_id,
        },
    )

    refused(response, 400, "invalid_request", "edit_message_id")
    assert UsageRecord.objects.count() == records and Message.objects.count() == messages
    assert LedgerEntry.objects.count() == entries and balance_of(user=carol) == balance
    # No hold of its own (the process may keep its credit lease from the first answer).
    assert not Reservation.objects.exclude(request_id__startswith="lease:").exists()


# --- NUL characters -----------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", CHAT_ENDPOINTS)
@pytest.mark.parametrize(
    "content",
    [
        "hel\x00lo",
        [{"type": "text", "text": "\x00"}],
        [{"type": "image_url", "image_url": {"url": "https://example.com/a\x00.png"}}],
    ],
    ids=["text", "text-part", "image-url"],
)
def test_a_nul_character_in_content_is_invalid_messages(http, nothing_changed, endpoint, content):
    body = {"model": "fast", "messages": [{"role": "user", "content": content}]}
    if endpoint != "/v1/chat/completions":
        body["conversation_id"] = "new"  # saved: the content would be stored
    refused(http.post(endpoint, json=body), 400, "invalid_messages", "messages[0]")


def test_a_nul_character_in_the_chuk_content_field_is_invalid_messages(http, nothing_changed):
    body = {"model": "fast", "content": "a\x00b", "conversation_id": "new"}
    refused(http.post("/v1/ai/chat", json=body), 400, "invalid_messages")


def test_a_nul_character_in_the_system_prompt_is_invalid_request(http, nothing_changed):
    body = {"model": "fast", "messages": HELLO, "system": "be\x00brief", "conversation_id": "new"}
    refused(http.post("/v1/ai/chat", json=body), 400, "invalid_request", "system")


@pytest.fixture
def nul_model(catalogue):
    """A model whose answer and reasoning each carry a NUL character."""
    catalogue_load(
        text='[[models]]\nid = "nul-answer"\nprovider = "fake"\n'
        'upstream = "fake:tokens=3,reasoning=2,nul=1"\nreasoning = true\n'
        "input_price = 1.0\noutput_price = 2.0\n"
    )


def test_an_answer_containing_nul_reaches_the_client_and_is_stored_with_a_replacement(
    http, carol, nul_model
):
    body = {"model": "nul-answer", "messages": HELLO, "conversation_id": "new"}
    response = http.post("/v1/ai/chat", json=body)

    assert response.status_code == 201, response.text
    assert response.json()["text"] == "a\x00lpha bravo charlie"  # as the model sent it
    answer = Message.objects.get(role="assistant")
    assert answer.content == "a\ufffdlpha bravo charlie"  # U+FFFD, REPLACEMENT CHARACTER
    assert answer.reasoning == "f\ufffdirst consider"
    assert (answer.error, answer.finish_reason) == ("", "stop")
    record = UsageRecord.objects.get(request_id=answer.request_id)
    assert record.status == "ok" and record.cost == answer.cost > 0
    assert balance_of(user=carol) == Decimal(10) - record.cost
    read = http.get(f"/v1/conversations/{answer.conversation_id}")
    assert read.status_code == 200, read.text


def test_a_streamed_answer_containing_nul_ends_with_done_and_is_stored(http, carol, nul_model):
    body = {"model": "nul-answer", "messages": HELLO, "conversation_id": "new"}
    with http.stream("POST", "/v1/ai/chat/stream", json=body) as response:
        assert response.status_code == 200
        events = sse_events(response.iter_lines())

    assert text_of(events) == "a\x00lpha bravo charlie"
    done = events[-1]
    assert done["done"] is True
    answer = Message.objects.get(role="assistant")
    assert done["messageId"] == answer.pk
    assert answer.content == "a\ufffdlpha bravo charlie"
    assert UsageRecord.objects.get(request_id=answer.request_id).status == "ok"


# --- embeddings dimensions ----------------------------------------------------------------


@pytest.mark.parametrize("dimensions", [10**9, 4097, 0, BIGINT_PAST], ids=repr)
def test_embedding_dimensions_out_of_range_are_invalid_request(
    http, nothing_changed, upstream, dimensions
):
    upstream.clear()
    body = {"model": "emb", "input": "hello", "dimensions": dimensions}
    refused(http.post("/v1/embeddings", json=body), 400, "invalid_request", "dimensions")
    assert upstream.requests() == []  # never forwarded


def test_embedding_dimensions_up_to_the_bound_are_served(http, carol):
    body = {"model": "emb", "input": "hello", "dimensions": 4096}
    response = http.post("/v1/embeddings", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["data"][0]["embedding"]) == 4096


# --- offset on paginated lists ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/user/usage"])
@pytest.mark.parametrize(
    "offset",
    ["99999999999999999999", "9" * 5000, "1000000001"],
    ids=["20-digits", "5000-digits", "bound+1"],
)
def test_an_offset_past_the_bound_is_a_400(http, nothing_changed, path, offset):
    response = http.get(path, params={"offset": offset})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/conversations", "/v1/user/usage"])
def test_an_offset_at_the_bound_is_an_empty_page(http, nothing_changed, path):
    response = http.get(path, params={"offset": "1000000000"})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [] and response.json()["hasMore"] is False


# --- the WebSocket goes through the same parser -------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"messages": [{"role": {}, "content": "hello"}]}, "invalid_messages"),
        (
            {"messages": [{"role": [], "content": "hello"}], "conversation_id": "new"},
            "invalid_messages",
        ),
        (
            {"messages": [{"role": "user", "content": "a\x00b"}], "conversation_id": "new"},
            "invalid_messages",
        ),
        ({"messages": HELLO, "conversation_id": "²"}, "invalid_request"),
        ({"messages": HELLO, "conversation_id": "9" * 5000}, "invalid_request"),
    ],
    ids=["role-object", "role-list-saved", "nul-content", "superscript-id", "5000-digit-id"],
)
async def test_the_websocket_answers_the_same_bad_frames_with_an_error_frame(
    carol_key, nothing_changed, frame, code
):
    socket = WebsocketCommunicator(
        application, "/v1/ai/chat/ws", headers=[(b"authorization", f"Bearer {carol_key}".encode())]
    )
    connected, _ = await socket.connect()
    assert connected
    try:
        await socket.send_json_to({"type": "chat", "id": "bad", "model": "fast", **frame})
        error = await socket.receive_json_from(timeout=10)
        assert (error["type"], error["id"], error["code"], error["status"]) == (
            "error",
            "bad",
            code,
            400,
        ), error
        assert await socket.receive_nothing(timeout=0.2)  # still open, and nothing more sent
    finally:
        await socket.disconnect(timeout=2)
