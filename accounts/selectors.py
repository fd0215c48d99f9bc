"""Reads about a user: their keys, and their usage for the dashboard, the CSV and the status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import ApiKey, User
from billing.models import UsageRecord

ZERO = Decimal(0)


def api_key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")


@dataclass(frozen=True, slots=True)
class UsageFilters:
    start: date | None = None  # inclusive, UTC days
    end: date | None = None  # inclusive
    model: str | None = None
    api_key_id: int | None = None


def usage_records(*, user: User, filters: UsageFilters) -> QuerySet[UsageRecord]:
    records = UsageRecord.objects.filter(user=user)
    if filters.start is not None:
        records = records.filter(created_at__gte=_utc_midnight(filters.start))
    if filters.end is not None and filters.end < date.max:
        # Up to the end of that day; the last day the calendar has needs no bound at all.
        records = records.filter(created_at__lt=_utc_midnight(filters.end + timedelta(days=1)))
    if filters.model:
        records = records.filter(model=filters.model)
    if filters.api_key_id is not None:
        records = records.filter(api_key_id=filters.api_key_id)
    return records.order_by("-created_at", "-id")


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def usage_daily(*, records: QuerySet[UsageRecord]) -> list[dict]:
    """Per day and model: requests, tokens and cost, for the charts."""
    rows = (
        records.order_by()
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "model")
        .annotate(
            requests=Count("id"),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost=Sum("cost"),
        )
        .order_by("day", "model")
    )
    return list(rows)


@dataclass(frozen=True, slots=True)
class UsageTotals:
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def usage_totals(*, records: QuerySet[UsageRecord]) -> UsageTotals:
    totals = records.order_by().aggregate(
        requests=Count("id"),
        prompt_tokens=Sum("prompt_tokens"),
        completion_tokens=Sum("completion_tokens"),
        cost=Sum("cost"),
    )
    return UsageTotals(
        requests=totals["requests"] or 0,
        prompt_tokens=totals["prompt_tokens"] or 0,
        completion_tokens=totals["completion_tokens"] or 0,
        cost=totals["cost"] or ZERO,
    )


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_this_month(*, user: User) -> UsageTotals:
    return usage_totals(
        records=UsageRecord.objects.filter(user=user, created_at__gte=month_start())
    )
