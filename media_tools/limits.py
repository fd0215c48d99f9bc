"""What a plan allows a media job: upload size, audio length, images per request."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True, slots=True)
class MediaLimits:
    plan: str
    max_upload_bytes: int
    max_audio_seconds: int
    max_images: int


def media_limits(*, plan_slug: str) -> MediaLimits:
    table = settings.MEDIA_PLAN_LIMITS
    if plan_slug not in table:
        plan_slug = settings.MEDIA_DEFAULT_PLAN
    return MediaLimits(plan=plan_slug, **table[plan_slug])


def plan_slug_for_user(*, user_id: int) -> str:
    """The user's plan slug ("free", "pro", ...), from billing's short-lived cache of what
    their subscription entitles them to: the one place media tools learn a user's plan."""
    from billing.entitlements import entitlements_for

    return entitlements_for(user_id=user_id).plan_slug


def limits_for_user(*, user_id: int) -> MediaLimits:
    return media_limits(plan_slug=plan_slug_for_user(user_id=user_id))
