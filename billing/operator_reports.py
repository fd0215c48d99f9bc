"""What operators read in admin: spend by model and by provider per day, and each provider's
health over the last hour. Read-only selectors over the usage records."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDay
from django.utils import timezone

from billing.models import UsageRecord


@dataclass(frozen=True, slots=True)
class SpendRow:
    day: object  # a date
    name: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    spend: Decimal


def spend_by_day(*, by: str, days: int = 30) -> list[SpendRow]:
    """Spend per day and model (`by="model"`) or provider (`by="provider"`), newest first."""
    if by not in ("model", "provider"):
        raise ValueError(f"spend is reported by model or provider, not {by!r}")
    since = timezone.now() - timedelta(days=days)
    rows = (
        UsageRecord.objects.filter(created_at__gte=since)
        .annotate(day=TruncDay("created_at"))
        .values("day", by)
        .annotate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            spend=Sum("cost"),
        )
        .order_by("-day", "-spend", by)
    )
    return [
        SpendRow(
            day=row["day"].date() if hasattr(row["day"], "date") else row["day"],
            name=row[by] or "(none)",
            requests=row["requests"],
            prompt_tokens=row["prompt"] or 0,
            completion_tokens=row["completion"] or 0,
            spend=row["spend"] or Decimal(0),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    provider: str
    requests: int
    errors: int
    p50_ms: int | None
    p99_ms: int | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


_ERROR = Q(status=UsageRecord.Status.ERROR)


def provider_health(*, within: timedelta = timedelta(hours=1)) -> list[ProviderHealth]:
    """Per provider, over `within`: requests, errors, and latency percentiles of the calls it
    answered (errors excluded: a refused connection is fast and says nothing of latency)."""
    since = timezone.now() - within
    recent = UsageRecord.objects.filter(created_at__gte=since).exclude(provider="")
    counts = recent.values("provider").annotate(requests=Count("id"), errors=Count("id", _ERROR))
    latency = _percentiles(recent.exclude(_ERROR))
    return [
        ProviderHealth(
            provider=row["provider"],
            requests=row["requests"],
            errors=row["errors"],
            p50_ms=latency.get(row["provider"], (None, None))[0],
            p99_ms=latency.get(row["provider"], (None, None))[1],
        )
        for row in counts.order_by("provider")
    ]


def _percentiles(queryset) -> dict[str, tuple[int, int]]:
    if connection.vendor == "postgresql":
        # In the database: an hour of traffic is too many rows to carry out for two numbers.
        sql, params = queryset.values("provider", "latency_ms").query.sql_with_params()
        with connection.cursor() as cursor:
            # The inner query is the ORM's, with its values as parameters.
            statement = (
                "SELECT provider,"  # noqa: S608 (the ORM built the inner query)
                " percentile_disc(0.5) WITHIN GROUP (ORDER BY latency_ms),"
                " percentile_disc(0.99) WITHIN GROUP (ORDER BY latency_ms)"
                " FROM (" + sql + ") AS recent GROUP BY provider"
            )
            cursor.execute(statement, params)
            return {name: (p50, p99) for name, p50, p99 in cursor.fetchall()}
    by_provider: dict[str, list[int]] = {}
    for name, ms in queryset.values_list("provider", "latency_ms"):
        by_provider.setdefault(name, []).append(ms)
    return {
        name: (_nearest_rank(v, 0.5), _nearest_rank(v, 0.99)) for name, v in by_provider.items()
    }


def _nearest_rank(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]
