"""Writes on saved conversations: starting a turn, recording its answer, renaming, archiving,
deleting.

Only chats that ask to be saved are stored (the web app's, and API calls naming a
conversation_id); a plain API call leaves nothing behind. A turn is written in two steps: the
user's message when the call has been accepted (so a reload mid-answer still shows it), the
answer when the call ends, whether it finished, failed or was stopped."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from aiapi.models import Conversation, Message

if TYPE_CHECKING:
    from aiapi.chat_service import ChatCall

TITLE_WORDS = 8
TITLE_MAX = 80
NUL = "\x00"


def storable(text: str) -> str:
    """Text PostgreSQL can store: a NUL (which text and jsonb refuse) becomes U+FFFD, the
    replacement character. What comes from a client is refused at the door instead
    (aiapi/chat_input.py); this is for what a provider sends back."""
    return text.replace(NUL, "\ufffd") if NUL in text else text


def text_of(content) -> str:
    """The text of a message's content: a string, or the text parts of a part list."""
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content or () if p.get("type") == "text")


# How the web app attaches a document to a message: a text part of its own (static/app/documents.js).
_DOCUMENT = re.compile(r'<document name="([^"\n]*)">\n')


def title_text_of(content) -> str:
    """What a new conversation is titled by: the first text of its first message (later parts
    may be documents attached as context); a message that is only a document, by its name."""
    if isinstance(content, str):
        return content
    texts = (p.get("text") or "" for p in content or () if p.get("type") == "text")
    text = next((t for t in texts if t.strip()), "")
    document = _DOCUMENT.match(text)
    return document[1] if document else text


def title_from(text: str) -> str:
    words = re.sub(r"\s+", " ", text).strip().split(" ")
    title = " ".join(words[:TITLE_WORDS])
    if len(title) > TITLE_MAX:
        title = title[: TITLE_MAX - 1].rstrip() + "…"
    elif len(words) > TITLE_WORDS:
        title += "…"
    return title or "New chat"


@transaction.atomic
def turn_begin(
    *,
    owner_id: int,
    conversation_id: int | None,
    model: str,
    new_messages: list[dict],
    drop_from_id: int | None = None,
) -> tuple[int, list[int]]:
    """Creates the conversation when `conversation_id` is None, drops the messages from
    `drop_from_id` on (regenerate, edit), and stores the new messages. Returns the
    conversation's id and the new messages' ids."""
    now = timezone.now()
    if conversation_id is None:
        first_user = next((m for m in new_messages if m["role"] == "user"), None)
        conversation = Conversation.objects.create(
            owner_id=owner_id,
            title=title_from(title_text_of(first_user["content"])) if first_user else "New chat",
            model=model,
            created_at=now,
            updated_at=now,
        )
        conversation_id = conversation.pk
    else:
        Conversation.objects.filter(pk=conversation_id, owner_id=owner_id).update(
            updated_at=now, model=model
        )
    if drop_from_id is not None:
        Message.objects.filter(conversation_id=conversation_id, pk__gte=drop_from_id).delete()
    created = Message.objects.bulk_create(
        Message(
            conversation_id=conversation_id,
            role=message["role"],
            content=message["content"],
            created_at=now,
        )
        for message in new_messages
    )
    return conversation_id, [message.pk for message in created]


def answer_record(*, conversation_id: int, call: ChatCall, cancelled: bool = False) -> Message:
    """Stores what the model answered (a partial answer when stopped, the error when it
    failed) with its tokens and cost, and moves the conversation to the top of the list."""
    record = call.record
    now = timezone.now()
    with transaction.atomic():
        answer = Message.objects.create(
            conversation_id=conversation_id,
            role=Message.Role.ASSISTANT,
            content=storable(call.text),
            reasoning=storable(call.reasoning_text),
            model=call.model.public_id,
            provider=call.meta.provider if call.meta else "",
            request_id=call.request_id,
            prompt_tokens=record.prompt_tokens if record else 0,
            completion_tokens=record.completion_tokens if record else 0,
            cost=record.cost if record else 0,
            finish_reason="cancelled" if cancelled else (call.finish_reason or ""),
            error=storable(call.error.message[:300]) if call.error and not cancelled else "",
            created_at=now,
        )
        Conversation.objects.filter(pk=conversation_id).update(updated_at=now)
    return answer


UNSET = object()


def conversation_update(
    *,
    conversation: Conversation,
    title: str | None = None,
    archived: bool | None = None,
    system_prompt: str | None = None,
    temperature=UNSET,
    max_tokens=UNSET,
) -> Conversation:
    """`temperature` and `max_tokens` None clear them (the model's defaults apply)."""
    fields = []
    if system_prompt is not None:
        conversation.system_prompt = system_prompt
        fields.append("system_prompt")
    if temperature is not UNSET:
        conversation.temperature = temperature
        fields.append("temperature")
    if max_tokens is not UNSET:
        conversation.max_tokens = max_tokens
        fields.append("max_tokens")
    if title is not None:
        conversation.title = title.strip()[:200] or "New chat"
        conversation.title_locked = True  # a generated title never replaces the owner's
        fields += ["title", "title_locked"]
    if archived is not None:
        conversation.archived = archived
        fields.append("archived")
    if fields:
        conversation.save(update_fields=fields)
    return conversation


def conversation_title_set(*, conversation_id: int, title: str) -> None:
    """A generated title; never overwrites one the owner chose meanwhile."""
    title = storable(title).strip().strip('"').strip()[:200]
    if title:
        Conversation.objects.filter(pk=conversation_id, title_locked=False).update(title=title)


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()
