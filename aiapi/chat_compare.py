"""Comparing answers: one message sent to two or three models at once, then one answer kept.

Each answer of a comparison is an ordinary Chuk chat turn carrying the same `compare` id (the
client makes it up). Such a turn is sent with its conversation's history but stores nothing in
the conversation: it is metered and charged like any other (its usage record is the bill),
and what it wrote is kept for a day as a candidate, in the cache, under its owner and request
id. Keeping one (`POST /v1/conversations/keep`) appends the user's message and that answer to
the conversation, with the model, tokens and cost of its usage record (never the client's);
the other answers of the comparison stay out of the history, and stay charged.

Refused, changing nothing: a fourth answer in one comparison, keeping a request id that is not
the caller's (or was never a candidate), one already kept, a second answer of a comparison
one of whose answers was kept, and an answer to a conversation that has moved on since."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from aiapi.conversation_selectors import not_found as conversation_not_found
from aiapi.conversations import storable, turn_begin
from aiapi.models import Conversation, Message
from billing.models import UsageRecord
from chukchat.errors import ApiError

MAX_MODELS = 3
CANDIDATE_SECONDS = 24 * 3600
MAX_COMPARE_ID = 64


def _key(owner_id: int, *parts: str) -> str:
    return ":".join(("compare", str(owner_id), *parts))


def last_message_id(conversation: Conversation) -> int | None:
    return conversation.messages.order_by("-id").values_list("pk", flat=True).first()


async def compare_slot_take(*, owner_id: int, compare_id: str) -> None:
    """Counts one more answer in the comparison; a fourth is refused before anything starts."""
    key = _key(owner_id, "n", compare_id)
    await cache.aadd(key, 0, CANDIDATE_SECONDS)
    if await cache.aincr(key) > MAX_MODELS:
        await cache.adecr(key)
        raise ApiError(
            400,
            "compare_too_many",
            f"A comparison takes at most {MAX_MODELS} models.",
            param="compare",
        )


async def compare_slot_give_back(*, owner_id: int, compare_id: str) -> None:
    """An answer that could not start (no credit, unknown model) does not count."""
    await cache.adecr(_key(owner_id, "n", compare_id))


async def candidate_save(
    *,
    owner_id: int,
    request_id: str,
    compare_id: str,
    conversation_id: int | None,
    after_message_id: int | None,
    messages: list[dict],
    text: str,
    reasoning: str,
    finish_reason: str,
) -> None:
    await cache.aset(
        _key(owner_id, "candidate", request_id),
        {
            "compare_id": compare_id,
            "conversation_id": conversation_id,
            "after_message_id": after_message_id,
            "messages": messages,
            "text": storable(text),
            "reasoning": storable(reasoning),
            "finish_reason": finish_reason,
        },
        CANDIDATE_SECONDS,
    )


def candidates_forget(*, owner_id: int) -> None:
    """Drops the person's compared answers still waiting to be kept (their account is being
    deleted): found by the usage records of the last day, which name every candidate's id."""
    since = timezone.now() - timedelta(seconds=CANDIDATE_SECONDS + 3600)
    request_ids = UsageRecord.objects.filter(user_id=owner_id, created_at__gte=since).values_list(
        "request_id", flat=True
    )
    cache.delete_many([_key(owner_id, "candidate", rid) for rid in request_ids])


def _unknown() -> ApiError:
    return ApiError(
        404,
        "candidate_not_found",
        "No compared answer of yours by that request id (or it is more than a day old).",
        param="request_id",
    )


def candidate_keep(*, owner_id: int, request_id: str) -> Conversation:
    """Appends the compared question and the answer of `request_id` to its conversation (a
    new one when the comparison started a chat) and returns the conversation."""
    if Message.objects.filter(request_id=request_id, conversation__owner_id=owner_id).exists():
        raise ApiError(
            409, "already_kept", "That answer is already in the chat.", param="request_id"
        )
    candidate = cache.get(_key(owner_id, "candidate", request_id))
    record = UsageRecord.objects.filter(request_id=request_id, user_id=owner_id).first()
    if candidate is None or record is None:
        raise _unknown()
    kept = _key(owner_id, "kept", candidate["compare_id"])
    if not cache.add(kept, request_id, CANDIDATE_SECONDS):
        if cache.get(kept) == request_id:  # being kept by a request a moment ago
            raise ApiError(
                409, "already_kept", "That answer is already in the chat.", param="request_id"
            )
        raise ApiError(
            409,
            "compare_already_kept",
            "Another answer of this comparison was already kept.",
            param="request_id",
        )
    try:
        conversation = _append(owner_id=owner_id, candidate=candidate, record=record)
    except BaseException:
        cache.delete(kept)
        raise
    return conversation


@transaction.atomic
def _append(*, owner_id: int, candidate: dict, record: UsageRecord) -> Conversation:
    conversation_id = candidate["conversation_id"]
    if conversation_id is not None:
        conversation = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation_id, owner_id=owner_id)
            .first()
        )
        if conversation is None:
            raise conversation_not_found()
        if last_message_id(conversation) != candidate["after_message_id"]:
            raise ApiError(
                409,
                "conversation_changed",
                "The chat has moved on since these answers were written; compare again.",
                param="request_id",
            )
    conversation_id, _ = turn_begin(
        owner_id=owner_id,
        conversation_id=conversation_id,
        model=record.model,
        new_messages=candidate["messages"],
    )
    Message.objects.create(
        conversation_id=conversation_id,
        role=Message.Role.ASSISTANT,
        content=candidate["text"],
        reasoning=candidate["reasoning"],
        model=record.model,
        provider=record.provider,
        request_id=record.request_id,
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        cost=record.cost,
        finish_reason=candidate["finish_reason"],
    )
    return Conversation.objects.get(pk=conversation_id)
