"""What a user's plan lets them use, checked before any provider is asked.

The gateway asks only for models marked pro_only, and answers from a process-local cache: an
entry lives ENTITLEMENT_CACHE_SECONDS, which bounds how long a plan change made in another
process takes to be seen here; a change made in this process (webhook, sync) drops the entry
at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings

from accounts.models import RATE_LIMIT_FIELDS, User
from aiapi.models import AiModel
from billing.models import Plan
from billing.selectors import subscription_current
from chukchat.db_threads import db_call
from chukchat.errors import ApiError
from chukchat.single_flight import SingleFlight

FREE_PLAN_SLUG = "free"
_MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class Entitlements:
    plan_slug: str
    premium_models: bool
    # The plan's rate limits by field name (accounts.models.RATE_LIMIT_FIELDS); empty when no
    # plan exists at all, and then no limit applies.
    rate_limits: dict[str, int] = field(default_factory=dict)


# user id -> (monotonic deadline, entitlements)
_cache: dict[int, tuple[float, Entitlements]] = {}


_loads: SingleFlight[Entitlements] = SingleFlight()


def entitlements_changed(user_id: int | None = None) -> None:
    """Forget one user's entry (their subscription changed), or everyone's (a plan changed)."""
    _loads.forget()
    if user_id is None:
        _cache.clear()
    else:
        _cache.pop(user_id, None)


def _load(user_id: int) -> Entitlements:
    subscription = subscription_current(user=User(pk=user_id))
    plan = (subscription and subscription.plan) or Plan.objects.filter(slug=FREE_PLAN_SLUG).first()
    entitlements = Entitlements(
        plan_slug=plan.slug if plan else FREE_PLAN_SLUG,
        premium_models=bool(plan and plan.includes_premium_models),
        rate_limits={
            name: getattr(plan, name)
            for fields in RATE_LIMIT_FIELDS.values()
            for name in fields
            if name and plan is not None
        },
    )
    if len(_cache) >= _MAX_CACHED:
        _cache.clear()
    _cache[user_id] = (time.monotonic() + settings.ENTITLEMENT_CACHE_SECONDS, entitlements)
    return entitlements


def _cached(user_id: int) -> Entitlements | None:
    hit = _cache.get(user_id)
    if hit is None or hit[0] < time.monotonic():
        return None
    return hit[1]


def entitlements_for(*, user_id: int) -> Entitlements:
    return _cached(user_id) or _load(user_id)


async def aentitlements_for(*, user_id: int) -> Entitlements:
    return _cached(user_id) or await _loads.load(user_id, lambda: db_call(_load, user_id=user_id))


def model_requires_upgrade(model: AiModel) -> ApiError:
    return ApiError(
        403,
        "model_requires_upgrade",
        f"Model '{model.public_id}' is available on plans with premium models. "
        "Upgrade your plan to use it.",
        param="model",
    )


async def require_model_access(*, user_id: int, model: AiModel) -> None:
    """Raise 403 `model_requires_upgrade` when the user's plan does not include `model`.
    Costs nothing for models open to every plan."""
    if not model.pro_only:
        return
    if not (await aentitlements_for(user_id=user_id)).premium_models:
        raise model_requires_upgrade(model)
