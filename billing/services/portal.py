"""The Stripe Customer Portal, where a user changes their plan, card, or cancels."""

from __future__ import annotations

import stripe
from django.conf import settings

from accounts.models import User
from billing.services.stripe_customers import stripe_customer_get_or_create
from billing.stripe_client import stripe_client, stripe_failed


def portal_session_create(*, user: User) -> str:
    customer = stripe_customer_get_or_create(user=user)
    try:
        session = stripe_client().v1.billing_portal.sessions.create(
            params={"customer": customer.stripe_id, "return_url": settings.STRIPE_PORTAL_RETURN_URL}
        )
    except stripe.StripeError as error:
        raise stripe_failed(error) from error
    return session.url
