"""Writes on share links: the owner shares a conversation (one working link at a time) and
stops sharing it."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils import timezone

from aiapi.models import Conversation
from chukchat.errors import ApiError
from sharing.models import ShareLink

TOKEN_BYTES = 24  # 32 URL-safe characters, 192 random bits


def not_shared() -> ApiError:
    return ApiError(404, "share_not_found", "This chat is not shared.")


@transaction.atomic
def share_link_create(*, conversation: Conversation) -> tuple[ShareLink, bool]:
    """The conversation's working link, made now if it has none. Returns it and whether it
    was made by this call."""
    # The conversation's row is locked so that two calls at once make one link, not two.
    Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
    link = ShareLink.objects.filter(conversation=conversation, revoked_at__isnull=True).first()
    if link is not None:
        return link, False
    link = ShareLink.objects.create(
        conversation=conversation, token=secrets.token_urlsafe(TOKEN_BYTES)
    )
    return link, True


@transaction.atomic
def share_link_revoke(*, conversation: Conversation) -> ShareLink:
    """Stops sharing: the link answers 404 from now on. Sharing again makes a new link."""
    link = (
        ShareLink.objects.select_for_update()
        .filter(conversation=conversation, revoked_at__isnull=True)
        .first()
    )
    if link is None:
        raise not_shared()
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    return link
