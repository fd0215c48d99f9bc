"""Comparing answers: one question to two or three models (the same `compare` id), each
charged, none stored in the chat until the person keeps one with POST /v1/conversations/keep,
which appends that question and answer with the tokens and cost its usage record says."""

import time

import httpx
import pytest
from django.core.cache import cache

from accounts.account_deletion import account_delete
from accounts.api_keys import api_key_create
from aiapi import chat_compare
from aiapi.models import Conversation, Message
from billing.models import UsageRecord
from billing.money import format_usd
from tests.aiapi.chuk_support import sse_events
from tests.factories import UserFactory

QUESTION = "What is the capital of France?"
PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


def say(http, content, conversation_id="new", **body):
    reply = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": conversation_id, "content": content, **body},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def compare(http, models, *, conversation_id="new", content=QUESTION, compare_id="cmp-1"):
    return [
        say(http, content, conversation_id=conversation_id, model=model, compare=compare_id)
        for model in models
    ]


def keep(http, request_id):
    return http.post("/v1/conversations/keep", json={"request_id": request_id})


def error_code(reply) -> str:
    return reply.json()["error"]["code"]


@pytest.fixture
def erin_http(gateway_url, catalogue):
    erin = UserFactory(email="erin@example.com")
    _, key = api_key_create(user=erin)
    with httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client


def test_compared_answers_are_charged_but_not_stored_until_one_is_kept(http, carol):
    first, second = compare(http, ["fast", "plain"])

    assert Conversation.objects.filter(owner=carol).count() == 0
    assert (first["conversationId"], second["conversationId"]) == (None, None)
    for answer in (first, second):
        record = UsageRecord.objects.get(request_id=answer["id"])
        assert record.user == carol and format_usd(record.cost) == answer["cost"]["charged"]

    reply = keep(http, second["id"])
    assert reply.status_code == 201, reply.text
    conversation = Conversation.objects.get(owner=carol)
    assert reply.json()["id"] == conversation.pk
    assert conversation.title == QUESTION and conversation.model == "plain"
    question, answer = conversation.messages.all()
    assert (question.role, question.content) == ("user", QUESTION)
    assert (answer.role, answer.content, answer.model) == ("assistant", second["text"], "plain")
    assert answer.request_id == second["id"]
    assert answer.completion_tokens == second["usage"]["outputTokens"] == 4
    assert format_usd(answer.cost) == second["cost"]["charged"]
    assert [m["role"] for m in reply.json()["messages"]] == ["user", "assistant"]


def test_a_comparison_in_a_saved_chat_sees_its_history_and_continues_it(http, upstream):
    started = say(http, "Hello there")
    chat = started["conversationId"]
    upstream.clear()
    first, _ = compare(http, ["fast", "plain"], conversation_id=chat)

    for request in upstream.requests():
        assert request["body"]["messages"] == [
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": started["text"]},
            {"role": "user", "content": QUESTION},
        ]
    assert Message.objects.filter(conversation_id=chat).count() == 2

    assert keep(http, first["id"]).status_code == 201
    messages = list(Message.objects.filter(conversation_id=chat))
    assert [(m.role, m.model) for m in messages] == [
        ("user", ""),
        ("assistant", "fast"),
        ("user", ""),
        ("assistant", "fast"),
    ]
    assert messages[-1].request_id == first["id"] and messages[-1].content == first["text"]


def test_keeping_the_same_answer_twice_is_a_409_and_adds_nothing(http):
    first, _ = compare(http, ["fast", "plain"])
    assert keep(http, first["id"]).status_code == 201

    again = keep(http, first["id"])
    assert again.status_code == 409 and error_code(again) == "already_kept"
    assert Message.objects.count() == 2


def test_keeping_a_second_answer_of_the_same_comparison_is_a_409(http):
    first, second = compare(http, ["fast", "plain"])
    assert keep(http, first["id"]).status_code == 201

    other = keep(http, second["id"])
    assert other.status_code == 409 and error_code(other) == "compare_already_kept"
    assert Conversation.objects.count() == 1 and Message.objects.count() == 2


def test_keeping_someone_elses_answer_is_a_404_and_changes_nothing(http, erin_http, carol):
    chat = say(http, "Hello there")["conversationId"]
    (mine,) = compare(http, ["fast"], conversation_id=chat)

    theirs = keep(erin_http, mine["id"])
    assert theirs.status_code == 404 and error_code(theirs) == "candidate_not_found"
    assert Message.objects.filter(conversation_id=chat).count() == 2
    assert not Conversation.objects.exclude(owner=carol).exists()
    assert keep(http, mine["id"]).status_code == 201  # still the owner's to keep


def test_keeping_an_unknown_or_an_ordinary_answer_is_a_404(http):
    ordinary = say(http, QUESTION, conversation_id=None)
    for request_id in ["chatcmpl-never-made", ordinary["id"]]:
        reply = keep(http, request_id)
        assert reply.status_code == 404 and error_code(reply) == "candidate_not_found"
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [{}, {"request_id": ""}, {"request_id": "x" * 65}, {"request_id": ["a"]}, {"request_id": None}],
)
def test_a_keep_without_a_usable_request_id_is_a_400(http, body):
    reply = http.post("/v1/conversations/keep", json=body)
    assert reply.status_code == 400, reply.text
    assert Message.objects.count() == 0


def test_an_answer_to_a_chat_that_moved_on_cannot_be_kept(http):
    chat = say(http, "Hello there")["conversationId"]
    (compared,) = compare(http, ["fast"], conversation_id=chat)
    say(http, "Something else", conversation_id=chat)

    reply = keep(http, compared["id"])
    assert reply.status_code == 409 and error_code(reply) == "conversation_changed"
    assert Message.objects.filter(conversation_id=chat).count() == 4


def test_a_fourth_model_in_one_comparison_is_refused_before_it_is_asked(http, upstream, carol):
    compare(http, ["fast", "plain", "claude"])
    upstream.clear()
    records = UsageRecord.objects.filter(user=carol).count()

    reply = http.post(
        "/v1/ai/chat",
        json={"model": "fast", "conversation_id": "new", "content": QUESTION, "compare": "cmp-1"},
    )
    assert reply.status_code == 400 and error_code(reply) == "compare_too_many"
    assert "at most 3 models" in reply.json()["error"]["message"]
    assert upstream.requests() == []
    assert UsageRecord.objects.filter(user=carol).count() == records
    # Another comparison has slots of its own.
    compare(http, ["fast"], compare_id="cmp-2")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"compare": "cmp-1"}, "conversation_id"),
        ({"compare": "", "conversation_id": "new"}, "compare"),
        ({"compare": "a b", "conversation_id": "new"}, "compare"),
        ({"compare": 7, "conversation_id": "new"}, "compare"),
        ({"compare": "x" * 65, "conversation_id": "new"}, "compare"),
    ],
)
def test_a_malformed_comparison_is_a_400_and_asks_nobody(http, upstream, carol, body, param):
    upstream.clear()
    reply = http.post("/v1/ai/chat", json={"model": "fast", "content": QUESTION, **body})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["param"] == param
    assert upstream.requests() == []
    assert not UsageRecord.objects.filter(user=carol).exists()


def test_a_compared_answer_stopped_part_way_is_charged_and_can_still_be_kept(http, carol):
    written = ""
    with http.stream(
        "POST",
        "/v1/ai/chat/stream",
        json={
            "model": "slow-stream",
            "conversation_id": "new",
            "content": QUESTION,
            "compare": "cmp-stop",
        },
    ) as reply:
        assert reply.status_code == 200
        request_id = reply.headers["x-request-id"]
        for line in reply.iter_lines():
            for event in sse_events([line]):
                if isinstance(event, dict) and "text" in event:
                    written += event["text"]
            if len(written.split()) >= 5:
                break  # the person pressed Stop

    deadline = time.monotonic() + 10
    while not UsageRecord.objects.filter(request_id=request_id).exists():
        assert time.monotonic() < deadline, "the stopped answer was never settled"
        time.sleep(0.05)
    record = UsageRecord.objects.get(request_id=request_id)
    assert record.status == UsageRecord.Status.CANCELLED and record.cost > 0
    assert not Conversation.objects.filter(owner=carol).exists()

    deadline = time.monotonic() + 10
    while (kept := keep(http, request_id)).status_code == 404:  # the candidate lands just after
        assert time.monotonic() < deadline, kept.text
        time.sleep(0.05)
    assert kept.status_code == 201, kept.text
    answer = Message.objects.get(conversation__owner=carol, role="assistant")
    assert answer.finish_reason == "cancelled" and answer.content.startswith(written.strip()[:10])
    assert answer.cost == record.cost and answer.completion_tokens == record.completion_tokens


def test_deleting_the_account_forgets_the_compared_answers_not_kept(http, carol):
    first, second = compare(http, ["fast", "plain"])
    assert keep(http, first["id"]).status_code == 201
    waiting = chat_compare._key(carol.pk, "candidate", second["id"])
    assert cache.get(waiting)["text"] == second["text"]

    account_delete(user=carol, password=PASSWORD, confirm_email="carol@example.com")

    assert cache.get(waiting) is None
    assert not Conversation.objects.filter(owner_id=carol.pk).exists()
