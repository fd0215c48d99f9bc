"""Reads of the model catalogue.

The gateway resolves models on every request, so active models are kept in a process-local
snapshot rebuilt at most every CATALOGUE_TTL seconds or when this process changes the catalogue.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiapi.models import AiModel

CATALOGUE_TTL = 10.0


@dataclass(frozen=True, slots=True)
class Catalogue:
    models: dict[str, AiModel]  # active models with active providers, by public id
    loaded_at: float


_snapshot: Catalogue | None = None


def catalogue_changed(*args, **kwargs) -> None:
    global _snapshot
    _snapshot = None


def _build() -> Catalogue:
    models = {
        m.public_id: m
        for m in AiModel.objects.select_related("provider").filter(
            active=True, provider__active=True
        )
    }
    return Catalogue(models=models, loaded_at=time.monotonic())


def active_catalogue() -> Catalogue:
    global _snapshot
    snapshot = _snapshot
    if snapshot is None or time.monotonic() - snapshot.loaded_at > CATALOGUE_TTL:
        snapshot = _snapshot = _build()
    return snapshot


def catalogue_is_fresh() -> bool:
    snapshot = _snapshot
    return snapshot is not None and time.monotonic() - snapshot.loaded_at <= CATALOGUE_TTL


def active_model_list() -> list[AiModel]:
    return sorted(active_catalogue().models.values(), key=lambda m: (m.sort_order, m.public_id))
