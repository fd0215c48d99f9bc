"""Reads of presets. Every read is scoped to its owner: another user's preset looks exactly
like one that does not exist."""

from __future__ import annotations

from django.db.models import QuerySet

from aiapi.models import Preset
from chukchat.errors import ApiError

MAX_ID = 2**63 - 1


def preset_not_found() -> ApiError:
    return ApiError(404, "preset_not_found", "No such preset.")


def preset_get(*, owner_id: int, preset_id) -> Preset:
    try:
        preset_id = int(preset_id)
    except (TypeError, ValueError):
        raise preset_not_found() from None
    if not 1 <= preset_id <= MAX_ID:
        raise preset_not_found()
    preset = Preset.objects.filter(pk=preset_id, owner_id=owner_id).first()
    if preset is None:
        raise preset_not_found()
    return preset


def preset_list(*, owner_id: int) -> QuerySet[Preset]:
    """By name, as the web app lists them."""
    return Preset.objects.filter(owner_id=owner_id).order_by("name", "id")


def preset_name_taken(*, owner_id: int, name: str, excluding_id: int | None = None) -> bool:
    taken = Preset.objects.filter(owner_id=owner_id, name__iexact=name)
    if excluding_id is not None:
        taken = taken.exclude(pk=excluding_id)
    return taken.exists()
