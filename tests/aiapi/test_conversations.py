"""Saved conversations: a chat that asks to be saved is kept, continued with its history,
regenerated or edited; its owner lists, searches, renames, archives, exports and deletes it;
nobody else can see it."""

import time

import httpx
import pytest
from django.test import Client

from accounts.api_keys import api_key_create
from aiapi.models import Conversation, Message
from billing.money import format_usd
from tests.factories import UserFactory

QUESTION = "What is the capital of France?"


def say(http, content, conversation_id="new", **body):
    reply = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": conversation_id, "content": content, **body},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def sent_messages(upstream):
    return upstream.requests()[-1]["body"]["messages"]


def test_a_conversation_is_titled_by_the_first_text_not_the_documents_after_it(http):
    document = '<document name="report.docx">\n# Teapot sales\n\nWe sold 4217.\n</document>'
    asked = say(http, [{"type": "text", "text": "Sum it up"}, {"type": "text", "text": document}])
    assert Conversation.objects.get(pk=asked["conversationId"]).title == "Sum it up"
    only_a_document = say(http, [{"type": "text", "text": document}])
    title = Conversation.objects.get(pk=only_a_document["conversationId"]).title
    assert title == "report.docx"
    html = say(http, "What does <b> do in HTML?")
    assert Conversation.objects.get(pk=html["conversationId"]).title == "What does <b> do in HTML?"


def test_a_new_conversation_is_saved_with_its_title_answer_tokens_and_cost(http, carol):
    answer = say(http, QUESTION)

    conversation = Conversation.objects.get(pk=answer["conversationId"])
    assert conversation.owner == carol
    assert conversation.title == "What is the capital of France?"
    assert conversation.model == "fast"
    question, reply = conversation.messages.all()
    assert (question.role, question.content) == ("user", QUESTION)
    assert (reply.role, reply.content) == ("assistant", answer["text"])
    assert reply.pk == answer["messageId"]
    assert reply.completion_tokens == answer["usage"]["outputTokens"] == 8
    assert format_usd(reply.cost) == answer["cost"]["charged"]
    assert reply.request_id == answer["id"] and reply.finish_reason == "stop"


def test_continuing_a_conversation_sends_its_history(http, upstream):
    first = say(http, QUESTION)
    upstream.clear()
    second = say(http, "And of Spain?", conversation_id=first["conversationId"])

    assert second["conversationId"] == first["conversationId"]
    assert sent_messages(upstream) == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first["text"]},
        {"role": "user", "content": "And of Spain?"},
    ]
    assert Message.objects.filter(conversation_id=first["conversationId"]).count() == 4


def test_regenerate_asks_again_without_the_last_answer(http, upstream):
    first = say(http, QUESTION)
    upstream.clear()
    again = say(http, None, conversation_id=first["conversationId"], regenerate=True)

    assert sent_messages(upstream) == [{"role": "user", "content": QUESTION}]
    messages = list(Message.objects.filter(conversation_id=first["conversationId"]))
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].pk == again["messageId"] != first["messageId"]


def test_editing_a_message_replaces_it_and_everything_after(http, upstream):
    first = say(http, QUESTION)
    conversation_id = first["conversationId"]
    say(http, "And of Spain?", conversation_id=conversation_id)
    spain = Message.objects.get(conversation_id=conversation_id, content="And of Spain?")
    upstream.clear()
    say(http, "And of Italy?", conversation_id=conversation_id, edit_message_id=spain.pk)

    assert sent_messages(upstream)[-1] == {"role": "user", "content": "And of Italy?"}
    contents = list(
        Message.objects.filter(conversation_id=conversation_id).values_list("content", flat=True)
    )
    assert len(contents) == 4 and contents[2] == "And of Italy?"
    assert "And of Spain?" not in contents


def test_editing_an_answer_is_refused(http):
    first = say(http, QUESTION)
    reply = http.post(
        "/v1/ai/chat",
        json={
            "conversation_id": first["conversationId"],
            "content": "x",
            "edit_message_id": first["messageId"],
        },
    )
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "edit_message_id"


def test_a_failed_answer_is_kept_with_its_error_but_not_shown_to_the_model(http, upstream):
    first = say(http, QUESTION)
    reply = http.post(
        "/v1/ai/chat",
        json={"model": "all-down", "conversation_id": first["conversationId"], "content": "Hi?"},
    )
    assert reply.status_code == 502
    failed = Message.objects.filter(conversation_id=first["conversationId"]).last()
    assert failed.role == "assistant" and failed.error and failed.cost == 0
    upstream.clear()
    say(http, "Still there?", conversation_id=first["conversationId"])
    assert [m["content"] for m in sent_messages(upstream)] == [
        QUESTION,
        first["text"],
        "Hi?",
        "Still there?",
    ]


@pytest.fixture
def erin_http(gateway_url, catalogue):
    erin = UserFactory(email="erin@example.com")
    _, key = api_key_create(user=erin)
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def test_someone_elses_conversation_is_a_404_everywhere(http, erin_http, carol):
    mine = say(http, QUESTION)["conversationId"]

    reply = erin_http.post(
        "/v1/ai/chat", json={"model": "fast", "conversation_id": mine, "content": "Hi"}
    )
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "conversation_not_found"
    for method, path in [
        ("GET", f"/v1/conversations/{mine}"),
        ("PATCH", f"/v1/conversations/{mine}"),
        ("DELETE", f"/v1/conversations/{mine}"),
        ("GET", f"/v1/conversations/{mine}/export"),
    ]:
        reply = erin_http.request(method, path, json={"title": "mine now"})
        assert reply.status_code == 404, (method, path)
    assert erin_http.get("/v1/conversations").json()["data"] == []
    assert Conversation.objects.get(pk=mine).title == QUESTION
    assert Message.objects.filter(conversation_id=mine).count() == 2


def test_the_list_is_newest_first_searchable_and_paginated(http):
    ids = [
        say(http, f"Question number {n} about {topic}")["conversationId"]
        for n, topic in enumerate(["cats", "dogs", "cats again"])
    ]

    listed = http.get("/v1/conversations").json()
    assert [c["id"] for c in listed["data"]] == ids[::-1]
    assert listed["hasMore"] is False
    assert [c["id"] for c in http.get("/v1/conversations?q=cats").json()["data"]] == [
        ids[2],
        ids[0],
    ]
    # Content matches too: every answer says "alpha".
    assert len(http.get("/v1/conversations?q=ALPHA").json()["data"]) == 3
    page = http.get("/v1/conversations?limit=2").json()
    assert len(page["data"]) == 2 and page["hasMore"] is True
    assert [c["id"] for c in http.get("/v1/conversations?limit=2&offset=2").json()["data"]] == [
        ids[0]
    ]
    assert http.get("/v1/conversations?limit=0").status_code == 400


def test_renaming_and_archiving(http):
    conversation_id = say(http, QUESTION)["conversationId"]

    renamed = http.patch(f"/v1/conversations/{conversation_id}", json={"title": "  Capitals "})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Capitals"
    http.patch(f"/v1/conversations/{conversation_id}", json={"archived": True})
    assert http.get("/v1/conversations").json()["data"] == []
    archived = http.get("/v1/conversations?archived=true").json()["data"]
    assert [c["id"] for c in archived] == [conversation_id]
    assert http.patch(f"/v1/conversations/{conversation_id}", json={}).status_code == 400
    assert http.patch(f"/v1/conversations/{conversation_id}", json={"title": ""}).status_code == 400


def test_a_conversation_reads_back_whole_and_exports_as_json_and_markdown(http):
    answer = say(http, QUESTION)
    conversation_id = answer["conversationId"]

    whole = http.get(f"/v1/conversations/{conversation_id}").json()
    assert [m["role"] for m in whole["messages"]] == ["user", "assistant"]
    assert whole["messages"][1]["cost"]["charged"] == answer["cost"]["charged"]
    exported = http.get(f"/v1/conversations/{conversation_id}/export")
    assert "attachment" in exported.headers["content-disposition"]
    assert exported.json()["messages"] == whole["messages"]
    markdown = http.get(f"/v1/conversations/{conversation_id}/export?format=markdown")
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith(f"# {QUESTION}\n")
    assert "## You\n\nWhat is the capital of France?" in markdown.text
    assert f"## Assistant (fast)\n\n{answer['text']}" in markdown.text
    assert http.get(f"/v1/conversations/{conversation_id}/export?format=pdf").status_code == 400


def test_deleting_a_conversation_deletes_its_messages(http):
    conversation_id = say(http, QUESTION)["conversationId"]
    assert http.delete(f"/v1/conversations/{conversation_id}").status_code == 204
    assert http.get(f"/v1/conversations/{conversation_id}").status_code == 404
    assert not Message.objects.filter(conversation_id=conversation_id).exists()


def test_a_title_model_names_a_new_conversation(http, settings):
    settings.CHAT_TITLE_MODEL = "plain"  # answers "alpha bravo charlie delta"
    conversation_id = say(http, QUESTION)["conversationId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        title = Conversation.objects.get(pk=conversation_id).title
        if title != QUESTION:
            break
        time.sleep(0.02)
    assert title == "alpha bravo charlie delta"


def test_the_web_app_session_must_pass_the_csrf_check(catalogue, carol):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(carol)
    body = {"model": "fast", "conversation_id": "new", "content": "Hi"}

    refused = browser.post("/v1/ai/chat", body, content_type="application/json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert not Conversation.objects.exists()

    browser.get("/accounts/logout/")  # a page with a form: it sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    accepted = browser.post(
        "/v1/ai/chat", body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert accepted.status_code == 201
    assert Conversation.objects.get().owner == carol
