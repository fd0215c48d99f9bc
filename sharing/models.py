"""A read-only link to a conversation (/s/<token>). The link shows the conversation as it is
when the page is opened (its current messages, not a copy taken when it was shared), until
its owner stops sharing it; it goes with the conversation, and so with the account."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ShareLink(models.Model):
    conversation = models.ForeignKey(
        "aiapi.Conversation", on_delete=models.CASCADE, related_name="share_links"
    )
    # secrets.token_urlsafe: the link is the only credential, so it cannot be guessed.
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # At most one working link per conversation: sharing again returns it.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(revoked_at__isnull=True),
                name="sharing_one_active_link_per_conversation",
            )
        ]

    def __str__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"share link of conversation {self.conversation_id} ({state})"
