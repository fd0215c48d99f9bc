from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import timezone

from accounts.models import User
from billing.models import (
    ZERO,
    CreditAccount,
    Invoice,
    KeySpend,
    LedgerEntry,
    Plan,
    Subscription,
)


def balance_of(*, user: User) -> Decimal:
    balance = CreditAccount.objects.filter(user=user).values_list("balance", flat=True).first()
    return balance if balance is not None else ZERO


def held_of(*, user: User) -> Decimal:
    """Credit held for requests in flight."""
    held = CreditAccount.objects.filter(user=user).values_list("reserved", flat=True).first()
    return held if held is not None else ZERO


def key_spent_this_month(*, api_key_id: int) -> Decimal:
    from billing.metering import month_of

    spent = (
        KeySpend.objects.filter(api_key_id=api_key_id, month=month_of(timezone.now()))
        .values_list("spent", flat=True)
        .first()
    )
    return spent if spent is not None else ZERO


def ledger_sum(*, user: User) -> Decimal:
    total = LedgerEntry.objects.filter(account__user=user).aggregate(total=Sum("amount"))["total"]
    return total if total is not None else ZERO


def plan_list() -> QuerySet[Plan]:
    return Plan.objects.filter(active=True).order_by("sort_order", "slug")


def plan_price_id(*, plan: Plan) -> str:
    """The Stripe price that sells `plan` ("" for a plan that is not sold)."""
    return settings.STRIPE_PRICE_IDS.get(plan.slug) or plan.stripe_price_id


def plan_for_price_id(*, price_id: str | None) -> Plan | None:
    if not price_id:
        return None
    for slug, configured in settings.STRIPE_PRICE_IDS.items():
        if configured == price_id:
            return Plan.objects.filter(slug=slug).first()
    return Plan.objects.filter(stripe_price_id=price_id).first()


def subscription_current(*, user: User) -> Subscription | None:
    """The subscription that gives the user their plan: active or trialing."""
    return (
        Subscription.objects.select_related("plan")
        .filter(user=user, status__in=Subscription.ENTITLED)
        .order_by("-current_period_end", "-created_at")
        .first()
    )


def subscription_open_exists(*, user: User) -> bool:
    """Whether the user has a subscription that is not over: a second one would bill twice
    (a past-due one is paid or changed in the portal, not replaced)."""
    return Subscription.objects.filter(
        user=user,
        status__in=[
            *Subscription.ENTITLED,
            Subscription.Status.PAST_DUE,
            Subscription.Status.UNPAID,
        ],
    ).exists()


def invoice_list(*, user: User) -> QuerySet[Invoice]:
    return Invoice.objects.filter(user=user).order_by("-created", "-id")
