"""Billing's part of a data export and of deleting an account: everything listed; deleting stops
what would keep charging and keeps the books."""

from decimal import Decimal

import pytest

from billing.ledger import credit_grant
from billing.models import LedgerEntry, StripeCustomer, Subscription
from billing.personal_data import erase_for, export_for
from billing.selectors import balance_of
from chukchat.errors import ApiError
from tests.billing.conftest import complete_checkout, stripe_event

pytestmark = pytest.mark.usefixtures("stripe_settings", "plans")


@pytest.fixture
def alice_on_pro(client, alice, stripe_standin, deliver) -> dict:
    client.force_login(alice)
    url = client.post(
        "/v1/billing/checkout", data={"plan": "pro"}, content_type="application/json"
    ).json()["url"]
    session = complete_checkout(stripe_standin.url, url.rsplit("/", 1)[1])
    deliver(stripe_event("checkout.session.completed", session))
    return session


def test_the_export_lists_credit_ledger_subscriptions_and_invoices(alice, alice_on_pro):
    credit_grant(user=alice, amount=Decimal("2.5"), description="welcome")

    exported = export_for(user=alice)

    assert exported["credit"] == {"balance": "2.5", "currency": "usd"}
    assert [e["description"] for e in exported["ledger"]] == ["welcome"]
    assert exported["stripeCustomer"] == alice.stripe_customer.stripe_id
    [subscription] = exported["subscriptions"]
    assert subscription["plan"] == "pro" and subscription["status"] == "active"


def test_erasing_cancels_the_subscription_at_stripe_and_keeps_the_books(
    alice, alice_on_pro, stripe_api
):
    credit_grant(user=alice, amount=Decimal(3), description="welcome")

    erased = erase_for(user=alice)

    assert erased == {"subscriptions cancelled": 1, "stripe customers deleted": 1}
    assert stripe_api.v1.subscriptions.retrieve(alice_on_pro["subscription"]).status == "canceled"
    assert Subscription.objects.get(user=alice).status == "canceled"
    assert balance_of(user=alice) == Decimal(3) and LedgerEntry.objects.count() == 1
    assert erase_for(user=alice) == {"subscriptions cancelled": 0, "stripe customers deleted": 1}


def test_erasing_someone_who_never_paid_touches_nothing(bob):
    assert erase_for(user=bob) == {"subscriptions cancelled": 0, "stripe customers deleted": 0}


def test_when_stripe_is_unreachable_erasing_refuses_and_changes_nothing(
    alice, alice_on_pro, stripe_settings
):
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:1"

    with pytest.raises(ApiError) as excinfo:
        erase_for(user=alice)

    assert excinfo.value.status == 502
    assert Subscription.objects.get(user=alice).status == "active"
    assert StripeCustomer.objects.filter(user=alice).exists()
