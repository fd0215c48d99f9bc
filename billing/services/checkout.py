"""Stripe Checkout: a session to subscribe to a plan or to buy credit, and what a completed
session does."""

from __future__ import annotations

import logging
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import transaction

from accounts.models import User
from billing.ledger import ledger_post
from billing.models import LedgerEntry, Plan
from billing.selectors import plan_price_id, subscription_open_exists
from billing.services.stripe_customers import stripe_customer_get_or_create
from billing.services.subscriptions import subscription_refresh
from billing.stripe_client import stripe_client, stripe_failed
from billing.stripe_shapes import major_units, minor_units, object_id
from chukchat.errors import ApiError

logger = logging.getLogger(__name__)

KIND_SUBSCRIPTION = "subscription"
KIND_TOPUP = "topup"


def _create_session(params: dict) -> str:
    try:
        session = stripe_client().v1.checkout.sessions.create(params=params)
    except stripe.StripeError as error:
        raise stripe_failed(error) from error
    return session.url


def checkout_session_for_plan(*, user: User, plan_slug: str) -> str:
    """A Checkout Session that subscribes `user` to the plan; returns its URL."""
    plan = Plan.objects.filter(slug=plan_slug, active=True).first()
    if plan is None:
        raise ApiError(404, "plan_not_found", f"No plan '{plan_slug}'.", param="plan")
    price_id = plan_price_id(plan=plan)
    if not price_id:
        raise ApiError(
            400,
            "plan_not_purchasable",
            f"The {plan.name} plan is not sold through checkout.",
            param="plan",
        )
    if subscription_open_exists(user=user):
        raise ApiError(
            409,
            "already_subscribed",
            "You already have a subscription; change or cancel it in the billing portal.",
        )
    customer = stripe_customer_get_or_create(user=user)
    metadata = {"chuk_user_id": str(user.pk), "kind": KIND_SUBSCRIPTION, "plan": plan.slug}
    return _create_session(
        {
            "mode": "subscription",
            "customer": customer.stripe_id,
            "client_reference_id": str(user.pk),
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": settings.STRIPE_CHECKOUT_SUCCESS_URL,
            "cancel_url": settings.STRIPE_CHECKOUT_CANCEL_URL,
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
        }
    )


def checkout_session_for_topup(*, user: User, amount: Decimal) -> str:
    """A Checkout Session that sells `amount` USD of credit; returns its URL."""
    customer = stripe_customer_get_or_create(user=user)
    metadata = {"chuk_user_id": str(user.pk), "kind": KIND_TOPUP, "topup_usd": f"{amount:f}"}
    return _create_session(
        {
            "mode": "payment",
            "customer": customer.stripe_id,
            "client_reference_id": str(user.pk),
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": minor_units(amount),
                        "product_data": {"name": "Chuk Chat credit"},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": settings.STRIPE_CHECKOUT_SUCCESS_URL,
            "cancel_url": settings.STRIPE_CHECKOUT_CANCEL_URL,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
        }
    )


def _session_user(session: dict) -> User | None:
    user_id = (session.get("metadata") or {}).get("chuk_user_id") or session.get(
        "client_reference_id"
    )
    if not user_id or not str(user_id).isdigit():
        return None
    return User.objects.filter(pk=int(user_id)).first()


@transaction.atomic
def checkout_session_completed(*, session: dict) -> LedgerEntry | None:
    """A paid top-up becomes credit, exactly once (the session id is the ledger reference); a
    subscription checkout links the new subscription to the user. A session still waiting for
    an asynchronous payment does nothing until checkout.session.async_payment_succeeded."""
    metadata = session.get("metadata") or {}
    user = _session_user(session)
    if user is None:
        logger.warning("Checkout session %s names no known user; ignored", session.get("id"))
        return None
    if session.get("mode") == "subscription":
        subscription_id = object_id(session.get("subscription"))
        if subscription_id:
            subscription_refresh(stripe_id=subscription_id, user=user)
        return None
    if metadata.get("kind") != KIND_TOPUP or session.get("payment_status") != "paid":
        return None
    amount = Decimal(metadata["topup_usd"])
    paid = major_units(session.get("amount_subtotal"), session.get("currency") or "usd")
    if (session.get("currency") or "").lower() != "usd" or paid != amount:
        # Our metadata and what Stripe charged disagree: credit nothing, let a person look.
        logger.error(
            "Checkout session %s: top-up of %s USD but %s %s charged; not credited",
            session.get("id"),
            amount,
            paid,
            session.get("currency"),
        )
        return None
    return ledger_post(
        user=user,
        amount=amount,
        kind=LedgerEntry.Kind.TOPUP,
        reference=f"stripe_checkout:{session['id']}",
        description=f"Top-up through Stripe Checkout {session['id']}",
    )
