"""Reads of saved conversations. Every read is scoped to its owner: another user's
conversation looks exactly like one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from aiapi.conversations import text_of
from aiapi.models import Conversation, Message
from chukchat.errors import ApiError


def not_found() -> ApiError:
    return ApiError(404, "conversation_not_found", "No such conversation.")


def conversation_get(*, owner_id: int, conversation_id) -> Conversation:
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise not_found() from None
    conversation = Conversation.objects.filter(pk=conversation_id, owner_id=owner_id).first()
    if conversation is None:
        raise not_found()
    return conversation


def conversation_list(
    *, owner_id: int, search: str = "", archived: bool | None = False
) -> QuerySet[Conversation]:
    """Newest first; `search` matches the title or any message's text."""
    conversations = Conversation.objects.filter(owner_id=owner_id)
    if archived is not None:
        conversations = conversations.filter(archived=archived)
    if search:
        matching = Message.objects.filter(
            conversation__owner_id=owner_id, content__icontains=search
        ).values("conversation_id")
        conversations = conversations.filter(Q(title__icontains=search) | Q(pk__in=matching))
    return conversations.order_by("-updated_at", "-id")


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a new turn builds on: earlier messages as the model should see them, and where
    the stored conversation is to be cut (regenerate, edit) once the call is accepted."""

    history: list[dict]
    drop_from_id: int | None
    system_prompt: str = ""  # the chat's own (aiapi/chat_settings.py)


def turn_context(
    *,
    conversation: Conversation,
    regenerate: bool = False,
    edit_message_id: int | None = None,
) -> TurnContext:
    messages = list(conversation.messages.all())
    drop_from_id = None
    if edit_message_id is not None:
        index = next((i for i, m in enumerate(messages) if m.pk == edit_message_id), None)
        if index is None or messages[index].role != Message.Role.USER:
            raise ApiError(
                400,
                "invalid_request",
                "edit_message_id must name a user message of this conversation.",
                param="edit_message_id",
            )
        drop_from_id = messages[index].pk
        messages = messages[:index]
    elif regenerate:
        # Drop the last answer (and any failed ones before it) to ask again.
        while messages and messages[-1].role == Message.Role.ASSISTANT:
            drop_from_id = messages[-1].pk
            messages.pop()
        if not messages or messages[-1].role != Message.Role.USER:
            raise ApiError(
                400,
                "invalid_request",
                "There is no question to answer again in this conversation.",
                param="regenerate",
            )
    history = [
        {"role": m.role, "content": m.content}
        for m in messages
        # Failed or empty answers are not part of what the model is shown.
        if not (m.role == Message.Role.ASSISTANT and (m.error or not text_of(m.content)))
    ]
    return TurnContext(
        history=history, drop_from_id=drop_from_id, system_prompt=conversation.system_prompt
    )


def conversation_messages(*, conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.order_by("created_at", "id")
