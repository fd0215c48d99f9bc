"""Importing a chat exported as JSON (GET /v1/conversations/{id}/export?format=json, or one
entry of the data export's chat section) as a new conversation of the importer's: the same
title and messages, with their models and reasoning. What a message cost, its tokens and its
request id are not carried over (nothing is charged or counted: the import is not a call);
generated pictures are not either, since the file holds only their addresses."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from aiapi.chat_input import validate_content
from aiapi.conversations import title_from, title_text_of
from aiapi.models import Conversation, Message
from chukchat.errors import ApiError

MAX_MESSAGES = 1000
MAX_BYTES = 10 * 1024 * 1024  # the file's size; attached images travel inside it
ROLES = tuple(Message.Role.values)  # system, user, assistant


def import_error(message: str, *, param: str | None = None, code="invalid_import") -> ApiError:
    return ApiError(400, code, message, param=param)


def _utf8(text: str, param: str) -> str:
    """Text PostgreSQL can store: no NUL, no lone surrogate (JSON can spell both)."""
    if "\x00" in text:
        raise import_error("Text must not contain NUL (\\u0000) characters.", param=param)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise import_error(
            "Text must be valid Unicode (no lone surrogates).", param=param
        ) from None
    return text


def _content(content, index: int, role: str):
    param = f"messages[{index}].content"
    if not isinstance(content, str | list):
        raise import_error("content must be a string or an array of content parts.", param=param)
    try:
        cleaned = validate_content(content, index, role=role)
    except ApiError as error:
        raise import_error(error.message, param=param) from None
    for part in cleaned if isinstance(cleaned, list) else [cleaned]:
        for text in _strings(part):
            _utf8(text, param)
    return cleaned


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# What an answer keeps from the file: Message field -> the export's key.
ANSWER_FIELDS = {
    "reasoning": "reasoning",
    "model": "model",
    "provider": "provider",
    "finish_reason": "finishReason",
    "error": "error",
}


def _answer_fields(message: dict, index: int) -> dict[str, str]:
    return {
        field: _utf8(message.get(key) or "", f"messages[{index}].{key}")
        for field, key in ANSWER_FIELDS.items()
    }


@transaction.atomic
def conversation_import(*, owner_id: int, title: str, model: str, messages: list[dict]):
    """Creates the conversation and its messages, or nothing at all. `messages` have passed
    the import's request serializer (their fields' types and lengths)."""
    rows = []
    for index, message in enumerate(messages):
        role = message["role"]
        fields = _answer_fields(message, index) if role == Message.Role.ASSISTANT else {}
        rows.append(Message(role=role, content=_content(message["content"], index, role), **fields))
    title = _utf8(title.strip(), "title")
    if not title:
        first_user = next((m for m in rows if m.role == Message.Role.USER), None)
        title = title_from(title_text_of(first_user.content)) if first_user else "Imported chat"
    now = timezone.now()
    conversation = Conversation.objects.create(
        owner_id=owner_id,
        title=title[:200],
        title_locked=True,  # the file's title, as the owner had it
        model=_utf8(model, "model"),
        created_at=now,
        updated_at=now,
    )
    for row in rows:
        row.conversation = conversation
        row.created_at = now
    Message.objects.bulk_create(rows)  # in the file's order (ids ascending)
    return conversation
