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


async def aactive_catalogue() -> Catalogue:
    """The snapshot from async code: rebuilt in a worker thread when stale."""
    snapshot = _snapshot
    if snapshot is not None and time.monotonic() - snapshot.loaded_at <= CATALOGUE_TTL:
        return snapshot
    from chukchat.db_threads import db_call

    return await db_call(active_catalogue)


def current_catalogue() -> Catalogue:
    """The snapshot as it is, never rebuilt here: for code that already awaited
    `aactive_catalogue` in this request and must not touch the database."""
    snapshot = _snapshot
    if snapshot is None:
        raise RuntimeError("the catalogue snapshot has not been loaded")
    return snapshot


def catalogue_is_fresh() -> bool:
    snapshot = _snapshot
    return snapshot is not None and time.monotonic() - snapshot.loaded_at <= CATALOGUE_TTL


def model_list(catalogue: Catalogue) -> list[AiModel]:
    return sorted(catalogue.models.values(), key=lambda m: (m.sort_order, m.public_id))
