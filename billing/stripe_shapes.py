"""Reading Stripe's objects (plain dicts, from a webhook or the SDK) the same way whatever API
version sent them: some fields moved between versions (a subscription's period is on its items
since 2025-03; an invoice names its subscription under `parent` since then)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

# Currencies whose amounts Stripe already sends in the major unit.
_ZERO_DECIMAL = {
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
}  # fmt: skip


def timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value else None


def major_units(amount: int | None, currency: str) -> Decimal:
    """Stripe's integer minor units as an exact Decimal of the major unit."""
    if not amount:
        return Decimal(0)
    if currency.lower() in _ZERO_DECIMAL:
        return Decimal(amount)
    return Decimal(amount) / 100


def minor_units(amount: Decimal) -> int:
    """USD to cents; callers have already refused amounts with fractions of a cent."""
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"{amount} USD is not a whole number of cents")
    return int(cents)


def object_id(value: str | dict | None) -> str | None:
    """An expandable field: an id, or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value or None


def _first_item(subscription: dict) -> dict:
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else {}


def subscription_price_id(subscription: dict) -> str | None:
    item = _first_item(subscription)
    price = item.get("price") or item.get("plan") or subscription.get("plan")
    return object_id(price)


def subscription_period(subscription: dict) -> tuple[datetime | None, datetime | None]:
    item = _first_item(subscription)
    start = item.get("current_period_start") or subscription.get("current_period_start")
    end = item.get("current_period_end") or subscription.get("current_period_end")
    return timestamp(start), timestamp(end)


def invoice_subscription_id(invoice: dict) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return object_id(details.get("subscription")) or object_id(invoice.get("subscription"))


def invoice_period(invoice: dict) -> tuple[datetime | None, datetime | None]:
    """The service period: the first line's period (what a subscription invoice pays for),
    else the invoice's own."""
    lines = (invoice.get("lines") or {}).get("data") or []
    period = (lines[0].get("period") if lines else None) or {}
    start = period.get("start") or invoice.get("period_start")
    end = period.get("end") or invoice.get("period_end")
    return timestamp(start), timestamp(end)
