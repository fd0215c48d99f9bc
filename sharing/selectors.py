"""Reads for share links: the owner's working link, and what a link shows to anyone who has
it (nothing once it is revoked, or once the conversation is gone)."""

from __future__ import annotations

import re

from aiapi.models import Conversation, ConversationImage
from sharing.models import ShareLink
from sharing.services import not_shared

# What secrets.token_urlsafe makes; anything else (a NUL, a space) is no link at all.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")


def share_link_active(*, conversation: Conversation) -> ShareLink:
    link = ShareLink.objects.filter(conversation=conversation, revoked_at__isnull=True).first()
    if link is None:
        raise not_shared()
    return link


def shared_link_get(*, token: str) -> ShareLink | None:
    """The working link with this token and its conversation, or None."""
    if not TOKEN.fullmatch(token or ""):
        return None
    return (
        ShareLink.objects.select_related("conversation")
        .filter(token=token, revoked_at__isnull=True)
        .first()
    )


def shared_image_get(*, token: str, image_id: int) -> ConversationImage | None:
    """A picture of the shared conversation, found through the link only."""
    link = shared_link_get(token=token)
    if link is None:
        return None
    return ConversationImage.objects.filter(
        pk=image_id, conversation_id=link.conversation_id
    ).first()
