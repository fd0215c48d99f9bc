"""Responses kept for their owner (`store`): saving one, finding one, deleting one, and the
conversation a response continues. A response belongs to the user whose key made it; to
anyone else it does not exist (404, the same as an id never made)."""

from __future__ import annotations

from django.db import transaction

from aiapi.chat_input import has_nul
from aiapi.models import StoredResponse
from aiapi.wire.openai_responses import output_to_messages
from chukchat.errors import ApiError


def _not_found(response_id: str, *, param: str | None = None) -> ApiError:
    return ApiError(
        404,
        "response_not_found",
        f"Response with id '{response_id[:MAX_ID_LENGTH]}' not found.".replace("\x00", ""),
        param=param,
    )


MAX_ID_LENGTH = 64


def _possible(response_id: str) -> bool:
    """An id we could have made: anything else is not looked up (PostgreSQL refuses NUL)."""
    return len(response_id) <= MAX_ID_LENGTH and not has_nul(response_id)


def stored_response_get(*, user_id: int, response_id: str, param: str | None = None):
    stored = None
    if _possible(response_id):
        stored = StoredResponse.objects.filter(id=response_id, owner_id=user_id).first()
    if stored is None:
        raise _not_found(response_id, param=param)
    return stored


def continued_context(*, user_id: int, response_id: str) -> list[dict]:
    """What a response continuing `response_id` is sent before its own input: that
    response's conversation, then its output as the assistant's turn."""
    stored = stored_response_get(
        user_id=user_id, response_id=response_id, param="previous_response_id"
    )
    return [*stored.context, *output_to_messages(stored.response.get("output") or [])]


def stored_response_save(
    *,
    user_id: int,
    response: dict,
    context: list[dict],
    input_items: list[dict],
    previous_response_id: str | None,
) -> StoredResponse:
    return StoredResponse.objects.create(
        id=response["id"],
        owner_id=user_id,
        model=response["model"],
        previous_response_id=previous_response_id or "",
        context=context,
        input_items=input_items,
        response=response,
    )


@transaction.atomic
def stored_response_delete(*, user_id: int, response_id: str) -> None:
    deleted = 0
    if _possible(response_id):
        deleted, _ = StoredResponse.objects.filter(id=response_id, owner_id=user_id).delete()
    if not deleted:
        raise _not_found(response_id)
