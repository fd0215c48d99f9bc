"""Stripe's webhooks: verify the signature, record each event once, apply it.

An event is recorded in the same transaction as its effects: a replay finds it recorded and
does nothing; a handler that raises rolls everything back, the event stays unrecorded, and the
endpoint answers 5xx so Stripe delivers it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson
import stripe
from django.conf import settings
from django.db import transaction

from billing.models import StripeEvent
from billing.services.checkout import checkout_session_completed
from billing.services.invoices import invoice_paid, invoice_payment_failed
from billing.services.subscriptions import subscription_refresh
from billing.stripe_client import billing_not_configured
from chukchat.errors import ApiError

logger = logging.getLogger(__name__)


def _subscription_changed(data: dict) -> None:
    subscription_refresh(stripe_id=data["id"])


HANDLERS: dict[str, Callable[[dict], object]] = {
    "checkout.session.completed": lambda data: checkout_session_completed(session=data),
    "checkout.session.async_payment_succeeded": lambda data: checkout_session_completed(
        session=data
    ),
    "customer.subscription.created": _subscription_changed,
    "customer.subscription.updated": _subscription_changed,
    "customer.subscription.deleted": _subscription_changed,
    "invoice.paid": lambda data: invoice_paid(data=data),
    "invoice.payment_failed": lambda data: invoice_payment_failed(data=data),
}


def webhook_event_verify(*, payload: bytes, signature: str | None) -> dict:
    """The event, if `signature` is Stripe's for `payload` with our endpoint secret (and recent:
    the SDK's five-minute tolerance against replays of old deliveries); 400 otherwise."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise billing_not_configured()
    if not signature:
        raise ApiError(400, "invalid_signature", "Missing Stripe-Signature header.")
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, tolerance=stripe.Webhook.DEFAULT_TOLERANCE
        )
        event = orjson.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError):
        raise ApiError(400, "invalid_signature", "The Stripe signature does not match.") from None
    except orjson.JSONDecodeError:
        raise ApiError(400, "invalid_json", "The event is not valid JSON.") from None
    if (
        not isinstance(event, dict)
        or not isinstance(event.get("id"), str)
        or not isinstance(event.get("type"), str)
        or not isinstance((event.get("data") or {}).get("object"), dict)
    ):
        raise ApiError(400, "invalid_event", "The payload is not a Stripe event.")
    return event


@transaction.atomic
def webhook_event_process(*, event: dict) -> bool:
    """Apply a verified event once. Returns False for an event already processed."""
    recorded, created = StripeEvent.objects.get_or_create(
        event_id=event["id"],
        defaults={
            "type": str(event.get("type", ""))[:100],
            "livemode": bool(event.get("livemode")),
            "payload": event,
        },
    )
    if not created:
        return False
    handler = HANDLERS.get(recorded.type)
    if handler is not None:
        handler(event["data"]["object"])
    return True
