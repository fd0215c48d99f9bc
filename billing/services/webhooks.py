"""Stripe's webhooks: verify the signature, record each event once, apply it.

An event is recorded in the same transaction as its effects: a replay finds it recorded and
does nothing. A handler that raises rolls all of its effects back. If what it raised says the
event's data cannot be used (a malformed amount, a missing or ill-typed field), retrying would
fail the same way for days: the event is recorded once as failed, with the reason, and answered
400. Anything else (the database, Stripe's API) leaves the event unrecorded and answers 5xx so
Stripe delivers it again.
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


# What a handler raises when the event's own data is unusable. Database and network failures
# are none of these (they are DatabaseError, StripeError, ...), so they still reach Stripe as 5xx.
UNUSABLE_DATA_ERRORS = (ValueError, LookupError, TypeError, AttributeError, ArithmeticError)


def unusable_event(*, event_id: str) -> ApiError:
    """The answer for an event recorded as failed, the first time and on every replay."""
    return ApiError(
        400,
        "unusable_event",
        f"Event {event_id} carries data that cannot be applied; it is recorded as failed and "
        "will not be applied.",
    )


def webhook_event_process(*, event: dict) -> bool:
    """Apply a verified event once. Returns False for an event already processed; raises the
    400 of `unusable_event` for an event whose data its handler cannot use (recording it as
    failed, with none of its effects) and for every replay of such an event."""
    try:
        return _event_apply(event=event)
    except UNUSABLE_DATA_ERRORS as error:
        reason = f"{type(error).__name__}: {error}"[:2000]
    with transaction.atomic():
        recorded, _ = StripeEvent.objects.get_or_create(
            event_id=event["id"],
            defaults={
                **_event_fields(event),
                "status": StripeEvent.Status.FAILED,
                "error": reason,
            },
        )
    if recorded.status == StripeEvent.Status.PROCESSED:  # a concurrent delivery applied it
        return False
    logger.warning(
        "Stripe event %s (%s) carries data we cannot use; recorded as failed: %s",
        recorded.event_id,
        recorded.type,
        reason,
    )
    raise unusable_event(event_id=recorded.event_id)


def _event_fields(event: dict) -> dict:
    return {
        "type": str(event.get("type", ""))[:100],
        "livemode": bool(event.get("livemode")),
        "payload": event,
    }


@transaction.atomic
def _event_apply(*, event: dict) -> bool:
    recorded, created = StripeEvent.objects.get_or_create(
        event_id=event["id"], defaults=_event_fields(event)
    )
    if not created:
        if recorded.status == StripeEvent.Status.FAILED:
            logger.info("Stripe event %s was recorded as failed; not applied", recorded.event_id)
            raise unusable_event(event_id=recorded.event_id)
        return False
    handler = HANDLERS.get(recorded.type)
    if handler is not None:
        handler(event["data"]["object"])
    return True
