"""The one place the Stripe SDK is configured: key and API base from settings."""

from __future__ import annotations

import functools
import logging

import stripe
from django.conf import settings

from chukchat.errors import ApiError

logger = logging.getLogger(__name__)

# Seconds one Stripe call may take: a person is waiting on checkout and portal.
_TIMEOUT = 20


def billing_not_configured() -> ApiError:
    return ApiError(
        503,
        "billing_not_configured",
        "Payments are not set up on this server.",
        type="api_error",
    )


@functools.lru_cache(maxsize=4)
def _client(api_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        # Retried POSTs carry the SDK's idempotency key, so a retry never creates twice.
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=_TIMEOUT),
    )


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise billing_not_configured()
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


def stripe_failed(error: stripe.StripeError) -> ApiError:
    """What the caller sees when Stripe refused or could not be reached; the details are
    logged, never sent back."""
    logger.warning("Stripe call failed: %s", error)
    return ApiError(
        502,
        "payment_provider_error",
        "The payment provider could not complete the request. Try again shortly.",
        type="api_error",
    )
