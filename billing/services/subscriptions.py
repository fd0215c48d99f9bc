"""Our copy of a user's Stripe subscriptions, and so their plan."""

from __future__ import annotations

import logging

import stripe
from django.db import transaction

from accounts.models import User
from billing.entitlements import entitlements_changed
from billing.models import Plan, Subscription
from billing.selectors import plan_for_price_id
from billing.services.stripe_customers import user_for_customer
from billing.stripe_client import stripe_client, stripe_failed
from billing.stripe_shapes import object_id, subscription_period, subscription_price_id

logger = logging.getLogger(__name__)


def _owner(data: dict, user: User | None) -> User | None:
    """Whose subscription this is: the user we know as this Stripe customer, else the user
    our checkout named in the subscription's metadata."""
    owner = user or user_for_customer(customer_id=object_id(data.get("customer")))
    if owner is None:
        user_id = (data.get("metadata") or {}).get("chuk_user_id", "")
        if user_id.isdigit():
            owner = User.objects.filter(pk=int(user_id)).first()
    return owner


@transaction.atomic
def subscription_apply(*, data: dict, user: User | None = None) -> Subscription | None:
    """Create or update our row from a Stripe subscription object. A subscription of nobody we
    know (made outside this app) is logged and left alone."""
    owner = _owner(data, user)
    if owner is None:
        logger.warning("Stripe subscription %s belongs to no known user; ignored", data.get("id"))
        return None
    plan = plan_for_price_id(price_id=subscription_price_id(data))
    if plan is None:
        slug = (data.get("metadata") or {}).get("plan", "")
        plan = Plan.objects.filter(slug=slug).first() if slug else None
    period_start, period_end = subscription_period(data)
    defaults = {
        "user": owner,
        "status": data["status"],
        "current_period_start": period_start,
        "current_period_end": period_end,
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
    }
    if plan is not None:  # an unknown price keeps the plan we had
        defaults["plan"] = plan
    subscription, _ = Subscription.objects.update_or_create(stripe_id=data["id"], defaults=defaults)
    transaction.on_commit(lambda: entitlements_changed(owner.pk))
    return subscription


def subscription_refresh(*, stripe_id: str, user: User | None = None) -> Subscription | None:
    """Fetch the subscription's current state from Stripe and apply it. Webhook events can
    arrive out of order, so their handlers apply what Stripe says now, not the event's copy."""
    try:
        data = stripe_client().v1.subscriptions.retrieve(stripe_id).to_dict()
    except stripe.StripeError as error:
        raise stripe_failed(error) from error
    return subscription_apply(data=data, user=user)


@transaction.atomic
def subscription_mark_past_due(*, stripe_id: str) -> Subscription | None:
    subscription = Subscription.objects.select_for_update().filter(stripe_id=stripe_id).first()
    if subscription is None:
        return None
    if subscription.status in Subscription.ENTITLED:
        subscription.status = Subscription.Status.PAST_DUE
        subscription.save(update_fields=["status", "updated_at"])
        user_id = subscription.user_id
        transaction.on_commit(lambda: entitlements_changed(user_id))
    return subscription
