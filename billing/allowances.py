"""The Free plan's monthly allowance: credit granted through the ledger, once per user per
calendar month (UTC), so a new account can chat at once. Paid plans get theirs per paid invoice
(billing/services/invoices.py).

The ledger reference names the user and the month, and references are unique in the database:
however many processes ask at once, a month is granted once."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone

from accounts.models import User
from billing.entitlements import FREE_PLAN_SLUG, entitlements_for
from billing.ledger import ledger_post
from billing.metering import month_of
from billing.models import LedgerEntry, Plan

# (user id, month) granted or found already granted by this process: a page view or a refused
# request asks again only once a month.
_seen: set[tuple[int, date]] = set()
_MAX_SEEN = 100_000


def free_allowance_reference(*, user_id: int, month: date) -> str:
    return f"free_allowance:{user_id}:{month:%Y-%m}"


def free_allowance_grant(*, user_id: int, now: datetime | None = None) -> LedgerEntry | None:
    """Grant this month's Free allowance to a user on the Free plan, unless it was granted
    already (then the existing row, and nothing moves). None for anyone on a paid plan, or
    when the Free plan has no allowance (set it in admin)."""
    month = month_of(now or timezone.now())
    if (user_id, month) in _seen:
        return None
    if entitlements_for(user_id=user_id).plan_slug != FREE_PLAN_SLUG:
        return None
    plan = Plan.objects.filter(slug=FREE_PLAN_SLUG, active=True).first()
    if plan is None or plan.monthly_allowance <= 0:
        return None
    entry = ledger_post(
        user=User(pk=user_id),
        amount=Decimal(plan.monthly_allowance),
        kind=LedgerEntry.Kind.ALLOWANCE,
        reference=free_allowance_reference(user_id=user_id, month=month),
        description=f"{plan.name} plan allowance for {month:%B %Y}",
    )
    if len(_seen) >= _MAX_SEEN:
        _seen.clear()
    _seen.add((user_id, month))
    return entry


def free_allowance_forget() -> None:
    """For tests and admin changes: ask the database again next time."""
    _seen.clear()
