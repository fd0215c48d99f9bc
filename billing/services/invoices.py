"""Our copy of a user's Stripe invoices, and the allowance a paid subscription invoice grants."""

from __future__ import annotations

import logging

from django.db import transaction

from accounts.models import User
from billing.ledger import ledger_post
from billing.models import Invoice, LedgerEntry, Subscription
from billing.services.notifications import payment_failed_notify
from billing.services.stripe_customers import user_for_customer
from billing.services.subscriptions import subscription_mark_past_due, subscription_refresh
from billing.stripe_shapes import (
    invoice_period,
    invoice_subscription_id,
    major_units,
    object_id,
    timestamp,
)

logger = logging.getLogger(__name__)

# Invoices that pay for a period of a plan. A mid-period plan change bills a proration
# (`subscription_update`), which does not grant a second allowance for the same period.
# localstripe sends no billing_reason at all.
_ALLOWANCE_REASONS = {"subscription_create", "subscription_cycle", None}


@transaction.atomic
def invoice_apply(*, data: dict, user: User | None = None) -> Invoice | None:
    owner = user or user_for_customer(customer_id=object_id(data.get("customer")))
    if owner is None:
        logger.warning("Stripe invoice %s belongs to no known user; ignored", data.get("id"))
        return None
    currency = data.get("currency") or "usd"
    period_start, period_end = invoice_period(data)
    invoice, _ = Invoice.objects.update_or_create(
        stripe_id=data["id"],
        defaults={
            "user": owner,
            "stripe_subscription_id": invoice_subscription_id(data) or "",
            "number": data.get("number") or "",
            "status": data.get("status") or "",
            "currency": currency,
            "amount_due": major_units(data.get("amount_due"), currency),
            "amount_paid": major_units(data.get("amount_paid"), currency),
            "period_start": period_start,
            "period_end": period_end,
            "hosted_invoice_url": data.get("hosted_invoice_url") or "",
            "invoice_pdf": data.get("invoice_pdf") or "",
            "created": timestamp(data.get("created")) or timestamp(data.get("date")),
        },
    )
    return invoice


@transaction.atomic
def invoice_paid(*, data: dict, user: User | None = None) -> LedgerEntry | None:
    """Record the invoice and grant its plan's monthly allowance: once per invoice, whoever
    asks again (a replayed event, a sync) — the invoice id is the ledger reference."""
    invoice = invoice_apply(data=data, user=user)
    if invoice is None or invoice.status != "paid" or not invoice.stripe_subscription_id:
        return None
    if data.get("billing_reason") not in _ALLOWANCE_REASONS:
        return None
    subscription = Subscription.objects.select_related("plan").filter(
        stripe_id=invoice.stripe_subscription_id
    ).first() or subscription_refresh(stripe_id=invoice.stripe_subscription_id, user=invoice.user)
    if subscription is None or subscription.plan is None:
        logger.warning("Paid invoice %s is for no plan we know; no allowance", invoice.stripe_id)
        return None
    allowance = subscription.plan.monthly_allowance
    if allowance <= 0:
        return None
    period = f"{invoice.period_start:%Y-%m-%d}" if invoice.period_start else "this period"
    return ledger_post(
        user=invoice.user,
        amount=allowance,
        kind=LedgerEntry.Kind.ALLOWANCE,
        reference=f"stripe_invoice:{invoice.stripe_id}",
        description=f"{subscription.plan.name} allowance from {period} (invoice {invoice.stripe_id})",
    )


@transaction.atomic
def invoice_payment_failed(*, data: dict) -> Invoice | None:
    """Record the invoice, mark its subscription past due, and tell the user (after commit, so
    a handler that fails and is retried does not mail twice)."""
    invoice = invoice_apply(data=data)
    if invoice is None:
        return None
    if invoice.stripe_subscription_id:
        subscription_mark_past_due(stripe_id=invoice.stripe_subscription_id)
    transaction.on_commit(lambda: payment_failed_notify(user=invoice.user, invoice=invoice))
    return invoice
