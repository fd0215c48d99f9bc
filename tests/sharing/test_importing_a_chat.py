"""Importing a chat exported as JSON: the importer gets a new conversation with the same
title and messages, nothing charged and no cost or usage copied; a file that is not an
exported chat is refused with a clear 400 (or 413) and changes nothing."""

import json

import httpx
import pytest

from aiapi.models import Conversation, Message
from billing.models import UsageRecord
from billing.selectors import balance_of
from sharing.imports import MAX_MESSAGES
from tests.factories import UserFactory

QUESTION = "What is the capital of France?"


def say(http, content, conversation_id="new"):
    reply = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": conversation_id, "content": content},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def exported(http, conversation_id) -> dict:
    reply = http.get(f"/v1/conversations/{conversation_id}/export", params={"format": "json"})
    assert reply.status_code == 200
    return reply.json()


def import_raw(http, content: bytes):
    return http.post(
        "/v1/conversations/import", content=content, headers={"Content-Type": "application/json"}
    )


def test_an_exported_chat_comes_back_as_a_new_chat_with_the_same_messages(http, carol):
    first = say(http, QUESTION)
    say(http, "And of Spain?", conversation_id=first["conversationId"])
    original = exported(http, first["conversationId"])
    balance, usage = balance_of(user=carol), UsageRecord.objects.count()

    reply = http.post("/v1/conversations/import", json=original)

    assert reply.status_code == 201, reply.text
    imported = reply.json()
    assert imported["id"] != original["id"]
    assert imported["title"] == original["title"] == QUESTION
    assert [(m["role"], m["content"], m["model"]) for m in imported["messages"]] == [
        (m["role"], m["content"], m["model"]) for m in original["messages"]
    ]
    # No cost, tokens or request ids carried over; nothing charged or counted.
    for message in imported["messages"]:
        assert message["cost"]["charged"] == "0"
        assert message["usage"]["totalTokens"] == 0
        assert message["requestId"] is None
    assert balance_of(user=carol) == balance
    assert UsageRecord.objects.count() == usage
    assert Conversation.objects.get(pk=imported["id"]).owner == carol
    # It is a chat like any other: listed first, and it can be continued.
    assert http.get("/v1/conversations").json()["data"][0]["id"] == imported["id"]
    say(http, "And of Italy?", conversation_id=imported["id"])
    assert Message.objects.filter(conversation_id=imported["id"]).count() == 6


def test_someone_else_can_import_a_file_they_were_given(http, gateway_url, catalogue):
    original = exported(http, say(http, QUESTION)["conversationId"])
    from accounts.api_keys import api_key_create

    dave = UserFactory(email="dave@example.com")
    _, key = api_key_create(user=dave, name="dave's")
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}) as d:
        reply = d.post("/v1/conversations/import", json=original)
    assert reply.status_code == 201
    assert Conversation.objects.get(pk=reply.json()["id"]).owner == dave


def test_a_chat_without_a_title_is_titled_by_its_first_question(http):
    reply = http.post(
        "/v1/conversations/import",
        json={"messages": [{"role": "user", "content": "Tell me about teapots please"}]},
    )
    assert reply.status_code == 201
    assert reply.json()["title"] == "Tell me about teapots please"


BAD = [
    ("not JSON", b"this is not json {", "invalid_json"),
    ("a list, not a chat", b'[{"role": "user", "content": "hi"}]', "invalid_import"),
    ("no messages", b'{"title": "x"}', "invalid_request"),
    ("messages not a list", b'{"messages": "hello"}', "invalid_request"),
    ("no messages at all", b'{"messages": []}', "invalid_request"),
    ("a message not an object", b'{"messages": ["hi"]}', "invalid_request"),
    ("an unknown role", b'{"messages": [{"role": "wizard", "content": "hi"}]}', "invalid_request"),
    ("a tool message", b'{"messages": [{"role": "tool", "content": "hi"}]}', "invalid_request"),
    ("no content", b'{"messages": [{"role": "user"}]}', "invalid_request"),
    ("content a number", b'{"messages": [{"role": "user", "content": 5}]}', "invalid_import"),
    ("content null", b'{"messages": [{"role": "user", "content": null}]}', "invalid_request"),
    (
        "an unknown part",
        b'{"messages": [{"role": "user", "content": [{"type": "video"}]}]}',
        "invalid_import",
    ),
    (
        "an answer with an image",
        b'{"messages": [{"role": "assistant", "content": [{"type": "image_url",'
        b' "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}',
        "invalid_import",
    ),
    ("a NUL", b'{"messages": [{"role": "user", "content": "a\\u0000b"}]}', "invalid_import"),
    (
        "a lone surrogate",
        b'{"messages": [{"role": "user", "content": "a\\ud800b"}]}',
        "invalid_import",
    ),
    (
        "a title too long",
        json.dumps({"title": "t" * 201, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        "invalid_request",
    ),
    (
        "too many messages",
        json.dumps({"messages": [{"role": "user", "content": "hi"}] * (MAX_MESSAGES + 1)}).encode(),
        "invalid_request",
    ),
]


@pytest.mark.parametrize(("case", "body", "code"), BAD, ids=[case for case, _, _ in BAD])
def test_a_bad_file_is_refused_clearly_and_changes_nothing(http, carol, case, body, code):
    before = Conversation.objects.count(), Message.objects.count()
    reply = import_raw(http, body)
    assert reply.status_code == 400, (case, reply.text)
    error = reply.json()["error"]
    assert error["code"] == code, (case, error)
    assert error["message"]
    assert (Conversation.objects.count(), Message.objects.count()) == before


def test_the_messages_named_in_an_error_are_the_bad_ones(http):
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "wizard", "content": "abracadabra"},
        ]
    }
    error = http.post("/v1/conversations/import", json=body).json()["error"]
    assert error["message"] == "messages.1.role: role must be one of assistant, system, user."
    assert error["param"] == "messages.1.role"
    many = {"messages": [{"role": "user", "content": "hi"}] * (MAX_MESSAGES + 1)}
    error = http.post("/v1/conversations/import", json=many).json()["error"]
    assert f"at most {MAX_MESSAGES} messages" in error["message"]


def test_a_file_too_large_is_refused_and_changes_nothing(http):
    huge = {"messages": [{"role": "user", "content": "x" * (11 * 1024 * 1024)}]}
    reply = http.post("/v1/conversations/import", json=huge)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "payload_too_large"
    assert "too large to import" in reply.json()["error"]["message"]
    assert not Conversation.objects.exists()


def test_importing_needs_a_key_or_a_session(gateway_url, carol):
    reply = httpx.post(
        f"{gateway_url}/v1/conversations/import",
        json={"messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 401
    assert not Conversation.objects.exists()
