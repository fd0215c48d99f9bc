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
    """The user's plan slug. THE one place media tools learn a user's plan: until the billing
    plans are merged every user is on the default plan; at merge time this returns the plan's
    slug from billing (e.g. "free", "pro")."""
    return settings.MEDIA_DEFAULT_PLAN


def limits_for_user(*, user_id: int) -> MediaLimits:
    return media_limits(plan_slug=plan_slug_for_user(user_id=user_id))
