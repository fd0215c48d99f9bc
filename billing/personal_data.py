"""What billing holds about a person, for their data export and for deleting their account.

Deleting ends what would keep charging them (their Stripe subscriptions are cancelled now, and
their Stripe customer, which holds their email address, is deleted at Stripe). The ledger, the
invoices and the subscription rows stay: they are bookkeeping, and name nobody once the user row
is anonymised."""

from __future__ import annotations

import stripe
from django.db import transaction

from accounts.models import User
from billing.models import LedgerEntry, StripeCustomer, Subscription
from billing.money import format_usd
from billing.selectors import balance_of, invoice_list
from billing.stripe_client import stripe_client, stripe_failed

_ENDED = (Subscription.Status.CANCELED, Subscription.Status.INCOMPLETE_EXPIRED)


def _when(moment) -> str | None:
    return moment.isoformat() if moment else None


def export_for(*, user: User) -> dict:
    customer = StripeCustomer.objects.filter(user=user).first()
    return {
        "credit": {"balance": format_usd(balance_of(user=user)), "currency": "usd"},
        "ledger": [
            {
                "createdAt": e.created_at.isoformat(),
                "kind": e.kind,
                "amount": format_usd(e.amount),
                "balanceAfter": format_usd(e.balance_after),
                "reference": e.reference,
                "description": e.description,
            }
            for e in LedgerEntry.objects.filter(account__user=user).order_by("created_at", "id")
        ],
        "stripeCustomer": customer.stripe_id if customer else None,
        "subscriptions": [
            {
                "id": s.stripe_id,
                "plan": s.plan.slug if s.plan else None,
                "status": s.status,
                "currentPeriodEnd": _when(s.current_period_end),
                "cancelAtPeriodEnd": s.cancel_at_period_end,
            }
            for s in Subscription.objects.filter(user=user).select_related("plan")
        ],
        "invoices": [
            {
                "id": i.stripe_id,
                "number": i.number or None,
                "status": i.status,
                "currency": i.currency,
                "amountDue": format_usd(i.amount_due),
                "amountPaid": format_usd(i.amount_paid),
                "periodStart": _when(i.period_start),
                "periodEnd": _when(i.period_end),
                "created": _when(i.created),
            }
            for i in invoice_list(user=user)
        ],
    }


@transaction.atomic
def erase_for(*, user: User) -> dict[str, int]:
    """Raises (502) when Stripe cannot be reached, so an account is never deleted while a
    subscription would go on charging it."""
    customer = StripeCustomer.objects.filter(user=user).first()
    open_subscriptions = (
        Subscription.objects.select_for_update()
        .filter(user=user)
        .exclude(status__in=[Subscription.Status.CANCELED, Subscription.Status.INCOMPLETE_EXPIRED])
    )
    cancelled = 0
    if customer is not None:
        client = stripe_client()
        try:
            for subscription in open_subscriptions:
                # Our row may be behind Stripe: cancel only what Stripe still bills.
                current = client.v1.subscriptions.retrieve(subscription.stripe_id)
                if current.status not in _ENDED:
                    client.v1.subscriptions.cancel(subscription.stripe_id)
                    cancelled += 1
        except stripe.StripeError as error:
            raise stripe_failed(error) from error
        try:
            client.v1.customers.delete(customer.stripe_id)
        except stripe.InvalidRequestError as error:
            if error.http_status != 404:  # else deleted at Stripe already
                raise stripe_failed(error) from error
        except stripe.StripeError as error:
            raise stripe_failed(error) from error
        open_subscriptions.update(status=Subscription.Status.CANCELED, cancel_at_period_end=False)
    return {"subscriptions cancelled": cancelled, "stripe customers deleted": int(bool(customer))}
