"""The Stripe customer of a user: created once per user, whatever races to create it."""

from __future__ import annotations

import stripe
from django.db import transaction

from accounts.models import User
from billing.models import StripeCustomer
from billing.stripe_client import stripe_client, stripe_failed


def user_for_customer(*, customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    return User.objects.filter(stripe_customer__stripe_id=customer_id).first()


@transaction.atomic
def stripe_customer_get_or_create(*, user: User) -> StripeCustomer:
    existing = StripeCustomer.objects.filter(user=user).first()
    if existing is not None:
        return existing
    # Concurrent first billing actions of one user queue on the user's row (FOR NO KEY UPDATE:
    # rows that merely reference the user are not blocked), and the second one then finds the
    # customer the first created.
    list(User.objects.select_for_update(no_key=True).filter(pk=user.pk).values_list("pk"))
    existing = StripeCustomer.objects.filter(user=user).first()
    if existing is not None:
        return existing
    try:
        customer = stripe_client().v1.customers.create(
            params={"email": user.email, "metadata": {"chuk_user_id": str(user.pk)}},
            # Had we crashed after Stripe created the customer but before our commit, the
            # retry gets the same customer back (Stripe keeps idempotency keys for 24 hours).
            options={"idempotency_key": _idempotency_key(user)},
        )
    except stripe.StripeError as error:
        raise stripe_failed(error) from error
    return StripeCustomer.objects.create(user=user, stripe_id=customer.id)


def _idempotency_key(user: User) -> str:
    # The join time keeps two databases' user 1 (development, staging) from sharing a key.
    return f"chuk-customer-{user.pk}-{int(user.date_joined.timestamp() * 1_000_000)}"
