"""Pulling a user's subscriptions and recent invoices from Stripe: the repair path for a
webhook that never arrived."""

from __future__ import annotations

from dataclasses import dataclass

import stripe
from django.db import transaction

from accounts.models import User
from billing.models import Subscription
from billing.selectors import subscription_current
from billing.services.invoices import invoice_apply, invoice_paid
from billing.services.stripe_customers import stripe_customer_get_or_create
from billing.services.subscriptions import subscription_apply
from billing.stripe_client import stripe_client, stripe_failed

RECENT_INVOICES = 24


@dataclass(frozen=True)
class SyncResult:
    subscriptions: int
    invoices: int
    current: Subscription | None


def billing_sync(*, user: User) -> SyncResult:
    customer = stripe_customer_get_or_create(user=user)
    client = stripe_client()
    try:
        subscriptions = client.v1.subscriptions.list(
            params={"customer": customer.stripe_id, "status": "all", "limit": 20}
        ).data
        invoices = client.v1.invoices.list(
            params={"customer": customer.stripe_id, "limit": RECENT_INVOICES}
        ).data
    except stripe.StripeError as error:
        raise stripe_failed(error) from error
    with transaction.atomic():
        for subscription in subscriptions:
            subscription_apply(data=subscription.to_dict(), user=user)
        for invoice in invoices:
            data = invoice.to_dict()
            if data.get("status") == "paid":
                # Idempotent on the invoice id: an allowance the webhook already granted is
                # not granted again.
                invoice_paid(data=data, user=user)
            else:
                invoice_apply(data=data, user=user)
    return SyncResult(
        subscriptions=len(subscriptions),
        invoices=len(invoices),
        current=subscription_current(user=user),
    )
